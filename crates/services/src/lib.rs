//! The services of statecraft. Each owns its database — its own SQLite file
//! under the data directory by default, its own PostgreSQL schema when given a
//! `postgres://` URL — with versioned migrations, and none reads another's
//! tables.
//!
//! - [`users`]: accounts (Argon2id password hashes), the seeded `alice` and
//!   `bob`, and the refresh-token families of token logins.

pub mod db;
pub mod orders;
pub mod users;

pub use db::{DataSpec, Database, DbError, InvalidDataSpec};
pub use orders::{NewOrder, Order, OrderLine, OrdersDb, OrdersError, Placed};
pub use users::{NewUser, RefreshOutcome, User, UsersDb, UsersError};
