//! API.md "Cart".

use serde_json::json;

use crate::counter::futures_join_all;
use crate::helpers::spawn_app;

#[tokio::test]
async fn adding_items_answers_exactly_as_api_md() {
    let app = spawn_app().await;
    let first = app
        .post(
            "/cart/items",
            None,
            Some(json!({"productId": "book-1", "quantity": 2})),
        )
        .await;
    assert_eq!(first.status, 200);
    let cookie = first.session_cookie().unwrap();
    let sid = first.body["sessionId"].as_str().unwrap().to_owned();
    assert_eq!(
        first.body,
        json!({"sessionId": sid, "cart": {"items": [{"productId": "book-1", "quantity": 2}], "totalItems": 2}})
    );
    app.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "pen-7", "quantity": 1})),
    )
    .await;
    let again = app
        .post(
            "/cart/items",
            Some(&cookie),
            Some(json!({"productId": "book-1", "quantity": 3})),
        )
        .await;
    assert_eq!(
        again.body["cart"],
        json!({"items": [{"productId": "book-1", "quantity": 5}, {"productId": "pen-7", "quantity": 1}], "totalItems": 6})
    );
    let cart = app.get("/cart", Some(&cookie)).await;
    assert_eq!(
        cart.body,
        json!({"cartItems": [{"productId": "book-1", "quantity": 5}, {"productId": "pen-7", "quantity": 1}], "totalItems": 6})
    );
    assert_eq!(cart.header("x-state-source"), "memory");
}

#[tokio::test]
async fn get_cart_without_cookie_is_empty_and_creates_nothing() {
    let app = spawn_app().await;
    let cart = app.get("/cart", None).await;
    assert_eq!(cart.body, json!({"cartItems": [], "totalItems": 0}));
    assert_eq!(cart.header("x-state-source"), "none");
    assert!(cart.session_cookie().is_none());
    assert!(app.sessions.is_empty());
}

#[tokio::test]
async fn put_sets_and_zero_removes_delete_removes_and_clears() {
    let app = spawn_app().await;
    let cookie = app.new_session().await; // book-1 x1
    let set = app
        .call(
            "PUT",
            "/cart/items/book-1",
            Some(&cookie),
            Some(json!({"quantity": 7})),
        )
        .await;
    assert_eq!(set.body["cart"]["totalItems"], 7);
    let added = app
        .call(
            "PUT",
            "/cart/items/pen-7",
            Some(&cookie),
            Some(json!({"quantity": 2})),
        )
        .await;
    assert_eq!(added.body["cart"]["totalItems"], 9);
    let zero = app
        .call(
            "PUT",
            "/cart/items/pen-7",
            Some(&cookie),
            Some(json!({"quantity": 0})),
        )
        .await;
    assert_eq!(
        zero.body["cart"]["items"],
        json!([{"productId": "book-1", "quantity": 7}])
    );
    app.call("DELETE", "/cart/items/pen-7", Some(&cookie), None)
        .await
        .assert_error(404, "NOT_FOUND");
    let removed = app
        .call("DELETE", "/cart/items/book-1", Some(&cookie), None)
        .await;
    assert_eq!(removed.body["cart"], json!({"items": [], "totalItems": 0}));
    app.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "a", "quantity": 1})),
    )
    .await;
    let cleared = app.call("DELETE", "/cart", Some(&cookie), None).await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["cart"]["totalItems"], 0);
    assert_eq!(app.get("/cart", Some(&cookie)).await.body["totalItems"], 0);
}

#[tokio::test]
async fn bad_cart_input_is_invalid_request_and_changes_nothing() {
    let app = spawn_app().await;
    let cookie = app.new_session().await;
    let long = "p".repeat(65);
    let cases = [
        (json!({"productId": "", "quantity": 1}), "productId"),
        (json!({"productId": long, "quantity": 1}), "productId"),
        (json!({"productId": "a/b", "quantity": 1}), "productId"),
        (json!({"productId": "book-1", "quantity": 0}), "quantity"),
        (json!({"productId": "book-1", "quantity": 1000}), "quantity"),
        (json!({"productId": "book-1", "quantity": -1}), "quantity"),
        (json!({"productId": "book-1", "quantity": 2.5}), "quantity"),
        (json!({"productId": "book-1", "quantity": "2"}), "quantity"),
        (json!({"productId": 5, "quantity": 1}), "productId"),
        (json!({"productId": "book-1"}), "quantity"),
        (
            json!({"productId": "book-1", "quantity": 1, "price": 0}),
            "price",
        ),
    ];
    for (body, field) in cases {
        let answer = app
            .post("/cart/items", Some(&cookie), Some(body.clone()))
            .await;
        answer.assert_error(400, "INVALID_REQUEST");
        assert!(
            answer.body["error"].as_str().unwrap().contains(field),
            "{body}: {}",
            answer.text
        );
    }
    // 999 of one product at most
    app.call(
        "PUT",
        "/cart/items/book-1",
        Some(&cookie),
        Some(json!({"quantity": 999})),
    )
    .await;
    app.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "book-1", "quantity": 1})),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    assert_eq!(
        app.get("/cart", Some(&cookie)).await.body["totalItems"],
        999
    );
}

#[tokio::test]
async fn a_cart_holds_at_most_100_distinct_products() {
    let app = spawn_app().await;
    let cookie = app.new_session().await; // book-1
    for i in 1..100 {
        let answer = app
            .post(
                "/cart/items",
                Some(&cookie),
                Some(json!({"productId": format!("p-{i}"), "quantity": 1})),
            )
            .await;
        assert_eq!(answer.status, 200);
    }
    app.post(
        "/cart/items",
        Some(&cookie),
        Some(json!({"productId": "one-too-many", "quantity": 1})),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    assert_eq!(
        app.get("/cart", Some(&cookie)).await.body["cartItems"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
}

#[tokio::test]
async fn fifty_parallel_adds_of_one_leave_quantity_fifty() {
    let app = spawn_app().await;
    let first = app
        .post(
            "/cart/items",
            None,
            Some(json!({"productId": "pen-7", "quantity": 1})),
        )
        .await;
    let cookie = first.session_cookie().unwrap();
    let calls = (0..49).map(|_| {
        let (app, cookie) = (app.clone(), cookie.clone());
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
    let cart = app.get("/cart", Some(&cookie)).await;
    assert_eq!(
        cart.body["cartItems"],
        json!([{"productId": "pen-7", "quantity": 50}])
    );
}

#[tokio::test]
async fn cart_changes_without_a_cookie_create_a_session_only_when_needed() {
    let app = spawn_app().await;
    let cleared = app.call("DELETE", "/cart", None, None).await;
    assert_eq!(
        cleared.body,
        json!({"sessionId": null, "cart": {"items": [], "totalItems": 0}})
    );
    let zero = app
        .call("PUT", "/cart/items/a", None, Some(json!({"quantity": 0})))
        .await;
    assert!(zero.session_cookie().is_none());
    app.call("DELETE", "/cart/items/a", None, None)
        .await
        .assert_error(404, "NOT_FOUND");
    assert!(app.sessions.is_empty());
    let put = app
        .call("PUT", "/cart/items/a", None, Some(json!({"quantity": 3})))
        .await;
    assert!(put.session_cookie().is_some());
    assert_eq!(app.sessions.len(), 1);
}
