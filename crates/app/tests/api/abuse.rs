//! What a hostile client gets from the login and registration limits when
//! it sends its attempts all at once (issue "Security round 2", findings 5
//! and 9).

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::spawn_app;

/// The check and the count were two steps: 20 parallel guesses were all
/// verified and answered 401 before the first failure was counted.
#[tokio::test]
async fn twenty_parallel_wrong_passwords_verify_at_most_five() {
    let app = spawn_app().await;
    let guesses = (0..20).map(|i| {
        let app = app.clone();
        async move {
            let password = format!("wrong-guess-{i:04}");
            app.login_as("alice", &password, None, "t").await.status
        }
    });
    let statuses = join_all(guesses).await;
    let verified = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((verified, limited), (5, 15), "{statuses:?}");
    // Bob, from the same address, is untouched.
    assert_eq!(
        app.login_as("bob", "correct-password", None, "t")
            .await
            .status,
        200
    );
}

/// `USER_EXISTS` tells who has an account: at most five such answers a
/// minute per address, however many arrive at once; then the address
/// registers nothing (a free name's 201 would tell as much).
#[tokio::test]
async fn registration_probes_for_taken_names_are_limited_even_in_parallel() {
    let app = spawn_app().await;
    let probes = (0..20).map(|i| {
        let app = app.clone();
        async move {
            let body = json!({"user": "alice", "password": format!("probe-password-{i:04}")});
            app.post("/users", None, Some(body)).await.status
        }
    });
    let statuses = join_all(probes).await;
    let told = statuses.iter().filter(|s| **s == 409).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((told, limited), (5, 15), "{statuses:?}");
    let free = json!({"user": "zed-never-taken", "password": "a long password"});
    let answer = app.post("/users", None, Some(free)).await;
    answer.assert_error(429, "RATE_LIMITED");
    let retry: u64 = answer.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

/// Registrations of free names from one address are not held back by one
/// another (a load test, or a campus behind one address).
#[tokio::test]
async fn parallel_registrations_of_free_names_all_succeed() {
    let app = spawn_app().await;
    let registrations = (0..12).map(|i| {
        let app = app.clone();
        async move {
            let body = json!({"user": format!("new-user-{i}"), "password": "a long password"});
            app.post("/users", None, Some(body)).await.status
        }
    });
    let statuses = join_all(registrations).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
}

/// Bob logged in with Alice's cookie (a shared computer) and confirmed an
/// order with her payment token and address: a login over another user's
/// session now starts a clean one.
#[tokio::test]
async fn logging_in_over_another_users_session_starts_a_clean_one() {
    let app = spawn_app().await;
    let alice = app.login_alice().await;
    let address = json!({"name": "Alice", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"});
    let item = json!({"productId": "book-1", "quantity": 1});
    for (path, body) in [
        ("/cart/items", Some(item)),
        ("/checkout", None),
        ("/checkout/shipping", Some(address)),
        (
            "/checkout/payment",
            Some(json!({"paymentToken": "tok_alice_card"})),
        ),
    ] {
        let answer = app.post(path, Some(&alice), body).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    let bob = app
        .login_as("bob", "correct-password", Some(&alice), "t")
        .await
        .session_cookie()
        .unwrap();
    let summary = app.get("/session", Some(&bob)).await;
    assert_eq!(summary.body["cartItems"], 0, "{}", summary.text);
    assert_eq!(summary.body["currentStep"], "browsing", "{}", summary.text);
    let order = app.post("/checkout/confirm", Some(&bob), None).await;
    assert_ne!(
        order.status, 201,
        "Bob ordered with Alice's card: {}",
        order.text
    );
    // An anonymous session's cart still comes along.
    let anonymous = app.new_session().await;
    let carol = app
        .login_as("bob", "correct-password", Some(&anonymous), "t")
        .await
        .session_cookie()
        .unwrap();
    assert_eq!(app.get("/session", Some(&carol)).await.body["cartItems"], 1);
}
