//! `statecraft serve`: the API server on the configured stores.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use statecraft_app::{AppConfig, ClusterLink, StateKey};
use statecraft_state::memory::{MemoryCounterStore, MemoryDenylist, MemorySessionStore};
use statecraft_state::redis::{
    Durability, RedisBackend, RedisCounterStore, RedisDenylist, RedisSessionStore,
};
use statecraft_state::sqlite::{SqliteCounterStore, SqliteDb, SqliteDenylist, SqliteSessionStore};
use statecraft_state::{CounterStore, Denylist, SessionStore, SessionTimeouts, StoreSpec};

use super::durability::DurabilityArgs;
use super::identity::{IdentityArgs, RemoteUrls};
use super::{CmdError, server_runtime};

/// Flags of `statecraft serve`; each also reads `STATECRAFT_<FLAG>`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "STATECRAFT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    #[command(flatten)]
    timeouts: super::ClientTimeouts,

    /// On SIGTERM or Ctrl-C, how long to finish requests in flight and stop
    /// the background tasks (a relay sends its last events) before exiting;
    /// keep it under an orchestrator's grace period (Kubernetes: 30s).
    #[arg(long, env = "STATECRAFT_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = super::parse_shutdown_timeout, allow_hyphen_values = true)]
    shutdown_timeout: Duration,

    /// Where sessions live: memory, sqlite:PATH or redis://HOST[:PORT][/DB].
    #[arg(long, env = "STATECRAFT_SESSION_STORE", default_value = "memory")]
    session_store: StoreSpec,

    /// Where named counters live (default: as --session-store).
    #[arg(long, env = "STATECRAFT_COUNTER_STORE")]
    counter_store: Option<StoreSpec>,

    /// This instance's name, sent as X-Served-By (1-64 of A-Z a-z 0-9 . _ -).
    #[arg(long, env = "STATECRAFT_INSTANCE_ID", default_value = "server-1", value_parser = parse_instance_id)]
    instance_id: String,

    /// Send cookies without `Secure`, for plain-HTTP use only.
    #[arg(long, env = "STATECRAFT_INSECURE_COOKIES")]
    insecure_cookies: bool,

    /// Idle (sliding) session timeout, e.g. 30m or 90s.
    #[arg(long, env = "STATECRAFT_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_timeout, allow_hyphen_values = true)]
    idle_timeout: Duration,

    /// Absolute session timeout, e.g. 24h.
    #[arg(long, env = "STATECRAFT_ABSOLUTE_TIMEOUT", default_value = "24h", value_parser = parse_timeout, allow_hyphen_values = true)]
    absolute_timeout: Duration,

    /// How long a store call may take before the request answers
    /// 503 STORE_UNAVAILABLE, e.g. 500ms.
    #[arg(long, env = "STATECRAFT_STORE_TIMEOUT", default_value = "500ms", value_parser = parse_store_timeout, allow_hyphen_values = true)]
    store_timeout: Duration,

    #[command(flatten)]
    durability: DurabilityArgs,

    /// Key for signed client-held state, 64 hex digits; instances that verify one
    /// another's tokens need the same key (default: random per process).
    #[arg(long, env = "STATECRAFT_STATE_KEY", value_parser = parse_state_key, hide_env_values = true)]
    state_key: Option<StateKey>,

    /// PEM file of the CA that signed the certificate of a rediss:// store (a
    /// private CA); without it the system's roots are used.
    #[arg(long, env = "STATECRAFT_REDIS_CA_FILE")]
    redis_ca_file: Option<std::path::PathBuf>,

    /// Proxies (the gateway) whose X-Forwarded-For names the client, for the
    /// login rate limit; repeat or separate with commas.
    #[arg(
        long = "trusted-proxy",
        env = "STATECRAFT_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = super::parse_proxy
    )]
    trusted_proxies: Vec<ipnet::IpNet>,

    /// Token a gateway shows to take and give this instance's sessions when
    /// it drains one (session hand-over); without it the routes are off.
    #[arg(long, env = "STATECRAFT_HANDOVER_TOKEN", hide_env_values = true, value_parser = super::parse_secret_token)]
    handover_token: Option<String>,

    /// The gateway of the cluster this instance is one of
    /// (http://HOST:PORT): a logout made here is passed, with the hand-over
    /// token, to every other instance before it is answered. Only matters
    /// with sessions in memory; `statecraft cluster` sets it.
    #[arg(long, env = "STATECRAFT_CLUSTER_URL", requires = "handover_token")]
    cluster_url: Option<String>,

    /// The lab's history: the runs started on /lab (and by `statecraft
    /// lab`, which writes there by default), one directory each.
    #[arg(long, env = "STATECRAFT_LAB_RESULTS", default_value = "lab-results")]
    lab_results: std::path::PathBuf,

    /// Who may start and cancel lab runs on /lab.
    #[command(flatten)]
    control: super::control::ControlAccess,

    #[command(flatten)]
    identity: IdentityArgs,

    #[command(flatten)]
    remote: RemoteUrls,
}

