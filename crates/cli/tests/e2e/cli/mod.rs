//! The `statecraft` binary as users run it: flags, exit codes, signals,
//! output, stores and services as processes; a module per area, the
//! helpers they share here.

mod commands;
mod services;
mod signals;
mod stores;
mod tls;

use crate::common::{delete_stream, free_port, request, try_request};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_statecraft");

/// The working directory of the servers the tests start: their default data
/// directory (`./statecraft-data`) lands there, not in the source tree.
fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("statecraft-cli-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn statecraft(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG").current_dir(scratch());
    for (key, _) in std::env::vars() {
        if key.starts_with("STATECRAFT_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Starts `serve` on a free port; returns the child and its address.
fn serve(extra_env: &[(&str, &str)]) -> (Reaped, String) {
    spawn_process(&["serve"], extra_env)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn sigterm(child: &Child) {
    signal(child, "TERM");
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 request on a fresh connection; returns (status, head, body).
fn http(addr: &str, method: &str, path: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// A first `POST /increment` to the server at `addr`, answered from Redis;
/// the session cookie it set.
fn first_count_on_redis(addr: &str) -> String {
    let (status, head, _) = http(addr, "POST", "/increment", None);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("x-state-source: redis"),
        "{head}"
    );
    session_cookie(&head)
}

/// The `name=value` of the first `Set-Cookie` in a response head.
fn session_cookie(head: &str) -> String {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a Set-Cookie header");
    line[11..].trim().split(';').next().unwrap().to_owned()
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("statecraft-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.db")
}

/// Starts `statecraft service KIND` (or `serve`) with `env`; returns the child
/// and its address.
fn spawn_process<V: AsRef<std::ffi::OsStr>>(args: &[&str], env: &[(&str, V)]) -> (Reaped, String) {
    let (child, addr, _) = spawn_logged(args, env);
    (child, addr)
}

/// The log lines a process wrote after its "listening on" line.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// As [`spawn_process`], keeping its JSON log lines.
fn spawn_logged<V: AsRef<std::ffi::OsStr>>(
    args: &[&str],
    env: &[(&str, V)],
) -> (Reaped, String, Log) {
    let mut cmd = statecraft(args);
    cmd.env("STATECRAFT_LISTEN", "127.0.0.1:0")
        .env("STATECRAFT_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("exited before listening").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split('"').next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    let log = Log::default();
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    (Reaped(child), addr, log)
}

/// A request with an optional bearer token and JSON body; (status, body).
fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    let (status, _, body) = request(addr, method, path, &headers, body);
    (status, body)
}

/// Polls `probe` every 50 ms until it returns `Some`, for at most `within`.
fn eventually<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (if still running) when dropped: a test that
/// fails half-way leaves no server behind.
struct Reaped(Child);

impl std::ops::Deref for Reaped {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
