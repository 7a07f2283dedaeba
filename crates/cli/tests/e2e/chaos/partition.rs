//! The partition phase: `server-1` reaches Redis, PostgreSQL and NATS
//! through links of the suite's own, and each is blackholed in turn under
//! the load — data stops, connections stay open, no RST: a partition, not a
//! crash — then healed. `server-2` reaches them directly all along.

use std::net::SocketAddr;

use statecraft_link::{Faults, Link};

use super::deps::Crashable;

/// The links between `server-1` and its dependencies.
pub(crate) struct Links {
    redis: Link,
    postgres: Link,
    nats: Vec<Link>,
    /// Runs the links; dropped last (fields drop in order).
    _runtime: tokio::runtime::Runtime,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Links {
    /// Links to Redis, PostgreSQL and every NATS server, on their ports.
    pub(crate) fn start(redis: u16, postgres: u16, nats: &[u16]) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let link = |port| runtime.block_on(Link::start(loopback(port))).unwrap();
        Self {
            redis: link(redis),
            postgres: link(postgres),
            nats: nats.iter().map(|&port| link(port)).collect(),
            _runtime: runtime,
        }
    }

    /// Redis through its link.
    pub(crate) fn redis_url(&self) -> String {
        format!("redis://{}", self.redis.addr())
    }

    /// The `chaos` database through its link.
    pub(crate) fn postgres_url(&self) -> String {
        format!("postgres://postgres@{}/chaos", self.postgres.addr())
    }

    /// Every NATS server through its link.
    pub(crate) fn nats_url(&self) -> String {
        (self.nats.iter())
            .map(|l| format!("nats://{}", l.addr()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `server-1` cut off from Redis.
    pub(crate) fn redis(&self) -> Partition<'_> {
        Partition(vec![&self.redis])
    }

    /// `server-1` cut off from PostgreSQL.
    pub(crate) fn postgres(&self) -> Partition<'_> {
        Partition(vec![&self.postgres])
    }

    /// `server-1` cut off from every NATS server.
    pub(crate) fn nats(&self) -> Partition<'_> {
        Partition(self.nats.iter().collect())
    }
}

/// A partition as a fault: "crash" blackholes the links, "restart" heals them.
pub(crate) struct Partition<'a>(Vec<&'a Link>);

impl Crashable for Partition<'_> {
    fn crash(&mut self) {
        for link in &self.0 {
            link.set(Faults {
                blackhole: true,
                ..Faults::default()
            });
        }
    }

    fn restart(&mut self) {
        for link in &self.0 {
            link.set(Faults::default());
        }
    }
}
