//! Hostile input at every route: only JSON answers, never a 5xx, never a panic,
//! and the server keeps serving.

use reqwest::Method;

use crate::helpers::{Answer, spawn_app};

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/increment"),
    ("POST", "/counters/clicks/increment"),
    ("GET", "/counters/clicks"),
    ("GET", "/cart"),
    ("DELETE", "/cart"),
    ("POST", "/cart/items"),
    ("PUT", "/cart/items/book-1"),
    ("DELETE", "/cart/items/book-1"),
    ("GET", "/session"),
    ("GET", "/whoami"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("PUT", "/cart/items/%FF%FE"),
    ("POST", "/counters/%00/increment"),
    ("GET", "/counters/..%2F..%2Fetc"),
    ("POST", "/increment/extra"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/token"),
    ("POST", "/token/refresh"),
    ("GET", "/profile"),
    ("GET", "/sessions"),
    ("DELETE", "/sessions"),
    ("POST", "/users"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/checkout"),
    ("POST", "/checkout/shipping"),
    ("POST", "/checkout/payment"),
    ("POST", "/checkout/confirm"),
    ("POST", "/orders"),
    ("GET", "/orders"),
    ("GET", "/orders/order-1"),
    ("GET", "/orders/order-99999999999999999999999"),
    ("GET", "/products"),
    ("GET", "/inventory/%FF"),
    ("GET", "/notifications"),
    ("GET", "/_admin/outbox"),
];

fn bodies() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        "",
        "{",
        "}",
        "null",
        "[]",
        "\"str\"",
        "{}",
        r#"{"currentCount": 99999999999999999999999999999}"#,
        r#"{"currentCount": -0}"#,
        r#"{"currentCount": 1e309}"#,
        r#"{"currentCount": 9007199254740991}"#,
        r#"{"stateToken": 5}"#,
        r#"{"stateToken": "v1.99999999999999999999.AAAA"}"#,
        r#"{"productId": "book-1", "quantity": 18446744073709551616}"#,
        r#"{"productId": "book-1", "quantity": 65536}"#,
        r#"{"productId": "\u0000", "quantity": 1}"#,
        r#"{"productId": "book-1", "quantity": 1, "productId": "x"}"#,
        r#"{"quantity": {"nested": [1, 2, {"a": null}]}}"#,
        r#"{"user": "alice", "password": "correct-password"}"#,
        r#"{"user": "alice", "password": null}"#,
        r#"{"user": "alice\u0000", "password": "x"}"#,
        r#"{"refreshToken": "../../etc/passwd"}"#,
        r#"{"name": "a", "line1": "b", "city": "c", "postalCode": "d", "country": "e"}"#,
        r#"{"paymentToken": "tok_declined"}"#,
        r#"{"cart": {"items": [{"productId": "book-1", "quantity": 0}]}, "shipping": {}, "paymentToken": "tok_1"}"#,
        r#"{"userId": "user-1", "items": [{"productId": "book-1", "quantity": 4294967296}]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    out.push(b"{\"productId\": \"\xff\xfe\", \"quantity\": 1}".to_vec());
    out.push(vec![0xff, 0x00, 0xc3, 0x28]);
    out.push(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes());
    out.push(format!(r#"{{"productId": "{}", "quantity": 1}}"#, "é".repeat(2000)).into_bytes());
    out
}

fn cookies() -> Vec<String> {
    vec![
        String::new(),
        "session_id=".to_owned(),
        "session_id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "session_id=../../etc/passwd".to_owned(),
        format!("session_id={}", "x".repeat(4000)),
        "session_id=a; session_id=b".to_owned(),
        "=;;;==; session_id".to_owned(),
    ]
}

#[tokio::test]
async fn hostile_input_gets_only_json_answers() {
    let app = spawn_app().await;
    let mut requests = 0;
    for (method, path) in ROUTES {
        for body in bodies() {
            for (i, cookie) in cookies().into_iter().enumerate() {
                let content_type = [
                    "application/json",
                    "text/plain",
                    "application/json; charset=latin1",
                ][i % 3];
                let mut request = app
                    .client
                    .request(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        format!("{}{path}", app.base),
                    )
                    .header("content-type", content_type)
                    .body(body.clone());
                if !cookie.is_empty() {
                    request = request.header("cookie", cookie);
                }
                let authorization = [
                    None,
                    Some("Bearer a.b.c".to_owned()),
                    Some(format!("Bearer {}", "e".repeat(6000))),
                    Some("Basic YWxpY2U6eA==".to_owned()),
                    Some("Bearer eyJhbGciOiJub25lIn0.e30.".to_owned()),
                ][i % 5]
                    .clone();
                if let Some(value) = authorization {
                    request = request.header("authorization", value);
                }
                let answer = Answer::from(request.send().await.unwrap()).await;
                requests += 1;
                assert!(
                    answer.status < 500,
                    "{method} {path} -> {} {}",
                    answer.status,
                    answer.text
                );
                assert!(
                    answer
                        .header("content-type")
                        .starts_with("application/json"),
                    "{method} {path}: {}",
                    answer.text
                );
                if answer.status >= 400 {
                    assert!(
                        answer.body["code"].is_string() && answer.body["error"].is_string(),
                        "{}",
                        answer.text
                    );
                }
                assert!(
                    !answer.text.contains("panicked") && !answer.text.contains("/src/"),
                    "{}",
                    answer.text
                );
            }
        }
    }
    assert!(requests > 2000);
    assert_eq!(app.get("/healthz", None).await.status, 200, "still serving");
}

#[tokio::test]
async fn odd_header_bytes_are_handled() {
    let app = spawn_app().await;
    let answer = app
        .client
        .get(format!("{}/cart", app.base))
        .header(
            "cookie",
            reqwest::header::HeaderValue::from_bytes(b"session_id=\xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    Answer::from(answer)
        .await
        .assert_error(401, "SESSION_MISSING");
}
