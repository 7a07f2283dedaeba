//! `statecraft link`: a TCP link in front of one part, with the faults of
//! its flags (a distance, a slow or thin line) for as long as it runs. Point
//! a part at `--listen` instead of its peer: e.g. `serve --session-store
//! redis://127.0.0.1:7379` through `link --listen 127.0.0.1:7379 --target
//! 127.0.0.1:6379 --rtt 2ms` puts the store 2 ms away. Faults that change
//! during a run (partitions, resets) are the lab's and the tests' to set,
//! from their own code.

use std::net::SocketAddr;
use std::time::Duration;

use statecraft_link::{Faults, Link, Toward};

use super::shutdown_signal;
use super::{CmdError, server_runtime};

/// Flags of `statecraft link`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// Address to listen on; the part that should go through the link
    /// connects here.
    #[arg(long, env = "STATECRAFT_LISTEN", default_value = "127.0.0.1:7379")]
    listen: SocketAddr,

    /// Where the link leads: the peer's address (e.g. Redis, 127.0.0.1:6379).
    #[arg(long, env = "STATECRAFT_LINK_TARGET")]
    target: SocketAddr,

    /// Round-trip time added, half each way (e.g. 2ms: a store in another zone).
    #[arg(long, env = "STATECRAFT_LINK_RTT", default_value = "0ms", value_parser = super::parse_duration, allow_hyphen_values = true)]
    rtt: Duration,

    /// Up to this much more or less on each way's delay, at random.
    #[arg(long, env = "STATECRAFT_LINK_JITTER", default_value = "0ms", value_parser = super::parse_duration, allow_hyphen_values = true)]
    jitter: Duration,

    /// Bytes per second each way at most (unset: as fast as loopback goes).
    #[arg(long, env = "STATECRAFT_LINK_BANDWIDTH", value_parser = clap::value_parser!(u64).range(1..))]
    bandwidth: Option<u64>,
}

/// Runs the link until Ctrl-C or SIGTERM.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    server_runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let (listener, local) = super::bind(cmd.listen).await?;
        let link = Link::on(listener, cmd.target)
            .map_err(|e| CmdError::Runtime(format!("the link cannot start: {e}")))?;
        let toward = Toward {
            latency: cmd.rtt / 2,
            jitter: cmd.jitter,
            bandwidth: cmd.bandwidth,
        };
        link.set(Faults {
            upstream: toward,
            downstream: toward,
            ..Faults::default()
        });
        tracing::info!(target = %cmd.target, rtt = ?cmd.rtt, jitter = ?cmd.jitter, bandwidth = ?cmd.bandwidth, "listening on tcp://{local}");
        shutdown.await;
        drop(link);
        tracing::info!("stopped");
        Ok(())
    })
}
