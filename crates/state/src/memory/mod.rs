//! The memory backend: state in this process, lost on restart, not shared.

mod counters;
mod denylist;
mod sessions;

pub use counters::MemoryCounterStore;
pub use denylist::MemoryDenylist;
pub use sessions::MemorySessionStore;
