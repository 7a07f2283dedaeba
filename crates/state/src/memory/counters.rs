//! Named counters in memory: one per process, so instances disagree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::data::MAX_COUNTER;
use crate::error::StoreError;
use crate::name::CounterName;
use crate::store::{CounterStore, StoreKind};

/// Most distinct counters held, so that requests naming endless new counters
/// cannot exhaust memory.
const MAX_COUNTERS: usize = 10_000;

/// Named counters in this process's memory. Cheap to clone (shares the map).
#[derive(Debug, Clone, Default)]
pub struct MemoryCounterStore {
    counters: Arc<Mutex<HashMap<CounterName, u64>>>,
}

impl MemoryCounterStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CounterStore for MemoryCounterStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    async fn increment(&self, name: &CounterName) -> Result<u64, StoreError> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = counters.get_mut(name) {
            if *value >= MAX_COUNTER {
                return Err(StoreError::LimitReached("counter is at its maximum"));
            }
            *value += 1;
            return Ok(*value);
        }
        if counters.len() >= MAX_COUNTERS {
            return Err(StoreError::LimitReached("too many named counters"));
        }
        counters.insert(name.clone(), 1);
        Ok(1)
    }

    async fn get(&self, name: &CounterName) -> Result<u64, StoreError> {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        Ok(counters.get(name).copied().unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
