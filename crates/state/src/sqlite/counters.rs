//! Named counters in SQLite: one atomic upsert per increment, shared by every
//! process using the file.

use async_trait::async_trait;
use rusqlite::OptionalExtension as _;

use super::{SqliteDb, unavailable};
use crate::data::MAX_COUNTER;
use crate::error::StoreError;
use crate::name::CounterName;
use crate::store::{CounterStore, StoreKind};

/// Named counters in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteCounterStore {
    db: SqliteDb,
}

impl SqliteCounterStore {
    /// Counters in `db`.
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn max() -> i64 {
    i64::try_from(MAX_COUNTER).unwrap_or(i64::MAX)
}

#[async_trait]
impl CounterStore for SqliteCounterStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    async fn increment(&self, name: &CounterName) -> Result<u64, StoreError> {
        let name = name.to_string();
        self.db
            .run(move |conn| {
                let value: Option<i64> = conn
                    .query_row(
                        "INSERT INTO counters (name, value) VALUES (?1, 1)
                         ON CONFLICT (name) DO UPDATE SET value = value + 1 WHERE value < ?2
                         RETURNING value",
                        rusqlite::params![name, max()],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                value
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or(StoreError::LimitReached("counter is at its maximum"))
            })
            .await
    }

    async fn get(&self, name: &CounterName) -> Result<u64, StoreError> {
        let name = name.to_string();
        self.db
            .run(move |conn| {
                let value: Option<i64> = conn
                    .query_row(
                        "SELECT value FROM counters WHERE name = ?1",
                        [name],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run(|conn| {
                conn.query_row("SELECT 1", [], |_| Ok(()))
                    .map_err(unavailable)
            })
            .await
    }
}
