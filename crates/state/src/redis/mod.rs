//! The Redis backend: state shared by every instance. A session is the key
//! `session:<public id>` (on a cluster `session:{TAG}REST`, the tag braced) holding readable JSON
//! (`{"counter", "cartItems", "currentStep", "userId", "expiresAt"}`) with a TTL
//! of the remaining idle time, capped by the absolute deadline; every session
//! operation is one server-side script, so one round trip, atomic. Named
//! counters are Redis integers (`INCR`). One multiplexed, auto-reconnecting
//! connection serves every request, and each call is bounded by the store
//! timeout.
//!
//! `redis+cluster://HOST:PORT[,HOST:PORT…]` names a Redis Cluster. The braces
//! are hash tags: a user's logins carry the user's tag, so a login, its user's
//! index and log-out-everywhere each stay on one slot; a token's denylist
//! entries share their login's tag likewise.

mod conn;
mod counters;
mod denylist;
mod durability;
pub(crate) mod sentinel;
mod sessions;

use std::future::Future;
use std::time::Duration;

use redis::{Cmd, FromRedisValue, Script};

use crate::error::StoreError;
use crate::spec::StoreSpec;
use conn::{Connection, Node, RedisConn};
use durability::Wait;

pub use counters::RedisCounterStore;
pub use denylist::RedisDenylist;
pub use durability::{Durability, Replicas};
pub use sessions::RedisSessionStore;

/// A connection to one Redis server or cluster, and the key prefix this store owns.
#[derive(Clone)]
pub struct RedisBackend {
    conn: Connection,
    prefix: String,
    timeout: Duration,
    /// `replicated` durability: what every write waits for.
    wait: Option<Wait>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(err: &redis::RedisError) -> StoreError {
    // The error text names the failure, never the URL (which may hold a password).
    // A server's error code (`READONLY`, `NOREPLICAS`, …) says what to fix.
    match err.code() {
        Some(code) => StoreError::Unavailable(format!("redis: {code} ({})", err.category())),
        None => StoreError::Unavailable(format!("redis: {}", err.category())),
    }
}

impl RedisBackend {
    /// Connects to `url` (`redis://` or `rediss://`, a password allowed), with
    /// keys under `prefix` (empty in production; tests use their own), calls
    /// bounded by `timeout`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached in time; the
    /// message names the URL with its password redacted.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        Self::connect_with_ca(url, prefix, timeout, None).await
    }