fn parse_instance_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'".to_owned())
    }
}

/// A duration of at least 1 s (`30m`, `90s`).
pub(crate) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = super::parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".to_owned());
    }
    Ok(d)
}

fn parse_store_timeout(s: &str) -> Result<Duration, String> {
    let d = super::parse_duration(s)?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(60) {
        return Err("must be between 1ms and 60s".to_owned());
    }
    Ok(d)
}

fn parse_state_key(s: &str) -> Result<StateKey, String> {
    StateKey::from_hex(s).map_err(|e| e.to_string())
}

/// Opens the SQLite file of a store spec; a failure is named with its path.
fn open_sqlite(
    role: &str,
    spec: &StoreSpec,
    path: &Path,
    timeout: Duration,
) -> Result<SqliteDb, CmdError> {
    SqliteDb::open(path, timeout)
        .map_err(|e| {
            CmdError::Usage(format!(
                "cannot open the {role} store {spec}: {e} (check the path, or give another --{role}-store)"
            ))
        })
}

/// Connects to the Redis of a store spec; a failure is named with its URL (the
/// password redacted).
async fn connect_redis(
    role: &str,
    url: &str,
    redis: &RedisSettings<'_>,
) -> Result<RedisBackend, CmdError> {
    let backend = RedisBackend::connect_with_ca(url, "", redis.timeout, redis.ca)
        .await
        .map_err(|e| {
            CmdError::Usage(format!(
                "cannot reach the {role} store: {e} (start it, or give another --{role}-store)"
            ))
        })?;
    backend
        .with_durability(redis.durability)
        .await
        .map_err(|e| CmdError::Usage(format!("the {role} store: {e}")))
}

/// How every Redis store of this instance connects.
struct RedisSettings<'a> {
    timeout: Duration,
    ca: Option<&'a [u8]>,
    durability: Durability,
}

/// The session store of `spec`, and the token denylist in the same backend
/// (so that instances sharing sessions share revocations).
async fn session_store(
    spec: &StoreSpec,
    timeouts: SessionTimeouts,
    settings: &RedisSettings<'_>,
) -> Result<(Arc<dyn SessionStore>, Arc<dyn Denylist>), CmdError> {
    let store_timeout = settings.timeout;
    Ok(match spec {
        StoreSpec::Memory => (
            Arc::new(MemorySessionStore::new(timeouts)),
            Arc::new(MemoryDenylist::new()),
        ),
        StoreSpec::Sqlite(path) => {
            let db = open_sqlite("session", spec, path, store_timeout)?;
            (
                Arc::new(SqliteSessionStore::new(db.clone(), timeouts)),
                Arc::new(SqliteDenylist::new(db)),
            )
        }
        StoreSpec::Redis(url) => {
            let redis = connect_redis("session", url, settings).await?;
            (
                Arc::new(RedisSessionStore::new(redis.clone(), timeouts)),
                Arc::new(RedisDenylist::new(redis)),
            )
        }
    })
}

async fn counter_store(
    spec: &StoreSpec,
    settings: &RedisSettings<'_>,
) -> Result<Arc<dyn CounterStore>, CmdError> {
    let store_timeout = settings.timeout;
    Ok(match spec {
        StoreSpec::Memory => Arc::new(MemoryCounterStore::new()),
        StoreSpec::Sqlite(path) => {
            let db = open_sqlite("counter", spec, path, store_timeout)?;
            Arc::new(SqliteCounterStore::new(db))
        }
        StoreSpec::Redis(url) => {
            let redis = connect_redis("counter", url, settings).await?;
            Arc::new(RedisCounterStore::new(redis))
        }
    })
}

