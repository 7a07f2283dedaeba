//! The order flow's consumers on SQLite and PostgreSQL: each effect once per
//! event, however often the event is delivered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use statecraft_events::consumer::Handler;
use statecraft_events::{Event, EventLine, EventType};
use statecraft_services::{DataSpec, NewOrder, OrderLine, Placed, Services};

fn line(product: &str, quantity: u32) -> EventLine {
    EventLine {
        product_id: product.to_owned(),
        quantity,
    }
}

/// Every consumer applies a redelivered event once.
async fn redeliveries_have_their_effect_once(services: &Services) {
    services.inventory.set_stock("mug-3", 10).await.unwrap();
    let created = Event::new(
        EventType::OrderCreated,
        "order-1",
        "user-1",
        vec![line("mug-3", 4)],
    );
    for _ in 0..3 {
        services.inventory.handle(&created).await.unwrap();
    }
    assert_eq!(
        services
            .inventory
            .product("mug-3")
            .await
            .unwrap()
            .unwrap()
            .stock,
        6
    );
    let order = NewOrder {
        user_id: "user-1".into(),
        items: vec![OrderLine {
            product_id: "mug-3".into(),
            quantity: 4,
        }],
        shipping: None,
        payment_token: None,
    };
    let Placed::Created(placed) = services.orders.place(&order, None).await.unwrap() else {
        panic!("a new order")
    };
    let reserved = Event::new(
        EventType::StockReserved,
        &placed.order_id,
        "user-1",
        vec![line("mug-3", 4)],
    );
    for _ in 0..3 {
        services.orders.handle(&reserved).await.unwrap();
    }
    assert_eq!(
        services
            .orders
            .get(&placed.order_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "confirmed"
    );
    // A late rejection for a settled order changes nothing.
    let late = Event::new(EventType::StockRejected, &placed.order_id, "user-1", vec![]);
    services.orders.handle(&late).await.unwrap();
    assert_eq!(
        services
            .orders
            .get(&placed.order_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "confirmed"
    );
    let confirmed = Event::new(
        EventType::OrderConfirmed,
        &placed.order_id,
        "user-1",
        vec![],
    );
    for _ in 0..3 {
        services.notifications.handle(&confirmed).await.unwrap();
    }
    assert_eq!(
        services
            .notifications
            .of_user("user-1")
            .await
            .unwrap()
            .len(),
        1
    );
    // The outboxes hold the OrderCreated of the order and the answers.
    let (pending, dead) = services.orders.outbox().report().await.unwrap();
    assert_eq!(
        (pending, dead.len()),
        (2, 0),
        "OrderCreated + OrderConfirmed"
    );
    let (pending, _) = services.inventory.outbox().report().await.unwrap();
    assert_eq!(pending, 1, "one StockReserved for three deliveries");
}

#[tokio::test]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let services = Services::open(&DataSpec::Sqlite(dir.path().to_owned()), None)
        .await
        .unwrap();
    redeliveries_have_their_effect_once(&services).await;
}

#[tokio::test]
async fn on_postgresql() {
    let Some(url) =
        statecraft_testkit::service_url("STATECRAFT_TEST_POSTGRES_URL", "the PostgreSQL flow test")
    else {
        return;
    };
    let prefix = format!("flow_{:016x}", rand::random::<u64>());
    let services = Services::open(&DataSpec::Postgres(url.clone()), Some(&prefix))
        .await
        .unwrap();
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        redeliveries_have_their_effect_once(&services),
    ))
    .await;
    services.close().await;
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    for s in ["orders", "inventory", "notifications"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {prefix}_{s} CASCADE"
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
