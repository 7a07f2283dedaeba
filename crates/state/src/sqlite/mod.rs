//! The SQLite backend: state in a local file (WAL mode) that survives restarts and
//! that several processes on one host can share. SQLite's own locking makes each
//! change atomic across processes; calls run on tokio's blocking pool, each within
//! the store timeout. Within one process every call goes through one connection
//! behind a mutex: SQLite allows one writer at a time anyway, and its busy handler
//! waits by sleeping (milliseconds), where a mutex hands over in microseconds.

mod counters;
mod denylist;
mod sessions;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::StoreError;

pub use counters::SqliteCounterStore;
pub use denylist::SqliteDenylist;
pub use sessions::SqliteSessionStore;

/// The schema, one file per version, applied in order (versions are
/// `PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_sessions_and_counters.sql"),
    include_str!("../../migrations/sqlite/0002_logins_and_denylist.sql"),
];
/// How long SQLite waits for another process's write lock. Shorter than the
/// default store timeout, so a busy file answers `STORE_UNAVAILABLE` in time.
const BUSY_TIMEOUT: Duration = Duration::from_millis(400);
/// The default time a store call may take before it is `STORE_UNAVAILABLE`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// An SQLite database file and this process's connection to it.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    timeout: Duration,
}

fn unavailable(err: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {err}"))
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    // WAL: readers never block the writer; NORMAL sync is durable across a
    // process crash (kill -9), which is what a session store needs.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(unavailable)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(unavailable)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // IMMEDIATE takes the write lock first, so processes starting together
    // apply each migration once.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let version: usize = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(unavailable)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql).map_err(unavailable)?;
        tx.pragma_update(None, "user_version", index + 1)
            .map_err(unavailable)?;
    }
    tx.commit().map_err(unavailable)
}

impl SqliteDb {
    /// Opens (creating if needed) the database at `path` and brings its schema up
    /// to date. Calls that take longer than `timeout` fail as unavailable.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub fn open(path: &Path, timeout: Duration) -> Result<Self, StoreError> {
        let unavailable = |p: &Path, e: std::io::Error| {
            StoreError::Unavailable(format!("sqlite: {}: {e}", p.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The file's own directory is made (0700) when missing, but not a
            // chain of them: a mistyped path must not grow a tree of dirs.
            if let Some(above) = dir.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.exists()
                && !above.is_dir()
            {
                return Err(StoreError::Unavailable(format!(
                    "sqlite: {}: the directory {} does not exist (create it first, or choose another path)",
                    path.display(),
                    above.display()
                )));
            }
            statecraft_auth::files::private_dir(dir).map_err(|e| unavailable(dir, e))?;
        }
        statecraft_auth::files::private_sqlite(path).map_err(|e| unavailable(path, e))?;
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                conn: Mutex::new(conn),
                timeout,
            }),
        })
    }

    /// Bytes the database takes on disk, after moving the write-ahead log into
    /// the main file (so the figure does not depend on when SQLite last did).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be read.
    pub async fn size_on_disk(&self) -> Result<u64, StoreError> {
        let path = self.inner.path.clone();
        self.run(move |conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(unavailable)?;
            let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            Ok(size(&path) + size(Path::new(&wal)))
        })
        .await
    }

    /// Runs `work` on the connection on the blocking pool, within the timeout.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || {
            // A panic inside `work` leaves no half-done transaction behind
            // (rusqlite rolls back on drop), so a poisoned lock is safe to reuse.
            let mut conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut conn)
        });
        match tokio::time::timeout(self.inner.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(StoreError::Unavailable(format!(
                "sqlite task failed: {join}"
            ))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "sqlite did not answer within {:?}",
                self.inner.timeout
            ))),
        }
    }
}
