//! A Redis primary found through Sentinel and followed across failovers
//! without a restart: `redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]`
//! (`rediss+sentinel://` for TLS to the sentinels and the data nodes).
//!
//! redis-rs finds the primary (it asks a sentinel for the primaries it
//! knows, keeps one no sentinel thinks down, and checks its `ROLE`), but it
//! asks the sentinels one after the other with no time limit, so one that
//! went silent holds every question behind it, and the client it gives is
//! for that address for good. So each sentinel here has a client of its own,
//! all are asked at once, each within the store timeout, and the primary
//! most of them name is taken as soon as a majority agrees (a silent one is
//! not waited for). And the connection is replaced
//! when the primary stops being one: a `READONLY` answer (it was demoted), a
//! `NOREPLICAS` refusal (it is cut off from its replicas, so a failover is
//! likely under way), a refused or dropped connection (it died), or a call
//! that went unanswered (it went silent) each send the sentinels the
//! question again, in the background, until a primary answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, ErrorKind, RedisError, RedisResult, TlsCertificates, TlsMode};

/// The URL schemes of a Sentinel-watched primary.
const SENTINEL: &str = "redis+sentinel://";
const SENTINEL_TLS: &str = "rediss+sentinel://";

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
    sentinels: Vec<Sentinel>,
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
        let sentinels = target
            .sentinels
            .iter()
            .map(|(host, port)| sentinel_client(&target, host, *port, ca_pem))
            .collect::<RedisResult<Vec<_>>>()?;
        let first = tokio::time::timeout(2 * timeout, primary(&sentinels, &config, None, timeout))
            .await
            .map_err(|_| timed_out("no sentinel named a primary that answered in time"))??
            .ok_or_else(|| RedisError::from((ErrorKind::ClientError, "no primary")))?;
        Ok(Self {
            current: ArcSwap::from_pointee(first),
            sentinels,
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
                let attempt = primary(
                    &followed.sentinels,
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
                        Some(fresh) => {
                            tracing::info!(primary = %fresh.addr, "redis: following the primary the sentinels name");
                            followed.current.store(Arc::new(fresh));
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

/// One sentinel's own client: redis-rs's, given that sentinel alone.
type Sentinel = Arc<tokio::sync::Mutex<SentinelClient>>;

/// A client for the sentinel at `host:port` that finds `target`'s primary,
/// with its credentials, database and TLS.
fn sentinel_client(
    target: &Target,
    host: &str,
    port: u16,
    ca_pem: Option<&[u8]>,
) -> RedisResult<Sentinel> {
    let addr = if target.tls {
        ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_owned(), port)
    };
    let mut builder =
        SentinelClientBuilder::new([addr], target.master.clone(), SentinelServerType::Master)?
            .set_client_to_redis_db(target.db);
    if let Some(user) = &target.username {
        builder = builder.set_client_to_redis_username(user.clone());
    }
    if let Some(password) = &target.password {
        builder = builder.set_client_to_redis_password(password.clone());
    }
    if target.tls {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(ca) = ca_pem {
            let certificates = || TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.to_vec()),
            };
            builder = builder
                .set_client_to_redis_certificates(certificates())
                .set_client_to_sentinel_certificates(certificates());
        }
    }
    Ok(Arc::new(tokio::sync::Mutex::new(builder.build()?)))
}

fn timed_out(what: &'static str) -> RedisError {
    RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, what))
}

/// Asks every sentinel at once, each within `timeout`, which primary it
/// names (redis-rs checks that the one named says it is one); the address
/// named most, taken as soon as a majority of the sentinels agree, so a
/// silent sentinel is not waited for. Ties go to the first named.
async fn ask_sentinels(sentinels: &[Sentinel], timeout: Duration) -> RedisResult<redis::Client> {
    let mut asking = tokio::task::JoinSet::new();
    for sentinel in sentinels {
        let sentinel = Arc::clone(sentinel);
        asking.spawn(async move {
            let mut sentinel = sentinel.lock().await;
            tokio::time::timeout(timeout, sentinel.async_get_client())
                .await
                .unwrap_or_else(|_| Err(timed_out("the sentinel did not answer in time")))
        });
    }
    let majority = sentinels.len() / 2 + 1;
    let mut named: Vec<(String, redis::Client, usize)> = Vec::new();
    let mut last_err = None;
    // Dropping the set stops the questions still out.
    while let Some(answer) = asking.join_next().await {
        match answer {
            Ok(Ok(client)) => {
                let addr = client.get_connection_info().addr.to_string();
                match named.iter_mut().find(|(known, ..)| *known == addr) {
                    Some((.., votes)) => *votes += 1,
                    None => named.push((addr, client, 1)),
                }
                if named.iter().any(|(.., votes)| *votes >= majority) {
                    break;
                }
            }
            Ok(Err(err)) => last_err = Some(err),
            Err(_) => last_err = Some(timed_out("a question to a sentinel was stopped")),
        }
    }
    let mut best: Option<(redis::Client, usize)> = None;
    for (_, client, votes) in named {
        if best.as_ref().is_none_or(|(_, most)| votes > *most) {
            best = Some((client, votes));
        }
    }
    best.map(|(client, _)| client).ok_or_else(|| {
        last_err.unwrap_or_else(|| RedisError::from((ErrorKind::ClientError, "no sentinel")))
    })
}

/// A connection to the primary the sentinels name now; `None` when that is
/// still `known`.
async fn primary(
    sentinels: &[Sentinel],
    config: &ConnectionManagerConfig,
    known: Option<&str>,
    timeout: Duration,
) -> RedisResult<Option<Primary>> {
    let client = ask_sentinels(sentinels, timeout).await?;
    let addr = client.get_connection_info().addr.to_string();
    if known == Some(addr.as_str()) {
        return Ok(None);
    }
    let conn = ConnectionManager::new_with_config(client, config.clone()).await?;
    Ok(Some(Primary { addr, conn }))
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
