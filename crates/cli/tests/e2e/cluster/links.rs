//! `statecraft cluster --links`: partitions and distance between the parts
//! of a real cluster, set through `/_cluster/links`, and what the gateway
//! and the instances do about them.

use std::time::{Duration, Instant};

use super::Cluster;
use crate::common::{Client, request};

fn set_link(cluster: &Cluster, id: &str, faults: &str) {
    let addr = cluster.base.trim_start_matches("http://");
    let (status, _, body) = request(
        addr,
        "PUT",
        &format!("/_cluster/links/{id}"),
        &[],
        Some(faults),
    );
    assert_eq!(status, 200, "{id}: {body}");
}

fn in_rotation(cluster: &Cluster, id: &str) -> bool {
    cluster.cluster_view()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == id && i["healthy"] == true && i["ready"] == true)
}

/// The URL the gateway reaches instance `id` at.
fn instance_url(cluster: &Cluster, id: &str) -> String {
    let view = cluster.cluster_view();
    let instance = view["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id);
    instance.unwrap()["url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// Seconds until `done`, at most `limit`.
fn seconds_until(limit: Duration, done: impl Fn() -> bool) -> Option<f64> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// GETs of `/session` through the gateway, round-robin over every instance:
/// (statuses, slowest answer, instances that answered).
fn gets(cluster: &Cluster, client: &mut Client, count: usize) -> (Vec<u16>, f64, Vec<String>) {
    let (mut statuses, mut slowest, mut by) = (Vec::new(), 0.0_f64, Vec::new());
    for _ in 0..count {
        let started = Instant::now();
        let (status, _) = client
            .try_send(
                "GET",
                &cluster.base,
                "/session",
                &[],
                None,
                Duration::from_secs(20),
            )
            .unwrap();
        slowest = slowest.max(started.elapsed().as_secs_f64());
        statuses.push(status);
        by.extend(client.served_by.clone());
    }
    (statuses, slowest, by)
}

#[test]
fn partitions_are_found_fast_and_cost_no_harmless_request() {
    let Some(redis) =
        statecraft_testkit::service_url("STATECRAFT_TEST_REDIS_URL", "the links test")
    else {
        return;
    };
    let cluster = Cluster::start(
        "links",
        &[
            "--balance",
            "round-robin",
            "--session-store",
            &redis,
            "--links",
        ],
    );
    let addr = cluster.base.trim_start_matches("http://").to_owned();
    let (_, _, listed) = request(&addr, "GET", "/_cluster/links", &[], None);
    let ids: Vec<&str> = listed["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    for id in [
        "server-1",
        "server-2",
        "server-3",
        "server-1-store",
        "server-3-store",
    ] {
        assert!(ids.contains(&id), "{id} in {listed}");
    }
    // Links are controls: a page of another site, a foreign Host, a bad
    // body and an unknown link change nothing.
    let blackhole = r#"{"blackhole": true}"#;
    let refused = [
        request(
            &addr,
            "PUT",
            "/_cluster/links/server-3",
            &[("Origin", "https://evil.example")],
            Some(blackhole),
        ),
        request(
            &addr,
            "PUT",
            "/_cluster/links/server-3",
            &[("Host", "evil.example")],
            Some(blackhole),
        ),
        request(
            &addr,
            "PUT",
            "/_cluster/links/server-3",
            &[],
            Some(r#"{"blackhole": 1}"#),
        ),
        request(
            &addr,
            "PUT",
            "/_cluster/links/nowhere",
            &[],
            Some(blackhole),
        ),
    ];
    let statuses: Vec<u16> = refused.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(statuses, [403, 403, 400, 404], "{refused:?}");
    // A huge body: refused in the API's error shape, not axum's plain text.
    let huge = format!(r#"{{"blackhole": true, "pad": "{}"}}"#, "a".repeat(10_000));
    let (status, _, body) = request(&addr, "PUT", "/_cluster/links/server-3", &[], Some(&huge));
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{body}"
    );
    // Revocations come from the instances alone: a stranger's huge body is
    // refused for who sent it, in the API's shape, before it is read (axum
    // answered its size in plain text first).
    let huge = format!(r#"{{"sessions": ["{}"]}}"#, "a".repeat(20_000));
    let (status, _, body) = request(&addr, "POST", "/_cluster/revocations", &[], Some(&huge));
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{body}"
    );
    assert!(in_rotation(&cluster, "server-3"));

    let mut client = Client::new();
    assert_eq!(client.post(&cluster.base, "/increment", None).0, 200);

    // The gateway cut off from server-3 (its process runs on): found within
    // about one check, and the GETs sent to it go elsewhere instead of
    // waiting for the partition to end.
    set_link(&cluster, "server-3", blackhole);
    let cut = Instant::now();
    let (statuses, slowest, _) = gets(&cluster, &mut client, 12);
    // At most this long after the cut (the GETs above took some of it).
    let detected = seconds_until(Duration::from_secs(5), || {
        !in_rotation(&cluster, "server-3")
    })
    .map(|_| cut.elapsed().as_secs_f64());
    eprintln!(
        "gateway partition: out of rotation within {detected:?} s; slowest GET {slowest:.2} s"
    );
    assert!(
        detected.is_some(),
        "server-3 stayed in rotation through the partition"
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        slowest < 2.0,
        "a GET waited {slowest:.2} s on a partitioned instance"
    );
    assert!(
        cut.elapsed() < Duration::from_secs(4),
        "the partition was found late"
    );
    std::thread::sleep(Duration::from_millis(1500));
    set_link(&cluster, "server-3", "{}");
    let back = seconds_until(Duration::from_secs(5), || in_rotation(&cluster, "server-3"));
    assert!(
        back.is_some(),
        "server-3 did not come back after the partition"
    );

    // server-1 cut off from the store: it answers STORE_UNAVAILABLE within
    // its store timeout (never a hang) and leaves rotation, being unready.
    set_link(&cluster, "server-1-store", blackhole);
    let cut = Instant::now();
    let (_, slowest, by) = gets(&cluster, &mut client, 9);
    let out = seconds_until(Duration::from_secs(5), || {
        !in_rotation(&cluster, "server-1")
    })
    .map(|_| cut.elapsed().as_secs_f64());
    eprintln!("store partition: out of rotation within {out:?} s; slowest GET {slowest:.2} s");
    assert!(
        slowest < 1.5,
        "a request waited {slowest:.2} s on a partitioned store"
    );
    assert!(
        out.is_some(),
        "server-1 stayed in rotation without its store"
    );
    let (statuses, _, by_after) = gets(&cluster, &mut client, 6);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?} ({by:?})");
    assert!(!by_after.iter().any(|s| s == "server-1"), "{by_after:?}");
    // Asked directly, server-1 waits for its store once per request, however
    // many store calls the request makes (a session, then a counter).
    let server1 = instance_url(&cluster, "server-1");
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    let item = r#"{"productId":"sticker-5","quantity":1}"#;
    for (method, path, body) in [
        ("POST", "/increment", None),
        ("POST", "/counters/links/increment", None),
        ("GET", "/cart", None),
        ("POST", "/cart/items", Some(item)),
        ("POST", "/checkout", None),
        ("GET", "/profile", None),
        ("POST", "/login", Some(login)),
    ] {
        let started = Instant::now();
        let mut copy = client.clone();
        let answer = copy.try_send(method, &server1, path, &[], body, Duration::from_secs(20));
        let took = started.elapsed().as_secs_f64();
        eprintln!("{method} {path} on server-1 without its store: {answer:?} in {took:.2} s");
        assert!(
            took < 0.9,
            "{method} {path} waited {took:.2} s for a store behind a partition"
        );
    }
    set_link(&cluster, "server-1-store", "{}");
    assert!(seconds_until(Duration::from_secs(5), || in_rotation(&cluster, "server-1")).is_some());
    // The session survived both partitions: it lives in the store. Its
    // count is 3 when the increment answered 503 above reached Redis once
    // the partition healed: a timeout says nothing about whether a write
    // happened (a held write is delivered late, as TCP retransmits it).
    let (status, body) = client.post(&cluster.base, "/increment", None);
    assert_eq!(status, 200, "{body}");
    let count = body["counter"].as_i64().unwrap();
    eprintln!("after both partitions the count is {count} (3: a write answered 503 applied late)");
    assert!((2..=3).contains(&count), "{body}");
}
