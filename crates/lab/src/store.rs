//! The shared store of the shared-store and token strategies: a Redis the
//! lab was given, one it starts itself, or a SQLite file when there is no
//! Redis. Its faults go through the cluster's links to it.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

use crate::LabError;

/// Where the shared state lives during the run.
#[derive(Debug)]
pub(crate) enum SharedStore {
    /// A Redis server; `own` is the process when the lab started it.
    Redis { url: String, own: Option<Child> },
    /// One SQLite file for every instance (no Redis on this machine).
    Sqlite { path: String },
    /// The store of a deployment the lab did not start (`--target`).
    Deployed,
}

impl SharedStore {
    /// The given Redis, else a redis-server of our own on a free loopback
    /// port, else a SQLite file in `work`.
    pub(crate) async fn prepare(given: Option<String>, work: &Path) -> Result<Self, LabError> {
        if let Some(url) = given {
            ping(&url).await.map_err(|e| {
                LabError::Setup(format!(
                    "cannot reach the Redis given for the shared store ({}): {e}",
                    crate::spec::redact_url(&url)
                ))
            })?;
            return Ok(Self::Redis { url, own: None });
        }
        let port = free_port()?;
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let Ok(child) = spawned else {
            let path = work.join("shared-sessions.sqlite");
            return Ok(Self::Sqlite {
                path: path.display().to_string(),
            });
        };
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Err(err) = ping(&url).await {
            if Instant::now() > deadline {
                return Err(LabError::Setup(format!(
                    "the redis-server started on port {port} did not answer: {err}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self::Redis {
            url,
            own: Some(child),
        })
    }

    /// The `--session-store` value for the instances.
    pub(crate) fn spec(&self) -> String {
        match self {
            Self::Redis { url, .. } => url.clone(),
            Self::Sqlite { path } => format!("sqlite:{path}"),
            Self::Deployed => "deployed".to_owned(),
        }
    }

    /// For the report: what it is, never with a password.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Redis { own: Some(_), url } => format!("redis ({url}, started by the lab)"),
            Self::Redis { own: None, url } => {
                format!("redis ({}, given)", crate::spec::redact_url(url))
            }
            Self::Sqlite { .. } => {
                "sqlite file (no redis-server on this machine; instances share one file)".to_owned()
            }
            Self::Deployed => "the deployment's own (not started by the lab)".to_owned(),
        }
    }

    /// Stops the redis-server the lab started, if any.
    pub(crate) async fn shut_down(self) {
        if let Self::Redis {
            own: Some(mut child),
            ..
        } = self
        {
            let _ = child.kill().await;
        }
    }
}

/// One `PING`, bounded: whether a Redis answers at `url`'s address (one
/// that asks for a password first answers too: the instances log in; over
/// TLS, that something listens there).
async fn ping(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = parsed.port().unwrap_or(6379);
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("{host}:{port}: {e}"))?;
        if parsed.scheme() == "rediss" {
            // TLS: it listens; the instances' own client checks the rest.
            return Ok(());
        }
        stream
            .write_all(b"PING\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = [0u8; 7];
        let read = stream.read(&mut reply).await.map_err(|e| e.to_string())?;
        let reply = &reply[..read];
        if reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH") {
            Ok(())
        } else {
            Err(format!(
                "{host}:{port} answered {:?}, not a Redis PONG",
                String::from_utf8_lossy(reply)
            ))
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(answer) => answer,
        Err(_) => Err("no answer within 2 s".to_owned()),
    }
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> Result<u16, LabError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| LabError::Setup(format!("no free loopback port: {e}")))
}
