//! A hostile client against a real cluster: what it does to others must be
//! nothing.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::common::Client;

/// Sends `POST /increment` announcing 100 bytes, writes 6 and hangs up.
fn cut_off_body(addr: &str) {
    if let Ok(mut stream) = TcpStream::connect(addr) {
        let _ = stream.write_all(
            b"POST /increment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":1",
        );
        // Long enough for the gateway to pass the head on.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of one series in Prometheus text, when present.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Three cut-off bodies used to take every instance out of rotation until
/// the next health check (all clients then got 503 NO_HEALTHY_UPSTREAM):
/// the client's failure was charged to the instance.
#[test]
fn clients_that_cut_off_their_bodies_take_no_instance_out_of_rotation() {
    // Checks far apart: an instance ejected by mistake would stay out.
    let cluster = Cluster::start(
        "cut-off",
        &["--balance", "round-robin", "--health-interval", "10s"],
    );
    let addr = cluster.base.trim_start_matches("http://").to_owned();
    let attacker = std::thread::spawn(move || {
        for _ in 0..30 {
            cut_off_body(&addr);
        }
    });
    let mut answers = Vec::new();
    while !attacker.is_finished() {
        answers.push(Client::new().post(&cluster.base, "/increment", None).0);
    }
    attacker.join().unwrap();
    for _ in 0..6 {
        answers.push(Client::new().post(&cluster.base, "/increment", None).0);
    }
    assert!(
        answers.iter().all(|status| *status == 200),
        "clients got {answers:?} during a burst of cut-off bodies"
    );
    assert_eq!(cluster.healthy().len(), 3, "{}", cluster.cluster_view());
    let (_, text) = crate::common::request_text(&cluster.base, "/metrics");
    let cut_off = metric(
        &text,
        r#"gateway_client_failures_total{kind="body_cut_off"}"#,
    );
    assert!(
        cut_off.is_some_and(|n| n >= 1.0),
        "counted as the clients': {text}"
    );
    let charged: f64 = text
        .lines()
        .filter(|l| l.starts_with("gateway_upstream_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(charged, 0.0, "charged to instances: {text}");
}

/// A page on another site, open in the operator's browser, is a loopback
/// client: a form post to `/_cluster/…/stop` used to kill an instance, and
/// so did a DNS-rebound name.
#[test]
fn cross_site_pages_and_foreign_hosts_cannot_drive_the_cluster() {
    let cluster = Cluster::start("cross-site", &["--balance", "round-robin"]);
    let addr = cluster.base.trim_start_matches("http://").to_owned();
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let refused: [&[(&str, &str)]; 4] = [
        &[("Origin", "http://evil.example"), form],
        &[("Sec-Fetch-Site", "cross-site"), form],
        &[("Origin", "null")],
        &[("Host", "attacker.example:8000")],
    ];
    for headers in refused {
        // Nor start a lab run: the gateway's own route, under the same rules.
        let (status, head, body) =
            crate::common::request(&addr, "POST", "/lab/runs", headers, Some("{}"));
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(!head.to_ascii_lowercase().contains("x-served-by"), "{head}");
        let (status, _, body) = crate::common::request(
            &addr,
            "POST",
            "/_cluster/instances/server-2/stop",
            headers,
            None,
        );
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert_eq!(body["code"], "FORBIDDEN", "{body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("Control ")),
            "{body}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(cluster.healthy().len(), 3, "an instance was stopped");
    // The lab's routes are the gateway's own: a run outlives any instance.
    let (status, head, body) = crate::common::request(&addr, "GET", "/lab/presets", &[], None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["presets"][4]["id"], "glance", "{body}");
    assert!(!head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    let (status, _, body) = crate::common::request(&addr, "GET", "/lab/runs", &[], None);
    assert_eq!(
        (status, &body["running"]),
        (200, &serde_json::Value::Null),
        "{body}"
    );
    // The cluster page of this gateway may.
    let own = format!("http://{addr}");
    let (status, _, body) = crate::common::request(
        &addr,
        "POST",
        "/_cluster/instances/server-2/drain",
        &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")],
        None,
    );
    assert_eq!(status, 200, "{body}");
}

/// `users.db` holds the refresh-token derivation secret, `sessions.db`
/// every session: they and their `-wal`, `-shm` and lock files were created
/// 0644 (world-readable) under the usual umask, in a 0755 directory.
#[test]
fn data_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;

    // Sessions in a directory of their own, created by the session store.
    let dir =
        std::env::temp_dir().join(format!("statecraft-cluster-{}-private", std::process::id()));
    let sessions_dir = dir.join("sessions");
    let sessions = format!("sqlite:{}", sessions_dir.join("sessions.db").display());
    let cluster = Cluster::start("private", &["--session-store", &sessions]);
    let mut client = Client::new();
    let (status, body) = client.post(
        &cluster.base,
        "/login",
        Some(r#"{"user":"alice","password":"correct-password"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut files = Vec::new();
    // The data directory is made by whichever opens first (the key directory).
    for dir in [cluster.dir.join("data"), sessions_dir] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    mode(&path),
                ));
            }
        }
    }
    for name in [
        "users.db",
        "users.db-wal",
        "orders.db",
        "sessions.db",
        "sessions.db-wal",
    ] {
        assert!(
            files.iter().any(|(f, _)| f == name),
            "{name} missing: {files:?}"
        );
    }
    assert!(
        files.iter().all(|(_, m)| m & 0o077 == 0),
        "readable by others: {files:?}"
    );
}

/// Each instance counted its own failures: 20 parallel guesses for one
/// user through three instances verified 15. The count is in the users
/// database they share now.
#[test]
fn parallel_guesses_through_a_cluster_verify_at_most_five() {
    let cluster = Cluster::start("guesses", &["--balance", "round-robin"]);
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let base = cluster.base.clone();
            std::thread::spawn(move || {
                let body = format!(r#"{{"user":"alice","password":"wrong-guess-{i:04}"}}"#);
                Client::new().post(&base, "/login", Some(&body)).0
            })
        })
        .collect();
    let statuses: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    let verified = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((verified, limited), (5, 15), "{statuses:?}");
}
