//! A replicated Redis of the chaos suite's own: a primary, two replicas and
//! three sentinels on free loopback ports, their files in the run's
//! directory. The primary and replicas refuse writes when no replica is in
//! step (min-replicas-to-write 1, min-replicas-max-lag 10); the sentinels
//! fail over after 2 s without an answer, agreed by 2 of 3 (at 1 s, a
//! promoted replica busy on two loaded cores was itself failed over, and the
//! last one standing had no replica left to accept writes).

use std::path::Path;
use std::time::{Duration, Instant};

use super::deps::{Crashable, Daemon};
use crate::common::free_port;

/// The name the sentinels know the primary by.
pub(crate) const MASTER: &str = "chaos";

/// The primary, its replicas and their sentinels.
pub(crate) struct Replicated {
    pub(crate) primary: Daemon,
    _replicas: Vec<Daemon>,
    sentinels: Vec<Daemon>,
}

fn data_node(dir: &Path, name: &str, port: u16, primary: Option<u16>) -> Daemon {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let mut args: Vec<String> = [
        "--bind",
        "127.0.0.1",
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
        "10",
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
            "127.0.0.1".to_owned(),
            primary.to_string(),
        ]);
    }
    Daemon::start("redis-server", args, dir.join(format!("{name}.log")), port)
}

fn sentinel(dir: &Path, n: usize, primary: u16) -> Daemon {
    let port = free_port();
    let conf = dir.join(format!("sentinel-{n}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds {MASTER} 2000\n\
             sentinel failover-timeout {MASTER} 5000\n",
            dir.display()
        ),
    )
    .unwrap();
    let args = vec![conf.to_str().unwrap().to_owned(), "--sentinel".to_owned()];
    Daemon::start(
        "redis-server",
        args,
        dir.join(format!("sentinel-{n}.log")),
        port,
    )
}

/// `cmd` on the server at `port`.
pub(crate) fn query<T: redis::FromRedisValue>(
    port: u16,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    cmd.query(&mut conn)
}

impl Replicated {
    /// Starts them all and waits until the sentinels know each other and
    /// both replicas (a failover needs both).
    pub(crate) fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let primary = data_node(dir, "primary", port, None);
        let replicas = vec![
            data_node(dir, "replica-1", free_port(), Some(port)),
            data_node(dir, "replica-2", free_port(), Some(port)),
        ];
        let sentinels: Vec<Daemon> = (1..=3).map(|n| sentinel(dir, n, port)).collect();
        let set = Self {
            primary,
            _replicas: replicas,
            sentinels,
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
                query::<Vec<redis::Value>>(s.port(), redis::cmd("SENTINEL").arg(what).arg(MASTER))
                    .map_or(0, |list| list.len())
            };
            count("REPLICAS") == 2 && count("SENTINELS") == 2
        }) && query::<String>(self.primary.port(), redis::cmd("INFO").arg("replication"))
            .is_ok_and(|info| info.matches("state=online").count() == 2)
    }

    /// The store URL: the primary through its sentinels.
    pub(crate) fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port()))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// SIGKILLs the primary.
    pub(crate) fn kill_primary(&mut self) {
        self.primary.crash();
    }
}
