//! The contract on the SQLite backend: real files in a temporary folder, a manual
//! clock for expiry.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use statecraft_state::sqlite::{SqliteCounterStore, SqliteDb, SqliteDenylist, SqliteSessionStore};
use statecraft_state::{CounterStore, Denylist, ManualClock, SessionStore};

use crate::{Backend, TIMEOUTS};

/// A folder removed when the backend is dropped.
struct Sqlite {
    clock: ManualClock,
    dir: PathBuf,
    files: AtomicU64,
}

impl Sqlite {
    fn db(&self) -> SqliteDb {
        let n = self.files.fetch_add(1, Ordering::SeqCst);
        SqliteDb::open(
            &self.dir.join(format!("store-{n}.db")),
            Duration::from_secs(5),
        )
        .unwrap()
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[async_trait]
impl Backend for Sqlite {
    async fn sessions(&self) -> Arc<dyn SessionStore> {
        Arc::new(SqliteSessionStore::with_clock(
            self.db(),
            TIMEOUTS,
            Arc::new(self.clock.clone()),
            Duration::from_secs(3600),
        ))
    }
    async fn counters(&self) -> Arc<dyn CounterStore> {
        Arc::new(SqliteCounterStore::new(self.db()))
    }
    async fn denylist(&self) -> Arc<dyn Denylist> {
        Arc::new(SqliteDenylist::new(self.db()))
    }
    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

async fn backend() -> Option<Sqlite> {
    let dir = std::env::temp_dir().join(format!(
        "statecraft-contract-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Some(Sqlite {
        clock: ManualClock::new(),
        dir,
        files: AtomicU64::new(0),
    })
}

fn rand_suffix() -> String {
    statecraft_state::SessionSecret::generate()
        .public_id()
        .to_string()
}

crate::all_contract_cases!(backend());