    /// As [`RedisBackend::connect`]; a `rediss://` server's certificate is
    /// checked against `ca_pem` (a private CA, PEM) when given, else against the
    /// system's roots.
    ///
    /// # Errors
    /// As [`RedisBackend::connect`]; also when `ca_pem` holds no certificate.
    pub async fn connect_with_ca(
        url: &str,
        prefix: &str,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, StoreError> {
        let shown = url
            .parse::<StoreSpec>()
            .map_or_else(|_| "the redis URL".to_owned(), |s| s.to_string());
        // rustls is built with ring alone; it must be the process's provider
        // before the first TLS handshake. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let connecting = Connection::connect(url, timeout, ca_pem);
        let conn = match tokio::time::timeout(timeout * 4, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "{shown}: {}",
                    why_unreached(&e)
                )));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "{shown}: no answer within {:?}",
                    timeout * 4
                )));
            }
        };
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            wait: None,
        })
    }

    /// `true` on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Connection::Cluster(_))
    }

    /// The prefix of every key this backend writes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix><kind>:<name>`, built by copying: it is made on every request,
    /// and `format!` costs ten times the copies (~1.4k instructions a key).
    fn key(&self, kind: &str, name: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + 1 + name.len());
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push(':');
        key.push_str(name);
        key
    }

    /// Runs one call with the store timeout: a dead Redis answers fast, never
    /// hangs; and once per request (`one_wait`).
    async fn call<T, F>(&self, work: impl FnOnce(RedisConn) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if crate::patience::already_timed_out() {
            return Err(StoreError::Unavailable(format!(
                "redis did not answer an earlier call of this request within {:?}",
                self.timeout
            )));
        }
        match tokio::time::timeout(self.timeout, work(self.conn.handle())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                self.conn.failed(Some(&err));
                Err(unavailable(&err))
            }
            Err(_) => {
                crate::patience::timed_out();
                self.conn.failed(None);
                Err(StoreError::Unavailable(format!(
                    "redis did not answer within {:?}",
                    self.timeout
                )))
            }
        }
    }

    /// Runs `script` by its SHA1 (`EVALSHA`) on `keys` with the arguments
    /// `args` adds, within the store timeout; a server that does not know the
    /// script (new, restarted, flushed) is given it and asked again. The
    /// command is built directly rather than through redis-rs's
    /// `ScriptInvocation`, which copies every key and argument twice more: on
    /// the counter's path that was ~3% of the request's work in the server.
    async fn script<T: FromRedisValue>(
        &self,
        script: &'static Script,
        keys: &[&str],
        args: impl FnOnce(&mut Cmd),
    ) -> Result<T, StoreError> {
        let cmd = evalsha(script, keys, args);
        self.call(|conn| run_script(conn, Some(script), cmd)).await
    }

    /// As [`RedisBackend::script`], for a script that writes: see
    /// [`RedisBackend::write`] (its first key routes the wait).
    async fn write_script<T: FromRedisValue>(
        &self,
        script: &'static Script,
        keys: &[&str],
        args: impl FnOnce(&mut Cmd),
    ) -> Result<T, StoreError> {
        self.write(evalsha(script, keys, args), Some(script)).await
    }

    /// Checks that Redis answers.
    async fn ping(&self) -> Result<(), StoreError> {
        self.call(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    /// Calls `visit` with every key matching `pattern`, on every master; SCAN
    /// walks in steps of `step` keys, each step bounded by the store timeout.
    async fn scan(
        &self,
        pattern: &str,
        step: usize,
        mut visit: impl FnMut(String) + Send,
    ) -> Result<(), StoreError> {
        for node in self.masters().await? {
            let mut cursor = 0u64;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(step);
                let node = node.clone();
                let (next, keys): (u64, Vec<String>) = self
                    .call(|mut conn| async move { conn.query_on(&cmd, &node).await })
                    .await?;
                keys.into_iter().for_each(&mut visit);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }

    /// The servers holding data: the one server, or a cluster's masters.
    async fn masters(&self) -> Result<Vec<Node>, StoreError> {
        self.call(|mut conn| async move { conn.masters().await })
            .await
    }

    /// `used_memory` of `INFO memory`, in bytes, summed over the masters.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis does not answer.
    pub async fn used_memory(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for node in self.masters().await? {
            let info: String = self
                .call(|mut conn| async move {
                    conn.query_on(redis::cmd("INFO").arg("memory"), &node).await
                })
                .await?;
            total += info
                .lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| StoreError::Corrupt("INFO memory has no used_memory".to_owned()))?;
        }
        Ok(total)
    }

    /// Deletes every key under this backend's prefix (tests clean up with it).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis does not answer.
    pub async fn delete_all(&self) -> Result<u64, StoreError> {
        let mut keys = Vec::new();
        self.scan(&format!("{}*", self.prefix), 1000, |k| keys.push(k))
            .await?;
        self.delete_keys(keys).await
    }

    /// Deletes the keys `<prefix><kind>:<name>` of `names` (a measure
    /// removes exactly what it wrote, beside a live deployment's keys).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis does not answer.
    pub async fn delete_named(&self, kind: &str, names: &[String]) -> Result<u64, StoreError> {
        self.delete_keys(names.iter().map(|name| self.key(kind, name)).collect())
            .await
    }

    async fn delete_keys(&self, keys: Vec<String>) -> Result<u64, StoreError> {
        let mut deleted = 0;
        // One key per DEL: keys of many slots cannot share a command on a cluster.
        for key in keys {
            deleted += self
                .call(|mut conn| async move {
                    redis::cmd("DEL")
                        .arg(key)
                        .query_async::<u64>(&mut conn)
                        .await
                })
                .await?;
        }
        Ok(deleted)
    }
}

/// `EVALSHA` of `script` on `keys` with the arguments `args` adds.
fn evalsha(script: &Script, keys: &[&str], args: impl FnOnce(&mut Cmd)) -> Cmd {
    let mut cmd = Cmd::with_capacity(12, 256);
    cmd.arg("EVALSHA")
        .arg(script.get_hash())
        .arg(keys.len())
        .arg(keys);
    args(&mut cmd);
    cmd
}

/// Runs `cmd` (an `EVALSHA` of `script`, if any); a server that does not
/// know the script is given it and asked again.
async fn run_script<T: FromRedisValue>(
    mut conn: RedisConn,
    script: Option<&Script>,
    cmd: Cmd,
) -> redis::RedisResult<T> {
    match cmd.query_async(&mut conn).await {
        Err(err) if err.kind() == redis::ErrorKind::NoScriptError => {
            if let Some(script) = script {
                script.load_async(&mut conn).await?;
            }
            cmd.query_async(&mut conn).await
        }
        answer => answer,
    }
}

/// Why a Redis could not be reached, in words that point at the fix; never
/// the URL (it may hold a password), which the caller names redacted.
fn why_unreached(err: &redis::RedisError) -> String {
    if err.is_connection_refusal() {
        "connection refused: is Redis running there, on that port?".to_owned()
    } else if err.kind() == redis::ErrorKind::MasterNameNotFoundBySentinel {
        "the sentinels know no primary by the name after the URL's last `/` \
         (`SENTINEL MASTERS` on a sentinel lists the names they watch)"
            .to_owned()
    } else if err.is_timeout() {
        "no answer in time: is the host reachable?".to_owned()
    } else if err.is_io_error() {
        // An I/O error's text is the system's (no URL in it).
        format!("{}: {err}", err.category())
    } else {
        err.category().to_owned()
    }
}
