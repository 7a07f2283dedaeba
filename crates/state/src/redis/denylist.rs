//! Revoked token IDs in Redis: `denied:<jti>`, expiring when its token would.

use async_trait::async_trait;

use super::RedisBackend;
use crate::clock::{Clock as _, UnixClock, millis};
use crate::error::StoreError;
use crate::store::Denylist;

/// Revoked `jti`s in Redis, shared by every instance.
#[derive(Debug, Clone)]
pub struct RedisDenylist {
    redis: RedisBackend,
}

impl RedisDenylist {
    /// The denylist on `redis`.
    pub fn new(redis: RedisBackend) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl Denylist for RedisDenylist {
    fn kind(&self) -> crate::StoreKind {
        crate::StoreKind::Redis
    }

    async fn deny(&self, jti: &str, expires_ms: u64) -> Result<(), StoreError> {
        if expires_ms <= millis(UnixClock.now()) {
            // Already expired: no request could use it.
            return Ok(());
        }
        let key = self.redis.key("denied", jti);
        let mut set = redis::cmd("SET");
        // A token's expiry never changes, so the first revocation stands.
        set.arg(&key).arg(1).arg("PXAT").arg(expires_ms).arg("NX");
        self.redis.write::<()>(set, None).await
    }

    async fn any_denied(&self, ids: &[&str]) -> Result<bool, StoreError> {
        let keys: Vec<String> = ids.iter().map(|id| self.redis.key("denied", id)).collect();
        if keys.is_empty() {
            return Ok(false);
        }
        let found: u64 =
            self.redis
                .call(|mut conn| async move {
                    redis::cmd("EXISTS").arg(keys).query_async(&mut conn).await
                })
                .await?;
        Ok(found > 0)
    }

    async fn is_denied(&self, jti: &str) -> Result<bool, StoreError> {
        let key = self.redis.key("denied", jti);
        self.redis
            .call(|mut conn| async move { redis::cmd("EXISTS").arg(key).query_async(&mut conn).await })
            .await
    }
}
