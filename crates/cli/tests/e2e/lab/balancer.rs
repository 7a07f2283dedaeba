//! `statecraft lab --balancer haproxy`: what HAProxy in front changes, found
//! by the lab and mended in the configuration statecraft writes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{BIN, strategy};

/// A store slower than the instances' timeout fails every instance's
/// `/readyz` at once. HAProxy checking only `/readyz` then had no server
/// and answered `503` to everyone — the stateless counter and the catalog
/// too (1,187 `HTTP_503` in a quick run) — where the built-in gateway keeps
/// them in rotation while none is ready. Its configuration now falls back
/// to the live instances: only what needs the store fails.
#[test]
fn behind_haproxy_a_slow_store_fails_only_what_needs_the_store() {
    let test = "the HAProxy lab test";
    if statecraft_testkit::program("haproxy", test).is_none()
        || statecraft_testkit::program("redis-server", test).is_none()
    {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let spec = r#"{"preset": "glance", "balancer": "haproxy", "durationSeconds": 6,
        "faults": {"kill": null, "slowStore": 0.3}}"#;
    let mut lab = Command::new(BIN)
        .args(["lab", "--spec", "-", "--out"])
        .arg(out.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    lab.stdin
        .take()
        .unwrap()
        .write_all(spec.as_bytes())
        .unwrap();
    let run = lab.wait_with_output().unwrap();
    assert!(
        run.status.success(),
        "lab failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dir = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let results: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["plan"]["balancer"], "haproxy");
    let shared = strategy(&results, "shared-store");
    let slow = shared["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "slow-store")
        .unwrap();
    assert_eq!(slow.get("skipped"), None, "{slow}");
    let errors = &shared["errors"];
    assert!(
        errors.get("HTTP_503").is_none(),
        "HAProxy had no server: {errors}"
    );
    assert!(
        shared["requests"].as_u64().unwrap() > 1000,
        "{}",
        shared["requests"]
    );
}
