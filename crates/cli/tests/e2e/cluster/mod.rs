//! The seed's scenarios on a real local cluster: `statecraft cluster` starts a
//! gateway and three `serve` processes; these tests drive it over HTTP and
//! kill instances through `/_cluster`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod balancers;
mod hostile;
mod links;
mod netns;
mod revocation;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Client, Statecraft, delete_stream};
use serde_json::Value;

/// A running `statecraft cluster`; stopped (SIGTERM, then waited for) and its
/// directory removed on drop.
struct Cluster {
    process: Statecraft,
    base: String,
    dir: std::path::PathBuf,
    /// Started with `--balancer haproxy`.
    behind_haproxy: bool,
}

impl Cluster {
    fn start(name: &str, args: &[&str]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("statecraft-cluster-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = format!("sqlite:{}", dir.join("data").display());
        let mut all = vec!["cluster", "--insecure-cookies", "--data", &data];
        if !args.contains(&"--health-interval") {
            all.extend(["--health-interval", "200ms"]);
        }
        all.extend_from_slice(args);
        let process = Statecraft::start(&dir, &all);
        let base = process.base.clone();
        let behind_haproxy = args.windows(2).any(|w| w == ["--balancer", "haproxy"]);
        let cluster = Self {
            process,
            base,
            dir,
            behind_haproxy,
        };
        cluster.wait_until(|c| c.healthy().len() == 3, "three healthy instances");
        cluster.wait_caught_up();
        cluster
    }

    /// Waits until every instance has taken the cluster's revocations: just
    /// after it starts, a bearer request is refused `503 REVOCATIONS_PENDING`
    /// for a moment (API.md), and a test's first request could land there.
    fn wait_caught_up(&self) {
        let (status, pair) = Client::new().post(
            &self.base,
            "/token",
            Some(r#"{"user":"alice","password":"correct-password"}"#),
        );
        assert_eq!(status, 200, "{pair}");
        let token = pair["token"].as_str().unwrap().to_owned();
        self.wait_until(
            |c| {
                c.cluster_view()["instances"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|i| i["url"].as_str())
                    .all(|url| {
                        let mut client = Client {
                            bearer: Some(token.clone()),
                            ..Client::default()
                        };
                        client.get(url.trim_end_matches('/'), "/profile").0 == 200
                    })
            },
            "every instance caught up with the cluster's revocations",
        );
    }

    fn cluster_view(&self) -> Value {
        Client::new().get(&self.base, "/_cluster").1
    }

    fn healthy(&self) -> BTreeSet<String> {
        self.cluster_view()["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["healthy"] == true)
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn control(&self, id: &str, action: &str) {
        let (status, body) = Client::new().post(
            &self.base,
            &format!("/_cluster/instances/{id}/{action}"),
            None,
        );
        assert_eq!(status, 200, "{action} {id}: {body}");
        if action == "stop" && self.behind_haproxy {
            // HAProxy names a lost pin once its health check (every 200 ms
            // here) has found the instance down (docs/deploy.md).
            std::thread::sleep(Duration::from_millis(800));
        }
    }

    fn wait_until(&self, done: impl Fn(&Self) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.process.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `cluster --header-timeout` reaches its instances, which are processes of
/// their own: one left idle after an answer closes the connection in time.
#[test]
fn the_clusters_header_timeout_reaches_its_instances() {
    let cluster = Cluster::start("header-timeout", &["--header-timeout", "1s"]);
    let instances = cluster.cluster_view()["instances"].clone();
    let url = instances[0]["url"].as_str().unwrap().to_owned();
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("{url}: idle connection not closed after 10 s ({e})"));
    let took = started.elapsed();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{url}");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(5)).contains(&took),
        "{url}: an idle connection was closed after {took:?}"
    );
}

#[test]
fn memory_sessions_behind_round_robin_go_missing() {
    let cluster = Cluster::start("rr", &["--balance", "round-robin"]);
    round_robin_loses_memory_sessions(&cluster);
}

/// A session made on one instance is unknown to the next.
fn round_robin_loses_memory_sessions(cluster: &Cluster) {
    let mut client = Client::new();
    let (status, first) = client.post(&cluster.base, "/increment", None);
    assert_eq!(status, 200, "{first}");
    let home = client.served_by.clone().unwrap();
    // The next request lands on another instance, which never saw the session.
    let (status, second) = client.post(&cluster.base, "/increment", None);
    assert_ne!(client.served_by.as_deref(), Some(home.as_str()));
    assert_eq!(
        (status, second["code"].as_str()),
        (401, Some("SESSION_MISSING"))
    );
}

/// Five clients, each pinned (sticky cookie or hash) to an instance; the
/// instance of the first is killed: its clients lose their sessions, no other
/// client sees an error, and the lost ones are re-pinned.
fn affinity_survives_until_its_instance_dies(cluster: &Cluster) {
    let mut clients: Vec<Client> = (0..5).map(|_| Client::new()).collect();
    for client in &mut clients {
        assert_eq!(client.post(&cluster.base, "/increment", None).0, 200);
    }
    let homes: Vec<String> = clients
        .iter()
        .map(|c| c.served_by.clone().unwrap())
        .collect();
    for _ in 0..4 {
        for (client, home) in clients.iter_mut().zip(&homes) {
            let (status, body) = client.post(&cluster.base, "/increment", None);
            assert_eq!(status, 200, "{body}");
            assert_eq!(client.served_by.as_ref(), Some(home), "affinity held");
        }
    }
    let victim = homes[0].clone();
    cluster.control(&victim, "stop");
    for (client, home) in clients.iter_mut().zip(&homes) {
        let (status, body) = client.post(&cluster.base, "/increment", None);
        if *home == victim {
            assert_eq!(
                (status, body["code"].as_str()),
                (401, Some("SESSION_LOST")),
                "{body}"
            );
            // Its next request starts a new session on its new instance.
            let (status, body) = client.post(&cluster.base, "/increment", None);
            assert_eq!(
                (status, &body["counter"]),
                (200, &serde_json::json!(1)),
                "{body}"
            );
            let new_home = client.served_by.clone().unwrap();
            assert_ne!(new_home, victim);
            let (status, _) = client.post(&cluster.base, "/increment", None);
            assert_eq!(
                (status, client.served_by.as_deref()),
                (200, Some(new_home.as_str()))
            );
        } else {
            assert_eq!(
                (status, &body["counter"]),
                (200, &serde_json::json!(6)),
                "{body}"
            );
        }
    }
    // It comes back when started again.
    cluster.control(&victim, "start");
    cluster.wait_until(
        |c| c.healthy().contains(&victim),
        "the victim healthy again",
    );
}

#[test]
fn sticky_sessions_are_lost_only_for_the_killed_instances_clients() {
    let cluster = Cluster::start("sticky", &["--balance", "sticky"]);
    affinity_survives_until_its_instance_dies(&cluster);
}

#[test]
fn hashed_sessions_are_lost_only_for_the_killed_instances_clients() {
    let cluster = Cluster::start("hash", &["--balance", "hash"]);
    affinity_survives_until_its_instance_dies(&cluster);
}

#[test]
fn strict_affinity_answers_session_lost_at_the_gateway() {
    let cluster = Cluster::start(
        "strict",
        &["--balance", "sticky", "--on-affinity-loss", "strict"],
    );
    let mut client = Client::new();
    assert_eq!(client.post(&cluster.base, "/increment", None).0, 200);
    let home = client.served_by.clone().unwrap();
    cluster.control(&home, "stop");
    let (status, body) = client.post(&cluster.base, "/increment", None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "SESSION_LOST");
    assert_eq!(body["instance"], home.as_str());
}

#[test]
fn per_instance_counters_drift_and_bearer_tokens_work_everywhere() {
    let cluster = Cluster::start("counters", &["--balance", "round-robin"]);
    counters_drift_and_tokens_work_everywhere(&cluster);
}

/// Counters kept per instance drift; one bearer token is good everywhere.
fn counters_drift_and_tokens_work_everywhere(cluster: &Cluster) {
    let mut client = Client::new();
    for _ in 0..4 {
        assert_eq!(
            client
                .post(&cluster.base, "/counters/drift/increment", None)
                .0,
            200
        );
    }
    let (_, view) = client.get(&cluster.base, "/_cluster/counters/drift");
    assert_eq!(view["consistent"], false, "{view}");
    let total: i64 = view["perServer"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(total, 4);
    // One token, verified by every instance (they share the signing keys).
    let (status, pair) = client.post(
        &cluster.base,
        "/token",
        Some(r#"{"user":"alice","password":"correct-password"}"#),
    );
    assert_eq!(status, 200, "{pair}");
    let mut bearer = Client {
        bearer: Some(pair["token"].as_str().unwrap().to_owned()),
        ..Client::default()
    };
    let mut served = BTreeSet::new();
    for _ in 0..6 {
        let (status, profile) = bearer.get(&cluster.base, "/profile");
        assert_eq!(status, 200, "{profile}");
        served.insert(bearer.served_by.clone().unwrap());
    }
    assert_eq!(served.len(), 3, "{served:?}");

    // A restarted instance is asked at once: `start` answers once it
    // listens (the counters once listed it unreachable right after).
    cluster.control("server-2", "stop");
    let (status, started) = client.post(&cluster.base, "/_cluster/instances/server-2/start", None);
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["listening"], true, "{started}");
    let (_, view) = client.get(&cluster.base, "/_cluster/counters/drift");
    assert_eq!(view["unreachable"], serde_json::json!([]), "{view}");
    assert_eq!(view["perServer"]["server-2"], 0, "a new process: {view}");
}

#[test]
fn redis_sessions_survive_round_robin_and_a_killed_instance() {
    let Some(redis) =
        statecraft_testkit::service_url("STATECRAFT_TEST_REDIS_URL", "the redis cluster test")
    else {
        return;
    };
    let cluster = Cluster::start(
        "redis",
        &["--balance", "round-robin", "--session-store", &redis],
    );
    shared_sessions_survive_a_kill(&cluster, &redis);
}

/// Sessions in `redis` survive round-robin and a killed instance.
fn shared_sessions_survive_a_kill(cluster: &Cluster, redis: &str) {
    let mut client = Client::new();
    let counter = format!("shared-{}", std::process::id());
    let mut served = BTreeSet::new();
    for n in 1..=6 {
        let (status, body) = client.post(&cluster.base, "/increment", None);
        assert_eq!(
            (status, &body["counter"]),
            (200, &serde_json::json!(n)),
            "{body}"
        );
        served.insert(client.served_by.clone().unwrap());
        assert_eq!(
            client
                .post(
                    &cluster.base,
                    &format!("/counters/{counter}/increment"),
                    None
                )
                .0,
            200
        );
    }
    assert_eq!(served.len(), 3);
    let (_, view) = client.get(&cluster.base, &format!("/_cluster/counters/{counter}"));
    assert_eq!(view["consistent"], true, "{view}");
    cluster.control("server-2", "stop");
    for n in 7..=12 {
        let (status, body) = client.post(&cluster.base, "/increment", None);
        assert_eq!(
            (status, &body["counter"]),
            (200, &serde_json::json!(n)),
            "{body}"
        );
        assert_ne!(client.served_by.as_deref(), Some("server-2"));
    }
    // The test's counter goes with it (its sessions expire by themselves).
    let _ = Command::new("redis-cli")
        .args(["-u", redis, "DEL", &format!("counter:{counter}")])
        .stdout(Stdio::null())
        .status();
}

#[test]
fn a_redis_cluster_loses_no_request_beyond_those_in_flight_when_an_instance_is_killed() {
    let Some(redis) =
        statecraft_testkit::service_url("STATECRAFT_TEST_REDIS_URL", "the kill-under-load test")
    else {
        return;
    };
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 150;
    let cluster = Cluster::start(
        "load",
        &["--balance", "round-robin", "--session-store", &redis],
    );
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (base, progress) = (cluster.base.clone(), std::sync::Arc::clone(&progress));
            std::thread::spawn(move || {
                let mut client = Client::new();
                let (mut applied, mut failed_posts, mut failed_gets) = (0i64, 0i64, 0);
                for _ in 0..ROUNDS {
                    // Not idempotent: one in flight at the kill may fail.
                    match client.post(&base, "/increment", None) {
                        (200, _) => applied += 1,
                        _ => failed_posts += 1,
                    }
                    // Idempotent: the gateway retries it on another instance.
                    if client.get(&base, "/session").0 != 200 {
                        failed_gets += 1;
                    }
                    progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                // One more increment reads the session's count.
                let (_, last) = client.post(&base, "/increment", None);
                let counter = last["counter"].as_i64().unwrap_or(-1) - 1;
                (applied, failed_posts, failed_gets, counter)
            })
        })
        .collect();
    let total = CLIENTS * ROUNDS;
    let at = |share: usize| {
        while progress.load(std::sync::atomic::Ordering::Relaxed) < total * share / 100 {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    at(30);
    cluster.control("server-2", "stop");
    at(60);
    cluster.control("server-2", "start");
    let (mut failed_posts, mut failed_gets) = (0, 0);
    for worker in workers {
        let (applied, posts, gets, counter) = worker.join().unwrap();
        // Every increment answered 200 is in the session; one that failed may
        // or may not have been applied before the kill.
        assert!(
            (applied..=applied + posts).contains(&counter),
            "counter {counter}, applied {applied}, failed {posts}, gets {gets}"
        );
        failed_posts += posts;
        failed_gets += gets;
    }
    eprintln!(
        "kill under load: {} requests, {failed_posts} POSTs and {failed_gets} GETs failed",
        2 * total
    );
    assert_eq!(failed_gets, 0, "idempotent requests are retried");
    assert!(
        failed_posts <= CLIENTS as i64,
        "{failed_posts} failures: more than the {CLIENTS} requests in flight at the kill"
    );
    cluster.wait_until(|c| c.healthy().contains("server-2"), "server-2 back");
}

#[test]
fn a_drained_instance_hands_its_memory_sessions_over_so_its_restart_loses_none() {
    let cluster = Cluster::start("handover", &["--balance", "sticky"]);
    let mut clients: Vec<Client> = (0..12).map(|_| Client::new()).collect();
    for client in &mut clients {
        for _ in 0..3 {
            assert_eq!(client.post(&cluster.base, "/increment", None).0, 200);
        }
    }
    let homes: Vec<String> = clients
        .iter()
        .map(|c| c.served_by.clone().unwrap())
        .collect();
    let victim = homes[0].clone();
    let its_clients = homes.iter().filter(|h| **h == victim).count();
    // A rolling restart's step: hand over, then stop (here: kill) the instance.
    let (status, report) = Client::new().post(
        &cluster.base,
        &format!("/_cluster/instances/{victim}/handover"),
        None,
    );
    assert_eq!(status, 200, "{report}");
    assert!(
        report["handedOver"].as_u64().unwrap() >= its_clients as u64,
        "{report}"
    );
    cluster.control(&victim, "stop");
    let mut kept = 0;
    for client in &mut clients {
        let (status, body) = client.post(&cluster.base, "/increment", None);
        assert_ne!(client.served_by.as_deref(), Some(victim.as_str()));
        if status == 200 && body["counter"] == 4 {
            kept += 1;
        }
    }
    eprintln!(
        "hand-over: {kept}/{} sessions kept across the restart of {victim} ({its_clients} were on it)",
        clients.len()
    );
    assert_eq!(kept, clients.len(), "sessions lost across the hand-over");
    cluster.control(&victim, "start");
    cluster.wait_until(|c| c.healthy().contains(&victim), "the instance back");
}

#[test]
fn separate_services_sit_behind_the_gateways_routes() {
    let Some(nats) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_NATS_URL",
        "the separate-services cluster test",
    ) else {
        return;
    };
    let namespace = format!("split-cluster-{}", std::process::id());
    let cluster = Cluster::start(
        "split",
        &[
            "--balance",
            "sticky",
            "--separate-services",
            "--events",
            &nats,
            "--events-namespace",
            &namespace,
        ],
    );
    cluster.wait_until(
        |c| {
            c.cluster_view()["services"]
                .as_array()
                .is_some_and(|s| s.len() == 4 && s.iter().all(|s| s["healthy"] == true))
        },
        "the services healthy",
    );
    let mut anyone = Client::new();
    let (status, products) = anyone.get(&cluster.base, "/products");
    assert_eq!(status, 200, "{products}");
    assert_eq!(anyone.served_by.as_deref(), Some("inventory"));
    // A cookie user checks out at an instance, which places the order at the
    // orders service; the saga runs between the services over NATS.
    let mut alice = Client::new();
    let login = r#"{"user":"alice","password":"correct-password"}"#;
    assert_eq!(alice.post(&cluster.base, "/login", Some(login)).0, 200);
    for (path, body) in [
        ("/cart/items", r#"{"productId":"book-1","quantity":1}"#),
        ("/checkout", "{}"),
        (
            "/checkout/shipping",
            r#"{"name":"Alice","line1":"1 Main St","city":"Springfield","postalCode":"12345","country":"US"}"#,
        ),
        ("/checkout/payment", r#"{"paymentToken":"tok_visa"}"#),
    ] {
        let (status, answer) = alice.post(&cluster.base, path, Some(body));
        assert!(status == 200 || status == 201, "{path}: {status} {answer}");
    }
    let (status, placed) = alice.post(&cluster.base, "/checkout/confirm", None);
    assert_eq!(status, 201, "{placed}");
    let id = placed["orderId"].as_str().unwrap().to_owned();
    // A bearer client reads it straight from the orders service, past the
    // edge check; a forged token stops at the gateway.
    let (_, pair) = anyone.post(&cluster.base, "/token", Some(login));
    let mut bearer = Client {
        bearer: Some(pair["token"].as_str().unwrap().to_owned()),
        ..Client::default()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, order) = bearer.get(&cluster.base, &format!("/orders/{id}"));
        assert_eq!(status, 200, "{order}");
        assert_eq!(bearer.served_by.as_deref(), Some("orders"));
        if order["status"] == "confirmed" {
            break;
        }
        assert!(Instant::now() < deadline, "still {order}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut forger = Client {
        bearer: Some("a.b.c".to_owned()),
        ..Client::default()
    };
    let (status, refused) = forger.get(&cluster.base, "/orders");
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("TOKEN_INVALID"))
    );
    assert_eq!(forger.served_by, None, "the edge answered");
    drop(cluster);
    delete_stream(&nats, &namespace);
}

/// `statecraft cluster`'s gateway runs the lab itself: a run started on its
/// `/lab` outlives any instance, and a cancel stops all of it, leaving the
/// cluster as it was.
#[test]
fn a_lab_run_starts_and_is_cancelled_through_the_clusters_gateway() {
    if statecraft_testkit::program("redis-server", "the lab test").is_none() {
        return;
    }
    let cluster = Cluster::start("lab-run", &["--balance", "round-robin"]);
    let addr = cluster.base.trim_start_matches("http://").to_owned();
    let own = |pid: u32| statecraft_http::children_of(pid).unwrap_or_default().len();
    let before = own(cluster.process.pid());
    let spec = r#"{"preset": "glance", "durationSeconds": 60}"#;
    let (status, head, body) = crate::common::request(&addr, "POST", "/lab/runs", &[], Some(spec));
    assert_eq!(status, 201, "{body}");
    assert!(!head.to_ascii_lowercase().contains("x-served-by"), "{head}");
    let run = body["id"].as_str().unwrap().to_owned();
    assert!(cluster.dir.join("lab-results").join(&run).is_dir());
    let (_, _, listed) = crate::common::request(&addr, "GET", "/lab/runs", &[], None);
    assert_eq!(listed["running"], run.as_str(), "{listed}");
    assert_eq!(
        own(cluster.process.pid()),
        before + 1,
        "the run is the gateway's child"
    );
    std::thread::sleep(Duration::from_secs(3));
    let (status, _, body) =
        crate::common::request(&addr, "DELETE", &format!("/lab/runs/{run}"), &[], None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["end"]["status"], "cancelled", "{body}");
    assert_eq!(own(cluster.process.pid()), before, "the run left a process");
    assert_eq!(cluster.healthy().len(), 3);
}
