use std::time::Duration;

use super::{Fault, Preset, RunSpec, StoreChoice, redact_url};
use crate::strategy::Strategy;

fn spec(json: &str) -> RunSpec {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

#[test]
fn no_spec_is_the_article_run_of_statecraft_lab_quick() {
    let plan = RunSpec::default().plan().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.strategies, Strategy::ALL.to_vec());
    assert_eq!(plan.run, crate::Plan::quick().run);
    assert_eq!(plan.kill_at, Some(0.12));
    assert!(plan.failover);
    assert_eq!(plan.preset, "article");
}

#[test]
fn every_preset_makes_a_plan() {
    for preset in Preset::ALL {
        let plan = RunSpec::preset(preset.id)
            .plan()
            .unwrap_or_else(|e| panic!("{}: {e}", preset.id));
        assert_eq!(plan.preset, preset.id);
    }
    let zone = RunSpec::preset("another-zone")
        .plan()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(zone.kill_at, None, "a preset that names faults names all");
    assert_eq!(zone.store_rtts.len(), 4);
    let glance = RunSpec::preset("glance")
        .plan()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(glance.strategies, vec![Strategy::SharedStore]);
    assert_eq!((glance.kill_at, glance.restart_at), (Some(0.3), Some(0.4)));
}

#[test]
fn the_callers_figures_change_the_preset_and_null_leaves_a_fault_out() {
    let plan = spec(
        r#"{"preset": "glance", "users": 4, "durationSeconds": 6.5, "instances": 4,
            "faults": {"kill": null, "overload": 0.5}, "storeRttMs": [0, 0.5],
            "cartItems": 9, "strategies": ["memory-sticky", "shared-store"]}"#,
    )
    .plan()
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.users, 4);
    assert_eq!(plan.run, Duration::from_millis(6500));
    assert_eq!(plan.instances, 4);
    assert_eq!((plan.kill_at, plan.restart_at), (None, None));
    assert_eq!(plan.overload_at, Some(0.5));
    assert_eq!(
        plan.store_rtts,
        vec![Duration::ZERO, Duration::from_micros(500)]
    );
    assert_eq!(plan.cart_items, 9);
    assert_eq!(
        plan.strategies,
        vec![Strategy::MemorySticky, Strategy::SharedStore]
    );
}

#[test]
fn figures_out_of_range_are_refused_naming_the_field() {
    for (json, field) in [
        (r#"{"users": 0}"#, "users"),
        (r#"{"users": 100000}"#, "users"),
        (r#"{"durationSeconds": 1}"#, "durationSeconds"),
        (r#"{"durationSeconds": 1e9}"#, "durationSeconds"),
        (r#"{"instances": 1}"#, "instances"),
        (r#"{"instances": 99}"#, "instances"),
        (r#"{"faults": {"kill": 1.5}}"#, "faults.kill"),
        (r#"{"faults": {"storeStop": 0}}"#, "faults.storeStop"),
        (r#"{"storeRttMs": [-1]}"#, "storeRttMs"),
        (r#"{"storeRttMs": [0,1,2,3,4,5,6]}"#, "storeRttMs"),
        (r#"{"cartItems": 0}"#, "cartItems"),
        (r#"{"cartItems": 101}"#, "cartItems"),
        (r#"{"strategies": []}"#, "strategies"),
        (
            r#"{"strategies": ["shared-store", "shared-store"]}"#,
            "strategies",
        ),
        (r#"{"preset": "nope"}"#, "preset"),
        (r#"{"balancer": "traefik"}"#, "balancer"),
    ] {
        let err = spec(json).plan().err().unwrap_or_default();
        assert!(err.starts_with(field), "{json}: {err}");
    }
    // Unknown fields, strategies and faults never reach a plan.
    for json in [
        r#"{"user": 3}"#,
        r#"{"strategies": ["memory"]}"#,
        r#"{"faults": {"meteor": 0.5}}"#,
        r#"{"store": {"url": 5}}"#,
    ] {
        assert!(serde_json::from_str::<RunSpec>(json).is_err(), "{json}");
    }
}

#[test]
fn a_store_url_is_kept_whole_for_the_run_and_shown_without_its_password() {
    let asked = spec(r#"{"store": {"url": "redis://:hunter2@10.0.0.5:6379/0"}}"#);
    assert_eq!(
        asked.store(),
        StoreChoice::Url("redis://:hunter2@10.0.0.5:6379/0".to_owned())
    );
    let shown = serde_json::to_string(&asked.redacted()).unwrap_or_default();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("***@10.0.0.5:6379/0"), "{shown}");
    assert_eq!(redact_url("redis://10.0.0.5"), "redis://10.0.0.5");
    assert_eq!(redact_url("nonsense"), "(not a URL)");
    assert_eq!(
        spec(r#"{"store": "embedded"}"#).store(),
        StoreChoice::Embedded
    );
    assert_eq!(Fault::GatewayPartition.name(), "gatewayPartition");
}
