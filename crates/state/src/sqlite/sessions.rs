//! Sessions in SQLite. Reads refresh the idle deadline in the same statement;
//! a mutation is read, applied and written in one `IMMEDIATE` transaction, so
//! concurrent writers (threads or processes) never lose an update.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::OptionalExtension as _;

use super::{SqliteDb, unavailable};
use crate::clock::{Clock, UnixClock};
use crate::codec::{decode, encode};
use crate::data::{Mutation, SessionData};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::{LoginInfo, SessionStore, SessionTimeouts, StoreKind, Update, clip};
use crate::sweep::spawn_sweeper;

/// How often expired rows are deleted by default.
const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Sessions in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteSessionStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: SqliteDb,
    timeouts: SessionTimeouts,
    clock: Arc<dyn Clock>,
}

/// Milliseconds as SQLite's INTEGER holds them.
fn ms(d: Duration) -> i64 {
    i64::try_from(crate::clock::millis(d)).unwrap_or(i64::MAX)
}

impl Inner {
    fn now(&self) -> i64 {
        ms(self.clock.now())
    }

    fn idle(&self) -> i64 {
        ms(self.timeouts.idle)
    }

    fn absolute(&self) -> i64 {
        ms(self.timeouts.absolute)
    }

    async fn sweep(&self) -> Result<usize, StoreError> {
        let now = self.now();
        self.db
            .run(move |conn| {
                // Revoked tokens live in the same file and expire the same way.
                conn.execute("DELETE FROM denylist WHERE expires_ms <= ?1", [now])
                    .map_err(unavailable)?;
                conn.execute("DELETE FROM sessions WHERE expires_ms <= ?1", [now])
                    .map_err(unavailable)
            })
            .await
    }
}

impl SqliteSessionStore {
    /// Inserts a session, with its login (user, user agent) when it has one.
    async fn insert(
        &self,
        id: &SessionId,
        data: &SessionData,
        login: Option<(String, String)>,
    ) -> Result<(), StoreError> {
        let encoded = encode(data)?;
        let (key, now) = (id.as_bytes().to_vec(), self.inner.now());
        let expires = now.saturating_add(self.inner.idle().min(self.inner.absolute()));
        let (user, agent) = login.unzip();
        let created = self
            .inner
            .db
            .run(move |conn| {
                // An expired row under the same ID may be replaced; a live one not.
                conn.execute(
                    "INSERT INTO sessions (id, data, created_ms, seen_ms, expires_ms, user_id, user_agent)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO UPDATE SET data = excluded.data,
                         created_ms = excluded.created_ms, seen_ms = excluded.seen_ms,
                         expires_ms = excluded.expires_ms, user_id = excluded.user_id,
                         user_agent = excluded.user_agent
                     WHERE sessions.expires_ms <= excluded.created_ms",
                    rusqlite::params![key, &*encoded, now, expires, user, agent],
                )
                .map_err(unavailable)
            })
            .await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    /// Sessions in `db` on the wall clock (shared by every process using the
    /// file), swept in the background when a tokio runtime is present.
    pub fn new(db: SqliteDb, timeouts: SessionTimeouts) -> Self {
        Self::with_clock(db, timeouts, Arc::new(UnixClock), DEFAULT_SWEEP_EVERY)
    }

    /// Sessions in `db` on a given clock, swept every `sweep_every`.
    pub fn with_clock(
        db: SqliteDb,
        timeouts: SessionTimeouts,
        clock: Arc<dyn Clock>,
        sweep_every: Duration,
    ) -> Self {
        let inner = Arc::new(Inner {
            db,
            timeouts,
            clock,
        });
        spawn_sweeper(
            &inner,
            sweep_every,
            |inner| async move { inner.sweep().await },
        );
        Self { inner }
    }

    /// Deletes every expired session now; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be written.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.inner.sweep().await
    }
}

