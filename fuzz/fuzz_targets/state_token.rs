//! Any client-held `stateToken` (and `currentCount` beside it).
#![no_main]

use axum::body::Body;
use http::Request;
use libfuzzer_sys::fuzz_target;
use statecraft_fuzz::HARNESS;

fuzz_target!(|input: (String, Option<u64>)| {
    let (token, count) = input;
    let body = match count {
        Some(count) => serde_json::json!({"stateToken": token, "currentCount": count}),
        None => serde_json::json!({"stateToken": token}),
    };
    let request = Request::post("/increment")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()));
    if let Ok(request) = request {
        HARNESS.app(request);
    }
});
