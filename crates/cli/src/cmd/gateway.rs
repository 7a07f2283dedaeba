//! `statecraft gateway`: the balancing reverse proxy in front of app instances.

use std::net::SocketAddr;
use std::time::Duration;

use statecraft_gateway::{
    AffinityLoss, Gateway, GatewayConfig, OutlierRule, Policy, ServiceRoute, UpstreamSpec,
};

use super::control::ControlAccess;
use super::shutdown_signal;
use super::{CmdError, server_runtime};

/// Flags of `statecraft gateway`; each also reads `STATECRAFT_<FLAG>`.
#[derive(Debug, clap::Args)]
pub(crate) struct Cmd {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "STATECRAFT_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,

    #[command(flatten)]
    timeouts: super::ClientTimeouts,

    /// An app instance: http://HOST:PORT (named server-<n> in order) or
    /// NAME=http://HOST:PORT. Repeat for each instance.
    #[arg(
        long = "upstream",
        env = "STATECRAFT_UPSTREAMS",
        value_delimiter = ',',
        required = true
    )]
    upstreams: Vec<String>,

    #[command(flatten)]
    balancing: Balancing,

    /// How often each instance's /readyz is checked.
    #[arg(long, env = "STATECRAFT_HEALTH_INTERVAL", default_value = "1s", value_parser = parse_interval, allow_hyphen_values = true)]
    health_interval: Duration,

    /// How long an instance may take to answer before 504 UPSTREAM_TIMEOUT.
    #[arg(long, env = "STATECRAFT_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_interval, allow_hyphen_values = true)]
    request_timeout: Duration,

    /// How long a connection to an instance may take.
    #[arg(long, env = "STATECRAFT_CONNECT_TIMEOUT", default_value = "500ms", value_parser = parse_interval, allow_hyphen_values = true)]
    connect_timeout: Duration,

    /// Key signing the sticky cookie, 64 hex digits; gateways with the same
    /// key agree on their clients' instances (default: random per process).
    #[arg(long, env = "STATECRAFT_STICKY_KEY", value_parser = parse_key, hide_env_values = true)]
    sticky_key: Option<Key>,

    /// Send the sticky cookie without `Secure`, for plain-HTTP use only.
    #[arg(long, env = "STATECRAFT_INSECURE_COOKIES")]
    insecure_cookies: bool,

    #[command(flatten)]
    control: ControlAccess,

    /// The instances' --handover-token: lets POST
    /// /_cluster/instances/{id}/handover move a draining instance's sessions.
    #[arg(long, env = "STATECRAFT_HANDOVER_TOKEN", hide_env_values = true, value_parser = super::parse_secret_token)]
    handover_token: Option<String>,

    /// Requests under a path prefix go to a service, not to the instances:
    /// /PREFIX=http://HOST:PORT (e.g. /orders=http://127.0.0.1:8083). Repeat.
    #[arg(long = "route", env = "STATECRAFT_ROUTES", value_delimiter = ',', value_parser = ServiceRoute::parse)]
    routes: Vec<ServiceRoute>,

    /// The users service's JWKS (http://HOST:PORT/.well-known/jwks.json): a
    /// bearer token on a service route is verified here, and a bad one never
    /// reaches the service.
    #[arg(long, env = "STATECRAFT_JWKS_URL", value_parser = parse_jwks_url)]
    jwks_url: Option<http::Uri>,
}

fn parse_jwks_url(s: &str) -> Result<http::Uri, String> {
    let url: http::Uri = s
        .parse()
        .map_err(|_| "must be http://HOST:PORT/PATH".to_owned())?;
    if url.scheme_str() != Some("http") || url.authority().is_none() {
        return Err("must be http://HOST:PORT/PATH".to_owned());
    }
    Ok(url)
}

/// How a gateway balances, for `gateway` and `cluster` alike.
#[derive(Debug, clap::Args)]
pub(crate) struct Balancing {
    /// How requests choose an instance: round-robin, sticky, hash or least-request.
    #[arg(long, env = "STATECRAFT_BALANCE", default_value = "round-robin")]
    pub(crate) balance: Policy,

