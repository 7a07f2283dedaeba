//! The notifications service: one notification per order outcome, recorded
//! for its user (delivery is the row; no e-mail).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use statecraft_events::consumer::Handler;
use statecraft_events::{Event, EventType};

use crate::db::now_ms;
use crate::db::{DataSpec, Database, DbError, Migrations};
use crate::outbox;

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        1,
        "notifications",
        include_str!("../../migrations/notifications/sqlite/0001_notifications.sql"),
    )],
    postgres: &[(
        1,
        "notifications",
        include_str!("../../migrations/notifications/postgres/0001_notifications.sql"),
    )],
};

/// A notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The order.
    pub order_id: String,
    /// `OrderConfirmed` or `OrderRejected`.
    pub kind: String,
    /// A sentence for the user.
    pub message: String,
}

/// The notifications service's database.
#[derive(Debug, Clone)]
pub struct NotificationsDb {
    db: Database,
}

impl NotificationsDb {
    /// Opens (creating, migrating) the notifications database.
    ///
    /// # Errors
    /// [`DbError`] when the database cannot be reached or migrated.
    pub async fn open(spec: &DataSpec, schema: Option<&str>) -> Result<Self, DbError> {
        let db = Database::open(
            spec,
            "notifications",
            schema.unwrap_or("notifications"),
            &MIGRATIONS,
        )
        .await?;
        Ok(Self { db })
    }

    /// A user's notifications, newest first (at most 100).
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn of_user(&self, user_id: &str) -> Result<Vec<Notification>, DbError> {
        let rows = sqlx::query(
            "SELECT order_id, kind, message FROM notifications WHERE user_id = $1 ORDER BY id DESC LIMIT 100",
        )
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        rows.iter()
            .map(|r| {
                let err = |e: sqlx::Error| self.db.error(&e);
                Ok(Notification {
                    order_id: r.try_get("order_id").map_err(err)?,
                    kind: r.try_get("kind").map_err(err)?,
                    message: r.try_get("message").map_err(err)?,
                })
            })
            .collect()
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

    async fn record(&self, event: &Event) -> Result<(), sqlx::Error> {
        let mut tx = self
            .db
            .begin_write()
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        if !outbox::claim(&mut tx, &event.event_id).await? {
            return tx.commit().await;
        }
        let message = match event.event_type {
            EventType::OrderConfirmed => format!("Your order {} is confirmed.", event.order_id),
            _ => format!(
                "Your order {} could not be fulfilled ({}).",
                event.order_id,
                event.reason.as_deref().unwrap_or("rejected")
            ),
        };
        sqlx::query("INSERT INTO notifications (user_id, order_id, kind, message, created_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&event.user_id)
            .bind(&event.order_id)
            .bind(event.event_type.as_str())
            .bind(message)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

#[async_trait]
impl Handler for NotificationsDb {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        match event.event_type {
            EventType::OrderConfirmed | EventType::OrderRejected => {
                self.record(event).await.map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }
}
