//! A replicated Redis of the chaos suite's own: a primary, two replicas and
//! three sentinels on free ports, their files in the run's directory. The
//! primary and replicas refuse writes when no replica has acknowledged the
//! stream for 4 s (min-replicas-to-write 1, min-replicas-max-lag 4): a
//! primary cut off from its replicas stops taking writes a failover would
//! discard. The sentinels fail over after 2 s without an answer, agreed by 2
//! of 3 (at 1 s, a promoted replica busy on two loaded cores was itself
//! failed over, and the last one standing had no replica left to accept
//! writes).
//!
//! Placed on loopback, or split: the primary on the host (loopback and the
//! host's end of a veth pair), the replicas and sentinels in a network
//! namespace of their own, so that pulling the pair's cable cuts the primary
//! off from them while the host's clients still reach it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use statecraft_link::netns::Namespace;

use super::deps::{Crashable, Daemon};
use crate::common::free_port;

/// The name the sentinels know the primary by.
pub(crate) const MASTER: &str = "chaos";

/// Seconds a primary goes on taking writes that no replica acknowledges.
pub(crate) const MAX_LAG_SECS: u64 = 4;

/// The primary, its replicas and their sentinels.
pub(crate) struct Replicated {
    pub(crate) primary: Daemon,
    _replicas: Vec<Daemon>,
    sentinels: Vec<Daemon>,
    /// The namespace of the replicas and sentinels, when split.
    namespace: Option<String>,
}

/// Where the parts run and by which address they reach each other.
#[derive(Clone, Copy)]
struct Placement<'a> {
    /// The namespace of the replicas and sentinels, or `None`: loopback.
    namespace: Option<&'a Namespace>,
}

impl Placement<'_> {
    /// Where the replicas and sentinels listen.
    fn peers(self) -> Ipv4Addr {
        self.namespace
            .map_or(Ipv4Addr::LOCALHOST, Namespace::inner_addr)
    }

    /// Where the replicas and sentinels reach the primary.
    fn primary(self) -> Ipv4Addr {
        self.namespace
            .map_or(Ipv4Addr::LOCALHOST, Namespace::host_addr)
    }

    /// Starts `redis-server ARGS` listening on `addr`: in the namespace when
    /// the address is the namespace's (`ip netns exec` execs, so the child
    /// is the server itself and a kill reaches it).
    fn start(self, args: Vec<String>, log: std::path::PathBuf, addr: SocketAddr) -> Daemon {
        match self.namespace {
            Some(ns) if addr.ip() == IpAddr::V4(ns.inner_addr()) => {
                let mut wrapped: Vec<String> = ["netns", "exec", ns.name(), "redis-server"]
                    .map(str::to_owned)
                    .into();
                wrapped.extend(args);
                Daemon::start_at("ip", wrapped, log, addr)
            }
            _ => Daemon::start_at("redis-server", args, log, addr),
        }
    }
}

