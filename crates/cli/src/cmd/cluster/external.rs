//! `statecraft cluster --balancer haproxy|nginx`: the named balancer runs in
//! front of the instances, from the configuration `balancer.rs` writes, as
//! a child of the cluster; the built-in gateway keeps serving the control
//! routes behind it on a loopback port of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::balancer::{self, Balancer, Front};
use crate::cmd::CmdError;

/// How long the balancer may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A balancer process and its configuration's directory.
#[derive(Debug)]
pub(crate) struct External {
    child: Child,
    dir: PathBuf,
}

impl External {
    /// Writes `kind`'s configuration for `front` to a directory of its own
    /// and starts it; returns once it accepts connections on
    /// `front.listen`.
    pub(crate) async fn start(kind: Balancer, front: &Front<'_>) -> Result<Self, CmdError> {
        let dir = std::env::temp_dir().join(format!(
            "statecraft-{}-{}",
            program(kind),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| CmdError::Runtime(format!("cannot create {}: {e}", dir.display())))?;
        let (file, config) = match kind {
            Balancer::Haproxy => ("haproxy.cfg", balancer::haproxy(front)),
            _ => ("nginx.conf", balancer::nginx(front, &dir)),
        };
        let path = dir.join(file);
        std::fs::write(&path, config)
            .map_err(|e| CmdError::Runtime(format!("cannot write {}: {e}", path.display())))?;
        let mut command = Command::new(program(kind));
        match kind {
            // In the foreground, its log on stderr.
            Balancer::Haproxy => command.arg("-db").arg("-f").arg(&path),
            _ => command
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&path)
                .args(["-e", "stderr"]),
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                CmdError::Usage(format!(
                    "cannot start {}: {e} (install Debian's {} package, or use --balancer builtin)",
                    program(kind),
                    program(kind)
                ))
            })?;
        // Its log joins the cluster's, each line marked.
        if let Some(stderr) = child.stderr.take() {
            let name = program(kind);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("[{name}] {line}");
                }
            });
        }
        let started = Instant::now();
        while tokio::net::TcpStream::connect(front.listen).await.is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(CmdError::Runtime(format!(
                    "{} stopped at start ({status}): its lines above say why",
                    program(kind)
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(CmdError::Runtime(format!(
                    "{} did not listen on {} within {START_TIMEOUT:?}",
                    program(kind),
                    front.listen
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { child, dir })
    }

    /// Stops it and removes its directory.
    pub(crate) async fn stop(mut self) {
        statecraft_http::stop_within(&mut self.child, Duration::from_secs(5)).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The program of a balancer.
fn program(kind: Balancer) -> &'static str {
    match kind {
        Balancer::Haproxy => "haproxy",
        _ => "nginx",
    }
}

/// A free loopback port's address for a balancer asked to listen on port 0
/// (the balancers take no port 0 that they would report).
pub(crate) fn concrete(listen: SocketAddr) -> Result<SocketAddr, CmdError> {
    if listen.port() != 0 {
        return Ok(listen);
    }
    let probe = std::net::TcpListener::bind(SocketAddr::new(listen.ip(), 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| CmdError::Runtime(format!("no free port on {}: {e}", listen.ip())))?;
    Ok(probe)
}
