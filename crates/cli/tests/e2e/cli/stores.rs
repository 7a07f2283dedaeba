//! The stores behind `serve` as processes use them: SQLite across restarts
//! and processes, Redis dead or stalled, a primary name Sentinel does not
//! know (over TLS: `tls.rs`).

use super::*;

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
pub(super) struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        Self::start_with(port, &["--port", &port.to_string()])
    }

    /// Starts redis-server with `args` (which open `port`) on loopback.
    pub(super) fn start_with(port: u16, args: &[&str]) -> Self {
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
    let cookie = first_count_on_redis(&addr);
    Some((redis, app, addr, cookie))
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

/// A primary name the sentinels do not watch is refused at start with what
/// to check, not "start it": the sentinels answered.
#[test]
fn an_unknown_primary_name_is_refused_with_where_to_look() {
    let Some(url) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_REDIS_SENTINEL_URL",
        "the Sentinel start-up test",
    ) else {
        return;
    };
    let (sentinels, _) = url.rsplit_once('/').unwrap();
    let data = std::env::temp_dir().join(format!("statecraft-nosuch-{}", std::process::id()));
    let out = statecraft(&["serve", "--data", &format!("sqlite:{}", data.display())])
        .env("STATECRAFT_LISTEN", "127.0.0.1:0")
        .env(
            "STATECRAFT_SESSION_STORE",
            format!("{sentinels}/no-such-primary"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("know no primary by the name") && stderr.contains("SENTINEL MASTERS"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&data);
}
