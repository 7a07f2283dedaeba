//! What the binary's test files share: a `statecraft` process that stops
//! when dropped, free loopback ports, and one HTTP/1.1 request on a fresh
//! connection, written by hand so that the tests see the bytes a client sees.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test code

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

const BIN: &str = env!("CARGO_BIN_EXE_statecraft");

/// A `statecraft` command, stopped (SIGTERM, then waited for) on drop.
pub(crate) struct Statecraft {
    child: Child,
    /// Its base URL (the gateway's, for `cluster`).
    pub(crate) base: String,
    stopped: bool,
}

impl Statecraft {
    /// Runs `statecraft ARGS --listen 127.0.0.1:0` in `dir` (its data and
    /// keys go there) until it says where it listens.
    pub(crate) fn start(dir: &std::path::Path, args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("exited before listening").unwrap();
            // The gateway's (or the server's) line, not an instance's "[server-N] …".
            if !line.starts_with('[')
                && let Some(rest) = line.split("listening on http://").nth(1)
            {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':'))
                    .collect();
                break format!("http://{addr}");
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base,
            stopped: false,
        }
    }

    /// Stops it (SIGTERM, then SIGKILL after 15 s) and waits for it; once
    /// (a second signal could reach another process that got its PID).
    pub(crate) fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Statecraft {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
