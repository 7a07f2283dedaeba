//! A Redis primary found through Sentinel and followed across failovers
//! without a restart: `redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]`
//! (`rediss+sentinel://` for TLS to the sentinels and the data nodes).
//!
//! The sentinels are asked directly, all at once, and a primary is taken
//! only when a majority names it (`discover`: why not redis-rs's own
//! Sentinel client). The connection to it is for that address, so it is
//! replaced when the primary stops being one: a `READONLY` answer (it was demoted), a
//! `NOREPLICAS` refusal (it is cut off from its replicas, so a failover is
//! likely under way), a refused or dropped connection (it died), or a call
//! that went unanswered (it went silent) each send the sentinels the
//! question again, in the background, until a primary answers.

mod discover;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult};

/// The URL schemes of a Sentinel-watched primary.
const SENTINEL: &str = "redis+sentinel://";
const SENTINEL_TLS: &str = "rediss+sentinel://";

/// What is wrong with `url` when it names a primary through its sentinels
/// and lacks the sentinels, the primary or a numeric database (`None`: it
/// is whole, or not a Sentinel URL).
pub(crate) fn url_problem(url: &str) -> Option<String> {
    if is_sentinel(url) {
        parse(url).err()
    } else {
        None
    }
}

/// `true` when `url` names a primary through its sentinels.
pub(crate) fn is_sentinel(url: &str) -> bool {
    url.starts_with(SENTINEL) || url.starts_with(SENTINEL_TLS)
}

/// What a Sentinel URL says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    tls: bool,
    sentinels: Vec<(String, u16)>,
    master: String,
    db: i64,
    username: Option<String>,
    password: Option<String>,
}

/// Reads `redis+sentinel://[USER:PASSWORD@]H:P[,H:P…]/MASTER[/DB]`; the
/// credentials and database are the data nodes' (sentinels take none).
pub(crate) fn parse(url: &str) -> Result<Target, String> {
    let (tls, rest) = match url.strip_prefix(SENTINEL_TLS) {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix(SENTINEL).unwrap_or(url)),
    };
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, rest),
    };
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut path = path.trim_end_matches('/').split('/');
    let master = path.next().unwrap_or_default().to_owned();
    if master.is_empty() {
        return Err("a Sentinel URL names its primary: …/MASTER_NAME".to_owned());
    }
    let db = match path.next() {
        Some(db) => db
            .parse()
            .map_err(|_| format!("database {db:?} is not a number"))?,
        None => 0,
    };
    let sentinels = hosts
        .split(',')
        .map(|host| {
            let (name, port) = host.rsplit_once(':').unwrap_or((host, "26379"));
            let port = port
                .parse()
                .map_err(|_| format!("sentinel {host:?} has no valid port"))?;
            Ok((name.to_owned(), port))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if sentinels.iter().any(|(name, _)| name.is_empty()) {
        return Err("a Sentinel URL names at least one sentinel: HOST:PORT".to_owned());
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| "the credentials are not valid percent-encoded UTF-8".to_owned())
    };
    let (username, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
        Some((user, pass)) => (
            Some(decode(user)?).filter(|u| !u.is_empty()),
            Some(decode(pass)?).filter(|p| !p.is_empty()),
        ),
        None => (None, None),
    };
    Ok(Target {
        tls,
        sentinels,
        master,
        db,
        username,
        password,
    })
}

/// A primary's address and the connection to it.
struct Primary {
    addr: String,
    conn: ConnectionManager,
}

/// The primary of the moment, and how to find the next one.
pub(crate) struct Followed {
    current: ArcSwap<Primary>,
    target: Target,
    sentinels: Vec<redis::Client>,
    /// The CA that signs the sentinels' and data nodes' certificates.
    ca: Option<Vec<u8>>,
    config: ConnectionManagerConfig,
    /// Bounds each attempt to find and reach a primary.
    timeout: Duration,
    /// The sentinels are being asked (one question at a time).
    finding: AtomicBool,
}

