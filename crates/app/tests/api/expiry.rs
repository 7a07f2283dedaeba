//! Idle and absolute expiry, on a manual clock and once on the real one.

use std::time::Duration;

use crate::helpers::{short_timeouts, spawn_with};

#[tokio::test]
async fn an_idle_session_expires_and_a_used_one_slides() {
    let app = spawn_with(|s| s.config.timeouts = short_timeouts()).await; // idle 2 s
    let idle = app.new_session().await;
    let busy = app.new_session().await;
    app.clock.advance(Duration::from_millis(1500));
    assert_eq!(app.get("/cart", Some(&busy)).await.status, 200);
    app.clock.advance(Duration::from_millis(1500));
    app.get("/cart", Some(&idle))
        .await
        .assert_error(401, "SESSION_MISSING");
    assert_eq!(
        app.get("/cart", Some(&busy)).await.status,
        200,
        "use slides the idle deadline"
    );
}

#[tokio::test]
async fn absolute_expiry_ends_a_busy_session_and_sets_max_age() {
    let app = spawn_with(|s| s.config.timeouts = short_timeouts()).await; // absolute 10 s
    let first = app.post("/increment", None, None).await;
    assert!(first.set_cookies()[0].contains("Max-Age=10"));
    let cookie = first.session_cookie().unwrap();
    for _ in 0..9 {
        app.clock.advance(Duration::from_secs(1));
        assert_eq!(
            app.post("/increment", Some(&cookie), None).await.status,
            200
        );
    }
    app.clock.advance(Duration::from_secs(1));
    app.post("/increment", Some(&cookie), None)
        .await
        .assert_error(401, "SESSION_MISSING");
}

#[tokio::test]
async fn expired_sessions_are_freed_without_a_request() {
    let app = spawn_with(|s| {
        s.config.timeouts = short_timeouts();
        s.sweep_every = Duration::from_millis(20);
    })
    .await;
    for _ in 0..20 {
        app.new_session().await;
    }
    assert_eq!(app.sessions.len(), 20);
    app.clock.advance(Duration::from_secs(3));
    for _ in 0..250 {
        if app.sessions.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} expired sessions still held", app.sessions.len());
}

#[tokio::test]
async fn a_short_real_ttl_expires_in_real_time() {
    let app = spawn_with(|s| {
        s.real_clock = true;
        s.config.timeouts.idle = Duration::from_secs(1);
        s.sweep_every = Duration::from_millis(100);
    })
    .await;
    let cookie = app.new_session().await;
    assert_eq!(app.get("/cart", Some(&cookie)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert!(
        app.sessions.is_empty(),
        "the sweeper freed the expired session"
    );
    app.get("/cart", Some(&cookie))
        .await
        .assert_error(401, "SESSION_MISSING");
}
