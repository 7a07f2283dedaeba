//! The failover phase's store: a Redis primary, two replicas and three
//! sentinels the lab starts on free loopback ports, as an operator would run
//! them — the primary refuses writes when no replica has acknowledged it for
//! 10 s (`min-replicas-to-write 1`, `min-replicas-max-lag 10`), the
//! sentinels fail it over after 2 s without an answer, agreed by 2 of 3.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::LabError;
use crate::store::free_port;

/// The name the sentinels know the primary by.
const MASTER: &str = "lab";
/// How long the set may take to be ready: every sentinel knowing both
/// replicas and the other two sentinels (their hellos go every 2 s).
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A primary, its replicas and their sentinels, stopped when dropped.
#[derive(Debug)]
pub(crate) struct ReplicatedRedis {
    primary: Option<Child>,
    /// Kept to be stopped with the set.
    _others: Vec<Child>,
    sentinels: Vec<u16>,
}

fn spawn(args: &[String], log: &Path) -> Result<Child, LabError> {
    let file = std::fs::File::create(log)
        .map_err(|e| LabError::Setup(format!("cannot write {}: {e}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(|e| LabError::Setup(format!("cannot write {}: {e}", log.display())))?;
    Command::new("redis-server")
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LabError::Setup(format!("cannot start redis-server: {e}")))
}

fn data_node(dir: &Path, name: &str, port: u16, primary: Option<u16>) -> Result<Child, LabError> {
    let data = dir.join(name);
    std::fs::create_dir_all(&data)
        .map_err(|e| LabError::Setup(format!("cannot create {}: {e}", data.display())))?;
    let mut args: Vec<String> = [
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--dir",
        &data.display().to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        "10",
        // A replica in step at once, not after Redis's default 5 s wait:
        // until one is, min-replicas-to-write refuses every write.
        "--repl-diskless-sync-delay",
        "0",
    ]
    .map(str::to_owned)
    .into();
    if let Some(primary) = primary {
        args.extend([
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            primary.to_string(),
        ]);
    }
    spawn(&args, &dir.join(format!("{name}.log")))
}

fn sentinel(dir: &Path, n: usize, port: u16, primary: u16) -> Result<Child, LabError> {
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
    .map_err(|e| LabError::Setup(format!("cannot write {}: {e}", conf.display())))?;
    spawn(
        &[conf.display().to_string(), "--sentinel".to_owned()],
        &dir.join(format!("sentinel-{n}.log")),
    )
}

/// `cmd` on the Redis at `port`, within a second.
async fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> Result<T, String> {
    let attempt = async {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{port}/")).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        cmd.query_async(&mut conn).await.map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .unwrap_or_else(|_| Err("no answer within 1 s".to_owned()))
}

impl ReplicatedRedis {
    /// Starts the set, its files in `dir`, and waits until the sentinels
    /// could fail the primary over.
    pub(crate) async fn start(dir: &Path) -> Result<Self, LabError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| LabError::Setup(format!("cannot create {}: {e}", dir.display())))?;
        let primary_port = free_port()?;
        let primary = data_node(dir, "primary", primary_port, None)?;
        let mut others = Vec::new();
        for name in ["replica-1", "replica-2"] {
            others.push(data_node(dir, name, free_port()?, Some(primary_port))?);
        }
        let mut sentinels = Vec::new();
        for n in 1..=3 {
            let port = free_port()?;
            others.push(sentinel(dir, n, port, primary_port)?);
            sentinels.push(port);
        }
        let set = Self {
            primary: Some(primary),
            _others: others,
            sentinels,
        };
        let deadline = Instant::now() + READY_WITHIN;
        while !set.ready(primary_port).await {
            if Instant::now() > deadline {
                return Err(LabError::Setup(format!(
                    "the replicated Redis (primary, two replicas, three sentinels) was not ready \
                     within {READY_WITHIN:?}; its logs are in {}",
                    dir.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(set)
    }

    async fn ready(&self, primary: u16) -> bool {
        let online = query::<String>(primary, redis::cmd("INFO").arg("replication"))
            .await
            .is_ok_and(|info| info.matches("state=online").count() == 2);
        if !online {
            return false;
        }
        for &port in &self.sentinels {
            for what in ["REPLICAS", "SENTINELS"] {
                let listed =
                    query::<Vec<redis::Value>>(port, redis::cmd("SENTINEL").arg(what).arg(MASTER))
                        .await;
                if !listed.is_ok_and(|entries| entries.len() == 2) {
                    return false;
                }
            }
        }
        true
    }

    /// The store URL: the primary through its sentinels.
    pub(crate) fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// SIGKILLs the primary, as a crash would.
    pub(crate) async fn kill_primary(&mut self) {
        if let Some(mut primary) = self.primary.take() {
            let _ = primary.kill().await;
        }
    }
}
