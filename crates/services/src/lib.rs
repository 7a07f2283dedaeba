//! The services of statecraft. Each owns its database — its own SQLite file
//! under the data directory by default, its own PostgreSQL schema when given a
//! `postgres://` URL — with versioned migrations, and none reads another's
//! tables.
//!
//! - [`users`]: accounts (Argon2id password hashes), the seeded `alice` and
//!   `bob`, and the refresh-token families of token logins.

mod bounded;
pub mod db;
pub mod in_process;
pub mod interface;
pub mod inventory;
pub mod notifications;
pub mod orders;
mod outbox;
pub mod users;
mod wiring;

pub use bounded::{Bounded, SERVICE_CALL_LIMIT};
pub use db::{DataSpec, Database, DbError, InvalidDataSpec};
pub use in_process::{DECLINED_PAYMENT, may_order_for};
pub use interface::{Caller, Inventory, Notifications, Orders, OutboxReport, ServiceError};
pub use inventory::{InventoryDb, Product};
pub use notifications::{Notification, NotificationsDb};
pub use orders::{NewOrder, Order, OrderLine, OrdersDb, OrdersError, Placed};
pub use outbox::{DeadLetter, ServiceOutbox};
pub use users::{NewUser, RefreshFootprint, RefreshOutcome, User, UsersDb, UsersError};
pub use wiring::{Services, run_parts};
