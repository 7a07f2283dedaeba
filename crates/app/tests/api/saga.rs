//! The order saga on the production backends: PostgreSQL for the services'
//! data and NATS JetStream as the bus, and with the bus stopped and started.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use statecraft_events::{Bus, NatsBus};
use statecraft_services::DataSpec;

use crate::checkout::{fifty_of_two_hundred, saga_confirms_reserves_stock_and_notifies, settled};
use crate::helpers::spawn_with;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{:016x}",
        statecraft_state::SessionSecret::generate()
            .public_id()
            .spread()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_saga_on_postgresql_and_nats_jetstream() {
    let test = "the saga on PostgreSQL and NATS";
    let (Some(pg), Some(nats)) = (
        statecraft_testkit::service_url("STATECRAFT_TEST_POSTGRES_URL", test),
        statecraft_testkit::service_url("STATECRAFT_TEST_NATS_URL", test),
    ) else {
        return;
    };
    let schema = unique("saga_");
    let stream = unique("saga-");
    let bus = Arc::new(
        NatsBus::connect(&nats, &stream, &stream, Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let app = {
        let (schema, bus, pg) = (schema.clone(), Arc::clone(&bus), pg.clone());
        spawn_with(move |s| {
            s.data = Some((DataSpec::Postgres(pg), Some(schema)));
            s.bus = Some(bus as Arc<dyn Bus>);
        })
        .await
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        saga_confirms_reserves_stock_and_notifies(&app).await;
        fifty_of_two_hundred(&app).await;
    }))
    .await;
    bus.delete().await.unwrap();
    // The relays and consumers still run: with their pools closed, none of
    // their transactions can deadlock with the DROPs below.
    app.shut_down().await;
    let admin = sqlx::AnyPool::connect(&pg).await.unwrap();
    for s in ["", "_orders", "_inventory", "_notifications"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema}{s} CASCADE"
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A nats-server of the test's own, with JetStream storage in `dir`.
struct OwnNats(Child);

impl OwnNats {
    fn start(port: u16, dir: &std::path::Path) -> Self {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is on PATH, so it starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_placed_while_nats_is_down_are_confirmed_when_it_returns() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let storage = tempfile::tempdir().unwrap();
    if statecraft_testkit::program("nats-server", "the NATS outage test").is_none() {
        return;
    }
    let nats = OwnNats::start(port, storage.path());
    let url = format!("nats://127.0.0.1:{port}");
    let bus = Arc::new(
        NatsBus::connect(&url, "STATECRAFT", "statecraft", Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let app = {
        let bus = Arc::clone(&bus);
        spawn_with(move |s| s.bus = Some(bus as Arc<dyn Bus>)).await
    };
    let (token, _) = app.token_for("bob").await;
    let stock = |app: Arc<crate::helpers::TestApp>| async move {
        app.get("/inventory/sticker-5", None).await.body["available"]
            .as_i64()
            .unwrap()
    };
    let before = stock(app.clone()).await;
    let order = json!({"userId": "user-2", "items": [{"productId": "sticker-5", "quantity": 3}]});
    let first = app
        .bearer("POST", "/orders", &token, Some(order.clone()))
        .await;
    let first = first.body["orderId"].as_str().unwrap().to_owned();
    assert_eq!(settled(&app, &token, &first).await, "confirmed");

    drop(nats); // the bus is gone
    let during = app
        .bearer("POST", "/orders", &token, Some(order.clone()))
        .await;
    assert_eq!(
        during.status, 201,
        "orders are accepted with the bus down: {}",
        during.text
    );
    let during = during.body["orderId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        app.bearer("GET", &format!("/orders/{during}"), &token, None)
            .await
            .body["status"],
        "created"
    );

    let _back = OwnNats::start(port, storage.path());
    assert_eq!(settled(&app, &token, &during).await, "confirmed");
    // Effects counted, not messages: stock moved by exactly two orders, and
    // exactly two notifications.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let notes = app.bearer("GET", "/notifications", &token, None).await;
        let n = notes.body["notifications"].as_array().unwrap().len();
        if n == 2 {
            break;
        }
        assert!(n < 2, "{}", notes.text);
        assert!(Instant::now() < deadline, "notifications: {}", notes.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stock(app.clone()).await, before - 6);
    assert_eq!(
        app.bearer("GET", "/notifications", &token, None).await.body["notifications"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
