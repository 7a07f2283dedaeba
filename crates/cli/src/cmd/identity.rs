//! The flags and wiring of identity and services for `serve`: the users
//! database, the signing keys, token lifetimes and the login mode; the order
//! flow's services, here or at remote URLs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use statecraft_app::{AppConfig, AuthMode, AuthSettings, Blueprint, RemoteServices};
use statecraft_services::DataSpec;
use statecraft_state::{CounterStore, Denylist, SessionStore};

use super::CmdError;

pub(crate) use statecraft_auth::{AUDIENCE, ISSUER};

/// Identity flags of `statecraft serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct IdentityArgs {
    /// Where the services keep their data: sqlite:DIR (one file per service) or
    /// postgres://… (one schema per service).
    #[arg(long, env = "STATECRAFT_DATA", default_value = "sqlite:./statecraft-data", value_parser = parse_data)]
    data: DataSpec,

    /// The services' event bus: memory (in this process) or nats://HOST:PORT
    /// (JetStream; a password in the URL is never printed).
    #[arg(long, env = "STATECRAFT_EVENTS", default_value = "memory")]
    events: String,

    /// Name of this deployment on a shared NATS: the JetStream stream and the
    /// subject prefix (a-z, 0-9, '-', '_').
    #[arg(long, env = "STATECRAFT_EVENTS_NAMESPACE", default_value = "statecraft", value_parser = parse_namespace)]
    events_namespace: String,

    /// What POST /login issues: a session cookie, or a token pair.
    #[arg(long, env = "STATECRAFT_AUTH", default_value = "session", value_parser = parse_auth)]
    auth: AuthMode,

    /// Directory of the Ed25519 signing keys (PKCS#8 PEM); created with a first
    /// key when empty. Default: DIR/keys for --data sqlite:DIR, else
    /// ./statecraft-data/keys.
    #[arg(long, env = "STATECRAFT_KEYS_DIR")]
    keys_dir: Option<PathBuf>,

    /// Lifetime of access tokens.
    #[arg(long, env = "STATECRAFT_ACCESS_TTL", default_value = "15m", value_parser = parse_ttl, allow_hyphen_values = true)]
    access_ttl: Duration,

    /// Lifetime of refresh tokens (each rotation starts anew).
    #[arg(long, env = "STATECRAFT_REFRESH_TTL", default_value = "14days", value_parser = parse_ttl, allow_hyphen_values = true)]
    refresh_ttl: Duration,

    /// How long a just-retired refresh token still returns its successor.
    #[arg(long, env = "STATECRAFT_REFRESH_GRACE", default_value = "10s", value_parser = super::parse_duration, allow_hyphen_values = true)]
    refresh_grace: Duration,
}

/// Services `serve` reaches in other processes (`statecraft service …`)
/// instead of opening their databases itself. They verify the tokens this
/// instance mints with its /.well-known/jwks.json (their --users-url).
#[derive(Debug, clap::Args)]
pub(crate) struct RemoteUrls {
    /// The orders service, http://HOST:PORT.
    #[arg(long, env = "STATECRAFT_ORDERS_URL")]
    orders_url: Option<String>,

    /// The inventory service, http://HOST:PORT.
    #[arg(long, env = "STATECRAFT_INVENTORY_URL")]
    inventory_url: Option<String>,

    /// The notifications service, http://HOST:PORT.
    #[arg(long, env = "STATECRAFT_NOTIFICATIONS_URL")]
    notifications_url: Option<String>,
}

pub(crate) fn parse_data(s: &str) -> Result<DataSpec, String> {
    s.parse()
        .map_err(|e: statecraft_services::InvalidDataSpec| e.to_string())
}

/// The key directory: the one given, else `keys/` under a SQLite data
/// directory, else `./statecraft-data/keys`.
pub(crate) fn keys_dir(given: Option<&PathBuf>, data: &DataSpec) -> PathBuf {
    given.cloned().unwrap_or_else(|| match data {
        DataSpec::Sqlite(dir) => dir.join("keys"),
        DataSpec::Postgres(_) => PathBuf::from("./statecraft-data/keys"),
    })
}

/// The bus of `--events` (`memory` or `nats://…`) under `namespace`.
pub(crate) async fn open_bus(
    events: &str,
    namespace: &str,
) -> Result<Arc<dyn statecraft_events::Bus>, CmdError> {
    if events == "memory" {
        return Ok(Arc::new(statecraft_events::MemoryBus::new()));
    }
    if events.starts_with("nats://") || events.starts_with("tls://") {
        let bus = statecraft_events::NatsBus::connect(
            events,
            &namespace.to_ascii_uppercase(),
            namespace,
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| CmdError::Usage(format!("--events: {e}")))?;
        return Ok(Arc::new(bus));
    }
    Err(CmdError::Usage(
        "--events must be memory or nats://HOST:PORT".to_owned(),
    ))
}

pub(crate) fn parse_namespace(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be 1-64 characters of a-z, 0-9, '-' or '_'".to_owned())
    }
}

fn parse_auth(s: &str) -> Result<AuthMode, String> {
    match s {
        "session" => Ok(AuthMode::Session),
        "token" => Ok(AuthMode::Token),
        _ => Err("must be session or token".to_owned()),
    }
}

pub(crate) fn parse_ttl(s: &str) -> Result<Duration, String> {
    let d = super::parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".to_owned());
    }
    Ok(d)
}

impl IdentityArgs {
    /// The instance `serve` builds: `config` on these stores, with the
    /// users, keys and services of these flags (remote ones at `remote`)
    /// and the bus of `--events` when a service runs here.
    pub(crate) async fn blueprint(
        &self,
        config: AppConfig,
        stores: (
            Arc<dyn SessionStore>,
            Arc<dyn Denylist>,
            Arc<dyn CounterStore>,
        ),
        remote: &RemoteUrls,
    ) -> Result<Blueprint, CmdError> {
        let remote = RemoteServices {
            orders: remote.orders_url.clone(),
            inventory: remote.inventory_url.clone(),
            notifications: remote.notifications_url.clone(),
        };
        let all_remote = [&remote.orders, &remote.inventory, &remote.notifications]
            .iter()
            .all(|url| url.is_some());
        if remote.split() && self.events == "memory" {
            // The services talk over the bus: an in-process one cannot reach
            // a service in another process.
            return Err(CmdError::Usage(
                "services split between processes need a shared bus: --events nats://HOST:PORT"
                    .to_owned(),
            ));
        }
        let (sessions, denylist, counters) = stores;
        let mut blueprint = Blueprint::new(config, self.data.clone(), self.keys_dir());
        blueprint.sessions = sessions;
        blueprint.denylist = denylist;
        blueprint.counters = counters;
        blueprint.access_ttl = self.access_ttl;
        blueprint.auth = AuthSettings {
            mode: self.auth,
            refresh_ttl: self.refresh_ttl,
            refresh_grace: self.refresh_grace,
        };
        blueprint.remote = remote;
        if !all_remote {
            blueprint.bus = open_bus(&self.events, &self.events_namespace).await?;
        }
        Ok(blueprint)
    }

    /// Where the data lives, for the start-up log line.
    pub(crate) fn data(&self) -> &DataSpec {
        &self.data
    }

    /// What `POST /login` issues.
    pub(crate) fn mode(&self) -> AuthMode {
        self.auth
    }

    /// The key directory: `--keys-dir`, else `keys/` under a SQLite data
    /// directory, else `./statecraft-data/keys`.
    pub(crate) fn keys_dir(&self) -> PathBuf {
        keys_dir(self.keys_dir.as_ref(), &self.data)
    }
}
