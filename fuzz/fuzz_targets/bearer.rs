//! Any `Authorization` header, and mutations of a valid bearer token.
#![no_main]

use axum::body::Body;
use http::Request;
use libfuzzer_sys::fuzz_target;
use statecraft_fuzz::HARNESS;

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (mode, bytes) = input;
    // Half the inputs edit a real token, so the fuzzer reaches past the
    // base64 and JSON layers into the claims and the signature.
    let value = if mode % 2 == 0 {
        let mut token = HARNESS.token.clone().into_bytes();
        for (i, b) in bytes.iter().enumerate().take(8) {
            let at = usize::from(*b) * 7 % token.len().max(1);
            if let Some(slot) = token.get_mut(at) {
                *slot = bytes.get(i + 8).copied().unwrap_or(b'A');
            }
        }
        [b"Bearer ".as_slice(), &token].concat()
    } else {
        bytes
    };
    let Ok(value) = http::HeaderValue::from_bytes(&value) else {
        return;
    };
    for path in ["/profile", "/orders", "/sessions"] {
        if let Ok(request) = Request::get(path)
            .header("authorization", value.clone())
            .body(Body::empty())
        {
            HARNESS.app(request);
        }
    }
});
