//! What the binary's test files share: one HTTP/1.1 request on a fresh
//! connection, written by hand so that the tests see the bytes a client sees.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test code

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A request with any headers and an optional JSON body; (status, head, body).
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Deletes a test's JetStream stream.
pub(crate) fn delete_stream(nats: &str, namespace: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let bus = statecraft_events::NatsBus::connect(
                nats,
                &namespace.to_ascii_uppercase(),
                namespace,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            bus.delete().await.unwrap();
        });
}
