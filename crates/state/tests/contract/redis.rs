//! The contract on the Redis backend, against the real server named by
//! `STATECRAFT_TEST_REDIS_URL` (scripts/test starts one). Each case owns a random
//! key prefix and deletes its keys afterwards, so cases can run beside other users
//! of the same Redis. Time passes for real: Redis keeps the TTLs.

use std::sync::{Arc, Once};
use std::time::Duration;

use async_trait::async_trait;
use statecraft_state::redis::{RedisBackend, RedisCounterStore, RedisDenylist, RedisSessionStore};
use statecraft_state::{CounterStore, Denylist, SessionSecret, SessionStore};

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
    async fn denylist(&self) -> Arc<dyn Denylist> {
        Arc::new(RedisDenylist::new(self.backend.clone()))
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

/// The raw value and PTTL (ms) of a session's key, read past the store.
async fn raw(url: &str, key: &str) -> (serde_json::Value, i64) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let json: String = redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    (serde_json::from_str(&json).unwrap(), ttl)
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Other tools read sessions in Redis: the value is the documented JSON, written
/// the same by the Rust side (create) and the scripts (update), with a TTL of the
/// idle timeout and `expiresAt` at the absolute deadline.
#[tokio::test]
async fn sessions_are_stored_as_readable_json_with_a_ttl() {
    let Some(redis) = backend().await else { return };
    let url = std::env::var("STATECRAFT_TEST_REDIS_URL").unwrap();
    let store = redis.sessions().await;
    let secret = SessionSecret::generate();
    let id = secret.public_id();
    let key = format!("{}session:{id}", redis.backend.prefix());
    let mut data = statecraft_state::capacity::typical_session();
    store.create(&id, &data).await.unwrap();
    let (doc, ttl) = raw(&url, &key).await;
    let deadline = doc["expiresAt"].as_i64().unwrap();
    assert!((deadline - (now_ms() + 5_000)).abs() < 1_000, "{doc}");
    assert!(ttl > 0 && ttl <= 2_000, "{ttl}");
    let mut expected = serde_json::json!({
        "counter": 1,
        "cartItems": [["book-1", 2], ["pen-7", 1]],
        "expiresAt": deadline,
    });
    assert_eq!(doc, expected);

    // The scripts keep the fields they do not change, non-default ones included.
    data.user_id = Some("alice".to_owned());
    data.current_step = statecraft_state::CheckoutStep::Shipping;
    let other = SessionSecret::generate().public_id();
    store.create(&other, &data).await.unwrap();
    store
        .update(&other, &statecraft_state::Mutation::IncrementCounter)
        .await
        .unwrap();
    let add = statecraft_state::Mutation::AddToCart {
        product: statecraft_state::ProductId::parse("mug-3").unwrap(),
        quantity: 4,
    };
    store.update(&other, &add).await.unwrap();
    let (doc, _) = raw(&url, &format!("{}session:{other}", redis.backend.prefix())).await;
    expected = serde_json::json!({
        "counter": 2,
        "cartItems": [["book-1", 2], ["pen-7", 1], ["mug-3", 4]],
        "currentStep": "shipping",
        "userId": "alice",
        "expiresAt": doc["expiresAt"],
    });
    assert_eq!(doc, expected);
    assert_eq!(
        store
            .load(&other)
            .await
            .unwrap()
            .unwrap()
            .user_id
            .as_deref(),
        Some("alice")
    );
    redis.cleanup().await;
}
