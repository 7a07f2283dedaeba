//! One module per subcommand, each with its `Cmd` (flags) and `run`.

pub(crate) mod capacity;
pub(crate) mod cluster;
mod control;
mod durability;
pub(crate) mod gateway;
pub(crate) mod handover;
pub(crate) mod healthcheck;
mod identity;
pub(crate) mod keys;
pub(crate) mod lab;
pub(crate) mod link;
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

/// This program's own file, to start more of itself (instances, lab
/// runs): `/proc/self/exe`, else — where no `/proc` is mounted, as in a bare
/// chroot — the absolute path it was started by.
pub(crate) fn own_binary() -> Result<std::path::PathBuf, CmdError> {
    std::env::current_exe().or_else(|e| {
        std::env::args_os()
            .next()
            .map(std::path::PathBuf::from)
            .filter(|path| path.is_absolute() && path.is_file())
            .ok_or_else(|| {
                CmdError::Runtime(format!(
                    "cannot find the statecraft binary ({e}): mount /proc, or start it by its \
                     absolute path"
                ))
            })
    })
}

/// A trusted proxy: an address (`127.0.0.1`) or a range of them
/// (`10.42.0.0/16`, an ingress controller's pod network).
pub(crate) fn parse_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s}: not an address or a range (127.0.0.1, 10.42.0.0/16)"))
}

/// A shared secret given as a setting (the hand-over token): long enough
/// not to be guessed, and not an example's placeholder left in place.
pub(crate) fn parse_secret_token(s: &str) -> Result<String, String> {
    const MIN: usize = 16;
    if s.to_ascii_uppercase().starts_with("CHANGE-ME") {
        return Err(
            "still the example's placeholder: make one with openssl rand -hex 32".to_owned(),
        );
    }
    if s.chars().count() < MIN {
        return Err(format!(
            "at least {MIN} characters, or it can be guessed: make one with openssl rand -hex 32"
        ));
    }
    Ok(s.to_owned())
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

/// A future that completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are
/// installed here, before the server says it is listening, so that a signal sent
/// right after start-up stops it gracefully instead of killing it.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, CmdError> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind| {
        signal(kind).map_err(|e| CmdError::Runtime(format!("cannot handle signals: {e}")))
    };
    let mut interrupt = install(SignalKind::interrupt())?;
    let mut terminate = install(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    })
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, CmdError> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    })
}

/// A duration flag's value (`500ms`, `30s`, `15m`, `14days`); a negative one
/// is named as such (clap would otherwise take `-5m` for a flag).
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if s.starts_with('-') {
        return Err("a duration cannot be negative (e.g. 500ms, 30s, 15m)".to_owned());
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 500ms, 30s, 15m)"))
}

/// `--shutdown-timeout`: a duration of at least a second (a server needs
/// some time to finish its requests and send its last events).
pub(crate) fn parse_shutdown_timeout(s: &str) -> Result<std::time::Duration, String> {
    let limit = parse_duration(s)?;
    if limit < std::time::Duration::from_secs(1) {
        return Err("must be at least 1s".to_owned());
    }
    Ok(limit)
}

/// How long clients may take: the flags of every command that serves HTTP
/// (serve, service, gateway, cluster), applied before it listens.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientTimeouts {
    /// How long a client may take to send a request's head; also how long
    /// an idle kept-alive connection stays open (1s or more).
    #[arg(
        long,
        env = "STATECRAFT_HEADER_TIMEOUT",
        default_value = "30s",
        value_parser = serve::parse_timeout,
        allow_hyphen_values = true
    )]
    header_timeout: std::time::Duration,

    /// How long a client may take to send a request's whole body, from its
    /// head; a slower one gets 408 REQUEST_TIMEOUT (1s or more).
    #[arg(
        long,
        env = "STATECRAFT_BODY_TIMEOUT",
        default_value = "30s",
        value_parser = serve::parse_timeout,
        allow_hyphen_values = true
    )]
    body_timeout: std::time::Duration,
}

impl ClientTimeouts {
    /// Makes these the process's timeouts for every connection it serves.
    pub(crate) fn apply(&self) {
        statecraft_http::set_header_timeout(self.header_timeout);
        statecraft_http::set_body_timeout(self.body_timeout);
    }
}

/// Binds `addr`; the listener and the address it got (port 0 picks one).
pub(crate) async fn bind(
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), CmdError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                ": another process listens there; stop it or choose another address with --listen"
            }
            std::io::ErrorKind::AddrNotAvailable => {
                ": this machine has no such address; choose one of its own with --listen"
            }
            std::io::ErrorKind::PermissionDenied => {
                ": ports below 1024 need privileges; choose a higher one with --listen"
            }
            _ => "",
        };
        CmdError::Usage(format!("cannot listen on {addr}: {e}{hint}"))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CmdError::Runtime(e.to_string()))?;
    Ok((listener, local))
}
