//! The chaos suite: a gateway and two app instances on their own Redis,
//! PostgreSQL and NATS (all on loopback, started here), under steady load;
//! one after another an app instance, the gateway, Redis, PostgreSQL and
//! nats-server are crashed and started again, then server-1 is cut off from
//! Redis, PostgreSQL and NATS in turn (partitions, 2 s each). At the end the ledger is checked
//! against the databases: every order a client was told about exists exactly
//! once, every confirmed order moved its stock exactly once, no committed cart
//! update is lost, no event is lost. Prints the figures (requests, errors by
//! code, time to recover from each fault). Bounded: about 2 minutes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod bounds;
mod deps;
mod failover;
mod ledger;
mod load;
mod partition;
mod replicated;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Client, Statecraft, free_port, request};
use deps::Crashable;

/// A `statecraft` process the suite can crash and start again on its port.
struct Proc {
    dir: PathBuf,
    args: Vec<String>,
    listen: String,
    process: Option<Statecraft>,
}

impl Proc {
    fn start(dir: &Path, args: Vec<String>) -> Self {
        let mut proc = Self {
            dir: dir.to_owned(),
            args,
            listen: format!("127.0.0.1:{}", free_port()),
            process: None,
        };
        proc.restart();
        proc
    }

    fn base(&self) -> String {
        format!("http://{}", self.listen)
    }
}

