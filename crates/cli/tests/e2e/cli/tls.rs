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

/// The test's directory with a private CA and a certificate in it, or
/// `None` where openssl or redis-server is missing (a failure under
/// scripts/test).
fn tls_dir(test: &str, name: &str) -> Option<std::path::PathBuf> {
    statecraft_testkit::program("openssl", test)?;
    statecraft_testkit::program("redis-server", test)?;
    let dir = std::env::temp_dir().join(format!("statecraft-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(
        private_ca(&dir),
        "openssl could not make the test's CA and certificate"
    );
    Some(dir)
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

/// A Redis over TLS alone (no plain port) on `port`, behind the password.
fn tls_redis(dir: &std::path::Path, port: u16) -> OwnRedis {
    let mut args = vec![
        "--port".to_owned(),
        "0".to_owned(),
        "--tls-port".to_owned(),
        port.to_string(),
        "--requirepass".to_owned(),
        PASSWORD.to_owned(),
    ];
    args.extend(tls_flags(dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    OwnRedis::start_with(port, &args)
}

/// The data nodes' password.
const PASSWORD: &str = "tls-s3cret-pw";

/// A server on the store at `url` counts twice in one session with the
/// CA of `dir`; without it, its start is refused, the password never shown.
fn counts_with_the_ca_and_is_refused_without(url: &str, dir: &std::path::Path) {
    let ca = dir.join("ca.pem").to_str().unwrap().to_owned();
    let (mut app, addr) = serve(&[
        ("STATECRAFT_SESSION_STORE", url),
        ("STATECRAFT_REDIS_CA_FILE", ca.as_str()),
    ]);
    let cookie = first_count_on_redis(&addr);
    let (_, _, body) = http(&addr, "POST", "/increment", Some(&cookie));
    assert!(body.contains(r#""counter":2"#), "{body}");
    sigterm(&app);
    wait_exit(&mut app, Duration::from_secs(10));

    // Without the CA the certificate does not verify: a clear refusal at
    // start, with the password redacted.
    let out = statecraft(&["serve"])
        .env("STATECRAFT_LISTEN", "127.0.0.1:0")
        .env("STATECRAFT_SESSION_STORE", url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the session store"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn redis_over_tls_with_a_password_and_a_private_ca() {
    let Some(dir) = tls_dir("the Redis TLS test", "tls") else {
        return;
    };
    let port = free_port();
    let _redis = tls_redis(&dir, port);
    counts_with_the_ca_and_is_refused_without(
        &format!("rediss://:{PASSWORD}@127.0.0.1:{port}"),
        &dir,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rediss+sentinel://`: the sentinel and the primary both over TLS, signed
/// by a private CA, the primary behind a password; without the CA the start
/// is refused, the password never shown.
#[test]
fn a_primary_found_through_a_tls_sentinel() {
    let Some(dir) = tls_dir("the Sentinel TLS test", "tls-sentinel") else {
        return;
    };
    let (port, sentinel_port) = (free_port(), free_port());
    let _primary = tls_redis(&dir, port);
    // The sentinel reaches the primary over TLS with its password.
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port 0\ntls-port {sentinel_port}\nbind 127.0.0.1\ndir {}\ntls-replication yes\n\
             sentinel monitor main 127.0.0.1 {port} 1\nsentinel auth-pass main {PASSWORD}\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut sentinel_args = vec![conf.to_str().unwrap().to_owned(), "--sentinel".to_owned()];
    sentinel_args.extend(tls_flags(&dir));
    let sentinel_args: Vec<&str> = sentinel_args.iter().map(String::as_str).collect();
    let _sentinel = OwnRedis::start_with(sentinel_port, &sentinel_args);
    counts_with_the_ca_and_is_refused_without(
        &format!("rediss+sentinel://:{PASSWORD}@127.0.0.1:{sentinel_port}/main"),
        &dir,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
