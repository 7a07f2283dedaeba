//! The contract on the memory backend, with a manual clock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use statecraft_state::memory::{MemoryCounterStore, MemoryDenylist, MemorySessionStore};
use statecraft_state::{CounterStore, Denylist, ManualClock, SessionStore};

use crate::{Backend, TIMEOUTS};

struct Memory {
    clock: ManualClock,
}

#[async_trait]
impl Backend for Memory {
    async fn sessions(&self) -> Arc<dyn SessionStore> {
        Arc::new(MemorySessionStore::with_clock(
            TIMEOUTS,
            Arc::new(self.clock.clone()),
            Duration::from_secs(3600),
        ))
    }
    async fn counters(&self) -> Arc<dyn CounterStore> {
        Arc::new(MemoryCounterStore::new())
    }
    async fn denylist(&self) -> Arc<dyn Denylist> {
        Arc::new(MemoryDenylist::new())
    }
    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

async fn backend() -> Option<Memory> {
    Some(Memory {
        clock: ManualClock::new(),
    })
}

crate::all_contract_cases!(backend());
