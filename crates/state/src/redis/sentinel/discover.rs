//! Which primary the sentinels name, asked of each of them directly and at
//! once, each within the store timeout: `SENTINEL MASTER <name>` tells a
//! sentinel's view without touching a data node, so no sentinel's answer
//! sends the data nodes' password anywhere. A primary is taken only when a
//! majority of the listed sentinels name it (not down in their eyes) — as
//! soon as they do, so a silent sentinel is not waited for — and only then
//! is it reached, with the data credentials, and asked its `ROLE`.
//!
//! redis-rs's own Sentinel client asks one sentinel after another with no
//! time limit (one gone silent held every question behind it) and checks
//! every candidate a sentinel names with the data credentials.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, RedisConnectionInfo,
    RedisError, RedisResult, TlsCertificates,
};

use super::Target;

/// What one sentinel said of the primary.
enum Named {
    /// This address, not down in its eyes.
    Primary(String, u16),
    /// It watches no primary by that name.
    Unknown,
    /// It thinks the primary down, or is not connected to it.
    Down,
}

/// A client for `host:port`, over TLS (checked against `ca` when given) when
/// the URL asks for it, with `redis` for its handshake.
fn client_for(
    target: &Target,
    host: &str,
    port: u16,
    redis: RedisConnectionInfo,
    ca: Option<&[u8]>,
) -> RedisResult<Client> {
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
    let info = ConnectionInfo { addr, redis };
    match (target.tls, ca) {
        (true, Some(ca)) => Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.to_vec()),
            },
        ),
        _ => Client::open(info),
    }
}

/// Clients for the URL's sentinels, each listed once (a sentinel named
/// twice would vote twice). Sentinels take no credentials here.
pub(super) fn sentinels(target: &Target, ca: Option<&[u8]>) -> RedisResult<Vec<Client>> {
    let mut seen = Vec::new();
    let mut clients = Vec::new();
    for (host, port) in &target.sentinels {
        if seen.contains(&(host, port)) {
            continue;
        }
        seen.push((host, port));
        clients.push(client_for(
            target,
            host,
            *port,
            RedisConnectionInfo::default(),
            ca,
        )?);
    }
    Ok(clients)
}

fn timed_out(what: &'static str) -> RedisError {
    RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, what))
}

async fn ask(sentinel: Client, master: String, timeout: Duration) -> RedisResult<Named> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    let question = async {
        let mut conn = sentinel
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(&master)
            .query_async::<HashMap<String, String>>(&mut conn)
            .await
    };
    let fields = match tokio::time::timeout(timeout, question).await {
        Err(_) => return Err(timed_out("the sentinel did not answer in time")),
        Ok(Err(err)) if err.detail().is_some_and(|d| d.contains("No such master")) => {
            return Ok(Named::Unknown);
        }
        Ok(answer) => answer?,
    };
    let flags = fields.get("flags").map(String::as_str).unwrap_or_default();
    let down = flags
        .split(',')
        .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"));
    let port = fields.get("port").and_then(|p| p.parse().ok());
    match (fields.get("ip"), port) {
        (Some(ip), Some(port)) if !down => Ok(Named::Primary(ip.clone(), port)),
        _ => Ok(Named::Down),
    }
}

/// The address a majority of `sentinels` name for the primary, asked at
/// once, each within `timeout`.
async fn vote(sentinels: &[Client], master: &str, timeout: Duration) -> RedisResult<(String, u16)> {
    let mut asking = tokio::task::JoinSet::new();
    for sentinel in sentinels {
        asking.spawn(ask(sentinel.clone(), master.to_owned(), timeout));
    }
    let majority = sentinels.len() / 2 + 1;
    let mut named: Vec<((String, u16), usize)> = Vec::new();
    let (mut unknown, mut down, mut last_err) = (0, 0, None);
    // Returning drops the set, which stops the questions still out.
    while let Some(answer) = asking.join_next().await {
        match answer {
            Ok(Ok(Named::Primary(host, port))) => {
                let addr = (host, port);
                let votes = match named.iter_mut().find(|(known, _)| *known == addr) {
                    Some((_, votes)) => {
                        *votes += 1;
                        *votes
                    }
                    None => {
                        named.push((addr.clone(), 1));
                        1
                    }
                };
                if votes >= majority {
                    return Ok(addr);
                }
            }
            Ok(Ok(Named::Unknown)) => unknown += 1,
            Ok(Ok(Named::Down)) => down += 1,
            Ok(Err(err)) => last_err = Some(err),
            Err(_) => last_err = Some(timed_out("a question to a sentinel was stopped")),
        }
    }
    if unknown >= majority {
        return Err(RedisError::from((
            ErrorKind::MasterNameNotFoundBySentinel,
            "no such primary name",
        )));
    }
    // Nobody answered at all: say why the last one did not.
    if named.is_empty()
        && down == 0
        && let Some(err) = last_err
    {
        return Err(err);
    }
    Err(RedisError::from((
        ErrorKind::ClientError,
        "no majority of the sentinels names a primary that is up",
    )))
}

/// The primary a majority of the sentinels name, reached with the data
/// credentials and confirmed by its `ROLE`: its address and a connection
/// to it (`None` for the connection when that address is `known`).
pub(super) async fn primary(
    target: &Target,
    sentinels: &[Client],
    ca: Option<&[u8]>,
    config: &redis::aio::ConnectionManagerConfig,
    known: Option<&str>,
    timeout: Duration,
) -> RedisResult<Option<(String, ConnectionManager)>> {
    let (host, port) = vote(sentinels, &target.master, timeout).await?;
    let redis = RedisConnectionInfo {
        db: target.db,
        username: target.username.clone(),
        password: target.password.clone(),
        ..RedisConnectionInfo::default()
    };
    let client = client_for(target, &host, port, redis, ca)?;
    let addr = client.get_connection_info().addr.to_string();
    if known == Some(addr.as_str()) {
        return Ok(None);
    }
    let mut conn = ConnectionManager::new_with_config(client, config.clone()).await?;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
    match role.first() {
        Some(redis::Value::BulkString(kind)) if kind.as_slice() == b"master" => {
            Ok(Some((addr, conn)))
        }
        _ => Err(RedisError::from((
            ErrorKind::ReadOnly,
            "the primary the sentinels name is not one (yet)",
        ))),
    }
}