/// Runs the server until Ctrl-C or SIGTERM.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    cmd.timeouts.apply();
    let control = cmd.control.resolve()?;
    if cmd.absolute_timeout < cmd.idle_timeout {
        return Err(CmdError::Usage(
            "--absolute-timeout must not be shorter than --idle-timeout".to_owned(),
        ));
    }
    let timeouts = SessionTimeouts {
        idle: cmd.idle_timeout,
        absolute: cmd.absolute_timeout,
    };
    let counter_spec = cmd
        .counter_store
        .clone()
        .unwrap_or_else(|| cmd.session_store.clone());
    let on_redis = |spec: &StoreSpec| matches!(spec, StoreSpec::Redis(_));
    if matches!(cmd.durability.durability(), Durability::Replicated { .. })
        && !on_redis(&cmd.session_store)
        && !on_redis(&counter_spec)
    {
        // Asked for and silently not given would be worse than refused.
        return Err(CmdError::Usage(format!(
            "--store-durability replicated waits for Redis replicas, but the session store is \
             {} and the counter store {}: give a replicated Redis \
             (--session-store redis+sentinel://…), or leave the durability fast",
            cmd.session_store, counter_spec
        )));
    }
    let mut config = AppConfig::new(cmd.instance_id.clone());
    config.secure_cookies = !cmd.insecure_cookies;
    config.timeouts = timeouts;
    config.trusted_proxies.clone_from(&cmd.trusted_proxies);
    config.handover_token.clone_from(&cmd.handover_token);
    if let Some(key) = cmd.state_key.clone() {
        config.state_key = key;
    }
    server_runtime()?.block_on(async move {
        let shutdown = super::shutdown_signal()?;
        let ca = match &cmd.redis_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                CmdError::Usage(format!(
                    "cannot read --redis-ca-file {}: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let settings = RedisSettings {
            timeout: cmd.store_timeout,
            ca: ca.as_deref(),
            durability: cmd.durability.durability(),
        };
        let (sessions, denylist) = session_store(&cmd.session_store, timeouts, &settings).await?;
        let counters = counter_store(&counter_spec, &settings).await?;
        let mut blueprint = cmd
            .identity
            .blueprint(config, (sessions, denylist, counters), &cmd.remote)
            .await?;
        if let (Some(url), Some(token)) = (&cmd.cluster_url, &cmd.handover_token) {
            blueprint.cluster =
                Some(ClusterLink::new(url, token.clone()).map_err(CmdError::Usage)?);
        }
        let (lab, lab_routes) = super::control::server_lab(&cmd.lab_results, control.guard())?;
        let app = statecraft_app::build(blueprint)
            .await
            .map_err(|e| match e {
                // The bus refused a subscription at run time; the rest is
                // what the flags point at.
                statecraft_app::BuildError::Bus(_) => CmdError::Runtime(e.to_string()),
                _ => CmdError::Usage(e.to_string()),
            })?;
        let app = app.with_extension(lab_routes);
        let (listener, local) = super::bind(cmd.listen).await?;
        lab.listening_on(local);
        if cmd.state_key.is_none() {
            tracing::info!(
                "no --state-key given: signed state tokens verify on this instance only"
            );
        }
        tracing::info!(
            instance = %cmd.instance_id,
            session_store = %cmd.session_store,
            counter_store = %counter_spec,
            secure_cookies = !cmd.insecure_cookies,
            data = %cmd.identity.data(),
            auth = ?cmd.identity.mode(),
            runtime = ?tokio::runtime::Handle::current().runtime_flavor(),
            "listening on http://{local}"
        );
        // In a cluster, the logouts made before this start: until caught up,
        // or until the instance stops.
        let state = app.state().clone();
        app.tasks().spawn(|stop| async move {
            tokio::select! {
                () = state.catch_up_with_cluster() => {}
                () = stop.cancelled() => {}
            }
        });
        // The run is told at once; waited for after the requests.
        let told = lab.clone();
        let shutdown = async move {
            shutdown.await;
            told.begin_shut_down();
        };
        let served = app.serve(listener, shutdown, cmd.shutdown_timeout).await;
        // A lab run does not outlive the server that started it.
        lab.shut_down().await;
        served.map_err(|e| CmdError::Runtime(format!("server failed: {e}")))?;
        tracing::info!("stopped");
        Ok(())
    })
}
