//! The API on the shared stores: the same answers on SQLite and Redis, and two
//! instances on one store agree (where two memory instances would not).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use statecraft_state::redis::{RedisBackend, RedisCounterStore, RedisSessionStore};
use statecraft_state::sqlite::{SqliteCounterStore, SqliteDb, SqliteSessionStore};
use statecraft_state::{CounterStore, SessionSecret, SessionStore, SessionTimeouts};

use crate::counter::futures_join_all;
use crate::helpers::{TestApp, spawn_with};

type Stores = (Arc<dyn SessionStore>, Arc<dyn CounterStore>);

fn sqlite_stores(path: &std::path::Path) -> Stores {
    let db = SqliteDb::open(path, Duration::from_secs(5)).unwrap();
    (
        Arc::new(SqliteSessionStore::new(
            db.clone(),
            SessionTimeouts::default(),
        )),
        Arc::new(SqliteCounterStore::new(db)),
    )
}

async fn redis_stores(prefix: &str) -> Option<(Stores, RedisBackend)> {
    let url = std::env::var("STATECRAFT_TEST_REDIS_URL").ok()?;
    let redis = RedisBackend::connect(&url, prefix, Duration::from_secs(2))
        .await
        .unwrap();
    let stores: Stores = (
        Arc::new(RedisSessionStore::new(
            redis.clone(),
            SessionTimeouts::default(),
        )),
        Arc::new(RedisCounterStore::new(redis.clone())),
    );
    Some((stores, redis))
}

async fn two_apps(stores: &Stores) -> (Arc<TestApp>, Arc<TestApp>) {
    let a = spawn_with(|s| s.stores = Some(stores.clone())).await;
    let b = spawn_with(|s| {
        s.config.instance_id = "server-other".into();
        s.stores = Some(stores.clone());
    })
    .await;
    (a, b)
}

/// The same checks on any shared store named `source`.
async fn shared_store_behaves(stores: Stores, source: &str) {
    let (a, b) = two_apps(&stores).await;
    // a session made on one instance is found on the other
    let first = a.post("/increment", None, None).await;
    assert_eq!(first.header("x-state-source"), source);
    let cookie = first.session_cookie().unwrap();
    let on_b = b.post("/increment", Some(&cookie), None).await;
    assert_eq!(on_b.body["counter"], 2, "{}", on_b.text);
    assert_eq!(on_b.header("x-served-by"), "server-other");
    // 50 parallel cart adds, spread over both instances, lose nothing
    let calls = (0..50).map(|i| {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let cookie = cookie.clone();
        async move {
            app.post(
                "/cart/items",
                Some(&cookie),
                Some(json!({"productId": "pen-7", "quantity": 1})),
            )
            .await
        }
    });
    for answer in futures_join_all(calls).await {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let cart = b.get("/cart", Some(&cookie)).await;
    assert_eq!(
        cart.body["cartItems"],
        json!([{"productId": "pen-7", "quantity": 50}])
    );
    // rules hold on every store
    a.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "pen-7", "quantity": 950})),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    a.call("DELETE", "/cart/items/nope", Some(&cookie), None)
        .await
        .assert_error(404, "NOT_FOUND");
    // an unknown session is missing, named by the store that was asked
    let missing = a.post("/increment", Some(&"Q".repeat(32)), None).await;
    missing.assert_error(401, "SESSION_MISSING");
    assert_eq!(missing.header("x-state-source"), source);
    // one named counter for everybody: the instances never disagree
    let name = format!("shared-{}", SessionSecret::generate().public_id().spread());
    let calls = (0..40).map(|i| {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let path = format!("/counters/{name}/increment");
        async move { app.post(&path, None, None).await }
    });
    for answer in futures_join_all(calls).await {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    for app in [&a, &b] {
        assert_eq!(
            app.get(&format!("/counters/{name}"), None).await.body["counter"],
            40
        );
    }
    // logging out is later; deleting the cart empties it for both
    b.call("DELETE", "/cart", Some(&cookie), None).await;
    assert_eq!(a.get("/cart", Some(&cookie)).await.body["totalItems"], 0);
    assert_eq!(a.get("/readyz", None).await.status, 200);
}

#[tokio::test]
async fn the_api_on_a_shared_sqlite_file() {
    let dir = std::env::temp_dir().join(format!(
        "statecraft-api-{}",
        SessionSecret::generate().public_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    shared_store_behaves(sqlite_stores(&dir.join("state.db")), "sqlite").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_api_on_a_shared_redis() {
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let Some((stores, redis)) = redis_stores(&prefix).await else {
        eprintln!(
            "redis API test not run: STATECRAFT_TEST_REDIS_URL is not set (scripts/test sets it)"
        );
        return;
    };
    shared_store_behaves(stores, "redis").await;
    redis.delete_all().await.unwrap();
}
