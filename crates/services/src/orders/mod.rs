//! The orders service's data: orders with their idempotency keys, and the
//! transactional outbox of the events they announce.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use async_trait::async_trait;
use statecraft_events::consumer::Handler;
use statecraft_events::{Event, EventLine, EventType};

use crate::db::now_ms;
use crate::db::{DataSpec, Database, DbError, Migrations};
use crate::outbox::{self, ServiceOutbox};

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        (
            1,
            "orders",
            include_str!("../../migrations/orders/sqlite/0001_orders.sql"),
        ),
        (
            2,
            "consumed events",
            include_str!("../../migrations/orders/sqlite/0002_consumed_events.sql"),
        ),
    ],
    postgres: &[
        (
            1,
            "orders",
            include_str!("../../migrations/orders/postgres/0001_orders.sql"),
        ),
        (
            2,
            "consumed events",
            include_str!("../../migrations/orders/postgres/0002_consumed_events.sql"),
        ),
    ],
};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// The product.
    pub product_id: String,
    /// Units, at least 1.
    pub quantity: u32,
}

/// An order to place.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    /// Whose order it is.
    pub user_id: String,
    /// What is ordered (at least one line).
    pub items: Vec<OrderLine>,
    /// The shipping address, as JSON, when checkout gave one.
    pub shipping: Option<serde_json::Value>,
    /// The payment token (`tok_…`), when checkout gave one.
    pub payment_token: Option<String>,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// `order-<n>`.
    pub order_id: String,
    /// Whose.
    #[serde(skip)]
    pub user_id: String,
    /// `created`, `confirmed` or `rejected`.
    pub status: String,
    /// The lines.
    pub items: Vec<OrderLine>,
}

/// What placing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// A new order.
    Created(Order),
    /// The order this idempotency key placed before (a retry).
    Replayed(Order),
}

/// Why an order was not placed.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// The idempotency key was used before with another request.
    #[error("idempotency key reused with another request")]
    IdempotencyConflict,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The orders service's database.
#[derive(Debug, Clone)]
pub struct OrdersDb {
    db: Database,
}

fn order_id(n: i64) -> String {
    format!("order-{n}")
}

fn parse_order_id(id: &str) -> Option<i64> {
    id.strip_prefix("order-")?.parse().ok()
}

