//! Authentication over HTTP: session logins, token logins, revocation, the
//! user's sessions, registration, the rate limit, and the token attacks.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use statecraft_app::{AuthMode, AuthSettings};

use crate::helpers::{spawn_app, spawn_with};

fn jwt_parts(token: &str) -> (Value, Value) {
    let p: Vec<_> = token.split('.').collect();
    assert_eq!(p.len(), 3, "{token}");
    (
        serde_json::from_slice(&B64.decode(p[0]).unwrap()).unwrap(),
        serde_json::from_slice(&B64.decode(p[1]).unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn session_login_rotates_the_id_keeps_the_cart_and_kills_the_old_id() {
    let app = spawn_app().await;
    let anonymous = app.new_session().await;
    let login = app
        .login_as("alice", "correct-password", Some(&anonymous), "Firefox/1")
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.body, json!({"message": "Login successful"}));
    let cookie = login.session_cookie().unwrap();
    assert_ne!(cookie, anonymous, "a login issues a new session ID");
    let set = login.set_cookies().join(" | ");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    // The cart came along; the pre-login ID no longer opens anything.
    let cart = app.get("/cart", Some(&cookie)).await;
    assert_eq!(cart.body["totalItems"], 1, "{}", cart.text);
    app.get("/cart", Some(&anonymous))
        .await
        .assert_error(401, "SESSION_MISSING");
    let profile = app.get("/profile", Some(&cookie)).await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    assert_eq!(profile.body, json!({"name": "Alice", "role": "admin"}));
    assert_eq!(
        app.get("/session", Some(&cookie)).await.body["userLoggedIn"],
        true
    );
    // Neither the secret nor the password appears in a body.
    assert!(!login.text.contains(&cookie) && !profile.text.contains(&cookie));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_answer_alike() {
    let app = spawn_app().await;
    let wrong = app.login_as("alice", "wrong-password", None, "t").await;
    let unknown = app.login_as("mallory", "correct-password", None, "t").await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.session_cookie().is_none() && unknown.session_cookie().is_none());
    for bad in [
        json!({"user": "alice"}),
        json!({"user": 1, "password": "x"}),
        json!([]),
    ] {
        app.post("/login", None, Some(bad))
            .await
            .assert_error(400, "INVALID_REQUEST");
    }
}

#[tokio::test]
async fn more_than_five_failures_a_minute_are_rate_limited() {
    let app = spawn_app().await;
    // Successes do not count.
    for _ in 0..8 {
        assert_eq!(
            app.login_as("bob", "correct-password", None, "t")
                .await
                .status,
            200
        );
    }
    for _ in 0..5 {
        app.login_as("alice", "nope-nope-nope", None, "t")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let limited = app.login_as("alice", "nope-nope-nope", None, "t").await;
    limited.assert_error(429, "RATE_LIMITED");
    let retry: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Even the right password waits; token logins share the limit; bob does not.
    app.login_as("alice", "correct-password", None, "t")
        .await
        .assert_error(429, "RATE_LIMITED");
    app.post(
        "/token",
        None,
        Some(json!({"user": "alice", "password": "correct-password"})),
    )
    .await
    .assert_error(429, "RATE_LIMITED");
    assert_eq!(
        app.login_as("bob", "correct-password", None, "t")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn logout_deletes_the_session_at_once() {
    let app = spawn_app().await;
    let cookie = app.login_alice().await;
    let before = app.sessions.len();
    let out = app.post("/logout", Some(&cookie), None).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("session_id=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(
        app.sessions.len(),
        before - 1,
        "gone from the store, not just the browser"
    );
    app.get("/profile", Some(&cookie))
        .await
        .assert_error(401, "SESSION_MISSING");
    app.post("/logout", None, None)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    let anonymous = app.get("/profile", None).await;
    anonymous.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(anonymous.header("www-authenticate"), "Bearer");
    // A session without a user is no login.
    let cart_only = app.new_session().await;
    app.get("/profile", Some(&cart_only))
        .await
        .assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn sessions_are_listed_and_ended_everywhere() {
    // The process's real clock, whose readings are times since it started.
    let app = spawn_with(|s| s.real_clock = true).await;
    let laptop = app
        .login_as("alice", "correct-password", None, "Laptop/1")
        .await
        .session_cookie()
        .unwrap();
    let phone = app
        .login_as("alice", "correct-password", None, "Phone/2")
        .await
        .session_cookie()
        .unwrap();
    let bob = app
        .login_as("bob", "correct-password", None, "Other")
        .await
        .session_cookie()
        .unwrap();
    let list = app.get("/sessions", Some(&laptop)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let sessions = list.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", list.text);
    let agents: Vec<_> = sessions
        .iter()
        .map(|s| s["userAgent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["Laptop/1", "Phone/2"]);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["current"], true);
    for s in sessions {
        assert_eq!(s["idPrefix"].as_str().unwrap().len(), 8);
        // Calendar dates of now, not time since the process started
        // (the memory store showed 1970-01-01T00:00:14Z).
        for field in ["createdAt", "lastSeenAt"] {
            let at = humantime::parse_rfc3339(s[field].as_str().unwrap()).unwrap();
            let age = std::time::SystemTime::now()
                .duration_since(at)
                .unwrap_or_default();
            assert!(age < Duration::from_secs(60), "{field}: {}", list.text);
            assert!(
                at <= std::time::SystemTime::now() + Duration::from_secs(1),
                "{}",
                list.text
            );
        }
        // No usable credential is listed.
        assert!(!list.text.contains(&laptop) && !list.text.contains(&phone));
    }
    let ended = app.call("DELETE", "/sessions", Some(&phone), None).await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert_eq!(ended.body, json!({"ended": 2}));
    app.get("/profile", Some(&laptop))
        .await
        .assert_error(401, "SESSION_MISSING");
    app.get("/profile", Some(&phone))
        .await
        .assert_error(401, "SESSION_MISSING");
    assert_eq!(app.get("/profile", Some(&bob)).await.status, 200);
}

#[tokio::test]
async fn token_login_refresh_and_bearer_logout() {
    let app = spawn_app().await;
    let pair = app
        .post(
            "/token",
            None,
            Some(json!({"user": "alice", "password": "correct-password"})),
        )
        .await;
    assert_eq!(pair.status, 200, "{}", pair.text);
    assert_eq!(pair.body["tokenType"], "Bearer");
    assert_eq!(pair.body["expiresIn"], 900);
    assert!(
        pair.session_cookie().is_none(),
        "a token login makes no session"
    );
    let token = pair.body["token"].as_str().unwrap().to_owned();
    let refresh = pair.body["refreshToken"].as_str().unwrap().to_owned();
    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["alg"], "EdDSA");
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.body["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks.body["keys"][0]["kty"], "OKP");
    assert_eq!(jwks.body["keys"][0]["crv"], "Ed25519");
    assert!(jwks.body["keys"][0].get("d").is_none(), "no private part");
    for claim in ["sub", "name", "role", "iat", "exp", "jti", "iss", "aud"] {
        assert!(claims.get(claim).is_some(), "{claim}");
    }
    assert_eq!(
        (claims["sub"].as_str(), claims["role"].as_str()),
        (Some("user-1"), Some("admin"))
    );
    let profile = app.bearer("GET", "/profile", &token, None).await;
    assert_eq!(profile.body, json!({"name": "Alice", "role": "admin"}));

    // Rotation: a new pair; the old refresh token replays the same successor
    // within the grace window (two tabs), and the successor rotates in turn.
    let next = app
        .post(
            "/token/refresh",
            None,
            Some(json!({"refreshToken": refresh})),
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    let successor = next.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(successor, refresh);
    let tab = app
        .post(
            "/token/refresh",
            None,
            Some(json!({"refreshToken": refresh})),
        )
        .await;
    assert_eq!(tab.body["refreshToken"], successor.as_str());
    let new_token = next.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.bearer("GET", "/profile", &new_token, None).await.status,
        200
    );

    // Bearer logout: the token is refused on the very next request, and its
    // refresh family is revoked.
    let (other_login, _) = app.token_for("alice").await;
    let out = app.bearer("POST", "/logout", &new_token, None).await;
    assert_eq!(out.status, 200, "{}", out.text);
    app.bearer("GET", "/profile", &new_token, None)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    app.post(
        "/token/refresh",
        None,
        Some(json!({"refreshToken": successor})),
    )
    .await
    .assert_error(401, "TOKEN_REVOKED");
    // The whole login is over: its first access token too. Another login's
    // token is untouched.
    app.bearer("GET", "/profile", &token, None)
        .await
        .assert_error(401, "TOKEN_REVOKED");
    assert_eq!(
        app.bearer("GET", "/profile", &other_login, None)
            .await
            .status,
        200
    );
    for junk in [
        json!({"refreshToken": "x"}),
        json!({"refreshToken": "a".repeat(43)}),
    ] {
        app.post("/token/refresh", None, Some(junk))
            .await
            .assert_error(401, "TOKEN_INVALID");
    }
}

#[tokio::test]
async fn a_refresh_token_reused_after_the_grace_window_revokes_its_family() {
    let app = spawn_with(|s| {
        s.auth = AuthSettings {
            refresh_grace: Duration::ZERO,
            ..AuthSettings::default()
        }
    })
    .await;
    let (first_access, refresh) = app.token_for("bob").await;
    let next = app
        .post(
            "/token/refresh",
            None,
            Some(json!({"refreshToken": refresh})),
        )
        .await;
    assert_eq!(next.status, 200);
    let next_access = next.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.bearer("GET", "/profile", &next_access, None)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.post(
        "/token/refresh",
        None,
        Some(json!({"refreshToken": refresh})),
    )
    .await
    .assert_error(401, "TOKEN_REVOKED");
    app.post(
        "/token/refresh",
        None,
        Some(json!({"refreshToken": next.body["refreshToken"]})),
    )
    .await
    .assert_error(401, "TOKEN_REVOKED");
    // Every access token of the family stops at once, not at its expiry:
    // the thief's and the holder's alike.
    for access in [&first_access, &next_access] {
        app.bearer("GET", "/profile", access, None)
            .await
            .assert_error(401, "TOKEN_REVOKED");
    }
}

#[tokio::test]
async fn token_mode_login_answers_a_pair() {
    let app = spawn_with(|s| {
        s.auth = AuthSettings {
            mode: AuthMode::Token,
            ..AuthSettings::default()
        }
    })
    .await;
    let login = app.login_as("bob", "correct-password", None, "t").await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert!(login.session_cookie().is_none());
    let token = login.body["token"].as_str().unwrap();
    assert_eq!(
        app.bearer("GET", "/profile", token, None).await.body["name"],
        "Bob"
    );
}

#[tokio::test]
async fn forged_and_broken_bearer_tokens_are_refused() {
    let app = spawn_app().await;
    let (token, _) = app.token_for("bob").await;
    let p: Vec<_> = token.split('.').collect();
    let (mut header, mut claims) = jwt_parts(&token);
    // alg: none, no signature.
    header["alg"] = "none".into();
    let none = format!("{}.{}.", B64.encode(header.to_string()), p[1]);
    // Forged claims under the genuine signature.
    claims["role"] = "admin".into();
    let forged = format!("{}.{}.{}", p[0], B64.encode(claims.to_string()), p[2]);
    // Another issuer's key (unknown kid).
    let stranger = statecraft_auth::TokenIssuer::new(
        statecraft_auth::KeyRing::ephemeral(Duration::from_secs(60)),
        "statecraft",
        "statecraft-api",
        Duration::from_secs(60),
    );
    let subject = statecraft_auth::TokenSubject {
        id: "user-1".into(),
        name: "Alice".into(),
        role: "admin".into(),
        session: None,
    };
    let (foreign, _) = stranger.issue(&subject).unwrap();
    for bad in [
        none.as_str(),
        forged.as_str(),
        foreign.as_str(),
        "abc",
        "a.b.c",
    ] {
        let answer = app.bearer("GET", "/profile", bad, None).await;
        answer.assert_error(401, "TOKEN_INVALID");
        assert!(answer.header("www-authenticate").contains("invalid_token"));
    }
    let basic = app
        .client
        .get(format!("{}/profile", app.base))
        .header("authorization", "Basic YWxpY2U6eA==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}

#[tokio::test]
async fn an_expired_access_token_says_so() {
    let app = spawn_with(|s| s.access_ttl = Duration::from_secs(1)).await;
    let (token, _) = app.token_for("alice").await;
    assert_eq!(
        app.bearer("GET", "/profile", &token, None).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = app.bearer("GET", "/profile", &token, None).await;
    expired.assert_error(401, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn tokens_signed_before_a_key_rotation_still_verify() {
    let app = spawn_app().await;
    let (before, _) = app.token_for("alice").await;
    app.tokens.rotate().unwrap();
    let (after, _) = app.token_for("alice").await;
    assert_ne!(jwt_parts(&before).0["kid"], jwt_parts(&after).0["kid"]);
    assert_eq!(
        app.bearer("GET", "/profile", &before, None).await.status,
        200
    );
    assert_eq!(
        app.bearer("GET", "/profile", &after, None).await.status,
        200
    );
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn users_register_and_log_in() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/users",
            None,
            Some(json!({"user": "Carol", "password": "a long password", "name": "Carol"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.body,
        json!({"id": "user-3", "user": "carol", "name": "Carol", "role": "user"})
    );
    assert!(!created.text.contains("a long password"));
    app.post(
        "/users",
        None,
        Some(json!({"user": "carol", "password": "another password"})),
    )
    .await
    .assert_error(409, "USER_EXISTS");
    let short = app
        .post(
            "/users",
            None,
            Some(json!({"user": "dave", "password": "short"})),
        )
        .await;
    short.assert_error(400, "INVALID_REQUEST");
    assert_eq!(short.body["field"], "password");
    let bad = app
        .post(
            "/users",
            None,
            Some(json!({"user": "a b", "password": "a long password"})),
        )
        .await;
    assert_eq!(bad.body["field"], "user");
    let cookie = app
        .login_as("carol", "a long password", None, "t")
        .await
        .session_cookie()
        .unwrap();
    assert_eq!(
        app.get("/profile", Some(&cookie)).await.body,
        json!({"name": "Carol", "role": "user"})
    );
    let _ = app.users.get("user-3").await.unwrap().unwrap();
}

#[tokio::test]
async fn a_session_id_in_the_url_is_never_a_credential() {
    let app = spawn_app().await;
    let cookie = app.login_alice().await;
    for path in [
        format!("/profile?session_id={cookie}"),
        format!("/profile;session_id={cookie}"),
    ] {
        let answer = app.get(&path, None).await;
        assert!(
            matches!(answer.status, 401 | 404),
            "{path}: {}",
            answer.text
        );
        assert!(!answer.text.contains("Alice"));
    }
    // Nor does any answer put it in a URL (no redirects carry it).
    let answer = app.get("/profile", Some(&cookie)).await;
    assert!(answer.header("location").is_empty());
}

#[tokio::test]
async fn logging_out_everywhere_refuses_the_users_access_tokens_too() {
    let app = spawn_app().await;
    let (phone, _) = app.token_for("alice").await;
    let (laptop, laptop_refresh) = app.token_for("alice").await;
    let (bob, _) = app.token_for("bob").await;
    let cookie = app.login_alice().await;
    for t in [&phone, &laptop] {
        assert_eq!(app.bearer("GET", "/profile", t, None).await.status, 200);
    }
    let ended = app.bearer("DELETE", "/sessions", &phone, None).await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert_eq!(ended.body["ended"], 1, "the one cookie session");
    for t in [&phone, &laptop] {
        app.bearer("GET", "/profile", t, None)
            .await
            .assert_error(401, "TOKEN_REVOKED");
    }
    app.get("/profile", Some(&cookie))
        .await
        .assert_error(401, "SESSION_MISSING");
    app.post(
        "/token/refresh",
        None,
        Some(json!({"refreshToken": laptop_refresh})),
    )
    .await
    .assert_error(401, "TOKEN_REVOKED");
    // Bob is untouched; alice can log in again at once.
    assert_eq!(app.bearer("GET", "/profile", &bob, None).await.status, 200);
    let (fresh, _) = app.token_for("alice").await;
    assert_eq!(
        app.bearer("GET", "/profile", &fresh, None).await.status,
        200
    );
}

#[tokio::test]
async fn a_bearer_logout_ends_every_access_token_of_that_login() {
    let app = spawn_app().await;
    let (first, refresh) = app.token_for("bob").await;
    let next = app
        .post(
            "/token/refresh",
            None,
            Some(json!({"refreshToken": refresh})),
        )
        .await;
    let second = next.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.bearer("GET", "/profile", &second, None).await.status,
        200
    );
    assert_eq!(
        app.bearer("POST", "/logout", &first, None).await.status,
        200
    );
    app.bearer("GET", "/profile", &second, None)
        .await
        .assert_error(401, "TOKEN_REVOKED");
}
