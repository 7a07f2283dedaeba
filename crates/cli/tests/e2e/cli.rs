//! The `statecraft` binary as users run it: flags, exit codes, signals, output.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::common::{delete_stream, free_port, request};
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
fn serve(extra_env: &[(&str, &str)]) -> (Child, String) {
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

#[test]
fn help_says_what_the_program_does_and_exits_0() {
    let out = statecraft(&["--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // The program's own description, not the crate's (which describes the
    // source file to its developers).
    assert!(
        text.starts_with("Runs one web application with its state kept every way at once"),
        "{text}"
    );
    for command in ["serve", "gateway", "cluster", "lab"] {
        assert!(
            text.contains(&format!("\n  {command} ")),
            "{command} listed"
        );
    }
}

#[test]
fn capacity_prints_the_seeds_estimate() {
    let out = statecraft(&["capacity", "--sessions", "10000", "--session-size", "50KB"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Estimated memory required for session state: 500 MB\n"
    );
}

#[test]
fn capacity_measure_fills_a_real_store_and_prints_both_lines() {
    let out = statecraft(&["capacity", "--measure", "--sessions", "50000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let measured = lines.next().unwrap();
    let bytes: u64 = measured
        .strip_prefix("Measured session size: ")
        .and_then(|r| r.strip_suffix(" bytes"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes > 0, "{measured}");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("Estimated memory required for session state: ")
    );
}

/// A token login is not free on the server: its refresh family and first
/// token are two rows in the users database, and its logout two denylist
/// entries, each measured in bytes (the lab once reported a constant 0).
#[test]
fn capacity_measures_what_a_token_login_and_logout_leave_on_the_server() {
    let out = statecraft(&[
        "capacity",
        "--measure",
        "--credential",
        "token",
        "--sessions",
        "3000",
    ])
    .env_remove("STATECRAFT_SESSION_STORE")
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures = |prefix: &str| -> Vec<u64> {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {text}"));
        line.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    let login = figures("Measured token login: ");
    assert_eq!(login[1], 2, "{text}");
    assert!(login[0] > 100, "{text}");
    let logout = figures("Measured token logout: ");
    assert_eq!(logout[1], 2, "{text}");
    assert!(logout[0] > 50, "{text}");
    assert!(
        text.contains("refresh rows of 3000 live token logins"),
        "{text}"
    );
}

/// Command-line arguments of one case.
type Args<'a> = &'a [&'a str];
/// Environment variables of one case.
type Env<'a> = &'a [(&'a str, &'a str)];

/// Every mistake is refused with exit code 2 and a message that names the
/// problem and the way out: clap's whole message for the command line (the
/// missing argument, a similar one, the usage), one line for a setting the
/// program checks itself. Never a password.
#[test]
fn mistakes_are_refused_with_the_problem_and_the_fix_and_exit_code_2() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let data = std::env::temp_dir().join(format!("statecraft-mistakes-{}", std::process::id()));
    let data = format!("sqlite:{}", data.display());
    let cases: &[(Args, Env, &[&str])] = &[
        (
            &["serve", "--session-store", "bogus"],
            &[],
            &["--session-store", "expected memory"],
        ),
        (&["serve", "--listen", "not-an-address"], &[], &["--listen"]),
        (
            &["serve", "--instance-id", "has space"],
            &[],
            &["--instance-id"],
        ),
        (
            &["serve", "--idle-timeout", "soon"],
            &[],
            &["--idle-timeout", "e.g. 500ms"],
        ),
        (
            &["serve", "--idle-timeout", "-5m"],
            &[],
            &["--idle-timeout", "cannot be negative"],
        ),
        (
            &["gateway", "--header-timeout", "500ms"],
            &[],
            &["--header-timeout", "at least 1s"],
        ),
        (
            &["serve"],
            &[("STATECRAFT_HEADER_TIMEOUT", "forever")],
            &["STATECRAFT_HEADER_TIMEOUT"],
        ),
        (&["serve", "--state-key", "short"], &[], &["--state-key"]),
        (
            &["serve"],
            &[("STATECRAFT_SESSION_STORE", "mongodb://x")],
            &["STATECRAFT_SESSION_STORE"],
        ),
        (
            &["serve", "--data", &data],
            &[(
                "STATECRAFT_COUNTER_STORE",
                "redis://user:hunter2@127.0.0.1:1",
            )],
            &["connection refused", "--counter-store"],
        ),
        (
            &["serve", "--no-such-flag"],
            &[],
            &["unexpected argument", "Usage:"],
        ),
        (
            &["serve", "--sesion-store", "memory"],
            &[],
            &["a similar argument exists: '--session-store'"],
        ),
        (
            &["capacity", "--sessions", "10", "--session-size", "lots"],
            &[],
            &["--session-size"],
        ),
        (
            &["capacity", "--sessions", "1000000"],
            &[],
            &["--session-size <SESSION_SIZE>", "Usage:"],
        ),
        (
            &["capacity", "--measure", "--header-timeout", "5s"],
            &[],
            &["unexpected argument"],
        ),
        (&["gateway"], &[], &["--upstream <UPSTREAMS>"]),
        (&["service"], &[], &["<KIND>", "Usage:"]),
        (&[], &[], &["Usage: statecraft", "serve", "lab"]),
        (&["keys"], &[], &["Usage: statecraft keys", "rotate"]),
        (
            &["serve", "--data", &data, "--listen", &busy],
            &[],
            &["already in use", "--listen"],
        ),
        (
            &[
                "serve",
                "--data",
                &data,
                "--session-store",
                "sqlite:/nonexistent-statecraft/dir/x.db",
            ],
            &[],
            &["does not exist", "create it first"],
        ),
        (
            &["serve"],
            &[("STATECRAFT_SESSION_STORE", "redis:/u:hunter2@h")],
            &["redis:***@h"],
        ),
        (
            &["serve", "--data", "mysql://u:hunter2@h/db"],
            &[],
            &["--data"],
        ),
        (
            &["serve", "--state-key", "hunter2hunter2hunter2"],
            &[],
            &["--state-key", "<hidden>"],
        ),
    ];
    for (args, env, named) in cases {
        let mut cmd = statecraft(args);
        cmd.env_remove("STATECRAFT_SESSION_STORE")
            .env_remove("STATECRAFT_COUNTER_STORE");
        for (k, v) in *env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.starts_with("error:") || stderr.contains("Usage:"),
            "{args:?}: {stderr}"
        );
        for part in *named {
            assert!(
                stderr.contains(part),
                "{args:?} {env:?}: no {part:?} in {stderr}"
            );
        }
        assert!(
            !stderr.contains("hunter2"),
            "a password was printed: {stderr}"
        );
    }
    assert!(!std::path::Path::new("/nonexistent-statecraft").exists());
    let _ = std::fs::remove_dir_all(data.trim_start_matches("sqlite:"));
}

#[test]
fn serve_answers_and_stops_on_sigterm_after_finishing_in_flight_requests() {
    let (mut child, addr) = serve(&[("STATECRAFT_INSTANCE_ID", "cli-test")]);
    // A request in flight: headers and half the body sent before the signal.
    let body = r#"{"productId":"book-1","quantity":2}"#;
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /cart/items HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-served-by: cli-test"),
        "{answer}"
    );
    assert!(answer.contains(r#""totalItems":2"#), "{answer}");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    // no longer accepting
    assert!(TcpStream::connect(&addr).is_err());
}

#[test]
fn ctrl_c_stops_the_server_with_exit_code_0() {
    let (mut child, addr) = serve(&[]);
    assert!(TcpStream::connect(&addr).is_ok());
    signal(&child, "INT");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0)
    );
}

#[test]
fn json_logs_carry_the_request_id() {
    let mut cmd = statecraft(&["serve"]);
    cmd.env("STATECRAFT_LISTEN", "127.0.0.1:0")
        .env("STATECRAFT_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split('"').next().unwrap().to_owned();
        }
    };
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-42\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("x-request-id: req-42"), "{answer}");
    let finished = loop {
        let line = lines.next().unwrap().unwrap();
        if line.contains("request finished") {
            break line;
        }
    };
    let json: serde_json::Value = serde_json::from_str(&finished).unwrap();
    assert_eq!(json["span"]["request_id"], "req-42", "{finished}");

    // Even at debug level no line carries a password, a session secret or a
    // token: log in (a failure, then a success), use the session, get a token.
    let collected = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&collected);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    let post = |path: &str, body: &str, cookie: Option<&str>| {
        let mut stream = TcpStream::connect(&addr).unwrap();
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    post(
        "/login",
        r#"{"user":"alice","password":"wrong-secret-pw"}"#,
        None,
    );
    let login = post(
        "/login",
        r#"{"user":"alice","password":"correct-password"}"#,
        None,
    );
    let cookie = session_cookie(login.split_once("\r\n\r\n").unwrap().0);
    post("/increment", "", Some(&cookie));
    let token = post(
        "/token",
        r#"{"user":"bob","password":"correct-password"}"#,
        None,
    );
    let access: serde_json::Value =
        serde_json::from_str(token.split_once("\r\n\r\n").unwrap().1).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let logs = collected.lock().unwrap().clone();
    assert!(logs.contains("failed login"), "the failure is logged");
    let secret = cookie.split_once('=').unwrap().1;
    for needle in [
        "wrong-secret-pw",
        "correct-password",
        secret,
        access["token"].as_str().unwrap(),
        access["refreshToken"].as_str().unwrap(),
    ] {
        assert!(!logs.contains(needle), "a log line carries {needle:.12}…");
    }
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0)
    );
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

#[test]
fn sqlite_sessions_survive_kill_9_and_restart() {
    let db = temp_db("restart");
    let store = format!("sqlite:{}", db.display());
    let env = [("STATECRAFT_SESSION_STORE", store.as_str())];
    let (mut first, addr) = serve(&env);
    let (status, head, body) = http(&addr, "POST", "/increment", None);
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase().contains("x-state-source: sqlite"),
        "{head}"
    );
    let cookie = session_cookie(&head);
    http(&addr, "POST", "/increment", Some(&cookie));
    first.kill().unwrap(); // SIGKILL: no graceful anything
    first.wait().unwrap();
    let (mut second, addr) = serve(&env);
    let (status, _, body) = http(&addr, "POST", "/increment", Some(&cookie));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""counter":3"#), "{body}");
    sigterm(&second);
    assert_eq!(
        wait_exit(&mut second, Duration::from_secs(10)).code(),
        Some(0)
    );
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[test]
fn three_processes_share_one_sqlite_counter_exactly() {
    let db = temp_db("counter");
    let store = format!("sqlite:{}", db.display());
    let env = [("STATECRAFT_COUNTER_STORE", store.as_str())];
    let servers: Vec<_> = (0..3).map(|_| serve(&env)).collect();
    let workers: Vec<_> = servers
        .iter()
        .map(|(_, addr)| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    let (status, _, body) = http(&addr, "POST", "/counters/shared/increment", None);
                    assert_eq!(status, 200, "{body}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    for (_, addr) in &servers {
        let (_, _, body) = http(addr, "GET", "/counters/shared", None);
        assert!(body.contains(r#""counter":3000"#), "{body}");
    }
    for (mut child, _) in servers {
        sigterm(&child);
        assert_eq!(
            wait_exit(&mut child, Duration::from_secs(10)).code(),
            Some(0)
        );
    }
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

/// A redis-server of the test's own on a free loopback port (stopped on drop).
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        Self::start_with(port, &["--port", &port.to_string()])
    }

    /// Starts redis-server with `args` (which open `port`) on loopback.
    fn start_with(port: u16, args: &[&str]) -> Self {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is on PATH, so it starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server on a redis-server of its own (store timeout 300 ms) and a
/// session counted once on it: the Redis, the server (killed on drop, so a
/// failed assertion leaves no server behind), its address and the session's
/// cookie. `None` where redis-server is not installed (a failure under
/// scripts/test).
fn serve_on_own_redis() -> Option<(OwnRedis, Reaped, String, String)> {
    statecraft_testkit::program("redis-server", "a test of a failing Redis")?;
    let port = free_port();
    let redis = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let env = [
        ("STATECRAFT_SESSION_STORE", url.as_str()),
        ("STATECRAFT_STORE_TIMEOUT", "300ms"),
    ];
    let (app, addr) = serve(&env);
    let (status, head, _) = http(&addr, "POST", "/increment", None);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("x-state-source: redis"),
        "{head}"
    );
    let cookie = session_cookie(&head);
    Some((redis, Reaped(app), addr, cookie))
}

/// How long a counting request took to be refused with 503 STORE_UNAVAILABLE.
fn store_unavailable_after(addr: &str, cookie: &str) -> Duration {
    let started = Instant::now();
    let (status, _, body) = http(addr, "POST", "/increment", Some(cookie));
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("STORE_UNAVAILABLE"), "{body}");
    took
}

/// A 503 is logged once, with its cause and request ID (it was answered
/// with no line in the log at all).
#[test]
fn a_store_outage_is_logged_with_its_cause() {
    if statecraft_testkit::program("redis-server", "the outage log test").is_none() {
        return;
    }
    let port = free_port();
    let redis = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let env = [
        ("STATECRAFT_SESSION_STORE", url.as_str()),
        ("STATECRAFT_STORE_TIMEOUT", "300ms"),
    ];
    let (app, addr, log) = spawn_logged(&["serve"], &env);
    let app = Reaped(app);
    drop(redis);
    let (status, head, body) = http(&addr, "POST", "/increment", None);
    assert_eq!(status, 503, "{body}");
    let id = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-request-id: ")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no request ID: {head}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = log.lock().unwrap().clone();
        let failed: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("request failed") && l.contains(id.trim()))
            .collect();
        if let [line] = failed.as_slice() {
            assert!(line.contains("\"status\":503"), "{line}");
            assert!(line.contains("redis store: "), "no cause in {line}");
            assert!(
                !body.contains("redis store: "),
                "the cause was sent: {body}"
            );
            break;
        }
        assert!(failed.len() <= 1, "logged more than once: {failed:?}");
        assert!(Instant::now() < deadline, "no log line for {id}: {lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(app);
}

#[test]
fn a_dead_redis_gives_fast_503_keeps_stateless_alive_and_recovers() {
    let Some((redis, mut app, addr, cookie)) = serve_on_own_redis() else {
        return;
    };
    let port = redis.port;

    drop(redis); // SIGKILL: Redis is gone
    let took = store_unavailable_after(&addr, &cookie);
    assert!(
        took < Duration::from_secs(2),
        "a dead store must answer fast, took {took:?}"
    );
    let mut stream = TcpStream::connect(&addr).unwrap();
    let stateless = r#"{"currentCount":1}"#;
    write!(
        stream,
        "POST /increment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{stateless}",
        stateless.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the stateless counter needs no store: {answer}"
    );
    let (status, _, body) = http(&addr, "GET", "/readyz", None);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""sessions":"unavailable""#), "{body}");

    let _back = OwnRedis::start(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, _) = http(&addr, "POST", "/increment", None);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not recover after Redis came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(http(&addr, "GET", "/readyz", None).0, 200);
    sigterm(&app.0);
    assert_eq!(
        wait_exit(&mut app.0, Duration::from_secs(10)).code(),
        Some(0)
    );
}

/// A Redis that stops answering without closing its connection (SIGSTOP: a
/// stalled or partitioned server) must not hang a request: the store's own
/// timeout answers 503, and the same connection serves again once Redis wakes.
#[test]
fn a_stalled_redis_gives_503_within_the_store_timeout_and_recovers() {
    let Some((redis, mut app, addr, cookie)) = serve_on_own_redis() else {
        return;
    };

    signal(&redis.child, "STOP");
    for _ in 0..3 {
        let took = store_unavailable_after(&addr, &cookie);
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "answered after the store timeout (300 ms), took {took:?}"
        );
    }
    signal(&redis.child, "CONT");
    let counter = eventually(Duration::from_secs(10), "recovery after SIGCONT", || {
        let (status, _, body) = http(&addr, "POST", "/increment", Some(&cookie));
        (status == 200).then_some(body)
    });
    // The session survived; the stalled increments may have been applied by
    // Redis when it woke (they were sent), so the count is 2 to 5.
    let counter: serde_json::Value = serde_json::from_str(&counter).unwrap();
    let n = counter["counter"].as_u64().unwrap();
    assert!((2..=5).contains(&n), "{counter}");
    sigterm(&app.0);
    assert_eq!(
        wait_exit(&mut app.0, Duration::from_secs(10)).code(),
        Some(0)
    );
}

#[test]
fn keys_rotate_writes_a_new_current_key_beside_the_old() {
    let dir = std::env::temp_dir().join(format!("statecraft-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    let first = statecraft(&["keys", "rotate", "--keys-dir", dir_arg])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = statecraft(&["keys", "rotate", "--keys-dir", dir_arg])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("new signing key") && text.contains("previous key"),
        "{text}"
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    // The first run created key 1 and rotated to 2; the second added 3.
    assert_eq!(
        files,
        ["key-000001.pem", "key-000002.pem", "key-000003.pem"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs openssl in `dir`; false if it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn redis_over_tls_with_a_password_and_a_private_ca() {
    let test = "the Redis TLS test";
    if statecraft_testkit::program("openssl", test).is_none()
        || statecraft_testkit::program("redis-server", test).is_none()
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("statecraft-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A private CA and a certificate for 127.0.0.1 signed by it.
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let made = openssl(
        &dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=statecraft test CA",
            ],
        ]
        .concat(),
    ) && openssl(
        &dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    ) && std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .is_ok()
        && openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
    assert!(made, "openssl could not make the test's CA and certificate");
    let port = free_port();
    let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    let args = [
        "--port".to_owned(),
        "0".to_owned(),
        "--tls-port".to_owned(),
        port.to_string(),
        "--tls-cert-file".to_owned(),
        path("server.pem"),
        "--tls-key-file".to_owned(),
        path("server.key"),
        "--tls-ca-cert-file".to_owned(),
        path("ca.pem"),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
        "--requirepass".to_owned(),
        "tls-s3cret-pw".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _redis = OwnRedis::start_with(port, &args);
    let url = format!("rediss://:tls-s3cret-pw@127.0.0.1:{port}");
    let ca = path("ca.pem");
    let (mut app, addr) = serve(&[
        ("STATECRAFT_SESSION_STORE", url.as_str()),
        ("STATECRAFT_REDIS_CA_FILE", ca.as_str()),
    ]);
    let (status, head, _) = http(&addr, "POST", "/increment", None);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("x-state-source: redis"),
        "{head}"
    );
    let cookie = session_cookie(&head);
    let (_, _, body) = http(&addr, "POST", "/increment", Some(&cookie));
    assert!(body.contains(r#""counter":2"#), "{body}");
    sigterm(&app);
    wait_exit(&mut app, Duration::from_secs(10));

    // Without the CA the certificate does not verify: a clear refusal at start,
    // with the password redacted.
    let out = statecraft(&["serve"])
        .env("STATECRAFT_LISTEN", "127.0.0.1:0")
        .env("STATECRAFT_SESSION_STORE", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the session store"),
        "{stderr}"
    );
    assert!(!stderr.contains("tls-s3cret-pw"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `statecraft service KIND` (or `serve`) with `env`; returns the child
/// and its address.
fn spawn_process<V: AsRef<std::ffi::OsStr>>(args: &[&str], env: &[(&str, V)]) -> (Child, String) {
    let (child, addr, _) = spawn_logged(args, env);
    (child, addr)
}

/// The log lines a process wrote after its "listening on" line.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// As [`spawn_process`], keeping its JSON log lines.
fn spawn_logged<V: AsRef<std::ffi::OsStr>>(
    args: &[&str],
    env: &[(&str, V)],
) -> (Child, String, Log) {
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
    (child, addr, log)
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

#[test]
fn services_as_separate_processes_reach_the_same_results() {
    let Some(nats) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_NATS_URL",
        "the separate-process services test",
    ) else {
        return;
    };
    let root = std::env::temp_dir().join(format!("statecraft-split-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let namespace = format!("split-{}", std::process::id());
    // The users service alone, with its own data (its keys sign).
    let (mut users, users_addr) =
        spawn_process(&["service", "users"], &[("STATECRAFT_DATA", data("users"))]);
    let users_url = format!("http://{users_addr}");
    let common = |name: &str| {
        vec![
            ("STATECRAFT_DATA", data(name)),
            ("STATECRAFT_EVENTS", nats.clone()),
            ("STATECRAFT_EVENTS_NAMESPACE", namespace.clone()),
            ("STATECRAFT_USERS_URL", users_url.clone()),
        ]
    };
    let (mut inventory, inventory_addr) =
        spawn_process(&["service", "inventory"], &common("inventory"));
    let (mut orders, orders_addr) = spawn_process(&["service", "orders"], &common("orders"));
    let (mut notifications, notifications_addr) =
        spawn_process(&["service", "notifications"], &common("notifications"));

    let (status, pair) = call(
        &users_addr,
        "POST",
        "/token",
        None,
        Some(r#"{"user":"alice","password":"correct-password"}"#),
    );
    assert_eq!(status, 200, "{pair}");
    let token = pair["token"].as_str().unwrap().to_owned();
    let (_, before) = call(&inventory_addr, "GET", "/inventory/book-1", None, None);
    // The orders service verifies the token itself: no token, a forged one → 401.
    let order = r#"{"userId":"user-1","items":[{"productId":"book-1","quantity":2}]}"#;
    assert_eq!(
        call(&orders_addr, "POST", "/orders", None, Some(order)).0,
        401
    );
    assert_eq!(
        call(&orders_addr, "POST", "/orders", Some("a.b.c"), Some(order)).0,
        401
    );
    let (status, placed) = call(&orders_addr, "POST", "/orders", Some(&token), Some(order));
    assert_eq!(status, 201, "{placed}");
    let id = placed["orderId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, got) = call(
            &orders_addr,
            "GET",
            &format!("/orders/{id}"),
            Some(&token),
            None,
        );
        if got["status"] == "confirmed" {
            break;
        }
        assert!(Instant::now() < deadline, "still {got}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, after) = call(&inventory_addr, "GET", "/inventory/book-1", None, None);
    assert_eq!(
        after["available"].as_i64().unwrap(),
        before["available"].as_i64().unwrap() - 2
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, notes) = call(
            &notifications_addr,
            "GET",
            "/notifications",
            Some(&token),
            None,
        );
        if notes["notifications"]
            .as_array()
            .is_some_and(|n| n.len() == 1)
        {
            assert_eq!(notes["notifications"][0]["orderId"], id.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "no notification: {notes}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for child in [&mut users, &mut inventory, &mut orders, &mut notifications] {
        sigterm(child);
        wait_exit(child, Duration::from_secs(10));
    }
    // The test's stream goes with it.
    delete_stream(&nats, &namespace);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn serve_with_remote_services_runs_a_session_checkout_through_them() {
    let Some(nats) =
        statecraft_testkit::service_url("STATECRAFT_TEST_NATS_URL", "the remote-services test")
    else {
        return;
    };
    let root = std::env::temp_dir().join(format!("statecraft-remote-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let namespace = format!("remote-{}", std::process::id());
    let ports = [free_port(), free_port(), free_port()];
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    // The monolith holds sessions, users and keys; the order flow runs in
    // three other processes, which verify the tokens it mints with its JWKS.
    let (mut serve, addr) = spawn_process(
        &["serve"],
        &[
            ("STATECRAFT_DATA", data("serve")),
            ("STATECRAFT_INSECURE_COOKIES", "true".to_owned()),
            ("STATECRAFT_ORDERS_URL", url(ports[0])),
            ("STATECRAFT_INVENTORY_URL", url(ports[1])),
            ("STATECRAFT_NOTIFICATIONS_URL", url(ports[2])),
        ],
    );
    let mut services = Vec::new();
    for (kind, port) in ["orders", "inventory", "notifications"].iter().zip(ports) {
        let (child, _) = spawn_process(
            &["service", kind],
            &[
                ("STATECRAFT_DATA", data(kind)),
                ("STATECRAFT_EVENTS", nats.clone()),
                ("STATECRAFT_EVENTS_NAMESPACE", namespace.clone()),
                ("STATECRAFT_USERS_URL", format!("http://{addr}")),
                ("STATECRAFT_LISTEN", format!("127.0.0.1:{port}")),
            ],
        );
        services.push(child);
    }
    let (status, _, ready) = request(&addr, "GET", "/readyz", &[], None);
    assert_eq!(status, 200, "{ready}");

    // A cookie login at the monolith, a stateful checkout, the order placed
    // at the remote orders service.
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, head, _) = request(&addr, "POST", "/login", &[], Some(login));
    assert_eq!(status, 200);
    let cookie = session_cookie(&head);
    let with_cookie = [("Cookie", cookie.as_str())];
    let (_, _, before) = request(&addr, "GET", "/inventory/book-1", &[], None);
    let steps = [
        ("/cart/items", r#"{"productId":"book-1","quantity":2}"#),
        ("/checkout", "{}"),
        (
            "/checkout/shipping",
            r#"{"name":"Alice","line1":"1 Main St","city":"Springfield","postalCode":"12345","country":"US"}"#,
        ),
        ("/checkout/payment", r#"{"paymentToken":"tok_visa"}"#),
    ];
    for (path, body) in steps {
        let (status, _, answer) = request(&addr, "POST", path, &with_cookie, Some(body));
        assert!(status == 200 || status == 201, "{path}: {status} {answer}");
    }
    let confirm = [("Cookie", cookie.as_str()), ("Idempotency-Key", "remote-1")];
    let (status, _, placed) = request(&addr, "POST", "/checkout/confirm", &confirm, None);
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["currentStep"], "confirmed");
    let id = placed["orderId"].as_str().unwrap().to_owned();
    // A retry of the confirm finds its order at the remote service.
    let (status, _, again) = request(&addr, "POST", "/checkout/confirm", &confirm, None);
    assert_eq!((status, &again["orderId"]), (200, &placed["orderId"]));
    // The saga runs between the services; the monolith shows its outcome.
    let path = format!("/orders/{id}");
    eventually(Duration::from_secs(15), "order confirmed", || {
        let (_, _, got) = request(&addr, "GET", &path, &with_cookie, None);
        (got["status"] == "confirmed").then_some(())
    });
    let (_, _, after) = request(&addr, "GET", "/inventory/book-1", &[], None);
    assert_eq!(
        after["available"].as_i64().unwrap(),
        before["available"].as_i64().unwrap() - 2
    );
    eventually(Duration::from_secs(10), "one notification", || {
        let (_, _, notes) = request(&addr, "GET", "/notifications", &with_cookie, None);
        (notes["notifications"].as_array()?.len() == 1).then_some(())
    });
    let (status, _, list) = request(&addr, "GET", "/orders", &with_cookie, None);
    assert_eq!(
        (status, list["orders"][0]["orderId"].as_str()),
        (200, Some(id.as_str()))
    );
    // Another user's order stays invisible through the monolith too.
    let bob = r#"{"user":"bob","password":"correct-password"}"#;
    let (_, bob_head, _) = request(&addr, "POST", "/login", &[], Some(bob));
    let bob_cookie = session_cookie(&bob_head);
    let (status, _, _) = request(
        &addr,
        "GET",
        &path,
        &[("Cookie", bob_cookie.as_str())],
        None,
    );
    assert_eq!(status, 404);
    // The orders service's rules hold through the monolith: bob may not
    // order for alice, a declined payment is refused, the outbox report is
    // an admin's (alice's: both services' outboxes, each asked remotely).
    let bob_auth = [("Cookie", bob_cookie.as_str())];
    let for_alice = r#"{"userId":"user-1","items":[{"productId":"book-1","quantity":1}]}"#;
    let (status, _, refused) = request(&addr, "POST", "/orders", &bob_auth, Some(for_alice));
    assert_eq!((status, refused["code"].as_str()), (403, Some("FORBIDDEN")));
    let declined = r#"{"userId":"user-2","items":[{"productId":"book-1","quantity":1}],"paymentToken":"tok_declined"}"#;
    let (status, _, refused) = request(&addr, "POST", "/orders", &bob_auth, Some(declined));
    assert_eq!(
        (status, refused["code"].as_str()),
        (402, Some("PAYMENT_DECLINED"))
    );
    let (status, _, _) = request(&addr, "GET", "/_admin/outbox", &bob_auth, None);
    assert_eq!(status, 403);
    let (status, _, outboxes) = request(&addr, "GET", "/_admin/outbox", &with_cookie, None);
    let services_reported: Vec<_> = outboxes
        .as_array()
        .map(|all| all.iter().filter_map(|r| r["service"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        (status, services_reported),
        (200, vec!["orders", "inventory"])
    );

    // A dead orders service: a fast 503 naming it, and /readyz says so.
    signal(&services[0], "KILL");
    wait_exit(&mut services[0], Duration::from_secs(10));
    let started = Instant::now();
    let (status, _, down) = request(&addr, "GET", "/orders", &with_cookie, None);
    assert_eq!(
        (status, down["code"].as_str()),
        (503, Some("STORE_UNAVAILABLE"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(request(&addr, "GET", "/readyz", &[], None).0, 503);

    for child in services.iter_mut().skip(1).chain([&mut serve]) {
        sigterm(child);
        wait_exit(child, Duration::from_secs(10));
    }
    delete_stream(&nats, &namespace);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_gateway_routes_services_by_prefix_and_refuses_bad_tokens_at_the_edge() {
    let root = std::env::temp_dir().join(format!("statecraft-edge-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let (mut users, users_addr) =
        spawn_process(&["service", "users"], &[("STATECRAFT_DATA", data("users"))]);
    // Another deployment's users service: its tokens are well formed, signed
    // by keys this gateway does not trust.
    let (mut stranger, stranger_addr) = spawn_process(
        &["service", "users"],
        &[("STATECRAFT_DATA", data("stranger"))],
    );
    let users_url = format!("http://{users_addr}");
    let (mut orders, orders_addr) = spawn_process(
        &["service", "orders"],
        &[
            ("STATECRAFT_DATA", data("orders")),
            ("STATECRAFT_USERS_URL", users_url.clone()),
        ],
    );
    let route = format!("/orders=http://{orders_addr}");
    let jwks = format!("{users_url}/.well-known/jwks.json");
    let (mut gateway, addr) = spawn_process(
        &[
            "gateway",
            "--upstream",
            &users_url,
            "--route",
            &route,
            "--jwks-url",
            &jwks,
        ],
        &[] as &[(&str, &str)],
    );
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, pair) = call(&addr, "POST", "/token", None, Some(login));
    assert_eq!(status, 200, "{pair}");
    let token = pair["token"].as_str().unwrap().to_owned();
    let (_, foreign) = call(&stranger_addr, "POST", "/token", None, Some(login));
    let foreign = foreign["token"].as_str().unwrap().to_owned();
    let order = r#"{"userId":"user-1","items":[{"productId":"book-1","quantity":1}]}"#;
    let bearer = |t: &str| format!("Bearer {t}");
    // A good token reaches the orders service.
    let (status, head, placed) = request(
        &addr,
        "POST",
        "/orders",
        &[("Authorization", &bearer(&token))],
        Some(order),
    );
    assert_eq!(status, 201, "{placed}");
    assert!(head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    // Forged and foreign tokens are answered by the gateway: no service
    // (which would add X-Served-By) ever sees them.
    for bad in ["a.b.c", foreign.as_str()] {
        let (status, head, body) = request(
            &addr,
            "POST",
            "/orders",
            &[("Authorization", &bearer(bad))],
            Some(order),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("TOKEN_INVALID")),
            "{body}"
        );
        assert!(!head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    }
    // No token: the service decides (it needs one).
    let (status, head, _) = request(&addr, "GET", "/orders", &[], None);
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    let (_, _, view) = request(&addr, "GET", "/_cluster", &[], None);
    assert_eq!(view["services"][0]["prefix"], "/orders", "{view}");
    for child in [&mut gateway, &mut orders, &mut stranger, &mut users] {
        sigterm(child);
        wait_exit(child, Duration::from_secs(10));
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// `serve` and `gateway` pinned to one core (as the benchmarks run them) take
/// the one-thread runtime, and everything still works there: a login (its
/// Argon2id on the hashing pool), session requests through the gateway, a
/// clean stop.
#[test]
fn on_one_core_serve_and_gateway_run_one_threaded() {
    if statecraft_testkit::program("taskset", "the one-core test").is_none() {
        return;
    }
    let pinned = |args: &[&str]| {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0", BIN])
            .args(args)
            .env_remove("RUST_LOG")
            .env("STATECRAFT_LOG_FORMAT", "json")
            .current_dir(scratch())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Killed on drop, so that a failed assertion leaves no process behind.
        let mut child = Reaped(cmd.spawn().unwrap());
        let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
        let line = loop {
            let line = lines.next().expect("exited before listening").unwrap();
            if line.contains("listening on http://") {
                break line;
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        let addr = json["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("listening on http://"))
            .unwrap()
            .to_owned();
        (child, addr, json["runtime"].clone())
    };
    let (mut server, server_addr, flavor) =
        pinned(&["serve", "--listen", "127.0.0.1:0", "--insecure-cookies"]);
    assert_eq!(flavor, "CurrentThread");
    let upstream = format!("http://{server_addr}");
    let (mut gateway, addr, flavor) = pinned(&[
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--insecure-cookies",
    ]);
    assert_eq!(flavor, "CurrentThread");
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, head, _) = request(&addr, "POST", "/login", &[], Some(login));
    assert_eq!(status, 200, "{head}");
    let cookie = session_cookie(&head);
    for expected in 1..=3 {
        let (status, _, body) = http(&addr, "POST", "/increment", Some(&cookie));
        assert_eq!(status, 200, "{body}");
        let counter: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(counter["counter"], expected, "{body}");
    }
    for Reaped(child) in [&mut gateway, &mut server] {
        sigterm(child);
        assert_eq!(wait_exit(child, Duration::from_secs(10)).code(), Some(0));
    }
}

/// Slowloris and idle connections: a client that starts a request's head and
/// never finishes it, and one that leaves its kept-alive connection idle
/// after an answer, are both cut off after the header timeout, by `serve` and
/// by the gateway alike (one accept loop serves both).
#[test]
fn slow_and_idle_clients_are_cut_off_after_the_header_timeout() {
    let limit = [("STATECRAFT_HEADER_TIMEOUT", "1s")];
    let (server, addr) = serve(&limit);
    let _server = Reaped(server);
    let upstream = format!("http://{addr}");
    let (gateway, gateway_addr) = spawn_process(&["gateway", "--upstream", &upstream], &limit);
    let _gateway = Reaped(gateway);
    // What the client read until the server closed, and how long that took.
    let until_closed = |target: &str, sent: &[u8]| {
        let mut stream = TcpStream::connect(target).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        stream.write_all(sent).unwrap();
        let mut read = Vec::new();
        match stream.read_to_end(&mut read) {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(err) => panic!("{target}: not closed after 10 s ({err})"),
        }
        (
            String::from_utf8_lossy(&read).into_owned(),
            started.elapsed(),
        )
    };
    for target in [&addr, &gateway_addr] {
        let (_, took) = until_closed(target, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(5)).contains(&took),
            "{target}: a trickled head was closed after {took:?}"
        );
        let (answer, took) = until_closed(target, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200"), "{target}: {answer}");
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(5)).contains(&took),
            "{target}: an idle kept-alive connection was closed after {took:?}"
        );
    }
}

/// A client that sends a whole head and then 10 of its 100 body bytes held
/// the connection for ever: every server now answers `408 REQUEST_TIMEOUT`
/// once the body timeout passes, and closes.
#[test]
fn a_body_that_never_arrives_is_answered_408_after_the_body_timeout() {
    let data = std::env::temp_dir().join(format!("statecraft-slow-body-{}", std::process::id()));
    let data_spec = format!("sqlite:{}", data.display());
    let limit = [
        ("STATECRAFT_BODY_TIMEOUT", "1s"),
        ("STATECRAFT_DATA", data_spec.as_str()),
    ];
    let (server, addr) = serve(&limit);
    let _server = Reaped(server);
    let upstream = format!("http://{addr}");
    let (gateway, gateway_addr) = spawn_process(&["gateway", "--upstream", &upstream], &limit);
    let _gateway = Reaped(gateway);
    let (users, users_addr) = spawn_process(&["service", "users"], &limit);
    let _users = Reaped(users);
    for (target, path) in [
        (&addr, "/cart/items"),
        (&gateway_addr, "/cart/items"),
        (&users_addr, "/users"),
    ] {
        let mut stream = TcpStream::connect(target).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"product"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut read = Vec::new();
        match stream.read_to_end(&mut read) {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(err) => panic!("{target}: not answered after 10 s ({err})"),
        }
        let took = started.elapsed();
        let answer = String::from_utf8_lossy(&read);
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{target}{path}: {answer}"
        );
        assert!(
            answer.contains(r#""code":"REQUEST_TIMEOUT""#),
            "{target}{path}: {answer}"
        );
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(5)).contains(&took),
            "{target}{path}: answered after {took:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// A service checked a token's signature only: `GET /orders` answered 200
/// with a token `serve` had already logged out. It now asks the users side.
#[test]
fn a_service_refuses_a_token_logged_out_at_serve() {
    let root = std::env::temp_dir().join(format!("statecraft-revoked-{}", std::process::id()));
    let data = |name: &str| format!("sqlite:{}", root.join(name).display());
    let (server, addr) = serve(&[("STATECRAFT_DATA", data("serve").as_str())]);
    let _server = Reaped(server);
    let users_url = format!("http://{addr}");
    let keys = root.join("serve").join("keys");
    let (orders, orders_addr) = spawn_process(
        &["service", "orders"],
        &[
            ("STATECRAFT_DATA", data("orders")),
            ("STATECRAFT_USERS_URL", users_url),
            ("STATECRAFT_KEYS_DIR", keys.display().to_string()),
        ],
    );
    let _orders = Reaped(orders);
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, pair) = call(&addr, "POST", "/token", None, Some(login));
    assert_eq!(status, 200, "{pair}");
    let token = pair["token"].as_str().unwrap().to_owned();
    let (status, body) = call(&orders_addr, "GET", "/orders", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&addr, "POST", "/logout", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&orders_addr, "GET", "/orders", Some(&token), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("TOKEN_REVOKED")),
        "{body}"
    );
    let order = r#"{"items":[{"productId":"book-1","quantity":1}]}"#;
    let (status, body) = call(&orders_addr, "POST", "/orders", Some(&token), Some(order));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("TOKEN_REVOKED")),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A child process killed (if still running) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `statecraft cluster` learns each instance's port from its "listening on"
/// log line: with `RUST_LOG=warn` (which hides that line) it once waited
/// 30 s and gave up on every instance.
#[test]
fn a_cluster_starts_under_a_quiet_rust_log() {
    let dir = std::env::temp_dir().join(format!("statecraft-quiet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let data = format!("sqlite:{}", dir.join("data").display());
    let mut cluster = Reaped(
        statecraft(&[
            "cluster",
            "--instances",
            "2",
            "--listen",
            &addr,
            "--data",
            &data,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(&addr).is_ok() {
            let (status, _, body) = http(&addr, "GET", "/_cluster", None);
            if status == 200 && body.matches("\"healthy\":true").count() == 2 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the cluster never served its 2 instances under RUST_LOG=warn"
        );
        assert!(
            cluster.0.try_wait().unwrap().is_none(),
            "the cluster exited"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    sigterm(&cluster.0);
    wait_exit(&mut cluster.0, Duration::from_secs(15));
    let _ = std::fs::remove_dir_all(&dir);
}
