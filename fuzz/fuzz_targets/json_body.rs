//! Any body for each endpoint that reads JSON.
#![no_main]

use axum::body::Body;
use http::Request;
use libfuzzer_sys::fuzz_target;
use statecraft_fuzz::HARNESS;

const ENDPOINTS: [(&str, &str); 12] = [
    ("POST", "/increment"),
    ("POST", "/cart/items"),
    ("PUT", "/cart/items/book-1"),
    ("POST", "/checkout/shipping"),
    ("POST", "/checkout/payment"),
    ("POST", "/checkout/confirm"),
    ("POST", "/login"),
    ("POST", "/token"),
    ("POST", "/token/refresh"),
    ("POST", "/users"),
    ("POST", "/orders"),
    ("POST", "/counters/clicks/increment"),
];

fuzz_target!(|input: (u8, bool, Vec<u8>)| {
    let (which, bearer, body) = input;
    let (method, path) = ENDPOINTS[usize::from(which) % ENDPOINTS.len()];
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if bearer {
        request = request.header("authorization", format!("Bearer {}", HARNESS.token));
    }
    if let Ok(request) = request.body(Body::from(body)) {
        HARNESS.app(request);
    }
});
