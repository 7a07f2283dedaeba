//! The contract on the Redis backend, against the real server named by
//! `STATECRAFT_TEST_REDIS_URL` (scripts/test starts one). Each case owns a random
//! key prefix and deletes its keys afterwards, so cases can run beside other users
//! of the same Redis. Time passes for real: Redis keeps the TTLs.

use std::sync::{Arc, Once};
use std::time::Duration;

use async_trait::async_trait;
use statecraft_state::redis::{RedisBackend, RedisCounterStore, RedisSessionStore};
use statecraft_state::{CounterStore, SessionSecret, SessionStore};

use crate::{Backend, TIMEOUTS};

struct Redis {
    backend: RedisBackend,
}

#[async_trait]
impl Backend for Redis {
    async fn sessions(&self) -> Arc<dyn SessionStore> {
        Arc::new(RedisSessionStore::new(self.backend.clone(), TIMEOUTS))
    }
    async fn counters(&self) -> Arc<dyn CounterStore> {
        Arc::new(RedisCounterStore::new(self.backend.clone()))
    }
    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
    async fn cleanup(&self) {
        self.backend.delete_all().await.unwrap();
    }
}

/// The backend, or `None` (and one line saying so) when no Redis URL is set.
async fn backend() -> Option<Redis> {
    let Ok(url) = std::env::var("STATECRAFT_TEST_REDIS_URL") else {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            eprintln!("redis contract suite not run: STATECRAFT_TEST_REDIS_URL is not set (scripts/test sets it)");
        });
        return None;
    };
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let backend = RedisBackend::connect(&url, &prefix, Duration::from_secs(2))
        .await
        .expect("STATECRAFT_TEST_REDIS_URL is set, so Redis must answer");
    Some(Redis { backend })
}

crate::all_contract_cases!(backend());
