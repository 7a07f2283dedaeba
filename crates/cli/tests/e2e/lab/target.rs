//! `statecraft lab --target URL`: the journeys against a deployment the lab
//! did not start — a lone server (no control API: every fault but the
//! logout skipped, and said so) and a cluster whose control API takes the
//! kill.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::Value;

use super::{count, lab_with_spec, strategy};
use crate::common::Statecraft;

/// Runs `lab --spec - --target base [ARGS]` with `spec`; its results.
fn lab_against(base: &str, args: &[&str], spec: &str, out: &std::path::Path) -> Value {
    let mut all = vec!["--target", base];
    all.extend_from_slice(args);
    lab_with_spec(&all, spec, out)
}

fn fault<'a>(s: &'a Value, kind: &str) -> &'a Value {
    s["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} fault in {}", s["faults"]))
}

#[tokio::test]
async fn the_lab_drives_a_deployment_it_did_not_start() {
    let spec = r#"{"preset": "glance", "strategies": ["memory-sticky", "stateless-tokens"],
        "durationSeconds": 4, "faults": {"kill": 0.3, "logout": 0.6}}"#;

    // A lone server: no /_cluster, so the kill is skipped and said so; the
    // logout, a client's act, runs.
    let dir = tempfile::tempdir().unwrap();
    let mut server = Statecraft::start(dir.path(), &["serve", "--insecure-cookies"]);
    let out = dir.path().join("history");
    let results = lab_against(&server.base, &[], spec, &out);
    server.stop();
    assert_eq!(results["target"]["url"], server.base.as_str());
    assert!(
        results["target"]["uncontrolled"]
            .as_str()
            .is_some_and(|why| why.contains("/_cluster")),
        "{}",
        results["target"]
    );
    assert_eq!(results["network"], "deployed");
    for id in ["memory-sticky", "stateless-tokens"] {
        let s = strategy(&results, id);
        assert!(count(s, "requests") > 500, "{id}: {}", s["requests"]);
        assert_eq!(count(s, "sessionsLost"), 0, "{id}: one server loses none");
        assert_eq!(fault(s, "kill")["skipped"], true, "{id}");
        assert_eq!(fault(s, "logout").get("skipped"), None, "{id}");
        assert!(
            s["revocation"]["refusedAfterLogout"].as_u64().unwrap_or(0) > 0,
            "{id}: {}",
            s["revocation"]
        );
    }
    let findings = results["findings"].to_string();
    assert!(
        findings.contains("skipped, not survived): kill"),
        "{findings}"
    );
    assert!(!findings.contains("through the kill"), "{findings}");

    // A cluster, sticky with sessions in memory, its controls behind an
    // admin token: without it the lab is refused — it reads /_cluster, but
    // the kill is skipped, never counted as survived; with it the kill goes
    // through and the killed instance's users lose their sessions, as on
    // the lab's own clusters.
    let dir = tempfile::tempdir().unwrap();
    let data = format!("sqlite:{}", dir.path().join("data").display());
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "lab-admin-token-0123456789abcdef\n").unwrap();
    let mut cluster = Statecraft::start(
        dir.path(),
        &[
            "cluster",
            "--insecure-cookies",
            "--data",
            &data,
            "--balance",
            "sticky",
            "--health-interval",
            "200ms",
            "--admin-token-file",
            token.to_str().unwrap(),
        ],
    );
    let out = dir.path().join("history");
    let spec = spec.replace(r#", "stateless-tokens""#, "");
    let refused = lab_against(&cluster.base, &[], &spec, &out);
    let why = refused["target"]["uncontrolled"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("--target-admin-token-file"), "{why}");
    let sticky = strategy(&refused, "memory-sticky");
    assert_eq!(fault(sticky, "kill")["skipped"], true);
    let results = lab_against(
        &cluster.base,
        &["--target-admin-token-file", token.to_str().unwrap()],
        &spec,
        &out,
    );
    cluster.stop();
    assert_eq!(results["target"]["uncontrolled"], Value::Null);
    let sticky = strategy(&results, "memory-sticky");
    assert_eq!(fault(sticky, "kill").get("skipped"), None);
    assert!(count(sticky, "sessionsLost") > 0, "{sticky}");
}
