//! One connection handle for a single Redis server or a Redis Cluster: both
//! multiplexed and auto-reconnecting; commands and scripts are routed by their
//! first key on a cluster, and per-node work (SCAN, INFO) names its node.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, TlsCertificates, Value};

use super::sentinel::{Followed, is_sentinel};

/// The URL scheme of a Redis Cluster (`rediss+cluster://` for TLS); the nodes
/// given, comma-separated, are where discovery starts.
const CLUSTER: &str = "redis+cluster://";
const CLUSTER_TLS: &str = "rediss+cluster://";

/// The store's connection to Redis: one server, a primary followed through
/// its sentinels ([`Followed`]), or a cluster.
#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Sentinel(Arc<Followed>),
    Cluster(ClusterConnection),
}

/// What one call runs on: the connection of the moment.
#[derive(Clone)]
pub(crate) enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A server holding data: the one server, or a cluster master by address.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Only,
    Master { host: String, port: u16 },
}

/// `true` when `url` names a Redis Cluster.
pub(crate) fn is_cluster(url: &str) -> bool {
    url.starts_with(CLUSTER) || url.starts_with(CLUSTER_TLS)
}

/// The node URLs of a cluster URL: `scheme://userinfo@h1:p1,h2:p2/` →
/// `redis://userinfo@h1:p1/`, `redis://userinfo@h2:p2/` (`rediss` for TLS).
fn cluster_nodes(url: &str) -> Vec<String> {
    let (scheme, rest) = match url.strip_prefix(CLUSTER_TLS) {
        Some(rest) => ("rediss", rest),
        None => ("redis", url.strip_prefix(CLUSTER).unwrap_or(url)),
    };
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), rest),
    };
    hosts
        .trim_end_matches('/')
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|host| format!("{scheme}://{userinfo}{host}/"))
        .collect()
}

impl Connection {
    /// Connects to `url`, every connect and answer bounded by `timeout`.
    pub(crate) async fn connect(
        url: &str,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> RedisResult<Self> {
        let certificates = |ca: &[u8]| TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.to_vec()),
        };
        if is_cluster(url) {
            let mut builder = ClusterClientBuilder::new(cluster_nodes(url))
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(1);
            if let Some(ca) = ca_pem {
                builder = builder.certs(certificates(ca));
            }
            let conn = builder.build()?.get_async_connection().await?;
            return Ok(Self::Cluster(conn));
        }
        // No response timeout here: every call is already bounded by the
        // store's own (RedisBackend::call), and a second timer per request
        // costs as much as a few percent of a counter update's work.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_number_of_retries(1)
            .set_max_delay(crate::clock::millis(timeout));
        if is_sentinel(url) {
            let followed = Followed::connect(url, config, timeout, ca_pem).await?;
            return Ok(Self::Sentinel(Arc::new(followed)));
        }
        let client = match ca_pem {
            Some(ca) => redis::Client::build_with_tls(url, certificates(ca))?,
            None => redis::Client::open(url)?,
        };
        Ok(Self::Single(
            ConnectionManager::new_with_config(client, config).await?,
        ))
    }

    /// The connection to run a call on now.
    pub(crate) fn handle(&self) -> RedisConn {
        match self {
            Self::Single(conn) => RedisConn::Single(conn.clone()),
            Self::Sentinel(followed) => RedisConn::Single(followed.current()),
            Self::Cluster(conn) => RedisConn::Cluster(conn.clone()),
        }
    }

    /// A call failed with `err` (`None`: it went unanswered). A followed
    /// primary may have changed: see [`Followed::failed`]. A single
    /// server's connection reconnects by itself when broken, and the
    /// cluster client follows its masters itself (MOVED).
    pub(crate) fn failed(&self, err: Option<&redis::RedisError>) {
        if let Self::Sentinel(followed) = self {
            followed.failed(err);
        }
    }
}

impl RedisConn {
    /// The servers holding data: the one server, or the cluster's masters
    /// (from `CLUSTER NODES`, failed ones left out).
    pub(crate) async fn masters(&mut self) -> RedisResult<Vec<Node>> {
        let Self::Cluster(conn) = self else {
            return Ok(vec![Node::Only]);
        };
        let listing = conn
            .route_command(
                &redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        Ok(parse_masters(&String::from_owned_redis_value(listing)?))
    }

    /// Runs `cmd` on `node`.
    pub(crate) async fn query_on<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        node: &Node,
    ) -> RedisResult<T> {
        match (self, node) {
            (Self::Cluster(conn), Node::Master { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                T::from_owned_redis_value(conn.route_command(cmd, routing).await?)
            }
            (conn, _) => cmd.query_async(conn).await,
        }
    }
}

/// The masters of a `CLUSTER NODES` listing: lines of `id host:port@bus[,name]
/// flags …`, kept where the flags say `master` and not `fail`.
fn parse_masters(listing: &str) -> Vec<Node> {
    listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            let is_live_master = flags.split(',').any(|f| f == "master")
                && !flags.split(',').any(|f| f == "fail" || f == "fail?");
            let (host, port) = address.split(['@', ',']).next()?.rsplit_once(':')?;
            Some(Node::Master {
                host: host.to_owned(),
                port: port.parse().ok()?,
            })
            .filter(|_| is_live_master)
        })
        .collect()
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_its_nodes_with_their_credentials() {
        assert_eq!(
            cluster_nodes("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"),
            ["redis://127.0.0.1:7000/", "redis://127.0.0.1:7001/"]
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://app:pw@h1:1,h2:2/"),
            ["rediss://app:pw@h1:1/", "rediss://app:pw@h2:2/"]
        );
        assert!(is_cluster("redis+cluster://h:1") && !is_cluster("redis://h:1"));
    }

    #[test]
    fn only_live_masters_are_listed() {
        let listing = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001,host-b master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7002@17002 master,fail - 0 0 3 connected 10923-16383
d4 127.0.0.1:7003@17003 slave a1 0 0 1 connected
";
        let ports: Vec<u16> = parse_masters(listing)
            .into_iter()
            .filter_map(|n| match n {
                Node::Master { port, .. } => Some(port),
                Node::Only => None,
            })
            .collect();
        assert_eq!(ports, [7000, 7001]);
    }
}
