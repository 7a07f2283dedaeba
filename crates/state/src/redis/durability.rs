//! When a write is acknowledged: once the primary has it (`fast`), or once
//! its replicas have it too (`replicated`, Redis's `WAIT`).
//!
//! Redis replicates asynchronously: a primary acknowledges a write before
//! any replica holds it, so a failover can promote a replica without the
//! last acknowledged writes (Redis's replication documentation says so).
//! `WAIT N T` blocks the connection until N replicas have acknowledged every
//! write made on it before, or T passes, and answers how many did. It is sent
//! on the write's own connection after the write's answer, so concurrent
//! requests' writes share one wait: the connection is multiplexed, and a
//! WAIT covers every write before it.
//!
//! What it guarantees (Redis's `WAIT` documentation): the write is in the
//! memory of N replicas. It does not make Redis strongly consistent — a
//! failover may still promote a replica that was not among the N — but
//! Sentinel and Cluster promote the replica with the most data, so with N
//! the number of replicas, an acknowledged write survives the loss of the
//! primary. What it does not cover: a write answered `503` may or may not
//! have applied (the client retries it with the same `Idempotency-Key`
//! where the route takes one).

use std::str::FromStr;
use std::time::Duration;

use redis::{Cmd, FromRedisValue, Script};

use super::{RedisBackend, run_script};
use crate::error::StoreError;

/// How a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Once the primary has it (Redis's own default).
    #[default]
    Fast,
    /// Once `replicas` replicas have it too, waiting at most `timeout`.
    Replicated {
        /// How many replicas must hold the write.
        replicas: Replicas,
        /// How long a write waits for them.
        timeout: Duration,
    },
}

/// How many replicas a `replicated` write waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// Every replica the primary had when the store connected.
    All,
    /// This many.
    Count(u32),
}

impl FromStr for Replicas {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            n => match n.parse::<u32>() {
                Ok(0) | Err(_) => Err(format!(
                    "{s:?}: the replicas a write waits for are `all` or a number from 1"
                )),
                Ok(count) => Ok(Self::Count(count)),
            },
        }
    }
}

/// A resolved wait: how many replicas, how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

/// The replicas an `INFO replication` answer reports connected.
pub(crate) fn connected_replicas(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|l| l.strip_prefix("connected_slaves:"))
        .and_then(|n| n.trim().parse().ok())
}

impl RedisBackend {
    /// This backend with `durability`: under `replicated`, every write is
    /// acknowledged once the replicas have it (`all`: as many as the primary
    /// has now; on a cluster, the fewest any master has).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis does not answer;
    /// [`StoreError::Misconfigured`] when there is no replica to wait for, or the
    /// wait is not shorter than the store timeout (it could never end).
    pub async fn with_durability(mut self, durability: Durability) -> Result<Self, StoreError> {
        let Durability::Replicated { replicas, timeout } = durability else {
            self.wait = None;
            return Ok(self);
        };
        if timeout < Duration::from_millis(1) {
            return Err(StoreError::Misconfigured(
                "a write waits for its replicas at least 1ms (Redis reads WAIT 0 as: forever): \
                 raise --store-wait-timeout"
                    .to_owned(),
            ));
        }
        if timeout >= self.timeout {
            return Err(StoreError::Misconfigured(format!(
                "a write waits for its replicas at most {timeout:?}, which must be shorter than \
                 the store timeout ({:?}): lower --store-wait-timeout or raise --store-timeout",
                self.timeout
            )));
        }
        let mut connected = u32::MAX;
        for node in self.masters().await? {
            let info: String = self
                .call(|mut conn| async move {
                    conn.query_on(redis::cmd("INFO").arg("replication"), &node)
                        .await
                })
                .await?;
            connected = connected.min(connected_replicas(&info).unwrap_or(0));
        }
        let replicas = match replicas {
            Replicas::All => connected,
            Replicas::Count(count) => count,
        };
        if connected == 0 {
            return Err(StoreError::Misconfigured(
                "replicated durability waits for replicas, and the primary has none connected: \
                 give it replicas, or use --store-durability fast"
                    .to_owned(),
            ));
        }
        if replicas > connected {
            return Err(StoreError::Misconfigured(format!(
                "replicated durability waits for {replicas} replicas, and the primary has \
                 {connected} connected: ask for fewer (--store-replicas)"
            )));
        }
        self.wait = Some(Wait { replicas, timeout });
        Ok(self)
    }

    /// Runs the write `cmd` (an `EVALSHA` of `script`, given to a server
    /// that does not know it): with `replicated` durability, acknowledged
    /// only once the replicas have it. `WAIT` goes in one pipeline with the
    /// write, so it is sent on the write's own connection (one sent after a
    /// reconnect would be answered at once by a connection that wrote
    /// nothing) and, on a Cluster, to the write's master.
    pub(super) async fn write<T: FromRedisValue>(
        &self,
        cmd: Cmd,
        script: Option<&'static Script>,
    ) -> Result<T, StoreError> {
        let Some(wait) = self.wait else {
            return self.call(|conn| run_script(conn, script, cmd)).await;
        };
        let mut pipe = redis::pipe();
        pipe.add_command(cmd)
            .cmd("WAIT")
            .arg(wait.replicas)
            .arg(crate::clock::millis(wait.timeout));
        let (value, acknowledged): (T, u32) = self
            .call(|mut conn| async move {
                match pipe.query_async(&mut conn).await {
                    Err(err) if err.kind() == redis::ErrorKind::NoScriptError => {
                        if let Some(script) = script {
                            script.load_async(&mut conn).await?;
                        }
                        pipe.query_async(&mut conn).await
                    }
                    answer => answer,
                }
            })
            .await?;
        if acknowledged < wait.replicas {
            return Err(StoreError::Unavailable(format!(
                "the write reached {acknowledged} of the {} replicas it waits for within {:?}: \
                 it may or may not have applied (a replica is down or far behind: restore it, \
                 or lower --store-replicas)",
                wait.replicas, wait.timeout
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::{Replicas, connected_replicas};

    #[test]
    fn replicas_are_all_or_a_positive_count() {
        assert_eq!("all".parse(), Ok(Replicas::All));
        assert_eq!("2".parse(), Ok(Replicas::Count(2)));
        for bad in ["0", "-1", "some", ""] {
            assert!(bad.parse::<Replicas>().is_err(), "{bad}");
        }
    }

    #[test]
    fn connected_replicas_are_read_from_info() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=…\r\n";
        assert_eq!(connected_replicas(info), Some(2));
        assert_eq!(connected_replicas("role:slave\r\n"), None);
    }
}
