//! Signals and the clients a server must survive: SIGTERM and Ctrl-C stop it
//! in order, slow and idle clients are cut off, one core runs one thread.

use super::*;

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
    let _server = server;
    let upstream = format!("http://{addr}");
    let (gateway, gateway_addr) = spawn_process(&["gateway", "--upstream", &upstream], &limit);
    let _gateway = gateway;
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
    let _server = server;
    let upstream = format!("http://{addr}");
    let (gateway, gateway_addr) = spawn_process(&["gateway", "--upstream", &upstream], &limit);
    let _gateway = gateway;
    let (users, users_addr) = spawn_process(&["service", "users"], &limit);
    let _users = users;
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

/// Runs `sql` with psql against `url`, one value per line.
fn psql(psql: &std::path::Path, url: &str, sql: &str) -> String {
    let out = Command::new(psql)
        .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// SIGTERM in the middle of a checkout burst on PostgreSQL and NATS: every
/// order the server acknowledged is in the database, and its event is on
/// the bus (the outbox holds nothing unsent: the relays sent their last rows
/// before the process ended), no connection of the server is left (so no
/// transaction either), and the process exits 0 within --shutdown-timeout.
#[test]
fn sigterm_during_a_checkout_burst_on_postgres_and_nats_loses_no_order() {
    let test = "the SIGTERM-under-load test";
    let Some(pg) = statecraft_testkit::service_url("STATECRAFT_TEST_POSTGRES_URL", test) else {
        return;
    };
    let Some(nats) = statecraft_testkit::service_url("STATECRAFT_TEST_NATS_URL", test) else {
        return;
    };
    let Some(psql_bin) = statecraft_testkit::program("psql", test) else {
        return;
    };
    // A database of its own: the server's schemas (users, orders …) take
    // their default names, as in production.
    let name = format!("sigterm_{}", std::process::id());
    psql(&psql_bin, &pg, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(&psql_bin, &pg, &format!("CREATE DATABASE {name}"));
    let (base, _) = pg.rsplit_once('/').unwrap();
    let data = format!("{base}/{name}");
    let namespace = format!("sigterm-{}", std::process::id());
    let limit = Duration::from_secs(10);
    let (mut server, addr, log) = spawn_logged(
        &["serve"],
        &[
            ("STATECRAFT_DATA", data.clone()),
            ("STATECRAFT_EVENTS", nats.clone()),
            ("STATECRAFT_EVENTS_NAMESPACE", namespace.clone()),
            (
                "STATECRAFT_KEYS_DIR",
                scratch().join(&name).display().to_string(),
            ),
            ("STATECRAFT_SHUTDOWN_TIMEOUT", "10s".to_owned()),
        ],
    );
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let (status, _, pair) = request(&addr, "POST", "/token", &[], Some(login));
    assert_eq!(status, 200, "{pair}");
    let bearer = format!("Bearer {}", pair["token"].as_str().unwrap());

    // Four clients confirm stateless checkouts until the server goes away;
    // each keeps the orders acknowledged to it.
    let order = r#"{"cart":{"items":[{"productId":"book-1","quantity":1}]},"shipping":{"name":"A","line1":"1 Main St","city":"B","postalCode":"1","country":"US"},"paymentToken":"tok_visa"}"#;
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (addr, bearer) = (addr.clone(), bearer.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let key = format!("burst-{client}-{n}");
                    let headers = [
                        ("Authorization", bearer.as_str()),
                        ("Idempotency-Key", &key),
                    ];
                    let limit = Duration::from_secs(15);
                    let path = "/checkout/confirm";
                    match try_request(&addr, "POST", path, &headers, Some(order), limit) {
                        Ok((201, _, placed)) => {
                            acknowledged.push(placed["orderId"].as_str().unwrap().to_owned());
                        }
                        Ok((status, _, answer)) => panic!("{status} {answer}"),
                        // Refused or cut: the server is shutting down.
                        Err(_) => return acknowledged,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let signalled = Instant::now();
    sigterm(&server);
    let status = wait_exit(&mut server, limit + Duration::from_secs(5));
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < limit,
        "exit took {took:?}, over --shutdown-timeout {limit:?}"
    );
    // Every step of the shutdown ended in time: no task left running, no
    // pool given up on, no connection cut.
    std::thread::sleep(Duration::from_millis(100));
    let unfinished: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| {
            ["still running", "not closed", "still in flight"]
                .iter()
                .any(|warning| line.contains(warning))
        })
        .cloned()
        .collect();
    assert!(unfinished.is_empty(), "{unfinished:#?}");
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|client| client.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() >= 20,
        "only {} orders",
        acknowledged.len()
    );

    // Every acknowledged order committed; every event sent.
    let stored = psql(&psql_bin, &data, "SELECT 'order-' || n FROM orders.orders");
    let stored: std::collections::HashSet<&str> = stored.lines().collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged, not stored: {lost:?}");
    let unsent = "SELECT (SELECT count(*) FROM orders.outbox WHERE sent_ms IS NULL) \
                  + (SELECT count(*) FROM inventory.outbox WHERE sent_ms IS NULL)";
    assert_eq!(
        psql(&psql_bin, &data, unsent),
        "0",
        "events committed and never sent before exit ({} orders)",
        acknowledged.len()
    );
    // No session of the server is left on the database.
    let sessions = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    );
    eventually(
        Duration::from_secs(5),
        "the server's connections gone",
        || (psql(&psql_bin, &pg, &sessions) == "0").then_some(()),
    );

    delete_stream(&nats, &namespace);
    psql(&psql_bin, &pg, &format!("DROP DATABASE IF EXISTS {name}"));
}
