//! `statecraft capacity`: M_total = N_sessions × S_session, estimated from a
//! given size or measured on a real store.

use std::path::Path;
use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use statecraft_lab::capacity::{ByteSize, estimate, estimate_line};
use statecraft_state::SessionData;
use statecraft_state::capacity::{fill, resident_bytes, session_with_cart};
use statecraft_state::memory::MemorySessionStore;
use statecraft_state::redis::{RedisBackend, RedisSessionStore};
use statecraft_state::sqlite::{SqliteDb, SqliteSessionStore};
use statecraft_state::{
    SessionId, SessionSecret, SessionStore as _, SessionTimeouts, StoreError, StoreSpec,
};

use super::{CmdError, runtime};

/// Sessions created before the baseline reading, so that the allocator's and the
/// map's start-up costs do not count against each session.
const WARM_UP: u64 = 1_000;
/// Default number of sessions for `--measure`.
const DEFAULT_MEASURE: u64 = 100_000;

/// Flags of `statecraft capacity`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// Number of sessions (default for --measure: 100000); with
    /// --credential token, of logins and logouts.
    #[arg(long)]
    sessions: Option<u64>,

    /// Size of one session, e.g. 50KB (decimal) or 4KiB (binary).
    #[arg(long, required_unless_present = "measure", conflicts_with = "measure")]
    session_size: Option<ByteSize>,

    /// Measure the real bytes per session of a store filled with typical
    /// sessions (a counter and a 2-item cart) instead of estimating.
    #[arg(long)]
    measure: bool,

    /// Products in each measured session's cart (1 to 100; the lab's
    /// sessions hold as many as its users put in).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=100))]
    cart_items: u16,

    /// The store to measure: memory, sqlite:PATH or redis://…
    #[arg(long, env = "STATECRAFT_SESSION_STORE", default_value = "memory")]
    session_store: StoreSpec,

    /// What to measure with --measure: `session` (the bytes of one session
    /// in the store) or `token` (what a token login leaves in the users
    /// database, and a token logout in the store's denylist).
    #[arg(long, value_enum, default_value = "session")]
    credential: Credential,
}

/// The credential whose server-side cost `--measure` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Credential {
    /// A session in the session store.
    Session,
    /// A token login's refresh rows and a token logout's denylist entries.
    Token,
}

/// Prints the estimate, or measures and prints the measured size and estimate.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    if let Some(size) = cmd.session_size {
        if cmd.credential == Credential::Token {
            return Err(CmdError::Usage(
                "--credential token is measured, not estimated: use --measure instead of --session-size"
                    .to_owned(),
            ));
        }
        let sessions = cmd.sessions.ok_or_else(|| {
            CmdError::Usage("--sessions is required with --session-size".to_owned())
        })?;
        println!("{}", estimate_line(estimate(sessions, size)));
        return Ok(());
    }
    let sessions = cmd.sessions.unwrap_or(DEFAULT_MEASURE);
    if sessions == 0 {
        return Err(CmdError::Usage("--sessions must be at least 1".to_owned()));
    }
    if cmd.credential == Credential::Token {
        return super::token_cost::run(sessions, &cmd.session_store);
    }
    let data = session_with_cart(usize::from(cmd.cart_items));
    let per_session = match &cmd.session_store {
        StoreSpec::Memory => measure_memory(sessions, &data)?,
        StoreSpec::Sqlite(path) => measure_sqlite(path, sessions, &data)?,
        StoreSpec::Redis(url) => measure_redis(url, sessions, &data)?,
    };
    println!("Measured session size: {per_session} bytes");
    println!(
        "{}",
        estimate_line(estimate(sessions, ByteSize(per_session)))
    );
    Ok(())
}

/// Growth of the database file per session after filling it with `n` sessions.
fn measure_sqlite(path: &Path, n: u64, data: &SessionData) -> Result<u64, CmdError> {
    runtime()?.block_on(async {
        let failed = |e: StoreError| CmdError::Runtime(e.to_string());
        let db = SqliteDb::open(path, Duration::from_secs(30))
            .map_err(|e| CmdError::Usage(format!("cannot open sqlite:{}: {e}", path.display())))?;
        let store = SqliteSessionStore::new(db.clone(), long_timeouts());
        fill(&store, WARM_UP, data).await.map_err(failed)?;
        let before = db.size_on_disk().await.map_err(failed)?;
        fill(&store, n, data).await.map_err(failed)?;
        let after = db.size_on_disk().await.map_err(failed)?;
        tracing::info!(path = %path.display(), bytes_before = before, bytes_after = after, "filled sqlite store");
        Ok(after.saturating_sub(before) / n)
    })
}

/// Growth of Redis's `used_memory` per session after creating `n` sessions
/// under the production key layout; the sessions are deleted afterwards.
fn measure_redis(url: &str, n: u64, data: &SessionData) -> Result<u64, CmdError> {
    runtime()?.block_on(async {
        let failed = |e: StoreError| CmdError::Runtime(e.to_string());
        let redis = RedisBackend::connect(url, "", Duration::from_secs(5))
            .await
            .map_err(|e| CmdError::Usage(format!("cannot reach the store: {e}")))?;
        let store = RedisSessionStore::new(redis.clone(), long_timeouts());
        let ids: Vec<SessionId> = (0..n)
            .map(|_| SessionSecret::generate().public_id())
            .collect();
        let before = redis.used_memory().await.map_err(failed)?;
        // Many creates in flight on the one multiplexed connection: one at
        // a time, 100,000 sessions took 20 s of round trips.
        let outcome = futures_util::stream::iter(&ids)
            .map(|id| store.create(id, data))
            .buffer_unordered(IN_FLIGHT)
            .try_for_each(|()| async { Ok(()) })
            .await;
        let after = redis.used_memory().await.map_err(failed)?;
        // Best effort: what is left expires within the hour anyway.
        futures_util::stream::iter(&ids)
            .map(|id| store.delete(id))
            .buffer_unordered(IN_FLIGHT)
            .for_each(|_| async {})
            .await;
        outcome.map_err(failed)?;
        tracing::info!(
            used_memory_before = before,
            used_memory_after = after,
            "filled redis store"
        );
        Ok(after.saturating_sub(before) / n)
    })
}

/// Requests in flight while filling and emptying Redis.
const IN_FLIGHT: usize = 64;

/// Timeouts long enough that nothing expires while measuring.
fn long_timeouts() -> SessionTimeouts {
    SessionTimeouts {
        idle: Duration::from_secs(3600),
        absolute: Duration::from_secs(3600),
    }
}

/// RSS growth per session after filling a memory store with `n` sessions.
fn measure_memory(n: u64, data: &SessionData) -> Result<u64, CmdError> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = MemorySessionStore::new(long_timeouts());
        let failed = |e: StoreError| CmdError::Runtime(e.to_string());
        fill(&store, WARM_UP, data).await.map_err(failed)?;
        let before = resident_bytes().ok_or_else(|| CmdError::Runtime("cannot read RSS".into()))?;
        fill(&store, n, data).await.map_err(failed)?;
        let after = resident_bytes().ok_or_else(|| CmdError::Runtime("cannot read RSS".into()))?;
        tracing::info!(
            sessions = store.len(),
            rss_before = before,
            rss_after = after,
            "filled memory store"
        );
        Ok(after.saturating_sub(before) / n)
    })
}