#[async_trait]
impl SessionStore for SqliteSessionStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    async fn create(&self, id: &SessionId, data: &SessionData) -> Result<(), StoreError> {
        self.insert(id, data, None).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let (key, now) = (id.as_bytes().to_vec(), self.inner.now());
        let (idle, absolute) = (self.inner.idle(), self.inner.absolute());
        let bytes: Option<Vec<u8>> = self
            .inner
            .db
            .run(move |conn| {
                conn.query_row(
                    "UPDATE sessions SET seen_ms = ?2, expires_ms = min(?2 + ?3, created_ms + ?4)
                     WHERE id = ?1 AND expires_ms > ?2 RETURNING data",
                    rusqlite::params![key, now, idle, absolute],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        bytes.map(|b| decode(&b)).transpose()
    }

    async fn update(&self, id: &SessionId, mutation: &Mutation) -> Result<Update, StoreError> {
        let (key, now) = (id.as_bytes().to_vec(), self.inner.now());
        let (idle, absolute) = (self.inner.idle(), self.inner.absolute());
        let mutation = mutation.clone();
        self.inner
            .db
            .run(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(unavailable)?;
                let current: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT data FROM sessions WHERE id = ?1 AND expires_ms > ?2",
                        rusqlite::params![key, now],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                let Some(current) = current else {
                    return Ok(Update::Missing);
                };
                let mut data = decode(&current)?;
                let outcome = match mutation.apply(&mut data) {
                    Ok(()) => {
                        let encoded = encode(&data)?;
                        tx.execute(
                            "UPDATE sessions SET data = ?2, seen_ms = ?3,
                                 expires_ms = min(?3 + ?4, created_ms + ?5) WHERE id = ?1",
                            rusqlite::params![key, &*encoded, now, idle, absolute],
                        )
                        .map_err(unavailable)?;
                        Update::Applied(data)
                    }
                    Err(violation) => {
                        // Refused, but still a use of the session: slide its deadline.
                        tx.execute(
                            "UPDATE sessions SET seen_ms = ?2,
                                 expires_ms = min(?2 + ?3, created_ms + ?4) WHERE id = ?1",
                            rusqlite::params![key, now, idle, absolute],
                        )
                        .map_err(unavailable)?;
                        Update::Rejected(violation)
                    }
                };
                tx.commit().map_err(unavailable)?;
                Ok(outcome)
            })
            .await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let (key, now) = (id.as_bytes().to_vec(), self.inner.now());
        let live: Option<bool> = self
            .inner
            .db
            .run(move |conn| {
                conn.query_row(
                    "DELETE FROM sessions WHERE id = ?1 RETURNING expires_ms > ?2",
                    rusqlite::params![key, now],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        Ok(live.unwrap_or(false))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let now = self.inner.now();
        let n: i64 = self
            .inner
            .db
            .run(move |conn| {
                conn.query_row(
                    "SELECT count(*) FROM sessions WHERE expires_ms > ?1",
                    [now],
                    |row| row.get(0),
                )
                .map_err(unavailable)
            })
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn create_login(
        &self,
        id: &SessionId,
        data: &SessionData,
        user_agent: &str,
    ) -> Result<(), StoreError> {
        let user = data.login_user()?.to_owned();
        self.insert(id, data, Some((user, clip(user_agent).to_owned())))
            .await
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<LoginInfo>, StoreError> {
        let (user, now) = (user_id.to_owned(), self.inner.now());
        let rows: Vec<(Vec<u8>, i64, i64, Option<String>)> = self
            .inner
            .db
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id, created_ms, seen_ms, user_agent FROM sessions
                         WHERE user_id = ?1 AND expires_ms > ?2 ORDER BY created_ms",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(rusqlite::params![user, now], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })
                    .map_err(unavailable)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
            })
            .await?;
        rows.into_iter()
            .map(|(id, created, seen, agent)| {
                let id = <[u8; 16]>::try_from(id.as_slice())
                    .map(SessionId::from_bytes)
                    .map_err(|_| {
                        StoreError::Corrupt("session id of the wrong length".to_owned())
                    })?;
                Ok(LoginInfo {
                    id,
                    created_ms: u64::try_from(created).unwrap_or(0),
                    last_seen_ms: u64::try_from(seen).unwrap_or(0),
                    user_agent: agent.unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let (user, now) = (user_id.to_owned(), self.inner.now());
        let n = self
            .inner
            .db
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "DELETE FROM sessions WHERE user_id = ?1 RETURNING expires_ms > ?2",
                    )
                    .map_err(unavailable)?;
                let live = stmt
                    .query_map(rusqlite::params![user, now], |row| row.get::<_, bool>(0))
                    .map_err(unavailable)?;
                live.filter(|l| matches!(l, Ok(true)))
                    .count()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("count overflow".to_owned()))
            })
            .await?;
        Ok(n)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner
            .db
            .run(|conn| {
                conn.query_row("SELECT 1", [], |_| Ok(()))
                    .map_err(unavailable)
            })
            .await
    }
}
