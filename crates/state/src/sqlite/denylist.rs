//! Revoked token IDs in the SQLite file, shared by the processes that share
//! it; expired rows are deleted by the sessions' sweeper.

use async_trait::async_trait;
use rusqlite::OptionalExtension as _;

use super::{SqliteDb, unavailable};
use crate::clock::{Clock as _, UnixClock, millis};
use crate::error::StoreError;
use crate::store::Denylist;

/// Revoked `jti`s in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteDenylist {
    db: SqliteDb,
}

impl SqliteDenylist {
    /// The denylist in `db`.
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn now_ms() -> i64 {
    i64::try_from(millis(UnixClock.now())).unwrap_or(i64::MAX)
}

#[async_trait]
impl Denylist for SqliteDenylist {
    fn kind(&self) -> crate::StoreKind {
        crate::StoreKind::Sqlite
    }

    async fn deny(&self, jti: &str, expires_ms: u64) -> Result<(), StoreError> {
        let (jti, until) = (
            jti.to_owned(),
            i64::try_from(expires_ms).unwrap_or(i64::MAX),
        );
        self.db
            .run(move |conn| {
                conn.execute(
                    "INSERT INTO denylist (jti, expires_ms) VALUES (?1, ?2)
                     ON CONFLICT (jti) DO UPDATE SET expires_ms = max(expires_ms, excluded.expires_ms)",
                    rusqlite::params![jti, until],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn is_denied(&self, jti: &str) -> Result<bool, StoreError> {
        let (jti, now) = (jti.to_owned(), now_ms());
        self.db
            .run(move |conn| {
                conn.query_row(
                    "SELECT 1 FROM denylist WHERE jti = ?1 AND expires_ms > ?2",
                    rusqlite::params![jti, now],
                    |_| Ok(()),
                )
                .optional()
                .map(|found| found.is_some())
                .map_err(unavailable)
            })
            .await
    }
}
