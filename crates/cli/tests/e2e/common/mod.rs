//! What the binary's test files share: a `statecraft` process that stops
//! when dropped, free loopback ports, and one HTTP/1.1 request on a fresh
//! connection, written by hand so that the tests see the bytes a client sees.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test code

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A request with any headers and an optional JSON body; (status, head, body).
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, serde_json::Value) {
    try_request(addr, method, path, headers, body, Duration::from_secs(30)).unwrap()
}

/// As [`request`], but a refused connection, a timeout (`limit` for each of
/// connect, write and read) or a cut answer is an error rather than a panic.
pub(crate) fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    limit: Duration,
) -> std::io::Result<(u16, String, serde_json::Value)> {
    let socket = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stream = TcpStream::connect_timeout(&socket, limit)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    // The address itself, as a client that was given it would send, unless
    // the test names another.
    let own_host = if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        String::new()
    } else {
        format!("Host: {addr}\r\n")
    };
    let headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\n{own_host}{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let cut = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "cut answer");
    let (head, body) = answer.split_once("\r\n\r\n").ok_or_else(cut)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(cut)?;
    Ok((
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    ))
}

/// A client with a cookie jar, over one keep-alive-less connection per call.
#[derive(Default, Clone)]
pub(crate) struct Client {
    /// Cookies by name, as the last answers set them.
    pub(crate) cookies: std::collections::BTreeMap<String, String>,
    /// A bearer token sent with every call.
    pub(crate) bearer: Option<String>,
    /// The last answer's `X-Served-By`.
    pub(crate) served_by: Option<String>,
}

impl Client {
    /// A client with no cookies.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// `GET path`.
    pub(crate) fn get(&mut self, base: &str, path: &str) -> (u16, Value) {
        self.send("GET", base, path, None)
    }

    /// `POST path` with an optional JSON body.
    pub(crate) fn post(&mut self, base: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.send("POST", base, path, body)
    }

    /// Any method; panics when the server cannot be reached.
    pub(crate) fn send(
        &mut self,
        method: &str,
        base: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        self.try_send(method, base, path, &[], body, Duration::from_secs(30))
            .unwrap()
    }

    /// Any method with extra headers; a refused, timed-out or cut
    /// connection is an error. Cookies set by the answer are kept.
    pub(crate) fn try_send(
        &mut self,
        method: &str,
        base: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&str>,
        limit: Duration,
    ) -> std::io::Result<(u16, Value)> {
        let addr = base.trim_start_matches("http://");
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let auth = self.bearer.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = extra.to_vec();
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie.as_str()));
        }
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        let (status, head, body) = try_request(addr, method, path, &headers, body, limit)?;
        self.served_by = None;
        for line in head.lines().skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "set-cookie" => {
                    let pair = value.split(';').next().unwrap_or_default();
                    let Some((k, v)) = pair.split_once('=') else {
                        continue;
                    };
                    if v.is_empty() || value.contains("Max-Age=0") {
                        self.cookies.remove(k);
                    } else {
                        self.cookies.insert(k.to_owned(), v.to_owned());
                    }
                }
                "x-served-by" => self.served_by = Some(value.to_owned()),
                _ => {}
            }
        }
        Ok((status, body))
    }
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
        Self::start_at(dir, args, "127.0.0.1:0")
    }

    /// As [`Statecraft::start`], listening on `listen`.
    pub(crate) fn start_at(dir: &std::path::Path, args: &[&str], listen: &str) -> Self {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(args)
            .args(["--listen", listen])
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
        // The rest of its log goes to a file beside its data, for a failed
        // test's post-mortem.
        let log = dir.join(format!("statecraft-{}.log", child.id()));
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(log).ok();
            for line in lines.map_while(Result::ok) {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        Self {
            child,
            base,
            stopped: false,
        }
    }

    /// Its process ID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it at once (SIGKILL: a crash) and waits for it.
    pub(crate) fn kill(&mut self) {
        if !std::mem::replace(&mut self.stopped, true) {
            let _ = self.child.kill();
            let _ = self.child.wait();
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

/// `GET path` of `base` (`http://HOST:PORT`); the status and the body as text.
pub(crate) fn request_text(base: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        base.trim_start_matches("http://")
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}
