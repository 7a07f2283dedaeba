//! Events between statecraft's services (API.md, "Orders, inventory, users,
//! notifications"): the event shape, a [`Bus`] trait with an in-process
//! backend, the outbox [`relay`] that publishes what services wrote in their
//! own transactions, and [`consumer`]s that acknowledge only after their
//! effect is committed. Delivery is at least once; consumers make it
//! effectively once by recording each `eventId` they processed.

pub mod bus;
pub mod consumer;
mod event;
pub mod memory;
pub mod nats;
pub mod relay;
mod tasks;

pub use bus::{Bus, BusError, Delivery, Subscription};
pub use event::{Event, EventLine, EventType};
pub use memory::MemoryBus;
pub use nats::NatsBus;
pub use tasks::Tasks;
