//! `statecraft capacity --measure --credential token`: what a token login
//! and a token logout leave on the server. "Stateless" tokens are not free:
//! each `POST /token` starts a refresh family with its first token (two rows
//! in the users database, kept for the refresh lifetime), and each logout
//! writes two denylist entries (the access token and its login's family,
//! kept until the access token would have expired) where sessions live.
//! Measured as the session stores are: fill, and read the growth.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use statecraft_app::{family_key, token_key};
use statecraft_auth::{AUDIENCE, Claims, ISSUER, Passwords, RefreshToken, new_jti};
use statecraft_lab::capacity::{ByteSize, estimate};
use statecraft_services::{DataSpec, RefreshFootprint, UsersDb};
use statecraft_state::capacity::resident_bytes;
use statecraft_state::memory::MemoryDenylist;
use statecraft_state::redis::{RedisBackend, RedisDenylist};
use statecraft_state::sqlite::{SqliteDb, SqliteDenylist};
use statecraft_state::{Clock as _, Denylist, StoreError, StoreSpec, UnixClock};

use super::{CmdError, runtime};

/// The seeded user every measured login belongs to.
const USER: &str = "user-1";
/// Logins and logouts made before the baseline reading (start-up costs).
const WARM_UP: u64 = 1_000;
/// The lifetimes `serve` uses by default; they do not change the bytes.
const REFRESH_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);

/// What one token login and one token logout leave on the server.
#[derive(Debug, Clone, Copy)]
struct TokenCost {
    login_bytes: u64,
    login_rows: u64,
    logout_bytes: u64,
    logout_entries: u64,
    /// Where the denylist was: memory, sqlite or redis.
    denylist: &'static str,
}

/// Measures `logins` token logins in a fresh SQLite users database and as
/// many logouts in a denylist of the kind `denylist_store` names, and prints
/// the figures and the estimate. Never in data in use (the measure writes
/// hundreds of thousands of rows and entries): a SQLite denylist is a fresh
/// file too, a Redis one a key prefix of its own, deleted afterwards.
pub(crate) fn run(logins: u64, denylist_store: &StoreSpec) -> Result<(), CmdError> {
    let scratch = scratch_dir()?;
    let data = DataSpec::Sqlite(scratch.clone());
    let denylist_store = match denylist_store {
        StoreSpec::Sqlite(_) => StoreSpec::Sqlite(scratch.join("denylist.db")),
        other => other.clone(),
    };
    let outcome = runtime()?.block_on(measure(logins, &data, &denylist_store));
    let _ = std::fs::remove_dir_all(&scratch);
    let cost = outcome?;
    println!(
        "Measured token login: {} bytes, {} rows (a refresh family and its first token, in a SQLite users database)",
        cost.login_bytes, cost.login_rows,
    );
    println!(
        "Measured token logout: {} bytes, {} denylist entries (in the {} store, until the access token expires)",
        cost.logout_bytes, cost.logout_entries, cost.denylist,
    );
    println!(
        "Estimated storage for the refresh rows of {logins} live token logins: {}",
        estimate(logins, ByteSize(cost.login_bytes))
    );
    Ok(())
}

async fn measure(logins: u64, data: &DataSpec, store: &StoreSpec) -> Result<TokenCost, CmdError> {
    let users = UsersDb::open(data, None, Passwords::new())
        .await
        .map_err(|e| CmdError::Runtime(format!("cannot open a users database at {data}: {e}")))?;
    let footprint = || async {
        users
            .refresh_footprint()
            .await
            .map_err(|e| CmdError::Runtime(format!("cannot read the users database: {e}")))
    };
    let mut families = Vec::new();
    for _ in 0..WARM_UP {
        families.push(log_in(&users).await?);
    }
    let before: RefreshFootprint = footprint().await?;
    for _ in 0..logins {
        families.push(log_in(&users).await?);
    }
    let after = footprint().await?;
    users.close().await;

    let denylist = DenylistUnderTest::open(store).await?;
    let (warm, measured) = families.split_at(usize::try_from(WARM_UP).unwrap_or(0));
    let mut written = Vec::new();
    for family in warm {
        written.extend(log_out(denylist.list.as_ref(), family).await?);
    }
    let bytes_before = denylist.bytes().await?;
    let mut entries = 0;
    for family in measured {
        let keys = log_out(denylist.list.as_ref(), family).await?;
        entries += keys.len() as u64;
        written.extend(keys);
    }
    let bytes_after = denylist.bytes().await?;
    denylist.clean_up(&written).await;
    Ok(TokenCost {
        login_bytes: after.bytes.saturating_sub(before.bytes) / logins,
        login_rows: after.rows.saturating_sub(before.rows) / logins,
        logout_bytes: bytes_after.saturating_sub(bytes_before) / logins,
        logout_entries: entries / logins,
        denylist: denylist.list.kind().as_str(),
    })
}

