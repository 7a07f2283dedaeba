//! Any `Cookie` header on routes that read the session.
#![no_main]

use axum::body::Body;
use http::Request;
use libfuzzer_sys::fuzz_target;
use statecraft_fuzz::HARNESS;

fuzz_target!(|data: &[u8]| {
    let Ok(cookie) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    for (method, path) in [
        ("POST", "/increment"),
        ("GET", "/cart"),
        ("GET", "/profile"),
        ("POST", "/logout"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("cookie", cookie.clone())
            .body(Body::empty());
        if let Ok(request) = request {
            HARNESS.app(request);
        }
    }
});
