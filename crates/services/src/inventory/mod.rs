//! The inventory service: the catalog, its stock, and the reservation of
//! stock for each `OrderCreated`, exactly once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use statecraft_events::consumer::Handler;
use statecraft_events::{Event, EventType};

use crate::db::{DataSpec, Database, DbError, Migrations};
use crate::outbox::{self, ServiceOutbox};

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        1,
        "inventory",
        include_str!("../../migrations/inventory/sqlite/0001_inventory.sql"),
    )],
    postgres: &[(
        1,
        "inventory",
        include_str!("../../migrations/inventory/postgres/0001_inventory.sql"),
    )],
};

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Its ID (`book-1`).
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// Price in cents.
    pub price_cents: i64,
    /// Units available.
    pub stock: i64,
}

/// The inventory service's database.
#[derive(Debug, Clone)]
pub struct InventoryDb {
    db: Database,
}

impl InventoryDb {
    /// Opens (creating, migrating, seeding) the inventory database.
    ///
    /// # Errors
    /// [`DbError`] when the database cannot be reached or migrated.
    pub async fn open(spec: &DataSpec, schema: Option<&str>) -> Result<Self, DbError> {
        let db = Database::open(
            spec,
            "inventory",
            schema.unwrap_or("inventory"),
            &MIGRATIONS,
        )
        .await?;
        Ok(Self { db })
    }

    /// Its outbox, for the relay and `GET /_admin/outbox`.
    pub fn outbox(&self) -> ServiceOutbox {
        ServiceOutbox {
            db: self.db.clone(),
        }
    }

    fn product_from(&self, row: &sqlx::any::AnyRow) -> Result<Product, DbError> {
        let err = |e: sqlx::Error| self.db.error(&e);
        Ok(Product {
            product_id: row.try_get("product_id").map_err(err)?,
            name: row.try_get("name").map_err(err)?,
            price_cents: row.try_get("price_cents").map_err(err)?,
            stock: row.try_get("stock").map_err(err)?,
        })
    }

    /// The catalog.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn products(&self) -> Result<Vec<Product>, DbError> {
        let rows = sqlx::query(
            "SELECT product_id, name, price_cents, stock FROM products ORDER BY product_id",
        )
        .fetch_all(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        rows.iter().map(|r| self.product_from(r)).collect()
    }

    /// One product.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn product(&self, id: &str) -> Result<Option<Product>, DbError> {
        let row = sqlx::query(
            "SELECT product_id, name, price_cents, stock FROM products WHERE product_id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        row.map(|r| self.product_from(&r)).transpose()
    }

    /// Sets a product's stock (an operator's restock; tests).
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn set_stock(&self, id: &str, stock: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE products SET stock = $1 WHERE product_id = $2")
            .bind(stock)
            .bind(id)
            .execute(self.db.pool())
            .await
            .map(|_| ())
            .map_err(|e| self.db.error(&e))
    }

    /// Reserves the stock of an `OrderCreated`, once: every line or none, and
    /// the answer (`StockReserved` or `StockRejected`) into the outbox, all in
    /// one transaction.
    async fn reserve(&self, event: &Event) -> Result<(), sqlx::Error> {
        let mut tx = self
            .db
            .begin_write()
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        if !outbox::claim(&mut tx, &event.event_id).await? {
            return tx.commit().await;
        }
        let mut short = None;
        for line in &event.items {
            let taken = sqlx::query(
                "UPDATE products SET stock = stock - $1 WHERE product_id = $2 AND stock >= $1",
            )
            .bind(i64::from(line.quantity))
            .bind(&line.product_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken == 0 {
                short = Some(line.product_id.clone());
                break;
            }
        }
        let answer = match short {
            None => Event::new(
                EventType::StockReserved,
                &event.order_id,
                &event.user_id,
                event.items.clone(),
            ),
            Some(product) => {
                // Put back what this order took: roll back and record only
                // the refusal (and the event as processed).
                tx.rollback().await?;
                tx = self
                    .db
                    .begin_write()
                    .await
                    .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                if !outbox::claim(&mut tx, &event.event_id).await? {
                    return tx.commit().await;
                }
                let mut rejected = Event::new(
                    EventType::StockRejected,
                    &event.order_id,
                    &event.user_id,
                    event.items.clone(),
                );
                rejected.reason = Some(format!("out of stock: {product}"));
                rejected
            }
        };
        outbox::write(&mut tx, &answer).await?;
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
impl Handler for InventoryDb {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        match event.event_type {
            EventType::OrderCreated => self.reserve(event).await.map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }
}