fn data_node(dir: &Path, name: &str, place: Placement, primary: Option<u16>) -> Daemon {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let (listen, bind) = match (primary, place.namespace) {
        (None, Some(ns)) => (Ipv4Addr::LOCALHOST, format!("127.0.0.1 {}", ns.host_addr())),
        (None, None) => (Ipv4Addr::LOCALHOST, "127.0.0.1".to_owned()),
        (Some(_), _) => (place.peers(), place.peers().to_string()),
    };
    let mut args: Vec<String> = [
        "--bind",
        &bind,
        // Bound to loopback and a test's own veth address only.
        "--protected-mode",
        "no",
        "--port",
        &port.to_string(),
        "--dir",
        data.to_str().unwrap(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        &MAX_LAG_SECS.to_string(),
        // A replica (re)synchronises at once, not after the 5 s Redis waits
        // by default to serve several with one transfer: until one is in
        // step, min-replicas-to-write refuses every write.
        "--repl-diskless-sync-delay",
        "0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(primary) = primary {
        args.extend([
            "--replicaof".to_owned(),
            place.primary().to_string(),
            primary.to_string(),
        ]);
    }
    place.start(
        args,
        dir.join(format!("{name}.log")),
        SocketAddr::from((listen, port)),
    )
}

fn sentinel(dir: &Path, n: usize, place: Placement, primary: u16) -> Daemon {
    let port = free_port();
    let conf = dir.join(format!("sentinel-{n}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind {}\nprotected-mode no\ndir {}\n\
             sentinel monitor {MASTER} {} {primary} 2\n\
             sentinel down-after-milliseconds {MASTER} 2000\n\
             sentinel failover-timeout {MASTER} 5000\n",
            place.peers(),
            dir.display(),
            place.primary(),
        ),
    )
    .unwrap();
    let args = vec![conf.to_str().unwrap().to_owned(), "--sentinel".to_owned()];
    place.start(
        args,
        dir.join(format!("sentinel-{n}.log")),
        SocketAddr::from((place.peers(), port)),
    )
}

/// `cmd` on the server at `addr`.
fn query<T: redis::FromRedisValue>(addr: SocketAddr, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    cmd.query(&mut conn)
}

impl Replicated {
    /// Starts them all on loopback.
    pub(crate) fn start(dir: &Path) -> Self {
        Self::start_placed(dir, Placement { namespace: None })
    }

    /// Starts the primary on the host and the replicas and sentinels in
    /// `namespace`: its cable is the partition.
    pub(crate) fn start_split(dir: &Path, namespace: &Namespace) -> Self {
        Self::start_placed(
            dir,
            Placement {
                namespace: Some(namespace),
            },
        )
    }

    /// Starts them and waits until the sentinels know each other and both
    /// replicas (a failover needs both).
    fn start_placed(dir: &Path, place: Placement) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let primary = data_node(dir, "primary", place, None);
        let port = primary.port();
        let replicas = vec![
            data_node(dir, "replica-1", place, Some(port)),
            data_node(dir, "replica-2", place, Some(port)),
        ];
        let sentinels: Vec<Daemon> = (1..=3).map(|n| sentinel(dir, n, place, port)).collect();
        let set = Self {
            primary,
            _replicas: replicas,
            sentinels,
            namespace: place.namespace.map(|ns| ns.name().to_owned()),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !set.ready() {
            assert!(
                Instant::now() < deadline,
                "the replicated Redis never got ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        set
    }

    fn ready(&self) -> bool {
        self.sentinels.iter().all(|s| {
            let count = |what: &str| {
                query::<Vec<redis::Value>>(s.addr(), redis::cmd("SENTINEL").arg(what).arg(MASTER))
                    .map_or(0, |list| list.len())
            };
            count("REPLICAS") == 2 && count("SENTINELS") == 2
        }) && self
            .primary_info()
            .is_ok_and(|info| info.matches("state=online").count() == 2)
    }

    /// The first primary's `INFO replication`.
    fn primary_info(&self) -> redis::RedisResult<String> {
        query(self.primary.addr(), redis::cmd("INFO").arg("replication"))
    }

    /// The store URL: the primary through its sentinels.
    pub(crate) fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| s.addr().to_string())
            .collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// Whether the sentinels name a primary other than the first, asked
    /// from their own side (in their namespace when split: the host may be
    /// cut off from them).
    pub(crate) fn failed_over(&self) -> bool {
        let sentinel = self.sentinels[0].addr();
        let ask = [
            "redis-cli",
            "-h",
            &sentinel.ip().to_string(),
            "-p",
            &sentinel.port().to_string(),
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            MASTER,
        ];
        let mut command = match &self.namespace {
            Some(ns) => {
                let mut c = std::process::Command::new("ip");
                c.args(["netns", "exec", ns]).args(ask);
                c
            }
            None => {
                let mut c = std::process::Command::new(ask[0]);
                c.args(&ask[1..]);
                c
            }
        };
        command.output().is_ok_and(|out| {
            let named = String::from_utf8_lossy(&out.stdout);
            named.lines().nth(1).is_some_and(|port| {
                port.trim()
                    .parse::<u16>()
                    .is_ok_and(|p| p != self.primary.port())
            })
        })
    }

    /// SIGKILLs the primary.
    pub(crate) fn kill_primary(&mut self) {
        self.primary.crash();
    }
}
