//! The memory backend: state in this process, lost on restart, not shared.

mod counters;
mod sessions;

pub use counters::MemoryCounterStore;
pub use sessions::MemorySessionStore;
