//! `statecraft service orders|inventory|notifications`: one service alone, on
//! its own port with its own `--data` and `--events`, verifying callers'
//! tokens with the users service's public keys (`--users-url`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use statecraft_app::{
    AppConfig, Blueprint, Introspection, LoneService, ServiceContext, build_identity, service_app,
};
use statecraft_auth::{KeyRing, TokenIssuer};
use statecraft_events::Tasks;
use statecraft_services::{DataSpec, InventoryDb, NotificationsDb, OrdersDb, run_parts};

use super::identity::{
    AUDIENCE, ISSUER, keys_dir, open_bus, parse_data, parse_namespace, parse_ttl,
};
use super::{CmdError, server_runtime, shutdown_signal};

/// Which service.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Kind {
    /// Users: POST /users, POST /token, POST /token/refresh,
    /// /.well-known/jwks.json; it holds the signing keys.
    Users,
    /// Orders: POST/GET /orders, GET /orders/{id}; settles orders from the
    /// inventory's answers.
    Orders,
    /// Inventory: GET /products, GET /inventory/{productId}; reserves stock.
    Inventory,
    /// Notifications: GET /notifications; records order outcomes.
    Notifications,
}

/// Flags of `statecraft service`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// The service to run.
    kind: Kind,

    /// Address to listen on.
    #[arg(long, env = "STATECRAFT_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,

    #[command(flatten)]
    timeouts: super::ClientTimeouts,

    /// On SIGTERM or Ctrl-C, how long to finish requests in flight and stop
    /// the background tasks before exiting.
    #[arg(long, env = "STATECRAFT_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = super::parse_shutdown_timeout, allow_hyphen_values = true)]
    shutdown_timeout: Duration,

    /// Its data: sqlite:DIR (its own file) or postgres://… (its own schema).
    #[arg(long, env = "STATECRAFT_DATA", default_value = "sqlite:./statecraft-data", value_parser = parse_data)]
    data: DataSpec,

    /// The event bus shared with the other services: nats://HOST:PORT (or
    /// memory, which only makes sense for a lone service).
    #[arg(long, env = "STATECRAFT_EVENTS", default_value = "memory")]
    events: String,

    /// Name of the deployment on a shared NATS.
    #[arg(long, env = "STATECRAFT_EVENTS_NAMESPACE", default_value = "statecraft", value_parser = parse_namespace)]
    events_namespace: String,

    /// The users service (or `statecraft serve`), whose /.well-known/jwks.json
    /// verifies callers' tokens.
    #[arg(
        long,
        env = "STATECRAFT_USERS_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    users_url: String,

    /// The users service's key directory (default: DIR/keys for --data
    /// sqlite:DIR, else ./statecraft-data/keys).
    #[arg(long, env = "STATECRAFT_KEYS_DIR")]
    keys_dir: Option<std::path::PathBuf>,

    /// Lifetime of access tokens (how long a retired key still verifies).
    #[arg(long, env = "STATECRAFT_ACCESS_TTL", default_value = "15m", value_parser = parse_ttl, allow_hyphen_values = true)]
    access_ttl: Duration,

    /// This process's name, sent as X-Served-By.
    #[arg(long, env = "STATECRAFT_INSTANCE_ID")]
    instance_id: Option<String>,

    /// Proxies (the gateway) whose X-Forwarded-For names the client, for the
    /// login rate limit; repeat or separate with commas.
    #[arg(
        long = "trusted-proxy",
        env = "STATECRAFT_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = super::parse_proxy
    )]
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// How often the public keys are fetched again (a rotation reaches services
/// within this time).
const JWKS_EVERY: Duration = Duration::from_secs(30);

