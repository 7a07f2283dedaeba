//! Any request head through the gateway (sticky, hash, round-robin): its
//! sticky and client cookies, bearer `sub` for hashing, forwarding headers,
//! hop-by-hop headers, request IDs.
#![no_main]

use axum::body::Body;
use http::Request;
use libfuzzer_sys::fuzz_target;
use statecraft_fuzz::HARNESS;

fuzz_target!(|input: (u8, Vec<(String, Vec<u8>)>, String)| {
    let (policy, headers, path) = input;
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let mut request = Request::post(path.as_str());
    for (name, value) in headers.iter().take(16) {
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        // The body is empty: a header that says otherwise only makes the
        // in-process request inconsistent, which no client socket can be.
        if matches!(name.as_str(), "content-length" | "transfer-encoding") {
            continue;
        }
        request = request.header(name, value);
    }
    if let Ok(request) = request.body(Body::empty()) {
        HARNESS.gateway(policy, request);
    }
});
