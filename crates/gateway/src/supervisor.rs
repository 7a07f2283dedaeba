//! The processes of a local cluster: app instances started as child processes
//! on loopback, their logs forwarded with a prefix, killed and started again
//! on request, and all stopped together.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use statecraft_http::{listening_port, stop_within};

use crate::cluster::InstanceControl;

/// How long a starting instance may take to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping instance may take to finish its requests.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start one instance.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Its name, also its log prefix.
    pub id: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments, without the listening address (the supervisor adds
    /// `--listen`).
    pub args: Vec<String>,
    /// Environment variables to set (secrets go here, not in `args`, which
    /// any user can read with `ps`).
    pub env: Vec<(String, String)>,
    /// Its port; 0 for any free one.
    pub port: u16,
    /// The network namespace it runs in and its address there (see
    /// `statecraft_link::netns`); `None`: the host's, on loopback.
    pub netns: Option<(String, IpAddr)>,
}

impl InstanceSpec {
    /// The address it listens on.
    fn ip(&self) -> IpAddr {
        self.netns
            .as_ref()
            .map_or(IpAddr::from([127, 0, 0, 1]), |(_, ip)| *ip)
    }
}

#[derive(Debug)]
struct Running {
    spec: InstanceSpec,
    /// The address it listens on, kept across restarts.
    port: u16,
    child: Option<Child>,
    /// A restart is under way.
    starting: bool,
}

/// The instances of a cluster.
#[derive(Debug, Default)]
pub struct Supervisor {
    instances: Arc<Mutex<BTreeMap<String, Running>>>,
}

/// Why an instance could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

impl Supervisor {
    /// No instances yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `spec` on its port (a free one for 0); returns its URL once it
    /// says it is listening.
    ///
    /// # Errors
    /// [`StartError`] when it cannot be spawned or exits before listening.
    pub async fn launch(&self, spec: InstanceSpec) -> Result<String, StartError> {
        let (child, port) = spawn(&spec, spec.port).await?;
        let url = format!("http://{}", SocketAddr::new(spec.ip(), port));
        self.lock().insert(
            spec.id.clone(),
            Running {
                spec,
                port,
                child: Some(child),
                starting: false,
            },
        );
        Ok(url)
    }

    /// Stops every instance: SIGTERM, then SIGKILL for one still running
    /// after the grace period.
    pub async fn shutdown(&self) {
        let children: Vec<(String, Child)> = self
            .lock()
            .iter_mut()
            .filter_map(|(id, r)| r.child.take().map(|c| (id.clone(), c)))
            .collect();
        let stops = children.into_iter().map(|(id, mut child)| async move {
            if stop_within(&mut child, STOP_TIMEOUT).await {
                tracing::warn!(instance = %id, "did not stop in time: killed");
            }
        });
        futures_util::future::join_all(stops).await;
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Running>> {
        lock(&self.instances)
    }
}

impl InstanceControl for Supervisor {
    fn stop(&self, id: &str) -> Result<(), String> {
        let mut instances = self.lock();
        let running = instances
            .get_mut(id)
            .ok_or_else(|| format!("No instance {id}"))?;
        let mut child = running
            .child
            .take()
            .ok_or_else(|| format!("Instance {id} is not running"))?;
        child
            .start_kill()
            .map_err(|e| format!("Cannot kill instance {id}: {e}"))?;
        // Reap it in the background so it leaves no zombie.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        tracing::warn!(instance = %id, "killed (SIGKILL)");
        Ok(())
    }

    fn is_up(&self, id: &str) -> bool {
        let mut instances = self.lock();
        instances.get_mut(id).is_some_and(|running| {
            running.starting
                || running
                    .child
                    .as_mut()
                    .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
        })
    }

    fn address(&self, id: &str) -> Option<SocketAddr> {
        self.lock()
            .get(id)
            .map(|running| SocketAddr::new(running.spec.ip(), running.port))
    }

    fn start(&self, id: &str) -> Result<(), String> {
        let (spec, port) = {
            let mut instances = self.lock();
            let running = instances
                .get_mut(id)
                .ok_or_else(|| format!("No instance {id}"))?;
            let alive = running
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(None)));
            if alive || running.starting {
                return Err(format!("Instance {id} is already running"));
            }
            running.starting = true;
            (running.spec.clone(), running.port)
        };
        // It comes back on its own port, so the gateway finds it there; the
        // health check puts it back in rotation once it is ready. The caller
        // does not wait for that.
        let instances = Arc::clone(&self.instances);
        let id = id.to_owned();
        tokio::spawn(async move {
            let started = spawn(&spec, port).await;
            let mut instances = lock(&instances);
            if let Some(running) = instances.get_mut(&id) {
                running.starting = false;
                match started {
                    Ok((child, _)) => running.child = Some(child),
                    Err(err) => tracing::warn!(instance = %id, %err, "did not start"),
                }
            }
        });
        Ok(())
    }
}

fn lock(instances: &Mutex<BTreeMap<String, Running>>) -> MutexGuard<'_, BTreeMap<String, Running>> {
    instances.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spawns `spec` on `port` (0: any free port) and waits for its
/// "listening on http://…" line; its output is then forwarded with its name.
async fn spawn(spec: &InstanceSpec, port: u16) -> Result<(Child, u16), StartError> {
    let mut command = match &spec.netns {
        // `ip netns exec` enters the namespace and execs the program: the
        // child is the program itself, so a kill reaches it.
        Some((name, _)) => {
            let mut ip = Command::new("ip");
            ip.args(["netns", "exec", name]).arg(&spec.program);
            ip
        }
        None => Command::new(&spec.program),
    };
    // The "listening on" line is how the port is learnt: a RUST_LOG that
    // hides info (RUST_LOG=warn) must not hide it, or no instance would
    // ever be found listening.
    if let Ok(filter) = std::env::var("RUST_LOG")
        && !filter.trim().is_empty()
    {
        command.env(
            "RUST_LOG",
            format!("{filter},statecraft::cmd::serve=info,statecraft::cmd::service=info"),
        );
    }
    let mut child = command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .arg("--listen")
        .arg(SocketAddr::new(spec.ip(), port).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| StartError(format!("cannot start {}: {e}", spec.id)))?;
    let prefix = spec.id.clone();
    if let Some(stdout) = child.stdout.take() {
        let prefix = prefix.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("[{prefix}] {line}");
            }
        });
    }
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| StartError(format!("no log of {}", spec.id)))?;
    let mut lines = BufReader::new(stderr).lines();
    let listening = tokio::time::timeout(START_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{prefix}] {line}");
            if let Some(port) = listening_port(&line) {
                return Some(port);
            }
        }
        None
    })
    .await;
    let port = match listening {
        Ok(Some(port)) => port,
        _ => {
            let _ = child.kill().await;
            return Err(StartError(format!(
                "{} exited or did not listen within {START_TIMEOUT:?}",
                spec.id
            )));
        }
    };
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{prefix}] {line}");
        }
    });
    Ok((child, port))
}
