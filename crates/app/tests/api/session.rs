//! API.md "Sessions and cookies", "Session summary", `/whoami`.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::spawn_app;
use crate::helpers::spawn_with;

#[tokio::test]
async fn session_cookie_has_the_required_attributes() {
    let app = spawn_app().await;
    let answer = app.post("/increment", None, None).await;
    let cookies = answer.set_cookies();
    assert_eq!(cookies.len(), 1);
    let cookie = &cookies[0];
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=86400",
    ] {
        assert!(
            cookie.split("; ").any(|a| a == attr),
            "{cookie} lacks {attr}"
        );
    }
}

#[tokio::test]
async fn insecure_cookies_drop_only_secure() {
    let app = spawn_with(|s| s.config.secure_cookies = false).await;
    let cookie = app
        .post("/increment", None, None)
        .await
        .set_cookies()
        .remove(0);
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
}

#[tokio::test]
async fn session_ids_are_long_url_safe_and_unique() {
    let app = spawn_app().await;
    let mut secrets = HashSet::new();
    let mut public = HashSet::new();
    for _ in 0..200 {
        let answer = app.post("/increment", None, None).await;
        let secret = answer.session_cookie().unwrap();
        // 32 base64url characters = 192 bits from the CSPRNG (>= 128 required)
        assert_eq!(secret.len(), 32);
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let id = answer.body["sessionId"].as_str().unwrap().to_owned();
        assert_ne!(id, secret);
        assert!(!secret.contains(&id));
        secrets.insert(secret);
        public.insert(id);
    }
    assert_eq!(secrets.len(), 200);
    assert_eq!(public.len(), 200);
}

#[tokio::test]
async fn an_unknown_or_odd_cookie_is_session_missing_and_cleared_never_replaced() {
    let app = spawn_app().await;
    let unknown = "A".repeat(32);
    for cookie in [unknown.as_str(), "abc", "", "%%%", "\"quoted\""] {
        for (method, path, body) in [
            ("POST", "/increment", None),
            ("GET", "/cart", None),
            ("GET", "/session", None),
            (
                "POST",
                "/cart/items",
                Some(json!({"productId": "a", "quantity": 1})),
            ),
            ("DELETE", "/cart", None),
        ] {
            let answer = app.call(method, path, Some(cookie), body).await;
            answer.assert_error(401, "SESSION_MISSING");
            let cleared = answer.set_cookies();
            assert_eq!(cleared.len(), 1, "{method} {path}");
            assert!(
                cleared[0].starts_with("session_id=;") && cleared[0].contains("Max-Age=0"),
                "{}",
                cleared[0]
            );
        }
    }
    assert!(
        app.sessions.is_empty(),
        "no session may be created for an unknown cookie"
    );
}

#[tokio::test]
async fn affinity_lost_turns_missing_into_lost() {
    let app = spawn_app().await;
    let answer = app
        .client
        .post(format!("{}/increment", app.base))
        .header("cookie", format!("session_id={}", "B".repeat(32)))
        .header("x-affinity-lost", "server-2")
        .send()
        .await
        .unwrap();
    let answer = crate::helpers::Answer::from(answer).await;
    answer.assert_error(401, "SESSION_LOST");
}

#[tokio::test]
async fn session_summary_reports_browsing_and_cart_total() {
    let app = spawn_app().await;
    let none = app.get("/session", None).await;
    assert_eq!(
        none.body,
        json!({"sessionId": null, "currentStep": "browsing", "cartItems": 0, "userLoggedIn": false, "counter": 0})
    );
    assert!(none.session_cookie().is_none());
    let first = app
        .post(
            "/cart/items",
            None,
            Some(json!({"productId": "book-1", "quantity": 2})),
        )
        .await;
    let cookie = first.session_cookie().unwrap();
    app.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "pen-7", "quantity": 1})),
    )
    .await;
    app.post("/increment", Some(&cookie), None).await;
    let summary = app.get("/session", Some(&cookie)).await;
    assert_eq!(
        summary.body,
        json!({"sessionId": first.body["sessionId"], "currentStep": "browsing", "cartItems": 3, "userLoggedIn": false, "counter": 1})
    );
}

#[tokio::test]
async fn whoami_names_the_instance_and_the_client() {
    let app = spawn_app().await;
    let anon = app.get("/whoami", None).await;
    assert_eq!(
        anon.body,
        json!({"client": null, "routedTo": "server-test", "sessionFound": false})
    );
    let first = app.post("/increment", None, None).await;
    let cookie = first.session_cookie().unwrap();
    let known = app.get("/whoami", Some(&cookie)).await;
    assert_eq!(
        known.body,
        json!({"client": first.body["sessionId"], "routedTo": "server-test", "sessionFound": true})
    );
    let named = app
        .client
        .get(format!("{}/whoami", app.base))
        .header("x-client-id", "load-7")
        .header("cookie", format!("session_id={}", "C".repeat(32)))
        .send()
        .await
        .unwrap();
    let named = crate::helpers::Answer::from(named).await;
    assert_eq!(
        named.body,
        json!({"client": "load-7", "routedTo": "server-test", "sessionFound": false})
    );
}

#[tokio::test]
async fn session_hand_over_needs_the_cluster_token_and_is_off_without_one() {
    let off = spawn_app().await;
    off.bearer("GET", "/_internal/sessions", "anything", None)
        .await
        .assert_error(404, "NOT_FOUND");
    let app = spawn_with(|s| s.config.handover_token = Some("cluster-secret".to_owned())).await;
    let cookie = app.new_session().await;
    app.get("/_internal/sessions", None)
        .await
        .assert_error(403, "FORBIDDEN");
    app.bearer("GET", "/_internal/sessions", "cluster-secreT", None)
        .await
        .assert_error(403, "FORBIDDEN");
    let export = app
        .bearer("GET", "/_internal/sessions", "cluster-secret", None)
        .await;
    assert_eq!(export.status, 200, "{}", export.text);
    let sessions = export.body["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    // Another instance takes them: the same cookie finds the same session.
    let heir = spawn_with(|s| s.config.handover_token = Some("cluster-secret".to_owned())).await;
    let taken = heir
        .bearer(
            "POST",
            "/_internal/sessions",
            "cluster-secret",
            Some(serde_json::json!({ "sessions": sessions })),
        )
        .await;
    assert_eq!(taken.body["imported"], 1, "{}", taken.text);
    // The same session, cart included (no new one was made).
    let counted = heir.post("/increment", Some(&cookie), None).await;
    assert_eq!(
        counted.body["sessionId"], sessions[0]["id"],
        "{}",
        counted.text
    );
    let cart = heir.get("/cart", Some(&cookie)).await;
    assert_eq!(cart.body["totalItems"], 1, "{}", cart.text);
    let bad = heir
        .bearer(
            "GET",
            "/_internal/sessions?since=yesterday",
            "cluster-secret",
            None,
        )
        .await;
    bad.assert_error(400, "INVALID_REQUEST");
}
