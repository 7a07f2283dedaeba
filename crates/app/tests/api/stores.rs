//! The API on the shared stores: the same answers on SQLite and Redis, and two
//! instances on one store agree (where two memory instances would not).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use statecraft_services::DataSpec;
use statecraft_state::redis::{RedisBackend, RedisCounterStore, RedisDenylist, RedisSessionStore};
use statecraft_state::sqlite::{SqliteCounterStore, SqliteDb, SqliteDenylist, SqliteSessionStore};
use statecraft_state::{CounterStore, Denylist, SessionSecret, SessionStore, SessionTimeouts};

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

/// The stores on the Redis named by the environment variable `var` (one
/// server, or a cluster), or `None` when it is not set.
async fn redis_stores(var: &str, prefix: &str) -> Option<(Stores, RedisBackend)> {
    let url = statecraft_testkit::service_url(var, "the API on a shared Redis")?;
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

/// The shared-store checks on the Redis named by `var`.
async fn the_api_on(var: &str) {
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let Some((stores, redis)) = redis_stores(var, &prefix).await else {
        return;
    };
    shared_store_behaves(stores, "redis").await;
    redis.delete_all().await.unwrap();
}

#[tokio::test]
async fn the_api_on_a_shared_redis() {
    the_api_on("STATECRAFT_TEST_REDIS_URL").await;
}

#[tokio::test]
async fn the_api_on_a_redis_cluster() {
    the_api_on("STATECRAFT_TEST_REDIS_CLUSTER_URL").await;
}

#[tokio::test]
async fn the_api_on_a_sentinel_watched_redis() {
    the_api_on("STATECRAFT_TEST_REDIS_SENTINEL_URL").await;
}

/// Logins on a shared store and one users database: what one instance does,
/// the other sees, revocations included.
async fn shared_logins_behave(stores: Stores, denylist: Arc<dyn Denylist>) {
    let data = tempfile::tempdir().unwrap();
    let spec = DataSpec::Sqlite(data.path().to_owned());
    let start = |name: &'static str| {
        let (stores, denylist, spec) = (stores.clone(), denylist.clone(), spec.clone());
        spawn_with(move |s| {
            s.config.instance_id = name.into();
            s.stores = Some(stores);
            s.denylist = Some(denylist);
            s.data = Some((spec, None));
        })
    };
    let (a, b) = (start("server-a").await, start("server-b").await);
    let cookie = a
        .login_as("alice", "correct-password", None, "Browser/A")
        .await
        .session_cookie()
        .unwrap();
    assert_eq!(b.get("/profile", Some(&cookie)).await.body["name"], "Alice");
    let listed = b.get("/sessions", Some(&cookie)).await;
    assert_eq!(
        listed.body["sessions"][0]["userAgent"], "Browser/A",
        "{}",
        listed.text
    );
    let second = b
        .login_as("alice", "correct-password", None, "Browser/B")
        .await
        .session_cookie()
        .unwrap();
    assert_eq!(
        a.get("/sessions", Some(&second)).await.body["sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        a.call("DELETE", "/sessions", Some(&second), None)
            .await
            .body["ended"],
        2
    );
    b.get("/profile", Some(&cookie))
        .await
        .assert_error(401, "SESSION_MISSING");

    // A token from one instance works on the other (shared keys); a logout on
    // one is refused by the other on its next request, though it had the token
    // in its verified cache.
    let (token, refresh) = a.token_for("bob").await;
    assert_eq!(b.bearer("GET", "/profile", &token, None).await.status, 200);
    assert_eq!(a.bearer("GET", "/profile", &token, None).await.status, 200);
    assert_eq!(b.bearer("POST", "/logout", &token, None).await.status, 200);
    a.bearer("GET", "/profile", &token, None)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    a.post(
        "/token/refresh",
        None,
        Some(json!({"refreshToken": refresh})),
    )
    .await
    .assert_error(401, "TOKEN_REVOKED");
}

#[tokio::test]
async fn logins_on_a_shared_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("state.db"), Duration::from_secs(5)).unwrap();
    let stores: Stores = (
        Arc::new(SqliteSessionStore::new(
            db.clone(),
            SessionTimeouts::default(),
        )),
        Arc::new(SqliteCounterStore::new(db.clone())),
    );
    shared_logins_behave(stores, Arc::new(SqliteDenylist::new(db))).await;
}

/// The shared-login checks on the Redis named by `var`.
async fn logins_on(var: &str) {
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let Some((stores, redis)) = redis_stores(var, &prefix).await else {
        return;
    };
    shared_logins_behave(stores, Arc::new(RedisDenylist::new(redis.clone()))).await;
    redis.delete_all().await.unwrap();
}

#[tokio::test]
async fn logins_on_a_shared_redis() {
    logins_on("STATECRAFT_TEST_REDIS_URL").await;
}

#[tokio::test]
async fn logins_on_a_redis_cluster() {
    logins_on("STATECRAFT_TEST_REDIS_CLUSTER_URL").await;
}

#[tokio::test]
async fn logins_on_a_sentinel_watched_redis() {
    logins_on("STATECRAFT_TEST_REDIS_SENTINEL_URL").await;
}

#[tokio::test]
async fn users_on_postgresql() {
    let Some(url) =
        statecraft_testkit::service_url("STATECRAFT_TEST_POSTGRES_URL", "the API on PostgreSQL")
    else {
        return;
    };
    let schema = format!("users_api_{:016x}", rand_u64());
    let spec = DataSpec::Postgres(url.clone());
    let app = {
        let (spec, schema) = (spec.clone(), schema.clone());
        spawn_with(move |s| s.data = Some((spec, Some(schema)))).await
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        let cookie = app.login_alice().await;
        assert_eq!(
            app.get("/profile", Some(&cookie)).await.body["role"],
            "admin"
        );
        // A name PostgreSQL's text cannot hold is a failed login, not a 503.
        app.login_as("al\u{0}ice", "correct-password", None, "t")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
        let created = app
            .post(
                "/users",
                None,
                Some(json!({"user": "pgcarol", "password": "a long password"})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        app.post(
            "/users",
            None,
            Some(json!({"user": "PGCAROL", "password": "a long password"})),
        )
        .await
        .assert_error(409, "USER_EXISTS");
        let (token, refresh) = app.token_for("bob").await;
        assert_eq!(
            app.bearer("GET", "/profile", &token, None).await.body["name"],
            "Bob"
        );
        let next = app
            .post(
                "/token/refresh",
                None,
                Some(json!({"refreshToken": refresh})),
            )
            .await;
        assert_eq!(next.status, 200, "{}", next.text);
    }))
    .await;
    app.shut_down().await;
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    for schema in [
        schema.clone(),
        format!("{schema}_orders"),
        format!("{schema}_inventory"),
        format!("{schema}_notifications"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .unwrap();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn rand_u64() -> u64 {
    SessionSecret::generate().public_id().spread()
}
