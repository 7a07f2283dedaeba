//! A primary found through its sentinels, and a Redis Cluster's masters,
//! followed across a failover without a restart. Runs alone
//! (.config/nextest.toml): the failover it asks for moves the primary under
//! every other user of the Sentinel-watched Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use statecraft_state::redis::{Durability, RedisBackend, RedisCounterStore, Replicas};
use statecraft_state::{CounterName, CounterStore, SessionSecret};

/// `SENTINEL <what> <primary's name>` asked of the first sentinel of `url`.
async fn ask_sentinel<T: redis::FromRedisValue>(url: &str, what: &str) -> T {
    let rest = url.trim_start_matches("redis+sentinel://");
    let (hosts, master) = rest.split_once('/').unwrap();
    let first = hosts.split(',').next().unwrap();
    let client = redis::Client::open(format!("redis://{first}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("SENTINEL")
        .arg(what)
        .arg(master.trim_end_matches('/'))
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// The primary the first sentinel of `url` names: (host, port).
async fn primary(url: &str) -> (String, u16) {
    ask_sentinel(url, "GET-MASTER-ADDR-BY-NAME").await
}

/// Asks the first sentinel of `url` to fail its primary over.
async fn fail_over(url: &str) {
    ask_sentinel::<()>(url, "FAILOVER").await;
}

/// The counter `key` as the primary of the moment holds it.
async fn raw_count(url: &str, key: &str) -> Option<u64> {
    let (host, port) = primary(url).await;
    let client = redis::Client::open(format!("redis://{host}:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// A failover Sentinel is asked for (`SENTINEL FAILOVER`: a replica is
/// promoted, the old primary demoted once the sentinels reach it) under a
/// stream of increments, with each durability in turn: the store follows
/// the new primary without a restart, and the increments the old primary
/// acknowledged after the promotion — Redis replication is asynchronous and
/// Sentinel does not stop the old primary first — are counted, not assumed
/// away. With every replica confirming, none can be lost (the promoted
/// replica no longer confirms the old primary's writes); with one of two,
/// the other may confirm on the old primary until it is moved, and is then
/// resynchronised from the new one: counted, and said in reliability.md.
#[tokio::test]
async fn a_failover_is_followed_without_a_restart() {
    let Some(url) =
        statecraft_testkit::service_url("STATECRAFT_TEST_REDIS_SENTINEL_URL", "the failover test")
    else {
        return;
    };
    let wait = |replicas| Durability::Replicated {
        replicas,
        timeout: Duration::from_millis(100),
    };
    for (name, durability) in [
        ("fast", Durability::Fast),
        ("replicated, one replica", wait(Replicas::Count(1))),
        ("replicated, every replica", wait(Replicas::All)),
    ] {
        let lost = follow_a_failover(&url, durability).await;
        eprintln!("sentinel failover ({name}): {lost} acknowledged increments lost");
        if name == "replicated, every replica" {
            assert_eq!(lost, 0, "{name}: acknowledged increments lost");
        }
    }
}

/// One `SENTINEL FAILOVER` under increments written with `durability`;
/// returns the acknowledged increments lost.
async fn follow_a_failover(url: &str, durability: Durability) -> u64 {
    let url = url.to_owned();
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let backend = RedisBackend::connect(&url, &prefix, Duration::from_millis(500))
        .await
        .unwrap_or_else(|e| panic!("the sentinels must name a primary: {e}"))
        .with_durability(durability)
        .await
        .unwrap_or_else(|e| panic!("two replicas to wait for: {e}"));
    let counters = RedisCounterStore::new(backend.clone());
    let name = CounterName::parse("failover").unwrap();
    for expected in 1..=3 {
        assert_eq!(counters.increment(&name).await.unwrap(), expected);
    }
    let before = primary(&url).await;
    fail_over(&url).await;
    let asked = Instant::now();
    // Each answer should be one more than the last acknowledged; one at or
    // below it shows how many acknowledged increments the store forgot.
    let (mut previous, mut lost, mut refused, mut moved) = (3_u64, 0_u64, 0, None);
    let mut acknowledge = |count: u64| {
        if count <= previous {
            lost += previous - count + 1;
        }
        previous = count;
    };
    while asked.elapsed() < Duration::from_secs(20) {
        match counters.increment(&name).await {
            Ok(count) => acknowledge(count),
            Err(_) => refused += 1,
        }
        if moved.is_none() && primary(&url).await != before {
            moved = Some(asked.elapsed());
        }
        if moved.is_some_and(|at| asked.elapsed() > at + Duration::from_secs(2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let moved = moved.expect("the sentinels never named another primary");
    // Settled: the store writes on the new primary, in sequence, once the
    // primary has a replica in step again (min-replicas-to-write).
    let key = format!("{prefix}counter:failover");
    let mut last = loop {
        match counters.increment(&name).await {
            Ok(count) => {
                acknowledge(count);
                break count;
            }
            Err(err) if asked.elapsed() < Duration::from_secs(30) => {
                refused += 1;
                eprintln!("settling: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("no write accepted 30 s after the failover: {err}"),
        }
    };
    for _ in 0..5 {
        let next = counters.increment(&name).await.unwrap();
        assert_eq!(next, last + 1);
        last = next;
    }
    assert_eq!(
        raw_count(&url, &key).await,
        Some(last),
        "not written on the new primary"
    );
    eprintln!(
        "sentinel failover: new primary named after {moved:?}; {refused} increments refused, \
         {lost} acknowledged increments lost"
    );
    backend.delete_all().await.unwrap();
    lost
}

/// Every replica of the cluster behind `url` takes its master's place
/// (`CLUSTER FAILOVER`: the master stops, the replica catches up, then
/// takes over); returns the new masters' addresses.
async fn fail_cluster_over(url: &str) -> Vec<String> {
    let first = url
        .trim_start_matches("redis+cluster://")
        .split(',')
        .next()
        .unwrap();
    let client = redis::Client::open(format!("redis://{first}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await
        .unwrap();
    let replicas: Vec<String> = nodes
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .nth(2)
                .is_some_and(|f| f.contains("slave"))
        })
        .filter_map(|line| {
            Some(
                line.split_whitespace()
                    .nth(1)?
                    .split('@')
                    .next()?
                    .to_owned(),
            )
        })
        .collect();
    assert!(
        !replicas.is_empty(),
        "the test cluster has no replicas: {nodes}"
    );
    for replica in &replicas {
        let client = redis::Client::open(format!("redis://{replica}/")).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    replicas
}

#[tokio::test]
async fn a_cluster_masters_failover_is_followed_without_a_restart() {
    let Some(url) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_REDIS_CLUSTER_URL",
        "the cluster failover test",
    ) else {
        return;
    };
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let backend = RedisBackend::connect(&url, &prefix, Duration::from_millis(500))
        .await
        .unwrap();
    let counters = RedisCounterStore::new(backend.clone());
    let names: Vec<CounterName> = (0..8)
        .map(|n| CounterName::parse(&format!("failover-{n}")).unwrap())
        .collect();
    for name in &names {
        assert_eq!(counters.increment(name).await.unwrap(), 1);
    }
    let promoted = fail_cluster_over(&url).await;
    let asked = Instant::now();
    let (mut refused, mut late) = (0, 0);
    for name in &names {
        // Each counter's master has moved; the store follows (MOVED) and
        // finds its count there. An increment refused meanwhile (the old
        // master pauses its clients during the hand-over, past the store
        // timeout) may still be applied once the client follows the move:
        // counted as late, never as lost.
        loop {
            match counters.increment(name).await {
                Ok(count) => {
                    assert!(count >= 2, "{name:?}: a count was lost in the failover");
                    late += count - 2;
                    break;
                }
                Err(_) if asked.elapsed() < Duration::from_secs(20) => {
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("{name:?}: still refused 20 s after the failover: {err}"),
            }
        }
    }
    eprintln!(
        "cluster failover to {promoted:?}: every counter on its new master after {:?}, \
         {refused} calls refused meanwhile, {late} of them applied late",
        asked.elapsed()
    );
    // The nodes' gossip names the new masters a moment later than the
    // slots do; the clean-up walks the masters it names.
    let cleaned = Instant::now();
    while let Err(err) = backend.delete_all().await {
        assert!(
            cleaned.elapsed() < Duration::from_secs(15),
            "clean-up: {err}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `replicated` durability on the Sentinel-watched primary: a write is
/// acknowledged once both replicas have it; with one replica stopped
/// (SIGSTOP: it holds its connection and answers nothing), a write answers
/// `Unavailable` within the wait, saying it may or may not have applied —
/// and here it did, on the primary. On a server without replicas the mode
/// is refused at start.
#[tokio::test]
async fn replicated_writes_wait_for_the_replicas() {
    let Some(url) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_REDIS_SENTINEL_URL",
        "the replicated durability test",
    ) else {
        return;
    };
    let replicated = Durability::Replicated {
        replicas: Replicas::All,
        timeout: Duration::from_millis(100),
    };
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let backend = RedisBackend::connect(&url, &prefix, Duration::from_millis(500))
        .await
        .unwrap()
        .with_durability(replicated)
        .await
        .unwrap_or_else(|e| panic!("two replicas to wait for: {e}"));
    let counters = RedisCounterStore::new(backend.clone());
    let name = CounterName::parse("durable").unwrap();
    for expected in 1..=20 {
        assert_eq!(counters.increment(&name).await.unwrap(), expected);
    }

    // One replica stopped: the wait cannot be met.
    let (host, port) = primary(&url).await;
    let client = redis::Client::open(format!("redis://{host}:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await
        .unwrap();
    let replica_port = info
        .lines()
        .find_map(|l| l.strip_prefix("slave0:"))
        .and_then(|fields| fields.split(',').find_map(|f| f.strip_prefix("port=")))
        .unwrap()
        .to_owned();
    let replica = redis::Client::open(format!("redis://127.0.0.1:{replica_port}/")).unwrap();
    let mut replica = replica.get_multiplexed_async_connection().await.unwrap();
    let server: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut replica)
        .await
        .unwrap();
    let pid = server
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .unwrap()
        .trim()
        .to_owned();
    let signal = |sig: &str| {
        let sent = std::process::Command::new("kill")
            .args([sig, &pid])
            .status();
        assert!(sent.unwrap().success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    let started = Instant::now();
    let refused = counters.increment(&name).await;
    let waited = started.elapsed();
    signal("-CONT");
    let err = refused.expect_err("a write acknowledged without one of its replicas");
    assert!(
        err.to_string().contains("may or may not have applied"),
        "{err}"
    );
    assert!(waited < Duration::from_millis(400), "waited {waited:?}");
    // It did apply on the primary: a retry is a second increment.
    let raw: u64 = redis::cmd("GET")
        .arg(format!("{prefix}counter:durable"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(raw, 21);
    eprintln!("replicated: a write without one replica refused after {waited:?}: {err}");
    backend.delete_all().await.unwrap();
}

#[tokio::test]
async fn replicated_durability_is_refused_without_replicas() {
    let Some(url) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_REDIS_URL",
        "the replicated durability test",
    ) else {
        return;
    };
    let backend = RedisBackend::connect(&url, "statecraft-test:", Duration::from_millis(500))
        .await
        .unwrap();
    let replicated = Durability::Replicated {
        replicas: Replicas::All,
        timeout: Duration::from_millis(100),
    };
    let err = backend.with_durability(replicated).await.unwrap_err();
    assert!(err.to_string().contains("none connected"), "{err}");
}

/// `replicated` on the Cluster: each write waits on its own master for that
/// master's replica (the pipeline goes where the write's key lives).
#[tokio::test]
async fn replicated_writes_on_a_cluster_wait_on_their_own_master() {
    let Some(url) = statecraft_testkit::service_url(
        "STATECRAFT_TEST_REDIS_CLUSTER_URL",
        "the replicated cluster test",
    ) else {
        return;
    };
    let prefix = format!("statecraft-test:{}:", SessionSecret::generate().public_id());
    let replicated = Durability::Replicated {
        replicas: Replicas::All,
        timeout: Duration::from_millis(200),
    };
    let backend = RedisBackend::connect(&url, &prefix, Duration::from_millis(500))
        .await
        .unwrap()
        .with_durability(replicated)
        .await
        .unwrap_or_else(|e| panic!("a replica per master: {e}"));
    let counters = RedisCounterStore::new(backend.clone());
    // Names spread over the three masters' slots.
    for n in 0..24 {
        let name = CounterName::parse(&format!("durable-{n}")).unwrap();
        assert_eq!(counters.increment(&name).await.unwrap(), 1, "{name:?}");
    }
    backend.delete_all().await.unwrap();
}
