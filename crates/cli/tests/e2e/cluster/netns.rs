//! `statecraft cluster --netns`: every instance in its own network
//! namespace behind a veth cable, reaching the store and the gateway through
//! relays on the cable; pulling the cable is a partition the gateway finds
//! and routes around, and nothing is left behind.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cluster;
use crate::common::{Client, request};

/// `ip netns list`'s names.
fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn put(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let (status, _, body) = request(addr, "PUT", path, headers, Some(body));
    (status, body)
}

fn healthy(cluster: &Cluster, id: &str) -> bool {
    cluster.healthy().contains(id)
}

#[test]
fn instances_in_namespaces_share_the_store_and_a_pulled_cable_is_a_partition() {
    if !is_root() {
        eprintln!("netns test skipped: network namespaces need root");
        return;
    }
    let Some(redis) =
        statecraft_testkit::service_url("STATECRAFT_TEST_REDIS_URL", "the netns test")
    else {
        return;
    };
    // A namespace left by a cluster that died (its process is gone).
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let stale = format!("sc-{dead_pid}-1");
    let made = Command::new("ip").args(["netns", "add", &stale]).status();
    assert!(made.unwrap().success());

    let cluster = Cluster::start(
        "netns",
        &[
            "--balance",
            "round-robin",
            "--session-store",
            &redis,
            "--netns",
        ],
    );
    let pid = cluster.process.pid();
    let ours: Vec<String> = (1..=3).map(|n| format!("sc-{pid}-{n}")).collect();
    let listed = namespaces();
    assert!(
        !listed.contains(&stale),
        "a stale namespace kept: {listed:?}"
    );
    for name in &ours {
        assert!(listed.contains(name), "{name} in {listed:?}");
    }
    let addr = cluster.base.trim_start_matches("http://").to_owned();
    let (_, _, links) = request(&addr, "GET", "/_cluster/links", &[], None);
    let link = |id: &str| {
        links["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {links}"))
            .clone()
    };
    assert_eq!(link("server-3-net")["kind"], "veth");
    for id in ["server-3-net", "server-3-store", "server-3-gateway"] {
        let listen = link(id)["listen"].as_str().unwrap().to_owned();
        assert!(listen.starts_with("10.213."), "{id} on {listen}");
    }

    // An instance names the gateway by its relay's address (its logouts go
    // there): that Host is the gateway's own, not a foreign one.
    let relay = link("server-2-gateway")["listen"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = request(&addr, "GET", "/_cluster", &[("Host", &relay)], None);
    assert_eq!(status, 200, "Host {relay}: {body}");

    // The same session on every instance, each in its own namespace.
    let mut client = Client::new();
    let mut by = Vec::new();
    for expected in 1..=6 {
        let (status, body) = client.post(&cluster.base, "/increment", None);
        assert_eq!(
            (status, body["counter"].as_i64()),
            (200, Some(expected)),
            "{body}"
        );
        by.extend(client.served_by.clone());
    }
    by.sort();
    by.dedup();
    assert_eq!(by.len(), 3, "served by {by:?}");

    // A cable takes only down or up; it is a control like every link.
    let cable = "/_cluster/links/server-3-net";
    let refused = [
        put(&addr, cable, &[], r#"{"blackhole": true}"#).0,
        put(
            &addr,
            cable,
            &[("Origin", "https://evil.example")],
            r#"{"down": true}"#,
        )
        .0,
        request(&addr, "POST", &format!("{cable}/reset"), &[], None).0,
    ];
    assert_eq!(refused, [400, 403, 400]);
    assert!(healthy(&cluster, "server-3"));

    // Pulled: server-3 is found out of reach and every request is answered
    // by the others without waiting for the cable.
    let (status, body) = put(&addr, cable, &[], r#"{"down": true}"#);
    assert_eq!(
        (status, body["faults"]["down"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let cut = Instant::now();
    let mut slowest = 0.0_f64;
    for _ in 0..12 {
        let started = Instant::now();
        let (status, body) = client.get(&cluster.base, "/session");
        slowest = slowest.max(started.elapsed().as_secs_f64());
        assert_eq!(status, 200, "{body}");
    }
    cluster.wait_until(|c| !healthy(c, "server-3"), "server-3 out of rotation");
    let found = cut.elapsed();
    eprintln!("cable pulled: out of rotation within {found:?}; slowest GET {slowest:.2} s");
    assert!(found < Duration::from_secs(4), "found after {found:?}");
    assert!(
        slowest < 2.0,
        "a GET waited {slowest:.2} s on the pulled cable"
    );

    let (status, _) = put(&addr, cable, &[], "{}");
    assert_eq!(status, 200);
    cluster.wait_until(|c| healthy(c, "server-3"), "server-3 back after the cable");
    let (status, body) = client.post(&cluster.base, "/increment", None);
    assert_eq!((status, body["counter"].as_i64()), (200, Some(7)), "{body}");

    drop(cluster);
    let left: Vec<String> = namespaces()
        .into_iter()
        .filter(|n| ours.contains(n))
        .collect();
    assert!(
        left.is_empty(),
        "namespaces left after the cluster stopped: {left:?}"
    );
}
