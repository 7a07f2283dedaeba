//! The order flow's consumers on SQLite and PostgreSQL: each effect once per
//! event, however often the event is delivered.

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

/// The tables of the order flow's delivery guarantees, which each service
/// that publishes or consumes events has in its own database.
const FLOW_TABLES: [&str; 3] = ["outbox", "dead_letter", "processed_events"];

/// Each flow table's columns (name, type, nullability, default) as `pool`
/// (`schema` on PostgreSQL) defines them.
async fn flow_columns(pool: &sqlx::AnyPool, schema: Option<&str>) -> Vec<Vec<String>> {
    let mut tables = Vec::new();
    for table in FLOW_TABLES {
        let sql = match schema {
            Some(schema) => format!(
                "SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || \
                 COALESCE(column_default, '') AS c FROM information_schema.columns \
                 WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
            ),
            None => format!(
                "SELECT name || ' ' || type || ' ' || \"notnull\" || ' ' || COALESCE(dflt_value, '') \
                 || ' ' || pk AS c FROM pragma_table_info('{table}')"
            ),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .unwrap();
        let columns: Vec<String> = rows
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, "c"))
            .collect();
        assert!(!columns.is_empty(), "{table} missing");
        tables.push(columns);
    }
    tables
}

/// The outbox, dead letters and processed events are one definition: the
/// migrations that created them are frozen (sqlx refuses a database whose
/// applied migration's text changed), so the orders' and the inventory's
/// copies are held to agree here instead.
async fn flow_tables_agree(
    orders: (&sqlx::AnyPool, Option<&str>),
    inventory: (&sqlx::AnyPool, Option<&str>),
) {
    assert_eq!(
        flow_columns(orders.0, orders.1).await,
        flow_columns(inventory.0, inventory.1).await,
        "the orders' and the inventory's outbox tables differ"
    );
}

#[tokio::test]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let services = Services::open(&DataSpec::Sqlite(dir.path().to_owned()), None)
        .await
        .unwrap();
    redeliveries_have_their_effect_once(&services).await;
    let file = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let orders = sqlx::AnyPool::connect(&file("orders.db")).await.unwrap();
    let inventory = sqlx::AnyPool::connect(&file("inventory.db")).await.unwrap();
    flow_tables_agree((&orders, None), (&inventory, None)).await;
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
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    let (orders, inventory) = (format!("{prefix}_orders"), format!("{prefix}_inventory"));
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        redeliveries_have_their_effect_once(&services).await;
        flow_tables_agree((&admin, Some(&orders)), (&admin, Some(&inventory))).await;
    }))
    .await;
    services.close().await;
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
