//! A service's database gone silent (a partition through a link: no RST,
//! nothing back): the raw call waits for as long as it lasts, the bounded
//! one answers `Unavailable` at its limit, and both work again after it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use statecraft_link::{Faults, Link, Toward};
use statecraft_services::{Bounded, Caller, DataSpec, Orders, OrdersDb, ServiceError};

#[tokio::test]
async fn a_silent_database_answers_unavailable_at_the_limit_not_after_the_partition() {
    let Some(url) =
        statecraft_testkit::service_url("STATECRAFT_TEST_POSTGRES_URL", "the bounded-call test")
    else {
        return;
    };
    let mut through = url::Url::parse(&url).unwrap();
    let target: SocketAddr = tokio::net::lookup_host((
        through.host_str().unwrap().to_owned(),
        through.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let link = Link::start(target).await.unwrap();
    through.set_ip_host(link.addr().ip()).unwrap();
    through.set_port(Some(link.addr().port())).unwrap();
    let schema = format!("bounded_{:016x}", rand::random::<u64>());
    let db = OrdersDb::open(&DataSpec::Postgres(through.to_string()), Some(&schema))
        .await
        .unwrap();
    let limit = Duration::from_millis(1500);
    let bounded = Bounded::new("orders", db.clone(), limit);
    let caller = Caller {
        id: "user-1".to_owned(),
        name: "Alice".to_owned(),
        role: "user".to_owned(),
    };
    bounded.orders(&caller, None).await.unwrap();

    // A connection idle in the pool is tested before use, and that test is
    // bounded (the pool's acquire timeout). The hang is a query in flight
    // when the partition starts: the line made slow (300 ms each way) so
    // that the partition comes after the test and before the answer.
    let slow = Toward {
        latency: Duration::from_millis(300),
        ..Toward::default()
    };
    let slow = Faults {
        upstream: slow,
        downstream: slow,
        ..Faults::default()
    };
    let blackhole = Faults {
        blackhole: true,
        ..Faults::default()
    };
    link.set(slow);
    let raw = tokio::spawn({
        let (db, caller) = (db.clone(), caller.clone());
        async move { db.orders(&caller, None).await }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    link.set(blackhole);
    // Unbounded, it would have answered at about 1.2 s; it waits on.
    let raw = tokio::time::timeout(Duration::from_millis(2500), raw).await;
    assert!(
        raw.is_err(),
        "the raw call answered during a partition: {raw:?}"
    );
    link.set(slow);
    let started = Instant::now();
    let call = bounded.orders(&caller, None);
    let partition = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        link.set(blackhole);
    };
    let (answer, ()) = tokio::join!(call, partition);
    let took = started.elapsed();
    assert!(
        matches!(answer, Err(ServiceError::Unavailable { .. })),
        "{answer:?}"
    );
    assert!(
        took < limit + Duration::from_millis(300),
        "answered after {took:?}"
    );

    link.set(Faults::default());
    let healed = Instant::now();
    while bounded.orders(&caller, None).await.is_err() {
        assert!(
            healed.elapsed() < Duration::from_secs(10),
            "never answered again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await;
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}