impl Crashable for Proc {
    fn crash(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    fn restart(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.process = Some(Statecraft::start_at(&self.dir, &args, &self.listen));
    }
}

/// One fault's figures.
struct Fault {
    name: &'static str,
    /// From the crash to the restart.
    down_ms: u64,
    /// From the restart until the probe succeeded.
    recover_ms: u64,
    /// The window [crash, recovered] in ms since the start.
    window: (u64, u64),
}

fn ms_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Retries `probe` every 50 ms until it holds (at most 60 s).
fn until(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !probe() {
        assert!(Instant::now() < deadline, "never recovered: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The probe's answer status, 0 when none came.
fn status(client: &mut Client, base: &str, method: &str, path: &str, body: Option<&str>) -> u16 {
    client
        .try_send(method, base, path, &[], body, Duration::from_secs(2))
        .map_or(0, |(s, _)| s)
}

/// Registers a user on one instance directly; returns its ID.
fn register(base: &str, user: &str) -> String {
    let body = format!(r#"{{"user":"{user}","password":"chaos-password-1","name":"{user}"}}"#);
    let (status, _, answer) = request(
        base.trim_start_matches("http://"),
        "POST",
        "/users",
        &[],
        Some(&body),
    );
    assert_eq!(status, 201, "register {user}: {answer}");
    answer["id"].as_str().unwrap().to_owned()
}

/// Whether an order placed now through `base` is confirmed by the event
/// flow within 5 s (two hops: OrderCreated → inventory → StockReserved →
/// orders); the order joins `placed` either way.
fn order_confirmed(
    buyer: &mut Client,
    base: &str,
    user_id: &str,
    placed: &mut Vec<(String, String)>,
) -> bool {
    let key = format!("probe-{}", placed.len());
    let body =
        format!(r#"{{"userId":"{user_id}","items":[{{"productId":"sticker-5","quantity":1}}]}}"#);
    let Ok((201 | 200, order)) = buyer.try_send(
        "POST",
        base,
        "/orders",
        &[("Idempotency-Key", &key)],
        Some(&body),
        Duration::from_secs(2),
    ) else {
        return false;
    };
    let id = order["orderId"].as_str().unwrap_or_default().to_owned();
    placed.push((key, id.clone()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let (_, view) = buyer.get(base, &format!("/orders/{id}"));
        if view["status"] != "created" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A replicated Redis's primary SIGKILLed under load, five times for each
/// durability (`failover.rs`).
#[test]
fn a_killed_primary_loses_no_acknowledged_write_when_replicated() {
    if statecraft_testkit::program("redis-server", "the failover chaos test").is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("statecraft-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    failover::failovers(&dir, &["kill"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A replicated Redis's primary cut off from its replicas and sentinels
/// (a network namespace's cable pulled) while its clients still reach it,
/// five times for each durability (`failover.rs`).
#[test]
fn a_primary_cut_off_from_its_replicas_loses_no_write_when_replicated() {
    if statecraft_testkit::program("redis-server", "the partition chaos test").is_none() {
        return;
    }
    if !statecraft_link::netns::available() {
        eprintln!("partition chaos test skipped: network namespaces need root and `ip`");
        return;
    }
    let dir = std::env::temp_dir().join(format!("statecraft-split-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    failover::failovers(&dir, &["partition"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crashes_of_every_part_lose_nothing_committed() {
    // The suite starts its own PostgreSQL, Redis and NATS: it needs their
    // programs, never the shared services' URLs.
    let test = "the chaos suite";
    if ["redis-server", "nats-server"]
        .iter()
        .any(|program| statecraft_testkit::program(program, test).is_none())
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("statecraft-chaos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let Some(mut postgres) = deps::Postgres::start(&dir) else {
        statecraft_testkit::missing(
            test,
            "PostgreSQL's server programs (initdb, pg_ctl under /usr/lib/postgresql) are not installed",
        );
        return;
    };
    let mut redis = deps::redis(&dir);
    let mut nats = deps::NatsCluster::start(&dir);
    let redis_url = format!("redis://127.0.0.1:{}", redis.port());
    // server-1 reaches every dependency through a link (the partition
    // phase), server-2 directly.
    let links = partition::Links::start(redis.port(), postgres.port(), &nats.ports());
    let direct = [redis_url.clone(), postgres.url(), nats.url()];
    let linked = [links.redis_url(), links.postgres_url(), links.nats_url()];
    let serve = |id: &str, [redis_url, data, events]: &[String; 3]| -> Vec<String> {
        [
            "serve",
            "--instance-id",
            id,
            "--insecure-cookies",
            "--session-store",
            redis_url,
            "--counter-store",
            redis_url,
            "--data",
            data,
            "--events",
            events,
            "--events-namespace",
            "chaos",
            "--keys-dir",
            dir.join("keys").to_str().unwrap(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    // One at a time: the first migrates the databases.
    let mut server1 = Proc::start(&dir, serve("server-1", &linked));
    let server2 = Proc::start(&dir, serve("server-2", &direct));
    let server1_base = server1.base();
    let mut gateway = Proc::start(
        &dir,
        [
            "gateway",
            "--balance",
            "round-robin",
            "--health-interval",
            "200ms",
            "--upstream",
            &server1.base(),
            "--upstream",
            &server2.base(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
    );
    let base = gateway.base();
    let buyers: Vec<String> = (1..=3).map(|n| format!("chaos_{n}")).collect();
    let ids: Vec<String> = buyers
        .iter()
        .map(|user| register(&server1.base(), user))
        .collect();
    let stock_before = ledger::stock(&postgres);

    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(load::Log::default());
    let workers = load::start_workers(&base, 3, &buyers, &stop, &log, start);
    let mut probe = Client::new();
    assert_eq!(status(&mut probe, &base, "POST", "/increment", None), 200);
    let mut buyer = Client::new();
    let login = r#"{"user":"chaos_1","password":"chaos-password-1"}"#;
    assert_eq!(
        status(&mut buyer, &base, "POST", "/login", Some(login)),
        200
    );
    std::thread::sleep(Duration::from_secs(4));

    let mut faults = Vec::new();
    let mut run =
        |name: &'static str, part: &mut dyn Crashable, recovered: &mut dyn FnMut() -> bool| {
            let crashed = ms_since(start);
            part.crash();
            std::thread::sleep(Duration::from_secs(2));
            let restarted = ms_since(start);
            part.restart();
            until(name, &mut *recovered);
            let back = ms_since(start);
            eprintln!("chaos: {name} crashed at {crashed} ms, back at {back} ms");
            faults.push(Fault {
                name,
                down_ms: restarted - crashed,
                recover_ms: back - restarted,
                window: (crashed, back),
            });
            std::thread::sleep(Duration::from_secs(3));
        };
    run("app instance (server-1)", &mut server1, &mut || {
        let (_, _, view) = request(
            base.trim_start_matches("http://"),
            "GET",
            "/_cluster",
            &[],
            None,
        );
        view["instances"]
            .as_array()
            .is_some_and(|i| i.iter().all(|i| i["healthy"] == true))
    });
    run("gateway", &mut gateway, &mut || {
        status(&mut probe, &base, "GET", "/healthz", None) == 200
    });
    run("redis", &mut redis, &mut || {
        status(&mut probe, &base, "POST", "/increment", None) == 200
    });
    run("postgresql", &mut postgres, &mut || {
        match status(&mut buyer, &base, "GET", "/orders", None) {
            200 => true,
            // Its session is gone (a store that lost it): log in again.
            401 => {
                status(&mut buyer, &base, "POST", "/login", Some(login));
                false
            }
            _ => false,
        }
    });
    let mut probe_orders = Vec::new();
    run("nats-server (1 of 3)", &mut nats, &mut || {
        order_confirmed(&mut buyer, &base, &ids[0], &mut probe_orders)
    });
    // The partitions: server-1 cut off from each dependency in turn, while
    // it keeps running and the gateway keeps sending it clients. Back means
    // server-1 itself serves what needs that dependency again.
    run(
        "redis partition (server-1)",
        &mut links.redis(),
        &mut || status(&mut probe, &server1_base, "POST", "/increment", None) == 200,
    );
    run(
        "postgresql partition (server-1)",
        &mut links.postgres(),
        &mut || status(&mut buyer, &server1_base, "GET", "/orders", None) == 200,
    );
    run("nats partition (server-1)", &mut links.nats(), &mut || {
        order_confirmed(&mut buyer, &server1_base, &ids[0], &mut probe_orders)
    });

    stop.store(true, Ordering::Relaxed);
    let carts: Vec<load::CartLedger> = workers
        .cart
        .into_iter()
        .map(|w| w.join().unwrap())
        .collect();
    let orders: Vec<load::OrderLedger> = workers
        .order
        .into_iter()
        .map(|w| w.join().unwrap())
        .collect();
    let elapsed = ms_since(start);

    // The figures.
    let entries = log.entries();
    let mut by_code: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, outcome) in &entries {
        *by_code.entry(outcome.as_str()).or_default() += 1;
    }
    eprintln!(
        "chaos: {} requests in {:.1} s: {by_code:?}",
        entries.len(),
        elapsed as f64 / 1000.0
    );
    // Each fault's span: from its crash to the next one's (or the end).
    let mut breaches = Vec::new();
    let first_crash = faults.first().map_or(elapsed, |f| f.window.0);
    let before = bounds::errors_in(&entries, 0, first_crash);
    if !before.is_empty() {
        breaches.push(format!("errors before any fault: {before:?}"));
    }
    for (n, fault) in faults.iter().enumerate() {
        let span_end = faults.get(n + 1).map_or(u64::MAX, |next| next.window.0);
        let errors = bounds::errors_in(&entries, fault.window.0, span_end);
        eprintln!(
            "chaos: {:<24} down {:>5} ms, recovered {:>5} ms after restart; errors in its span {errors:?}",
            fault.name, fault.down_ms, fault.recover_ms
        );
        let bound = bounds::BOUNDS
            .iter()
            .find(|b| b.fault == fault.name)
            .unwrap_or_else(|| panic!("no bound for the fault {}", fault.name));
        breaches.extend(bounds::breaches(bound, &errors, fault.recover_ms));
    }

    // The ledger.
    let mut accepted: BTreeMap<String, String> = BTreeMap::new();
    let mut unresolved = Vec::new();
    let mut abandoned = 0;
    for o in orders {
        accepted.extend(o.accepted);
        unresolved.extend(o.unresolved);
        abandoned += o.abandoned;
    }
    accepted.extend(probe_orders);
    let report = ledger::check(
        &postgres,
        &base,
        &ledger::Expected {
            accepted: &accepted,
            unresolved: &unresolved,
            stock_before: &stock_before,
            carts: &carts,
        },
    );
    eprintln!(
        "chaos: ledger: {} orders accepted, {} unresolved, {abandoned} checkouts abandoned; {report}",
        accepted.len(),
        unresolved.len()
    );
    if unresolved.len() > bounds::MAX_UNRESOLVED {
        breaches.push(format!(
            "{} checkouts left without a certain answer, more than {}",
            unresolved.len(),
            bounds::MAX_UNRESOLVED
        ));
    }
    if accepted.len() < bounds::MIN_ACCEPTED {
        breaches.push(format!(
            "only {} orders accepted, fewer than {}",
            accepted.len(),
            bounds::MIN_ACCEPTED
        ));
    }
    drop((server1, server2, gateway));
    drop(links);
    drop((redis, nats, postgres));
    if std::env::var_os("STATECRAFT_CHAOS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        breaches.is_empty(),
        "the run broke the suite's bounds (crates/cli/tests/e2e/chaos/bounds.rs):\n{}",
        breaches.join("\n")
    );
}
