//! `statecraft lab --balancer haproxy`: what HAProxy in front changes, found
//! by the lab and mended in the configuration statecraft writes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use super::{lab_with_spec, strategy};
use crate::common::Statecraft;

/// A store slower than the instances' timeout fails every instance's
/// `/readyz` at once. HAProxy checking only `/readyz` then had no server
/// and answered `503` to everyone — the stateless counter and the catalog
/// too (1,187 `HTTP_503` in a quick run) — where the built-in gateway keeps
/// them in rotation while none is ready. Its configuration now falls back
/// to the live instances: only what needs the store fails.
#[test]
fn behind_haproxy_a_slow_store_fails_only_what_needs_the_store() {
    let test = "the HAProxy lab test";
    let Some(redis) = statecraft_testkit::service_url("STATECRAFT_TEST_REDIS_URL", test) else {
        return;
    };
    if statecraft_testkit::program("haproxy", test).is_none() {
        return;
    }
    // A cluster of its own behind HAProxy, its store through links, driven
    // with --target: the lab's journeys and its slow store, without the
    // measurements of a whole lab run.
    let dir = tempfile::tempdir().unwrap();
    let data = format!("sqlite:{}", dir.path().join("data").display());
    let mut cluster = Statecraft::start(
        dir.path(),
        &[
            "cluster",
            "--balancer",
            "haproxy",
            "--links",
            "--insecure-cookies",
            "--session-store",
            &redis,
            "--data",
            &data,
            "--health-interval",
            "250ms",
        ],
    );
    let spec = r#"{"preset": "glance", "strategies": ["shared-store"], "durationSeconds": 6,
        "faults": {"kill": null, "slowStore": 0.3}}"#;
    let args = ["--target", cluster.base.as_str()];
    let results = lab_with_spec(&args, spec, &dir.path().join("history"));
    cluster.stop();
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
