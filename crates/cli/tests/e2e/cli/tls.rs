//! Redis over TLS with a password and a private CA: one server, and a
//! primary found through a sentinel that speaks TLS too.

use super::stores::OwnRedis;
use super::*;

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

/// A private CA (`ca.pem`) and a certificate for 127.0.0.1 signed by it
/// (`server.pem`, `server.key`) in `dir`; false if openssl failed.
fn private_ca(dir: &std::path::Path) -> bool {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
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
        dir,
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
            dir,
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
        )
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
    let made = private_ca(&dir);
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

/// The TLS flags of a server in `dir` (its certificate, key and CA).
fn tls_flags(dir: &std::path::Path) -> Vec<String> {
    let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    [
        ("--tls-cert-file", path("server.pem")),
        ("--tls-key-file", path("server.key")),
        ("--tls-ca-cert-file", path("ca.pem")),
        ("--tls-auth-clients", "no".to_owned()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

/// `rediss+sentinel://`: the sentinel and the primary both over TLS, signed
/// by a private CA, the primary behind a password; without the CA the start
/// is refused, the password never shown.
#[test]
fn a_primary_found_through_a_tls_sentinel() {
    let test = "the Sentinel TLS test";
    if statecraft_testkit::program("openssl", test).is_none()
        || statecraft_testkit::program("redis-server", test).is_none()
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("statecraft-tls-sentinel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(
        private_ca(&dir),
        "openssl could not make the test's CA and certificate"
    );
    let (port, sentinel_port) = (free_port(), free_port());
    let mut args = vec![
        "--port".to_owned(),
        "0".to_owned(),
        "--tls-port".to_owned(),
        port.to_string(),
        "--requirepass".to_owned(),
        "tls-s3cret-pw".to_owned(),
    ];
    args.extend(tls_flags(&dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _primary = OwnRedis::start_with(port, &args);
    // The sentinel reaches the primary over TLS with its password.
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port 0\ntls-port {sentinel_port}\nbind 127.0.0.1\ndir {}\ntls-replication yes\n\
             sentinel monitor main 127.0.0.1 {port} 1\nsentinel auth-pass main tls-s3cret-pw\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut sentinel_args = vec![conf.to_str().unwrap().to_owned(), "--sentinel".to_owned()];
    sentinel_args.extend(tls_flags(&dir));
    let sentinel_args: Vec<&str> = sentinel_args.iter().map(String::as_str).collect();
    let _sentinel = OwnRedis::start_with(sentinel_port, &sentinel_args);

    let url = format!("rediss+sentinel://:tls-s3cret-pw@127.0.0.1:{sentinel_port}/main");
    let ca = dir.join("ca.pem").to_str().unwrap().to_owned();
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
