//! API.md "Errors": every error reachable so far, in the one JSON shape.

use serde_json::json;

use crate::helpers::spawn_app;

const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn unknown_route_is_404_and_unknown_method_405_in_json() {
    let app = spawn_app().await;
    app.get("/no/such/route", None)
        .await
        .assert_error(404, "NOT_FOUND");
    app.call("DELETE", "/increment", None, None)
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    app.call("PATCH", "/cart", None, None)
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn body_over_64_kib_is_413_and_changes_nothing() {
    let app = spawn_app().await;
    let cookie = app.new_session().await;
    let big = format!(
        r#"{{"productId":"book-1","quantity":1,"pad":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    app.post_raw("/cart/items", JSON, big, Some(&cookie))
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(app.get("/cart", Some(&cookie)).await.body["totalItems"], 1);
    // just under the limit is parsed (and refused for its unknown field, not its size)
    let fits = format!(r#"{{"currentCount":1,"p":"{}"}}"#, "x".repeat(60 * 1024));
    app.post_raw("/increment", JSON, fits, None)
        .await
        .assert_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let app = spawn_app().await;
    for (path, ct) in [
        ("/cart/items", "text/plain"),
        ("/increment", "application/x-www-form-urlencoded"),
        ("/cart/items", "multipart/form-data"),
    ] {
        app.post_raw(path, Some(ct), r#"{"productId":"a","quantity":1}"#, None)
            .await
            .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert!(app.sessions.is_empty());
}

#[tokio::test]
async fn malformed_json_names_the_problem() {
    let app = spawn_app().await;
    for raw in [
        "{",
        "not json",
        "[]",
        "null",
        r#"{"productId":"a","quantity":1} {}"#,
        "",
    ] {
        app.post_raw("/cart/items", JSON, raw, None)
            .await
            .assert_error(400, "INVALID_REQUEST");
    }
    let unknown = app
        .post("/increment", None, Some(json!({"currentCont": 4})))
        .await;
    unknown.assert_error(400, "INVALID_REQUEST");
    assert!(unknown.text.contains("currentCont"), "{}", unknown.text);
}

#[tokio::test]
async fn a_bare_post_increment_needs_no_content_type() {
    let app = spawn_app().await;
    assert_eq!(app.post_raw("/increment", None, "", None).await.status, 200);
}
