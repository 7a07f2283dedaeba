//! The contract on the Redis backend, against the real server named by
//! `STATECRAFT_TEST_REDIS_URL` (scripts/test starts one). Each case owns a random
//! key prefix and deletes its keys afterwards, so cases can run beside other users
//! of the same Redis. Time passes for real: Redis keeps the TTLs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use statecraft_state::redis::{RedisBackend, RedisCounterStore, RedisDenylist, RedisSessionStore};
use statecraft_state::{
    CounterStore, Denylist, SessionData, SessionId, SessionSecret, SessionStore, TAG_CHARS,
    tag_text, user_tag,
};

use crate::{Backend, TIMEOUTS};

struct Redis {
    backend: RedisBackend,
    url: String,
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

/// The backend on the Redis named by `var`, or `None` (and a line saying so)
/// when it is not set on a bare machine; a failure under scripts/test.
async fn backend_at(var: &str) -> Option<Redis> {
    let url = statecraft_testkit::service_url(var, "the Redis contract suite")?;
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let backend = RedisBackend::connect(&url, &prefix, Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("{var} is set, so Redis must answer: {e}"));
    Some(Redis { backend, url })
}

const SINGLE: &str = "STATECRAFT_TEST_REDIS_URL";
const CLUSTER: &str = "STATECRAFT_TEST_REDIS_CLUSTER_URL";
const SENTINEL: &str = "STATECRAFT_TEST_REDIS_SENTINEL_URL";

/// The suite on one Redis server.
mod single {
    crate::all_contract_cases!(super::backend_at(super::SINGLE));
}

/// The suite on a Redis Cluster of three masters: every script's keys on one slot.
mod cluster {
    crate::all_contract_cases!(super::backend_at(super::CLUSTER));
}

/// The suite on a primary with two replicas, found through three sentinels.
mod sentinel {
    crate::all_contract_cases!(super::backend_at(super::SENTINEL));
}

/// The URL of the primary a `redis+sentinel://H:P,…/MASTER` URL names now,
/// asked of its first sentinel.
async fn primary_of(url: &str) -> String {
    let rest = url.trim_start_matches("redis+sentinel://");
    let (hosts, master) = rest.split_once('/').unwrap();
    let first = hosts.split(',').next().unwrap();
    let client = redis::Client::open(format!("redis://{first}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (host, port): (String, u16) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(master.trim_end_matches('/'))
        .query_async(&mut conn)
        .await
        .unwrap();
    format!("redis://{host}:{port}/")
}

/// Runs `cmd` on the server or cluster behind `url`, past the store.
async fn raw_query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> T {
    if url.starts_with("redis+sentinel://") {
        let primary = primary_of(url).await;
        let client = redis::Client::open(primary).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        return cmd.query_async(&mut conn).await.unwrap();
    }
    if let Some(hosts) = url.strip_prefix("redis+cluster://") {
        let nodes: Vec<String> = hosts
            .trim_end_matches('/')
            .split(',')
            .map(|h| format!("redis://{h}/"))
            .collect();
        let client = redis::cluster::ClusterClient::new(nodes).unwrap();
        let mut conn = client.get_async_connection().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    } else {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    }
}

/// The raw value and PTTL (ms) of a session's key, read past the store.
async fn raw(url: &str, key: &str) -> (serde_json::Value, i64) {
    let json: String = raw_query(url, redis::cmd("GET").arg(key)).await;
    let ttl: i64 = raw_query(url, redis::cmd("PTTL").arg(key)).await;
    (serde_json::from_str(&json).unwrap(), ttl)
}

/// A session's key: `session:<id>`, on a cluster `session:{TAG}REST`.
fn session_key(redis: &Redis, id: &SessionId) -> String {
    let text = id.to_string();
    if !redis.backend.is_cluster() {
        return format!("{}session:{text}", redis.backend.prefix());
    }
    let (tag, rest) = text.split_at(TAG_CHARS);
    format!("{}session:{{{tag}}}{rest}", redis.backend.prefix())
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
async fn sessions_are_stored_as_readable_json_with_a_ttl(var: &str) {
    let Some(redis) = backend_at(var).await else {
        return;
    };
    let url = redis.url.clone();
    let store = redis.sessions().await;
    let secret = SessionSecret::generate();
    let id = secret.public_id();
    let key = session_key(&redis, &id);
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
    let (doc, _) = raw(&url, &session_key(&redis, &other)).await;
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

#[tokio::test]
async fn sessions_are_readable_json_with_a_ttl_on_one_server() {
    sessions_are_stored_as_readable_json_with_a_ttl(SINGLE).await;
}

#[tokio::test]
async fn sessions_are_readable_json_with_a_ttl_on_a_cluster() {
    sessions_are_stored_as_readable_json_with_a_ttl(CLUSTER).await;
}

#[tokio::test]
async fn sessions_are_readable_json_with_a_ttl_on_a_sentinel_watched_redis() {
    sessions_are_stored_as_readable_json_with_a_ttl(SENTINEL).await;
}

/// Logging out takes the session out of its user's index at once: the index
/// must not grow with every login a long-lived user ever made (found by the
/// soak: `user-sessions:*` grew by one entry per login and logout).
async fn logout_takes_the_login_out_of_its_index(var: &str) {
    let Some(redis) = backend_at(var).await else {
        return;
    };
    let store = redis.sessions().await;
    let data = SessionData {
        user_id: Some("dana".to_owned()),
        ..SessionData::default()
    };
    let ids: Vec<SessionId> = (0..3)
        .map(|_| SessionSecret::generate_for_user("dana").public_id())
        .collect();
    for id in &ids {
        store.create_login(id, &data, "ua").await.unwrap();
    }
    let index = format!(
        "{}user-sessions:{{{}}}dana",
        redis.backend.prefix(),
        tag_text(user_tag("dana"))
    );
    let entries = || async { raw_query::<u64>(&redis.url, redis::cmd("HLEN").arg(&index)).await };
    assert_eq!(entries().await, 3);
    assert!(store.delete(&ids[0]).await.unwrap());
    assert_eq!(entries().await, 2);
    assert!(!store.delete(&ids[0]).await.unwrap());
    for id in &ids[1..] {
        assert!(store.delete(id).await.unwrap());
    }
    let exists: u64 = raw_query(&redis.url, redis::cmd("EXISTS").arg(&index)).await;
    assert_eq!(exists, 0, "the emptied index is gone");

    // A login whose ID lacks its user's tag is refused: on a cluster it would
    // land on another slot than its index.
    let untagged = SessionSecret::generate().public_id();
    assert!(store.create_login(&untagged, &data, "ua").await.is_err());
    redis.cleanup().await;
}

#[tokio::test]
async fn logout_empties_the_index_on_one_server() {
    logout_takes_the_login_out_of_its_index(SINGLE).await;
}

#[tokio::test]
async fn logout_empties_the_index_on_a_cluster() {
    logout_takes_the_login_out_of_its_index(CLUSTER).await;
}

#[tokio::test]
async fn logout_empties_the_index_on_a_sentinel_watched_redis() {
    logout_takes_the_login_out_of_its_index(SENTINEL).await;
}

/// The scripts read `expiresAt` by its place when it has 13 digits (every
/// date from 2001 to 2286) and compare it as text; any other width takes the
/// numbers. Both ways must agree: a past deadline of 12 digits ends the
/// session, a far one of 14 keeps it with the idle timeout as its TTL, and a
/// deadline nearer than the idle timeout caps the TTL.
async fn deadlines_of_any_width_are_read(var: &str) {
    let Some(redis) = backend_at(var).await else {
        return;
    };
    let store = redis.sessions().await;
    let put = |key: String, deadline: i64| {
        let url = redis.url.clone();
        async move {
            let doc = format!(r#"{{"counter":7,"cartItems":[],"expiresAt":{deadline}}}"#);
            let () = raw_query(
                &url,
                redis::cmd("SET").arg(&key).arg(doc).arg("PX").arg(60_000),
            )
            .await;
        }
    };
    let past = SessionSecret::generate().public_id();
    put(session_key(&redis, &past), 999_999_999_999).await;
    assert_eq!(
        store.load(&past).await.unwrap(),
        None,
        "a 2001 deadline is past"
    );
    let exists: u64 = raw_query(
        &redis.url,
        redis::cmd("EXISTS").arg(session_key(&redis, &past)),
    )
    .await;
    assert_eq!(exists, 0, "an expired session is deleted when met");

    let far = SessionSecret::generate().public_id();
    put(session_key(&redis, &far), 10_000_000_000_000).await;
    let incremented = store
        .update(&far, &statecraft_state::Mutation::IncrementCounter)
        .await
        .unwrap();
    assert!(
        matches!(incremented, statecraft_state::Update::Applied(ref d) if d.counter == 8),
        "{incremented:?}"
    );
    let (_, ttl) = raw(&redis.url, &session_key(&redis, &far)).await;
    assert!(ttl > 1_000 && ttl <= 2_000, "the idle timeout, {ttl}");

    let near = SessionSecret::generate().public_id();
    put(session_key(&redis, &near), now_ms() + 500).await;
    assert!(store.load(&near).await.unwrap().is_some());
    let (_, ttl) = raw(&redis.url, &session_key(&redis, &near)).await;
    assert!(
        ttl > 0 && ttl <= 500,
        "capped by the absolute deadline, {ttl}"
    );
    redis.cleanup().await;
}

#[tokio::test]
async fn deadlines_of_any_width_are_read_on_one_server() {
    deadlines_of_any_width_are_read(SINGLE).await;
}

#[tokio::test]
async fn deadlines_of_any_width_are_read_on_a_cluster() {
    deadlines_of_any_width_are_read(CLUSTER).await;
}

#[tokio::test]
async fn deadlines_of_any_width_are_read_on_a_sentinel_watched_redis() {
    deadlines_of_any_width_are_read(SENTINEL).await;
}

/// A sentinel that accepts connections and never answers (a host gone
/// silent behind a partition) listed first: the store still finds the
/// primary through the others, within its timeout, instead of waiting on
/// the silent one (redis-rs asks them in turn with no time limit).
#[tokio::test]
async fn a_silent_sentinel_does_not_hold_up_finding_the_primary() {
    let Some(url) = statecraft_testkit::service_url(SENTINEL, "the silent sentinel test") else {
        return;
    };
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    // Accepted and held, never read from or answered.
    let holder = std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(8).collect();
        drop(held);
    });
    let with_silent = url.replacen(
        "redis+sentinel://",
        &format!("redis+sentinel://127.0.0.1:{silent_port},"),
        1,
    );
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let started = std::time::Instant::now();
    let backend = tokio::time::timeout(
        Duration::from_secs(5),
        RedisBackend::connect(&with_silent, &prefix, Duration::from_millis(500)),
    )
    .await
    .unwrap_or_else(|_| panic!("still waiting on the silent sentinel after 5 s"))
    .unwrap_or_else(|e| panic!("the other sentinels name the primary: {e}"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "found after {:?}",
        started.elapsed()
    );
    let counters = RedisCounterStore::new(backend.clone());
    let name = statecraft_state::CounterName::parse("silent-sentinel").unwrap();
    assert_eq!(counters.increment(&name).await.unwrap(), 1);
    backend.delete_all().await.unwrap();
    drop(holder);
}