    /// When a sticky or hashed client's instance is down: redispatch (to a
    /// healthy one, with X-Affinity-Lost) or strict (503 SESSION_LOST).
    #[arg(
        long,
        env = "STATECRAFT_ON_AFFINITY_LOSS",
        default_value = "redispatch"
    )]
    pub(crate) on_affinity_loss: AffinityLoss,

    /// Failures on an instance's side in a row (refused or reset
    /// connection, broken answer, no answer in time) that take it out of
    /// rotation until a health check finds it ready. A client that breaks
    /// off its own request never counts.
    #[arg(long, env = "STATECRAFT_EJECT_AFTER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) eject_after: u32,

    /// The most instances failures may hold out of rotation at once, in
    /// percent of them (at least one of two or more; never the last).
    #[arg(long, env = "STATECRAFT_MAX_EJECTION_PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) max_ejection_percent: u8,
}

impl Balancing {
    /// A gateway configuration over `upstreams` balanced this way.
    pub(crate) fn config(&self, upstreams: Vec<UpstreamSpec>) -> GatewayConfig {
        let mut config = GatewayConfig::new(upstreams, self.balance);
        config.on_affinity_loss = self.on_affinity_loss;
        config.outlier = OutlierRule {
            consecutive_failures: self.eject_after,
            max_ejection_percent: self.max_ejection_percent,
        };
        config
    }
}

/// A 32-byte key (its `Debug` never shows it).
#[derive(Clone)]
pub(crate) struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

fn parse_key(s: &str) -> Result<Key, String> {
    let bad = || "must be 64 hexadecimal digits".to_owned();
    if s.len() != 64 || !s.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(Key(key))
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = super::parse_duration(s)?;
    if d < Duration::from_millis(10) || d > Duration::from_secs(3600) {
        return Err("must be between 10ms and 1h".to_owned());
    }
    Ok(d)
}

impl Cmd {
    /// The gateway's settings from the flags.
    pub(crate) fn config(&self) -> Result<GatewayConfig, CmdError> {
        let mut upstreams: Vec<UpstreamSpec> = Vec::new();
        for (n, given) in self.upstreams.iter().enumerate() {
            let spec = UpstreamSpec::parse(given, n + 1)
                .map_err(|e| CmdError::Usage(format!("--upstream {given}: {e}")))?;
            if upstreams.iter().any(|u| u.id == spec.id) {
                return Err(CmdError::Usage(format!(
                    "--upstream: instance name {} given twice",
                    spec.id
                )));
            }
            upstreams.push(spec);
        }
        let mut config = self.balancing.config(upstreams);
        config.health_interval = self.health_interval;
        config.request_timeout = self.request_timeout;
        config.connect_timeout = self.connect_timeout;
        config.insecure_cookies = self.insecure_cookies;
        self.control.resolve()?.apply(&mut config);
        config.routes.clone_from(&self.routes);
        config.handover_token.clone_from(&self.handover_token);
        config.jwks_url.clone_from(&self.jwks_url);
        if let Some(Key(key)) = &self.sticky_key {
            config.sticky_key = *key;
        }
        Ok(config)
    }
}

/// Runs the gateway until Ctrl-C or SIGTERM.
pub(crate) fn run(cmd: Cmd) -> Result<(), CmdError> {
    cmd.timeouts.apply();
    let config = cmd.config()?;
    server_runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        let (listener, local) = super::bind(cmd.listen).await?;
        let instances: Vec<String> = config
            .upstreams
            .iter()
            .map(|u| format!("{}={}", u.id, u.url))
            .collect();
        tracing::info!(
            balance = cmd.balancing.balance.as_str(),
            upstreams = %instances.join(" "),
            runtime = ?tokio::runtime::Handle::current().runtime_flavor(),
            "listening on http://{local}"
        );
        statecraft_gateway::serve(listener, Gateway::new(config, None), shutdown)
            .await
            .map_err(|e| CmdError::Runtime(format!("gateway failed: {e}")))?;
        tracing::info!("stopped");
        Ok(())
    })
}
