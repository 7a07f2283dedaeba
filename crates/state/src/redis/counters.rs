//! Named counters as Redis integers: one `INCR` per increment.

use async_trait::async_trait;

use super::RedisBackend;
use crate::data::MAX_COUNTER;
use crate::error::StoreError;
use crate::name::CounterName;
use crate::store::{CounterStore, StoreKind};

/// Named counters in Redis, shared by every instance.
#[derive(Debug, Clone)]
pub struct RedisCounterStore {
    redis: RedisBackend,
}

impl RedisCounterStore {
    /// Counters on `redis`.
    pub fn new(redis: RedisBackend) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl CounterStore for RedisCounterStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }

    async fn increment(&self, name: &CounterName) -> Result<u64, StoreError> {
        let key = self.redis.key("counter", name.as_str());
        let mut incr = redis::cmd("INCR");
        incr.arg(&key);
        let value: i64 = self.redis.write(incr, None).await?;
        let value = u64::try_from(value).unwrap_or(u64::MAX);
        if value > MAX_COUNTER {
            // Past the cap (after 2^53 increments): take it back and refuse.
            let mut decr = redis::cmd("DECR");
            decr.arg(&key);
            self.redis.write::<i64>(decr, None).await?;
            return Err(StoreError::LimitReached("counter is at its maximum"));
        }
        Ok(value)
    }

    async fn get(&self, name: &CounterName) -> Result<u64, StoreError> {
        let key = self.redis.key("counter", name.as_str());
        let value: Option<i64> = self
            .redis
            .call(
                |mut conn| async move { redis::cmd("GET").arg(&key).query_async(&mut conn).await },
            )
            .await?;
        Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.redis.ping().await
    }
}
