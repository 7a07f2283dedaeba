//! One module per subcommand, each with its `Cmd` (flags) and `run`.

pub(crate) mod capacity;
pub(crate) mod cluster;
pub(crate) mod gateway;
mod identity;
pub(crate) mod keys;
pub(crate) mod lab;
pub(crate) mod serve;
pub(crate) mod service;
mod token_cost;

/// Why a subcommand stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CmdError {
    /// A setting was refused; exit code 2.
    #[error("{0}")]
    Usage(String),
    /// Something failed while running; exit code 1.
    #[error("{0}")]
    Runtime(String),
}

impl CmdError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Runtime(_) => 1,
        }
    }
}

/// A multi-threaded tokio runtime for a subcommand.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CmdError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::Runtime(format!("cannot start the async runtime: {e}")))
}

/// A server's runtime: one thread when the process has one core (pinned,
/// or a one-core machine). A multi-threaded scheduler with a single worker
/// only adds cross-thread bookkeeping to every wake-up, and its LIFO slot
/// runs a woken task next: a Redis connection's writer, woken by one request,
/// would write that request's command alone instead of the tick's batch.
pub(crate) fn server_runtime() -> Result<tokio::runtime::Runtime, CmdError> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores > 1 {
        return runtime();
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::Runtime(format!("cannot start the async runtime: {e}")))
}

/// Binds `addr`; the listener and the address it got (port 0 picks one).
pub(crate) async fn bind(
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), CmdError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CmdError::Usage(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CmdError::Runtime(e.to_string()))?;
    Ok((listener, local))
}
