//! Revoked token IDs in memory, each dropped once its token would have expired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::clock::{Clock, UnixClock, millis};
use crate::error::StoreError;
use crate::store::Denylist;

/// Revoked `jti`s of this process. Expired entries are purged whenever the map
/// has doubled since the last purge, so it holds at most about twice the
/// revocations of one token lifetime.
#[derive(Debug, Clone)]
pub struct MemoryDenylist {
    inner: Arc<Mutex<Entries>>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct Entries {
    expiry: HashMap<Box<str>, u64>,
    purge_at: usize,
}

impl MemoryDenylist {
    /// An empty denylist on the wall clock (token `exp` is wall time).
    pub fn new() -> Self {
        Self::with_clock(Arc::new(UnixClock))
    }

    /// An empty denylist on `clock` (ms since the epoch).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::default(),
            clock,
        }
    }

    fn now_ms(&self) -> u64 {
        millis(self.clock.now())
    }
}

impl Default for MemoryDenylist {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Denylist for MemoryDenylist {
    fn kind(&self) -> crate::StoreKind {
        crate::StoreKind::Memory
    }

    async fn deny(&self, jti: &str, expires_ms: u64) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if entries.expiry.len() >= entries.purge_at {
            entries.expiry.retain(|_, &mut until| until > now);
            entries.purge_at = (entries.expiry.len() * 2).max(1024);
        }
        // A token's expiry never changes, so the first revocation stands.
        entries.expiry.entry(jti.into()).or_insert(expires_ms);
        Ok(())
    }

    async fn is_denied(&self, jti: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(entries.expiry.get(jti).is_some_and(|&until| until > now))
    }
}
