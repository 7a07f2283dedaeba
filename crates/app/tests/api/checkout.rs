//! The checkout workflow and orders over HTTP.

use serde_json::{Value, json};

use crate::counter::futures_join_all;
use crate::helpers::{TestApp, spawn_app};

fn address() -> Value {
    json!({"name": "Alice", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"})
}

async fn confirm(
    app: &TestApp,
    cookie: Option<&str>,
    body: Option<Value>,
    key: Option<&str>,
    token: Option<&str>,
) -> crate::helpers::Answer {
    let mut request = app.client.post(format!("{}/checkout/confirm", app.base));
    if let Some(c) = cookie {
        request = request.header("cookie", format!("session_id={c}"));
    }
    if let Some(k) = key {
        request = request.header("idempotency-key", k);
    }
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    crate::helpers::Answer::from(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_logged_in_user_checks_out_step_by_step() {
    let app = spawn_app().await;
    let anonymous = app.new_session().await; // book-1 x1
    let cookie = app
        .login_as("alice", "correct-password", Some(&anonymous), "t")
        .await
        .session_cookie()
        .unwrap();
    app.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "pen-7", "quantity": 2})),
    )
    .await;

    // Out of order first: each names the step that must come first.
    let early = app
        .post("/checkout/shipping", Some(&cookie), Some(address()))
        .await;
    early.assert_error(409, "CHECKOUT_STEP_INVALID");
    assert_eq!(early.body["expected"], "checkout");
    let early = confirm(&app, Some(&cookie), None, None, None).await;
    early.assert_error(409, "CHECKOUT_STEP_INVALID");
    assert_eq!(early.body["expected"], "payment");

    let started = app.post("/checkout", Some(&cookie), None).await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.body["currentStep"], "checkout");
    assert_eq!(started.body["totalItems"], 3);
    assert_eq!(
        started.body["cart"]["items"][1],
        json!({"productId": "pen-7", "quantity": 2})
    );
    let payment_first = app
        .post(
            "/checkout/payment",
            Some(&cookie),
            Some(json!({"paymentToken": "tok_123"})),
        )
        .await;
    assert_eq!(payment_first.body["expected"], "shipping");
    let shipped = app
        .post("/checkout/shipping", Some(&cookie), Some(address()))
        .await;
    assert_eq!(shipped.body["currentStep"], "shipping", "{}", shipped.text);
    assert_eq!(
        app.get("/session", Some(&cookie)).await.body["currentStep"],
        "shipping"
    );
    let paid = app
        .post(
            "/checkout/payment",
            Some(&cookie),
            Some(json!({"paymentToken": "tok_123"})),
        )
        .await;
    assert_eq!(paid.body["currentStep"], "payment");

    let order = confirm(&app, Some(&cookie), None, Some("key-1"), None).await;
    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!(order.body["status"], "created");
    assert_eq!(order.body["currentStep"], "confirmed");
    assert_eq!(order.body["items"].as_array().unwrap().len(), 2);
    let id = order.body["orderId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("order-"));
    // The cart is empty; a retry with the key returns the same order.
    assert_eq!(app.get("/cart", Some(&cookie)).await.body["totalItems"], 0);
    let retry = confirm(&app, Some(&cookie), None, Some("key-1"), None).await;
    assert_eq!(
        (retry.status, retry.body["orderId"].as_str()),
        (200, Some(id.as_str()))
    );
    // Without the key a second confirmation is out of order.
    confirm(&app, Some(&cookie), None, None, None)
        .await
        .assert_error(409, "CHECKOUT_STEP_INVALID");
    let mine = app.get(&format!("/orders/{id}"), Some(&cookie)).await;
    assert_eq!(mine.body["orderId"], id.as_str());
    // The saga takes it from created to confirmed (stock reserved).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get(&format!("/orders/{id}"), Some(&cookie)).await.body["status"] != "confirmed" {
        assert!(
            std::time::Instant::now() < deadline,
            "order {id} not confirmed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.get("/orders", Some(&cookie)).await.body["orders"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Someone else's order is not found.
    let bob = app
        .login_as("bob", "correct-password", None, "t")
        .await
        .session_cookie()
        .unwrap();
    app.get(&format!("/orders/{id}"), Some(&bob))
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn checkout_refuses_an_empty_cart_a_declined_card_and_bad_input() {
    let app = spawn_app().await;
    app.post("/checkout", None, None)
        .await
        .assert_error(400, "CART_EMPTY");
    let cookie = app.login_alice().await;
    app.post("/checkout", Some(&cookie), None)
        .await
        .assert_error(400, "CART_EMPTY");
    app.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "book-1", "quantity": 1})),
    )
    .await;
    app.post("/checkout", Some(&cookie), None).await;
    let mut bad = address();
    bad["city"] = json!("");
    let answer = app
        .post("/checkout/shipping", Some(&cookie), Some(bad))
        .await;
    answer.assert_error(400, "INVALID_REQUEST");
    assert_eq!(answer.body["field"], "city");
    app.post("/checkout/shipping", Some(&cookie), Some(address()))
        .await;
    for token in ["4111111111111111", "tok_ bad", ""] {
        let answer = app
            .post(
                "/checkout/payment",
                Some(&cookie),
                Some(json!({"paymentToken": token})),
            )
            .await;
        answer.assert_error(400, "INVALID_REQUEST");
    }
    app.post(
        "/checkout/payment",
        Some(&cookie),
        Some(json!({"paymentToken": "tok_declined"})),
    )
    .await;
    confirm(&app, Some(&cookie), None, None, None)
        .await
        .assert_error(402, "PAYMENT_DECLINED");
    // Declined: nothing changed, the cart is still there.
    assert_eq!(app.get("/cart", Some(&cookie)).await.body["totalItems"], 1);
    assert_eq!(
        app.get("/session", Some(&cookie)).await.body["currentStep"],
        "payment"
    );
}