/// What `POST /token` writes: a family with its first refresh token.
async fn log_in(users: &UsersDb) -> Result<String, CmdError> {
    users
        .start_family(USER, &RefreshToken::generate(), REFRESH_TTL)
        .await
        .map_err(|e| CmdError::Runtime(format!("cannot start a refresh family: {e}")))
}

/// What `POST /logout` with a bearer token writes to the denylist: its own
/// entry and its login's; returns their keys.
async fn log_out(denylist: &dyn Denylist, family: &str) -> Result<[String; 2], CmdError> {
    let now_ms = u64::try_from(UnixClock.now().as_millis()).unwrap_or(u64::MAX);
    let claims = Claims {
        sub: USER.to_owned(),
        name: "Alice".to_owned(),
        role: "admin".to_owned(),
        iat: now_ms / 1000,
        exp: (now_ms / 1000) + ACCESS_TTL.as_secs(),
        jti: new_jti(),
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sid: Some(family.to_owned()),
    };
    let until_ms = now_ms + u64::try_from(ACCESS_TTL.as_millis()).unwrap_or(u64::MAX);
    let failed = |e: StoreError| CmdError::Runtime(format!("cannot write the denylist: {e}"));
    let keys = [token_key(&claims), family_key(family)];
    for key in &keys {
        denylist.deny(key, until_ms).await.map_err(failed)?;
    }
    Ok(keys)
}

/// The denylist of the store `serve` would use, and how to read its size.
struct DenylistUnderTest {
    list: Arc<dyn Denylist>,
    size: Size,
}

enum Size {
    Resident,
    Sqlite(SqliteDb),
    Redis(RedisBackend),
}

impl DenylistUnderTest {
    async fn open(spec: &StoreSpec) -> Result<Self, CmdError> {
        let timeout = Duration::from_secs(30);
        Ok(match spec {
            StoreSpec::Memory => Self {
                list: Arc::new(MemoryDenylist::new()),
                size: Size::Resident,
            },
            StoreSpec::Sqlite(path) => {
                let db = SqliteDb::open(path, timeout).map_err(|e| {
                    CmdError::Usage(format!("cannot open sqlite:{}: {e}", path.display()))
                })?;
                Self {
                    list: Arc::new(SqliteDenylist::new(db.clone())),
                    size: Size::Sqlite(db),
                }
            }
            StoreSpec::Redis(url) => {
                // The production layout (no prefix), so the bytes are those
                // of real entries; they are deleted by name after.
                let redis = RedisBackend::connect(url, "", timeout)
                    .await
                    .map_err(|e| CmdError::Usage(format!("cannot reach the store: {e}")))?;
                Self {
                    list: Arc::new(RedisDenylist::new(redis.clone())),
                    size: Size::Redis(redis),
                }
            }
        })
    }

    /// Deletes the entries the measure wrote where they are not in a
    /// scratch file (best effort: they expire with the access token anyway).
    async fn clean_up(&self, written: &[String]) {
        if let Size::Redis(redis) = &self.size
            && let Err(err) = redis.delete_named("denied", written).await
        {
            tracing::warn!(%err, "the measure's denylist entries were not deleted; they expire in 15 minutes");
        }
    }

    async fn bytes(&self) -> Result<u64, CmdError> {
        let failed = |e: StoreError| CmdError::Runtime(format!("cannot size the store: {e}"));
        match &self.size {
            Size::Resident => {
                resident_bytes().ok_or_else(|| CmdError::Runtime("cannot read RSS".to_owned()))
            }
            Size::Sqlite(db) => db.size_on_disk().await.map_err(failed),
            Size::Redis(redis) => redis.used_memory().await.map_err(failed),
        }
    }
}

/// A private scratch directory for the users database (removed after).
fn scratch_dir() -> Result<PathBuf, CmdError> {
    let dir = std::env::temp_dir().join(format!(
        "statecraft-token-cost-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    statecraft_auth::files::private_dir(&dir)
        .map_err(|e| CmdError::Runtime(format!("cannot make {}: {e}", dir.display())))?;
    Ok(dir)
}
