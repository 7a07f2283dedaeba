//! A stand-in instance for the gateway's unit tests: it records what it is
//! sent and answers every request with an empty 200, or misbehaves as told.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

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