async fn fetch_ring(client: &reqwest::Client, url: &str, ttl: Duration) -> Result<KeyRing, String> {
    let jwks: serde_json::Value = client
        .get(format!(
            "{}/.well-known/jwks.json",
            url.trim_end_matches('/')
        ))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("cannot fetch the JWKS: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    KeyRing::from_jwks(&jwks, ttl).map_err(|e| e.to_string())
}

/// The users service's state: its database, its keys (it signs), their
/// upkeep owned by `tasks`.
async fn users_service(
    cmd: &Cmd,
    tasks: &Tasks,
) -> Result<(LoneService, Arc<TokenIssuer>), CmdError> {
    let config = AppConfig::new(
        cmd.instance_id
            .clone()
            .unwrap_or_else(|| "users".to_owned()),
    );
    let mut blueprint = Blueprint::new(
        config,
        cmd.data.clone(),
        keys_dir(cmd.keys_dir.as_ref(), &cmd.data),
    );
    blueprint.access_ttl = cmd.access_ttl;
    let identity = build_identity(&blueprint, tasks)
        .await
        .map_err(|e| CmdError::Usage(e.to_string()))?;
    let tokens = Arc::clone(&identity.tokens);
    Ok((LoneService::Users(Box::new(identity)), tokens))
}

/// Runs the service until Ctrl-C or SIGTERM.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    cmd.timeouts.apply();
    server_runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let tasks = Tasks::new();
        if let Kind::Users = cmd.kind {
            let (data, tokens) = users_service(&cmd, &tasks).await?;
            return listen_and_serve(&cmd, data, tokens, shutdown, &tasks).await;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CmdError::Runtime(e.to_string()))?;
        // The users service may be starting too: wait for its keys a while.
        let mut tries = 0;
        let ring = loop {
            match fetch_ring(&client, &cmd.users_url, cmd.access_ttl).await {
                Ok(ring) => break ring,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!("{e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(CmdError::Usage(format!("--users-url: {e}"))),
            }
        };
        let tokens = Arc::new(TokenIssuer::new(ring, ISSUER, AUDIENCE, cmd.access_ttl));
        let refreshed = Arc::clone(&tokens);
        let (url, ttl) = (cmd.users_url.clone(), cmd.access_ttl);
        tasks.spawn(|stop| async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(JWKS_EVERY) => {}
                    () = stop.cancelled() => return,
                }
                match fetch_ring(&client, &url, ttl).await {
                    Ok(ring) => refreshed.replace_keys(ring),
                    Err(e) => tracing::warn!("keeping the previous keys: {e}"),
                }
            }
        });
        let bus = open_bus(&cmd.events, &cmd.events_namespace).await?;
        let fail = |e: statecraft_services::DbError| CmdError::Usage(e.to_string());
        let data = match cmd.kind {
            Kind::Orders => {
                let db = OrdersDb::open(&cmd.data, None).await.map_err(fail)?;
                run_parts(Some(&db), None, None, bus, &tasks)
                    .await
                    .map_err(|e| CmdError::Runtime(e.to_string()))?;
                LoneService::Orders(Arc::new(db))
            }
            Kind::Inventory => {
                let db = InventoryDb::open(&cmd.data, None).await.map_err(fail)?;
                run_parts(None, Some(&db), None, bus, &tasks)
                    .await
                    .map_err(|e| CmdError::Runtime(e.to_string()))?;
                LoneService::Inventory(Arc::new(db))
            }
            // Served above, before any JWKS is fetched.
            Kind::Users => {
                return Err(CmdError::Runtime("the users service has no bus".to_owned()));
            }
            Kind::Notifications => {
                let db = NotificationsDb::open(&cmd.data, None).await.map_err(fail)?;
                run_parts(None, None, Some(&db), bus, &tasks)
                    .await
                    .map_err(|e| CmdError::Runtime(e.to_string()))?;
                LoneService::Notifications(Arc::new(db))
            }
        };
        listen_and_serve(&cmd, data, tokens, shutdown, &tasks).await
    })
}

async fn listen_and_serve(
    cmd: &Cmd,
    data: LoneService,
    tokens: Arc<TokenIssuer>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    tasks: &Tasks,
) -> Result<(), CmdError> {
    let name = cmd
        .instance_id
        .clone()
        .unwrap_or_else(|| format!("{:?}", cmd.kind).to_ascii_lowercase());
    let (listener, local) = super::bind(cmd.listen).await?;
    tracing::info!(service = %name, data = %cmd.data, "listening on http://{local}");
    // Every service but the users one asks it whether a client's token was
    // revoked (the users service holds the denylist).
    let introspection = match cmd.kind {
        Kind::Users => None,
        _ => Some(Introspection::new(&cmd.users_url).map_err(CmdError::Usage)?),
    };
    let proxies = cmd.trusted_proxies.clone();
    let context = ServiceContext::new(tokens, proxies, introspection);
    // Stop accepting and drain, stop the tasks (a relay sends its last
    // events), then give the pool back, all within --shutdown-timeout.
    let app = service_app(data.clone(), context, &name);
    let served =
        statecraft_app::serve_then_stop(listener, app, shutdown, cmd.shutdown_timeout, tasks).await;
    if let Ok(left) = served {
        statecraft_app::close_within(left, data.close()).await;
    }
    served.map_err(|e| CmdError::Runtime(format!("service failed: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}