#[tokio::test]
async fn stateless_confirm_needs_all_context_before_identity() {
    let app = spawn_app().await;
    let answer = confirm(
        &app,
        None,
        Some(json!({"paymentToken": "tok_123"})),
        None,
        None,
    )
    .await;
    answer.assert_error(400, "INSUFFICIENT_CONTEXT");
    assert_eq!(
        answer.body["error"],
        "Missing cart and shipping information"
    );
    assert_eq!(answer.body["missing"], json!(["cart", "shipping"]));
    let full = json!({
        "cart": {"items": [{"productId": "book-1", "quantity": 2}]},
        "shipping": address(),
        "paymentToken": "tok_123"
    });
    // All context but no identity.
    confirm(&app, None, Some(full.clone()), None, None)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    let (token, _) = app.token_for("bob").await;
    let placed = confirm(&app, None, Some(full.clone()), None, Some(&token)).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(
        placed.body["items"],
        json!([{"productId": "book-1", "quantity": 2}])
    );
    let mut declined = full.clone();
    declined["paymentToken"] = json!("tok_declined");
    confirm(&app, None, Some(declined), None, Some(&token))
        .await
        .assert_error(402, "PAYMENT_DECLINED");
}

#[tokio::test]
async fn one_idempotency_key_sent_twenty_times_in_parallel_creates_one_order() {
    let app = spawn_app().await;
    let (token, _) = app.token_for("alice").await;
    let body = json!({"userId": "user-1", "items": [{"productId": "book-1", "quantity": 1}]});
    let calls = (0..20).map(|_| {
        let (app, token, body) = (app.clone(), token.clone(), body.clone());
        async move {
            let response = app
                .client
                .post(format!("{}/orders", app.base))
                .header("authorization", format!("Bearer {token}"))
                .header("idempotency-key", "same-key")
                .json(&body)
                .send()
                .await
                .unwrap();
            crate::helpers::Answer::from(response).await
        }
    });
    let answers = futures_join_all(calls).await;
    let ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|a| {
            assert!(matches!(a.status, 200 | 201), "{}", a.text);
            a.body["orderId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    assert_eq!(
        app.bearer("GET", "/orders", &token, None).await.body["orders"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The order placed with a key is found by it; another key finds none.
    let by_key = app
        .bearer("GET", "/orders?idempotencyKey=same-key", &token, None)
        .await;
    assert_eq!(
        by_key.body["orders"][0]["orderId"],
        json!(ids.first().unwrap())
    );
    let none = app
        .bearer("GET", "/orders?idempotencyKey=other", &token, None)
        .await;
    assert_eq!(none.body["orders"], json!([]));
    // The same key with another body is a conflict.
    let other = json!({"userId": "user-1", "items": [{"productId": "pen-7", "quantity": 1}]});
    let response = app
        .client
        .post(format!("{}/orders", app.base))
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", "same-key")
        .json(&other)
        .send()
        .await
        .unwrap();
    crate::helpers::Answer::from(response)
        .await
        .assert_error(409, "IDEMPOTENCY_CONFLICT");
}

#[tokio::test]
async fn an_order_carries_its_payment_token_and_shipping_checked_as_checkout_does() {
    let app = spawn_app().await;
    let (token, _) = app.token_for("alice").await;
    let mut order = json!({
        "userId": "user-1",
        "items": [{"productId": "book-1", "quantity": 1}],
        "shipping": address(),
        "paymentToken": "tok_visa",
    });
    let placed = app
        .bearer("POST", "/orders", &token, Some(order.clone()))
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    order["paymentToken"] = json!("tok_declined");
    app.bearer("POST", "/orders", &token, Some(order.clone()))
        .await
        .assert_error(402, "PAYMENT_DECLINED");
    order["paymentToken"] = json!("4111111111111111");
    app.bearer("POST", "/orders", &token, Some(order.clone()))
        .await
        .assert_error(400, "INVALID_REQUEST");
    order["paymentToken"] = json!("tok_visa");
    order["shipping"]["city"] = json!("");
    app.bearer("POST", "/orders", &token, Some(order))
        .await
        .assert_error(400, "INVALID_REQUEST");
    let orders = app.bearer("GET", "/orders", &token, None).await;
    assert_eq!(orders.body["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn orders_are_placed_for_oneself_unless_admin() {
    let app = spawn_app().await;
    let (bob, _) = app.token_for("bob").await;
    let (alice, _) = app.token_for("alice").await;
    let for_alice = json!({"userId": "user-1", "items": [{"productId": "book-1", "quantity": 1}]});
    app.bearer("POST", "/orders", &bob, Some(for_alice.clone()))
        .await
        .assert_error(403, "FORBIDDEN");
    let for_bob = json!({"userId": "user-2", "items": [{"productId": "book-1", "quantity": 1}]});
    let placed = app.bearer("POST", "/orders", &alice, Some(for_bob)).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["orderId"].as_str().unwrap();
    assert_eq!(
        app.bearer("GET", &format!("/orders/{id}"), &bob, None)
            .await
            .status,
        200
    );
    app.post("/orders", None, Some(for_alice))
        .await
        .assert_error(401, "UNAUTHENTICATED");
    let empty = json!({"userId": "user-2", "items": []});
    app.bearer("POST", "/orders", &bob, Some(empty))
        .await
        .assert_error(400, "INVALID_REQUEST");
    // Whose order comes before what it holds: another user's is refused
    // whatever its lines.
    let empty_for_alice = json!({"userId": "user-1", "items": []});
    app.bearer("POST", "/orders", &bob, Some(empty_for_alice))
        .await
        .assert_error(403, "FORBIDDEN");
}

/// Polls an order until it leaves `created` (the saga runs on the bus).
pub(crate) async fn settled(app: &TestApp, token: &str, id: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = app
            .bearer("GET", &format!("/orders/{id}"), token, None)
            .await
            .body["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status != "created" {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{id} still created");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_saga_confirms_reserves_stock_and_notifies() {
    saga_confirms_reserves_stock_and_notifies(&*spawn_app().await).await;
}

pub(crate) async fn saga_confirms_reserves_stock_and_notifies(app: &TestApp) {
    let (token, _) = app.token_for("alice").await;
    let before = app.get("/inventory/book-1", None).await.body["available"]
        .as_i64()
        .unwrap();
    let catalog = app.get("/products", None).await;
    assert!(
        catalog.body["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["productId"] == "book-1")
    );
    let body = json!({"userId": "user-1", "items": [{"productId": "book-1", "quantity": 2}]});
    let placed = app.bearer("POST", "/orders", &token, Some(body)).await;
    let id = placed.body["orderId"].as_str().unwrap().to_owned();
    assert_eq!(settled(app, &token, &id).await, "confirmed");
    assert_eq!(
        app.get("/inventory/book-1", None).await.body["available"],
        before - 2
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let notes = app.bearer("GET", "/notifications", &token, None).await;
        if let Some(n) = notes.body["notifications"].as_array().unwrap().first() {
            assert_eq!(n["orderId"], id.as_str());
            assert_eq!(n["kind"], "OrderConfirmed");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no notification");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.get("/inventory/nope", None)
        .await
        .assert_error(404, "NOT_FOUND");
    // The outbox report is for admins; nothing is pending or dead here.
    let report = app.bearer("GET", "/_admin/outbox", &token, None).await;
    assert_eq!(report.status, 200, "{}", report.text);
    let (bob, _) = app.token_for("bob").await;
    app.bearer("GET", "/_admin/outbox", &bob, None)
        .await
        .assert_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn out_of_stock_orders_are_rejected_and_take_nothing() {
    let app = spawn_app().await;
    app.inventory
        .as_ref()
        .unwrap()
        .set_stock("pen-7", 1)
        .await
        .unwrap();
    let (token, _) = app.token_for("bob").await;
    let body = json!({"userId": "user-2", "items": [{"productId": "book-2", "quantity": 1}, {"productId": "pen-7", "quantity": 2}]});
    let placed = app.bearer("POST", "/orders", &token, Some(body)).await;
    let id = placed.body["orderId"].as_str().unwrap().to_owned();
    assert_eq!(settled(&app, &token, &id).await, "rejected");
    // All or nothing: book-2 was not taken either.
    assert_eq!(app.get("/inventory/pen-7", None).await.body["available"], 1);
    assert_eq!(
        app.get("/inventory/book-2", None).await.body["available"],
        100
    );
}

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_in_stock_confirm_exactly_fifty() {
    fifty_of_two_hundred(&spawn_app().await).await;
}

pub(crate) async fn fifty_of_two_hundred(app: &std::sync::Arc<TestApp>) {
    app.inventory
        .as_ref()
        .unwrap()
        .set_stock("mug-3", 50)
        .await
        .unwrap();
    let (token, _) = app.token_for("alice").await;
    let calls = (0..200).map(|_| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            let body =
                json!({"userId": "user-1", "items": [{"productId": "mug-3", "quantity": 1}]});
            app.bearer("POST", "/orders", &token, Some(body)).await
        }
    });
    let ids: Vec<String> = futures_join_all(calls)
        .await
        .into_iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{}", a.text);
            a.body["orderId"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut confirmed = 0;
    for id in &ids {
        if settled(app, &token, id).await == "confirmed" {
            confirmed += 1;
        }
    }
    assert_eq!(confirmed, 50);
    assert_eq!(app.get("/inventory/mug-3", None).await.body["available"], 0);
}
