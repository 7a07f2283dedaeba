//! The commands as users type them: help, capacity, mistakes and their
//! messages, logs, key rotation, a quiet cluster start.

use super::*;

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
        (
            &[
                "serve",
                "--session-store",
                "redis+sentinel://u:hunter2@s1:x,s2/main",
            ],
            &[],
            &["sentinel \"s1:x\" has no valid port", "u:***@"],
        ),
        (
            &["serve", "--data", &data, "--store-durability", "replicated"],
            &[],
            &[
                "waits for Redis replicas",
                "session store is memory",
                "durability fast",
            ],
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

/// `statecraft link` puts a distance between a client and a server: a
/// request through a 40 ms link takes at least 40 ms, and it is answered.
#[test]
fn link_adds_its_round_trip_between_a_client_and_a_server() {
    let (mut server, addr) = serve(&[]);
    let listen = format!("127.0.0.1:{}", free_port());
    let mut link = statecraft(&[
        "link", "--listen", &listen, "--target", &addr, "--rtt", "40ms",
    ])
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(link.stderr.take().unwrap()).lines();
    let said = lines.next().expect("the link said nothing").unwrap();
    assert!(said.contains("listening on tcp://"), "{said}");
    let direct = Instant::now();
    assert_eq!(request(&addr, "GET", "/healthz", &[], None).0, 200);
    let direct = direct.elapsed();
    let linked = Instant::now();
    assert_eq!(request(&listen, "GET", "/healthz", &[], None).0, 200);
    let linked = linked.elapsed();
    assert!(
        linked >= Duration::from_millis(40) && linked > direct,
        "through the link {linked:?}, direct {direct:?}"
    );
    sigterm(&link);
    assert!(wait_exit(&mut link, Duration::from_secs(5)).success());
    sigterm(&server);
    wait_exit(&mut server, Duration::from_secs(10));
}
