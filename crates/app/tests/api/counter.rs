//! API.md "Counter": stateful, stateless, signed tokens, named counters.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn stateful_counter_counts_per_session_and_creates_one_session() {
    let app = spawn_app().await;
    let first = app.post("/increment", None, None).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["counter"], 1);
    assert_eq!(first.body["storedOn"], "server");
    assert_eq!(first.header("x-state-source"), "memory");
    assert_eq!(first.header("x-served-by"), "server-test");
    let cookie = first.session_cookie().expect("a session cookie");
    let session_id = first.body["sessionId"].as_str().unwrap().to_owned();
    assert_ne!(
        session_id, cookie,
        "the body carries the public ID, not the secret"
    );
    let mut last = first;
    for _ in 0..4 {
        last = app.post("/increment", Some(&cookie), None).await;
        assert!(
            last.set_cookies().is_empty(),
            "ordinary answers carry no Set-Cookie"
        );
    }
    assert_eq!(
        last.body,
        json!({"counter": 5, "storedOn": "server", "sessionId": session_id})
    );
    // `{}` is the stateful form too
    let with_empty = app.post("/increment", Some(&cookie), Some(json!({}))).await;
    assert_eq!(with_empty.body["counter"], 6);
    assert_eq!(app.sessions.len(), 1);
}

#[tokio::test]
async fn stateless_counter_adds_one_and_stores_nothing() {
    let app = spawn_app().await;
    let answer = app
        .post("/increment", None, Some(json!({"currentCount": 4})))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["counter"], 5);
    assert_eq!(answer.body["storedOn"], "client");
    assert!(
        answer.body["stateToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(answer.body.as_object().unwrap().len(), 3);
    assert_eq!(answer.header("x-state-source"), "client");
    assert!(answer.session_cookie().is_none());
    assert!(app.sessions.is_empty());
}

#[tokio::test]
async fn stateless_body_wins_over_a_session_cookie() {
    let app = spawn_app().await;
    let cookie = app.new_session().await;
    let answer = app
        .post(
            "/increment",
            Some(&cookie),
            Some(json!({"currentCount": 10})),
        )
        .await;
    assert_eq!(answer.body["counter"], 11);
    assert_eq!(answer.body["storedOn"], "client");
    let cart = app.get("/session", Some(&cookie)).await;
    assert_eq!(cart.status, 200, "the session is untouched");
}

#[tokio::test]
async fn state_token_carries_the_count_and_catches_forgery() {
    let app = spawn_app().await;
    let first = app
        .post("/increment", None, Some(json!({"currentCount": 0})))
        .await;
    let token = first.body["stateToken"].as_str().unwrap().to_owned();
    let second = app
        .post("/increment", None, Some(json!({"stateToken": token})))
        .await;
    assert_eq!(second.body["counter"], 2);
    let token2 = second.body["stateToken"].as_str().unwrap().to_owned();
    // agreeing currentCount is fine
    let third = app
        .post(
            "/increment",
            None,
            Some(json!({"stateToken": token2, "currentCount": 2})),
        )
        .await;
    assert_eq!(third.body["counter"], 3);
    // a forged currentCount beside a genuine token
    app.post(
        "/increment",
        None,
        Some(json!({"stateToken": token2, "currentCount": 1000})),
    )
    .await
    .assert_error(400, "TAMPERED_STATE");
    // a forged token
    let forged = token2.replacen("v1.2.", "v1.999.", 1);
    app.post("/increment", None, Some(json!({"stateToken": forged})))
        .await
        .assert_error(400, "TAMPERED_STATE");
    app.post("/increment", None, Some(json!({"stateToken": "garbage"})))
        .await
        .assert_error(400, "TAMPERED_STATE");
}

#[tokio::test]
async fn a_token_from_another_instance_does_not_verify() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    let token = a
        .post("/increment", None, Some(json!({"currentCount": 1})))
        .await
        .body["stateToken"]
        .clone();
    b.post("/increment", None, Some(json!({"stateToken": token})))
        .await
        .assert_error(400, "TAMPERED_STATE");
}

#[tokio::test]
async fn current_count_must_be_an_integer_from_0_to_2_pow_53_minus_1() {
    let app = spawn_app().await;
    let max = (1u64 << 53) - 1;
    for bad in [
        json!(-1),
        json!(1.5),
        json!("4"),
        json!(max + 1),
        json!(1e300),
        json!(true),
        json!([1]),
    ] {
        let answer = app
            .post("/increment", None, Some(json!({"currentCount": bad})))
            .await;
        answer.assert_error(400, "INVALID_REQUEST");
        assert!(
            answer.body["error"]
                .as_str()
                .unwrap()
                .contains("currentCount"),
            "{}",
            answer.text
        );
    }
    let top = app
        .post("/increment", None, Some(json!({"currentCount": max - 1})))
        .await;
    assert_eq!(top.body["counter"], max);
    app.post("/increment", None, Some(json!({"currentCount": max})))
        .await
        .assert_error(409, "LIMIT_REACHED");
}

#[tokio::test]
async fn named_counters_are_shared_and_read_without_change() {
    let app = spawn_app().await;
    let zero = app.get("/counters/clicks", None).await;
    assert_eq!(
        zero.body,
        json!({"name": "clicks", "counter": 0, "server": "server-test"})
    );
    app.post("/counters/clicks/increment", None, None).await;
    let two = app.post("/counters/clicks/increment", None, None).await;
    assert_eq!(
        two.body,
        json!({"name": "clicks", "counter": 2, "server": "server-test"})
    );
    assert_eq!(two.header("x-state-source"), "memory");
    assert_eq!(app.get("/counters/clicks", None).await.body["counter"], 2);
    assert_eq!(app.get("/counters/other", None).await.body["counter"], 0);
    let long = "x".repeat(65);
    for bad in ["bad%20name", "a.b", long.as_str()] {
        app.post(&format!("/counters/{bad}/increment"), None, None)
            .await
            .assert_error(400, "INVALID_REQUEST");
    }
}

#[tokio::test]
async fn fifty_parallel_increments_on_one_session_count_fifty() {
    let app = spawn_app().await;
    let cookie = app
        .post("/increment", None, None)
        .await
        .session_cookie()
        .unwrap();
    let calls = (0..50).map(|_| {
        let (app, cookie) = (app.clone(), cookie.clone());
        async move { app.post("/increment", Some(&cookie), None).await }
    });
    for answer in futures_join_all(calls).await {
        assert_eq!(answer.status, 200);
    }
    assert_eq!(
        app.post("/increment", Some(&cookie), None).await.body["counter"],
        52
    );
}

/// Runs futures concurrently on the test's runtime (no extra crate needed).
pub(crate) async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
