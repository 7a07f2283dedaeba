//! `statecraft healthcheck`: asks a server on this host whether it is up —
//! the image's `HEALTHCHECK` and a probe for anything that can run a
//! command but has no HTTP client (an image `FROM scratch` has no curl).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::{CmdError, runtime};

/// Flags of `statecraft healthcheck`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// The server's listen address, as `serve` was given it (an unspecified
    /// address such as 0.0.0.0 is asked on loopback).
    #[arg(long, env = "STATECRAFT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// The path asked: /healthz (the process is up) or /readyz (its stores
    /// answer).
    #[arg(long, default_value = "/healthz", value_parser = ["/healthz", "/readyz"])]
    path: String,
}

/// How long the server may take to answer: a probe that hangs is a failed one.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks; exit code 0 on a 2xx answer, 1 otherwise (with the cause).
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    let mut addr = cmd.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let url = format!("http://{addr}{}", cmd.path);
    let failed = |e: String| CmdError::Runtime(format!("GET {url}: {e}"));
    runtime()?.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            // Never through an HTTP proxy of the environment: it would
            // answer for another host's port.
            .no_proxy()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| failed(format!("no answer ({e}); is the server running there?")))?;
        if response.status().is_success() {
            println!("{url}: {}", response.status());
            Ok(())
        } else {
            Err(failed(format!("answered {}", response.status())))
        }
    })
}
