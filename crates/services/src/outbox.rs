//! What every service with events shares: its outbox (written in the
//! transaction of the change, published by the relay), its dead letters, and
//! its table of processed event IDs.

use async_trait::async_trait;
use sqlx::Row as _;
use statecraft_events::Event;
use statecraft_events::relay::Outbox;

use crate::db::Database;
use crate::db::now_ms;

/// Writes `event` into the outbox, inside the caller's transaction.
pub(crate) async fn write(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    event: &Event,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, payload, created_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(&event.event_id)
    .bind(event.event_type.as_str())
    .bind(event.to_json())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that `event_id` is being applied, inside the caller's transaction;
/// false if it was applied before (a redelivery: do nothing).
pub(crate) async fn claim(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (event_id, processed_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A dead-lettered outbox row, for `GET /_admin/outbox`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The event.
    pub event_id: String,
    /// Its JSON.
    pub payload: String,
    /// Failed publications.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// The outbox of one service's database.
#[derive(Debug, Clone)]
pub struct ServiceOutbox {
    pub(crate) db: Database,
}

impl ServiceOutbox {
    /// Rows not yet published, and the dead letters.
    ///
    /// # Errors
    /// A description when the database fails.
    pub async fn report(&self) -> Result<(i64, Vec<DeadLetter>), String> {
        let pending: i64 = sqlx::query("SELECT count(*) AS n FROM outbox WHERE sent_ms IS NULL")
            .fetch_one(self.db.pool())
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(|e| e.to_string())?;
        let rows = sqlx::query(
            "SELECT event_id, payload, attempts, last_error FROM dead_letter ORDER BY id",
        )
        .fetch_all(self.db.pool())
        .await
        .map_err(|e| e.to_string())?;
        let dead = rows
            .iter()
            .map(|r| {
                Ok(DeadLetter {
                    event_id: r.try_get("event_id")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| e.to_string())?;
        Ok((pending, dead))
    }
}

#[async_trait]
impl Outbox for ServiceOutbox {
    async fn unsent(&self, limit: i64) -> Result<Vec<(i64, String, u32)>, String> {
        let rows = sqlx::query(
            "SELECT id, payload, attempts FROM outbox WHERE sent_ms IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
        .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|r| {
                let attempts: i64 = r.try_get("attempts")?;
                Ok((
                    r.try_get("id")?,
                    r.try_get("payload")?,
                    u32::try_from(attempts).unwrap_or(u32::MAX),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| e.to_string())
    }

    async fn mark_sent(&self, id: i64) -> Result<(), String> {
        sqlx::query("UPDATE outbox SET sent_ms = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn mark_failed(&self, id: i64, error: &str, dead: bool) -> Result<(), String> {
        let error: String = error.chars().take(500).collect();
        let mut tx = self.db.begin_write().await.map_err(|e| e.to_string())?;
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2")
            .bind(&error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        if dead {
            sqlx::query(
                "INSERT INTO dead_letter (id, event_id, payload, attempts, last_error, dead_ms) \
                 SELECT id, event_id, payload, attempts, last_error, $1 FROM outbox WHERE id = $2",
            )
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
            // Out of the way of the relay; kept in dead_letter.
            sqlx::query("UPDATE outbox SET sent_ms = -1 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
        }
        tx.commit().await.map_err(|e| e.to_string())
    }
}
