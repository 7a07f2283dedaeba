//! The chaos suite's ledger: what the clients were told, checked against what
//! the databases hold once the event flow has settled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::chaos::deps::Postgres;
use crate::chaos::load::CartLedger;

/// Stock by product, as the inventory service holds it.
pub(crate) fn stock(pg: &Postgres) -> BTreeMap<String, i64> {
    pg.query("SELECT product_id, stock FROM inventory.products")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].parse().unwrap()))
        .collect()
}

/// What the clients know.
pub(crate) struct Expected<'a> {
    /// Idempotency key → order ID, for every order a client was told about.
    pub(crate) accepted: &'a BTreeMap<String, String>,
    /// Keys whose confirmation never got a certain answer.
    pub(crate) unresolved: &'a [String],
    pub(crate) stock_before: &'a BTreeMap<String, i64>,
    pub(crate) carts: &'a [CartLedger],
}

/// One order row: (order ID, status, idempotency key, items JSON).
type Row = (String, String, String, String);

fn orders(pg: &Postgres) -> Vec<Row> {
    pg.query(
        "SELECT 'order-' || n, status, coalesce(idempotency_key, ''), items FROM orders.orders",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
    .collect()
}

fn count(pg: &Postgres, sql: &str) -> i64 {
    pg.query(sql)[0][0].parse().unwrap()
}

/// Waits (at most 30 s) until no order awaits its events and every outbox
/// is sent, then checks every rule; panics naming the first broken one.
/// Returns the figures.
pub(crate) fn check(pg: &Postgres, base: &str, expected: &Expected<'_>) -> String {
    let unsent = "SELECT (SELECT count(*) FROM orders.outbox WHERE sent_ms IS NULL) \
                  + (SELECT count(*) FROM inventory.outbox WHERE sent_ms IS NULL)";
    let pending = "SELECT count(*) FROM orders.orders WHERE status = 'created'";
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(pg, unsent) + count(pg, pending) > 0 {
        assert!(
            Instant::now() < deadline,
            "events lost: {} orders still created, {} outbox rows unsent after 30 s",
            count(pg, pending),
            count(pg, unsent)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dead = "SELECT (SELECT count(*) FROM orders.dead_letter) \
                + (SELECT count(*) FROM inventory.dead_letter)";
    assert_eq!(count(pg, dead), 0, "events dead-lettered");

    // Every order a client was told about exists exactly once, under its key.
    let rows = orders(pg);
    let by_id: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.0.as_str(), r)).collect();
    let mut keys = BTreeSet::new();
    for row in &rows {
        assert!(keys.insert(&row.2), "two orders with key {}", row.2);
    }
    for (key, id) in expected.accepted {
        let row = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("accepted order {id} ({key}) is missing"));
        assert_eq!(&row.2, key, "order {id} has another key");
    }
    // An order nobody was told about may exist only where the answer was
    // uncertain; an order whose confirmation was refused must not.
    let told: BTreeSet<&str> = expected.accepted.keys().map(String::as_str).collect();
    let uncertain: BTreeSet<&str> = expected.unresolved.iter().map(String::as_str).collect();
    let unknown_orders = rows
        .iter()
        .filter(|r| !told.contains(r.2.as_str()))
        .inspect(|r| {
            assert!(
                uncertain.contains(r.2.as_str()),
                "order {} exists though its confirmation was refused",
                r.0
            );
        })
        .count();

    // Every confirmed order moved its stock exactly once.
    let mut moved: BTreeMap<String, i64> = BTreeMap::new();
    let mut confirmed = 0;
    for (_, status, _, items) in &rows {
        if status != "confirmed" {
            continue;
        }
        confirmed += 1;
        let items: serde_json::Value = serde_json::from_str(items).unwrap();
        for line in items.as_array().unwrap() {
            let product = line["productId"].as_str().unwrap().to_owned();
            *moved.entry(product).or_default() += line["quantity"].as_i64().unwrap();
        }
    }
    let after = stock(pg);
    for (product, before) in expected.stock_before {
        let moved = moved.get(product).copied().unwrap_or(0);
        assert_eq!(
            after[product],
            before - moved,
            "{product}: stock {before} - {moved} confirmed ≠ {}",
            after[product]
        );
    }

    // Every order that reached its end has exactly one notification.
    let notes: BTreeMap<String, i64> = pg
        .query("SELECT order_id, count(*) FROM notifications.notifications GROUP BY order_id")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect();
    for (id, ..) in &rows {
        assert_eq!(notes.get(id).copied(), Some(1), "notifications of {id}");
    }
    assert_eq!(notes.len(), rows.len(), "notifications of unknown orders");

    // No committed cart update is lost: each cart holds every add answered
    // 2xx, and at most those plus the adds whose answer never came.
    let mut adds = 0;
    for cart in expected.carts {
        let mut client = cart.client.clone();
        let (status, body) = client.get(base, "/cart");
        assert_eq!(status, 200, "{body}");
        let held: BTreeMap<&str, u64> = body["cartItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["productId"].as_str().unwrap(),
                    l["quantity"].as_u64().unwrap(),
                )
            })
            .collect();
        for (product, committed) in &cart.committed {
            let unknown = cart.unknown.get(product).copied().unwrap_or(0);
            let have = held.get(product).copied().unwrap_or(0);
            assert!(
                (*committed..=committed + unknown).contains(&have),
                "cart lost updates: {product} holds {have}, {committed} committed, {unknown} uncertain"
            );
            adds += committed;
        }
    }
    format!(
        "clean: {} orders in the database ({confirmed} confirmed, {unknown_orders} from uncertain answers), stock moved once per confirmed order, one notification per order, {adds} committed cart adds all present",
        rows.len()
    )
}