impl OrdersDb {
    /// Opens (creating and migrating) the orders database under `spec`, in
    /// `schema` on PostgreSQL (`orders` unless a test gives its own).
    ///
    /// # Errors
    /// [`DbError`] when the database cannot be reached or migrated.
    pub async fn open(spec: &DataSpec, schema: Option<&str>) -> Result<Self, DbError> {
        let db = Database::open(spec, "orders", schema.unwrap_or("orders"), &MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// Places `order`, with its `OrderCreated` event in the same transaction.
    /// With an idempotency key, a retry with the same request returns the
    /// first order; the same key with another request is refused.
    ///
    /// # Errors
    /// [`OrdersError::IdempotencyConflict`], or [`OrdersError::Db`].
    pub async fn place(&self, order: &NewOrder, key: Option<&str>) -> Result<Placed, OrdersError> {
        let request = serde_json::to_string(order).map_err(|e| {
            OrdersError::Db(DbError::Unavailable {
                service: "orders",
                spec: String::new(),
                reason: e.to_string(),
            })
        })?;
        let hash: String = Sha256::digest(request.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // Two attempts: a concurrent request with the same key may insert
        // between our lookup and our insert; the second attempt then finds it.
        for _ in 0..2 {
            if let Some(key) = key
                && let Some((existing, existing_hash)) = self.by_key(&order.user_id, key).await?
            {
                return if existing_hash == hash {
                    Ok(Placed::Replayed(existing))
                } else {
                    Err(OrdersError::IdempotencyConflict)
                };
            }
            match self.insert(order, key, &hash).await {
                Ok(order) => return Ok(Placed::Created(order)),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && key.is_some() => {}
                Err(e) => return Err(OrdersError::Db(self.db.error(&e))),
            }
        }
        Err(OrdersError::Db(DbError::Unavailable {
            service: "orders",
            spec: String::new(),
            reason: "idempotency key contended".to_owned(),
        }))
    }

    async fn insert(
        &self,
        order: &NewOrder,
        key: Option<&str>,
        hash: &str,
    ) -> Result<Order, sqlx::Error> {
        let items = serde_json::to_string(&order.items).unwrap_or_else(|_| "[]".to_owned());
        let shipping = order.shipping.as_ref().map(ToString::to_string);
        let now = now_ms();
        let mut tx = self
            .db
            .begin_write()
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO orders (user_id, status, items, shipping, payment_token, idempotency_key, request_hash, created_ms) \
             VALUES ($1, 'created', $2, $3, $4, $5, $6, $7) RETURNING n",
        )
        .bind(&order.user_id)
        .bind(&items)
        .bind(shipping)
        .bind(order.payment_token.as_deref())
        .bind(key)
        .bind(hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let n: i64 = row.try_get("n")?;
        let placed = Order {
            order_id: order_id(n),
            user_id: order.user_id.clone(),
            status: "created".to_owned(),
            items: order.items.clone(),
        };
        let lines = placed
            .items
            .iter()
            .map(|l| EventLine {
                product_id: l.product_id.clone(),
                quantity: l.quantity,
            })
            .collect();
        let event = Event::new(
            EventType::OrderCreated,
            &placed.order_id,
            &placed.user_id,
            lines,
        );
        outbox::write(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(placed)
    }

    /// The order `user_id` placed with idempotency key `key`, if any.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn find_by_key(&self, user_id: &str, key: &str) -> Result<Option<Order>, DbError> {
        match self.by_key(user_id, key).await {
            Ok(found) => Ok(found.map(|(order, _)| order)),
            Err(OrdersError::Db(e)) => Err(e),
            Err(OrdersError::IdempotencyConflict) => Ok(None),
        }
    }

    async fn by_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<(Order, String)>, OrdersError> {
        let row = sqlx::query(
            "SELECT n, user_id, status, items, request_hash FROM orders WHERE user_id = $1 AND idempotency_key = $2",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = row.try_get("request_hash").map_err(|e| self.db.error(&e))?;
        Ok(Some((self.order_from(&row)?, hash)))
    }

    fn order_from(&self, row: &sqlx::any::AnyRow) -> Result<Order, DbError> {
        let err = |e: sqlx::Error| self.db.error(&e);
        let items: String = row.try_get("items").map_err(err)?;
        Ok(Order {
            order_id: order_id(row.try_get("n").map_err(err)?),
            user_id: row.try_get("user_id").map_err(err)?,
            status: row.try_get("status").map_err(err)?,
            items: serde_json::from_str(&items).unwrap_or_default(),
        })
    }

    /// The order with this ID, if it exists.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn get(&self, id: &str) -> Result<Option<Order>, DbError> {
        let Some(n) = parse_order_id(id) else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT n, user_id, status, items FROM orders WHERE n = $1")
            .bind(n)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?;
        row.map(|r| self.order_from(&r)).transpose()
    }

    /// A user's orders, newest first (at most 100).
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn of_user(&self, user_id: &str) -> Result<Vec<Order>, DbError> {
        let rows = sqlx::query(
            "SELECT n, user_id, status, items FROM orders WHERE user_id = $1 ORDER BY n DESC LIMIT 100",
        )
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        rows.iter().map(|r| self.order_from(r)).collect()
    }

    /// Its outbox, for the relay and `GET /_admin/outbox`.
    pub fn outbox(&self) -> ServiceOutbox {
        ServiceOutbox {
            db: self.db.clone(),
        }
    }

    /// Moves an order on from the inventory's answer, once per event, and
    /// announces the outcome.
    async fn settle(&self, event: &Event) -> Result<(), sqlx::Error> {
        let Some(n) = parse_order_id(&event.order_id) else {
            return Ok(());
        };
        let (status, outcome) = match event.event_type {
            EventType::StockReserved => ("confirmed", EventType::OrderConfirmed),
            _ => ("rejected", EventType::OrderRejected),
        };
        let mut tx = self
            .db
            .begin_write()
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        if !outbox::claim(&mut tx, &event.event_id).await? {
            return tx.commit().await;
        }
        let moved =
            sqlx::query("UPDATE orders SET status = $1 WHERE n = $2 AND status = 'created'")
                .bind(status)
                .bind(n)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if moved == 1 {
            let mut announce = Event::new(
                outcome,
                &event.order_id,
                &event.user_id,
                event.items.clone(),
            );
            announce.reason.clone_from(&event.reason);
            outbox::write(&mut tx, &announce).await?;
        }
        tx.commit().await
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// [`DbError`] when it does not.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.db.ping().await
    }

    /// Closes the connection pool.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

#[async_trait]
impl Handler for OrdersDb {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        match event.event_type {
            EventType::StockReserved | EventType::StockRejected => {
                self.settle(event).await.map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }
}
