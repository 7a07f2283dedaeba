//! Support for the gateway's unit tests: a stand-in instance that records
//! what it is sent and answers every request with an empty 200, or
//! misbehaves as told; and one exchange with a gateway.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::StatusCode;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Gateway, GatewayConfig, Policy, UpstreamSpec};

/// What the instance has seen.
#[derive(Default)]
pub(crate) struct Seen {
    /// Connections accepted.
    pub(crate) connections: AtomicUsize,
    /// Each request's head, lowercased, in order.
    pub(crate) heads: Mutex<Vec<String>>,
}

impl Seen {
    /// How many requests it has read.
    pub(crate) fn requests(&self) -> usize {
        self.heads.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The last head received.
    pub(crate) fn last_head(&self) -> String {
        let heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.last().cloned().unwrap_or_default()
    }
}

/// What the instance does with each request it reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Answers an empty 200.
    Answer,
    /// Never answers (the connection stays open).
    Silent,
    /// Closes the connection without answering: the request may have been
    /// applied, as far as the gateway can tell.
    HangUp,
}

/// Starts one that answers, on a free loopback port: its `HOST:PORT` and
/// what it sees. Requests must have no body (a head is a whole request).
pub(crate) async fn start() -> (String, Arc<Seen>) {
    start_as(Behaviour::Answer).await
}

/// Starts one that treats each request as `behaviour` says.
pub(crate) async fn start_as(behaviour: Behaviour) -> (String, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let seen = shared.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stream.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buf.drain(..end + 4).collect();
                        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                        seen.heads
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(head);
                        match behaviour {
                            Behaviour::Answer => {
                                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                                if stream.write_all(answer).await.is_err() {
                                    return;
                                }
                            }
                            Behaviour::Silent => {}
                            Behaviour::HangUp => return,
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// `method path` with `headers` and no body.
pub(crate) fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> http::Request<Body> {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `method path` with `headers` and no body through `gateway`, from a
/// loopback client: the status, the error code (if the answer is an error)
/// and the body.
pub(crate) async fn exchange(
    gateway: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let answer = gateway
        .handle(
            ([127, 0, 0, 1], 40_000).into(),
            request(method, path, headers),
        )
        .await;
    let status = answer.status();
    let bytes = answer
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    (status, code, text)
}

/// A round-robin gateway over `addrs` (`server-1` first), whose instances
/// have `timeout` to answer.
pub(crate) fn gateway_over(addrs: &[&str], timeout: std::time::Duration) -> Gateway {
    let upstreams = (addrs.iter().enumerate())
        .map(|(i, addr)| {
            UpstreamSpec::parse(&format!("server-{}=http://{addr}", i + 1), i + 1)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let mut config = GatewayConfig::new(upstreams, Policy::RoundRobin);
    config.request_timeout = timeout;
    Gateway::new(config, None)
}
