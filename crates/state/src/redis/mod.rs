//! The Redis backend: state shared by every instance. A session is the key
//! `session:<public id>` holding readable JSON (`{"counter", "cartItems",
//! "currentStep", "userId", "expiresAt"}`) with a TTL of the remaining idle time,
//! capped by the absolute deadline; every session operation is one server-side
//! script, so one round trip, atomic. Named counters are Redis integers (`INCR`).
//! One multiplexed, auto-reconnecting connection serves every request, and each
//! call is bounded by the store timeout.

mod counters;
mod denylist;
mod sessions;

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::StoreError;
use crate::spec::StoreSpec;

pub use counters::RedisCounterStore;
pub use denylist::RedisDenylist;
pub use sessions::RedisSessionStore;

/// A connection to one Redis server, and the key prefix this store owns.
#[derive(Clone)]
pub struct RedisBackend {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
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
    StoreError::Unavailable(format!("redis: {}", err.category()))
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
        let client = match ca_pem {
            Some(ca) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.to_vec()),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|e| StoreError::Unavailable(format!("{shown}: {}", e.category())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1)
            .set_max_delay(crate::clock::millis(timeout));
        let connecting = ConnectionManager::new_with_config(client, config);
        let conn = match tokio::time::timeout(timeout * 4, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "{shown}: {}",
                    e.category()
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
        })
    }

    /// The prefix of every key this backend writes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// Runs one call with the store timeout: a dead Redis answers fast, never hangs.
    async fn call<T, F>(&self, work: impl FnOnce(ConnectionManager) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, work(self.conn.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(unavailable(&err)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// Checks that Redis answers.
    async fn ping(&self) -> Result<(), StoreError> {
        self.call(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    /// `used_memory` of `INFO memory`, in bytes.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis does not answer.
    pub async fn used_memory(&self) -> Result<u64, StoreError> {
        let info: String = self
            .call(|mut conn| async move {
                redis::cmd("INFO")
                    .arg("memory")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| StoreError::Corrupt("INFO memory has no used_memory".to_owned()))
    }

    /// Deletes every key under this backend's prefix (tests clean up with it).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis does not answer.
    pub async fn delete_all(&self) -> Result<u64, StoreError> {
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<String> = self
            .call(|mut conn| async move {
                let mut iter =
                    redis::AsyncCommands::scan_match::<_, String>(&mut conn, pattern).await?;
                let mut keys = Vec::new();
                while let Some(key) = iter.next_item().await {
                    keys.push(key);
                }
                Ok(keys)
            })
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        self.call(
            |mut conn| async move { redis::cmd("DEL").arg(keys).query_async(&mut conn).await },
        )
        .await
    }
}