impl Followed {
    /// Asks the sentinels of `url` for its primary and connects to it.
    pub(crate) async fn connect(
        url: &str,
        config: ConnectionManagerConfig,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> RedisResult<Self> {
        let target = parse(url).map_err(|why| {
            RedisError::from((ErrorKind::InvalidClientConfig, "bad Sentinel URL", why))
        })?;
        let sentinels = discover::sentinels(&target, ca_pem)?;
        let (addr, conn) = tokio::time::timeout(
            2 * timeout,
            discover::primary(&target, &sentinels, ca_pem, &config, None, timeout),
        )
        .await
        .map_err(|_| {
            RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no primary named by the sentinels answered in time",
            ))
        })??
        .ok_or_else(|| RedisError::from((ErrorKind::ClientError, "no primary")))?;
        Ok(Self {
            current: ArcSwap::from_pointee(Primary { addr, conn }),
            target,
            sentinels,
            ca: ca_pem.map(<[u8]>::to_vec),
            config,
            timeout,
            finding: AtomicBool::new(false),
        })
    }

    /// The connection to the primary of the moment.
    pub(crate) fn current(&self) -> ConnectionManager {
        self.current.load().conn.clone()
    }

    /// A call failed with `err` (`None`: went unanswered): when that says
    /// the primary may have changed, the sentinels are asked again.
    pub(crate) fn failed(self: &Arc<Self>, err: Option<&RedisError>) {
        let moved = err.is_none_or(|err| {
            err.kind() == ErrorKind::ReadOnly
                || err.code() == Some("NOREPLICAS")
                || err.is_connection_refusal()
                || err.is_connection_dropped()
                || err.is_unrecoverable_error()
                || err.is_timeout()
        });
        if moved {
            self.find_again();
        }
    }

    /// Asks the sentinels for the primary, attempt after attempt (each
    /// bounded by the timeout, a quarter of it apart), until one is reached;
    /// stops then, or when the store is dropped (it holds no strong
    /// reference).
    fn find_again(self: &Arc<Self>) {
        if self.finding.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(followed) = Weak::upgrade(&this) {
                let known = followed.current.load().addr.clone();
                let attempt = discover::primary(
                    &followed.target,
                    &followed.sentinels,
                    followed.ca.as_deref(),
                    &followed.config,
                    Some(&known),
                    followed.timeout,
                );
                // The sentinels within the timeout, the primary within another.
                if let Ok(Ok(found)) = tokio::time::timeout(2 * followed.timeout, attempt).await {
                    // The same primary keeps its connection (it reconnects
                    // by itself), and the sentinels are not asked again for
                    // a moment (every failed call would ask them, and each
                    // question opens connections); another one takes its
                    // place at once.
                    match found {
                        Some((addr, conn)) => {
                            tracing::info!(primary = %addr, "redis: following the primary the sentinels name");
                            followed.current.store(Arc::new(Primary { addr, conn }));
                        }
                        None => tokio::time::sleep(followed.timeout / 4).await,
                    }
                    followed.finding.store(false, Ordering::Release);
                    return;
                }
                let pause = followed.timeout / 4;
                drop(followed);
                tokio::time::sleep(pause).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{Target, parse};

    #[test]
    fn a_sentinel_url_names_its_sentinels_primary_database_and_credentials() {
        assert_eq!(
            parse("redis+sentinel://127.0.0.1:26401,127.0.0.1:26402/statecraft"),
            Ok(Target {
                tls: false,
                sentinels: vec![
                    ("127.0.0.1".to_owned(), 26401),
                    ("127.0.0.1".to_owned(), 26402)
                ],
                master: "statecraft".to_owned(),
                db: 0,
                username: None,
                password: None,
            })
        );
        let full = parse("rediss+sentinel://app:p%40ss@s1,s2:26380/main/3/");
        let full = full.unwrap_or_else(|e| panic!("{e}"));
        assert!(full.tls);
        assert_eq!(full.sentinels[0], ("s1".to_owned(), 26379));
        assert_eq!((full.master.as_str(), full.db), ("main", 3));
        assert_eq!(full.username.as_deref(), Some("app"));
        assert_eq!(full.password.as_deref(), Some("p@ss"));
        for bad in [
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/",
            "redis+sentinel://h:x/m",
            "redis+sentinel://h:1/m/x",
            "redis+sentinel://:1/m",
            "redis+sentinel://a:%ff@h:1/m",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
