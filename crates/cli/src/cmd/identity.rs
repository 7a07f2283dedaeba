//! The flags and wiring of identity and services for `serve`: the users
//! database, the signing keys, token lifetimes and the login mode; the order
//! flow's services, here or at remote URLs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use statecraft_app::{AuthMode, AuthSettings, Identity, RemoteService, ServiceLinks};
use statecraft_auth::{KeyRing, Passwords, TokenIssuer};
use statecraft_services::{
    DataSpec, Inventory, InventoryDb, Notifications, NotificationsDb, Orders, OrdersDb, UsersDb,
    run_parts,
};
use statecraft_state::Denylist;

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

/// The users database, its refresh secret and the signing keys: what signs
/// and checks logins, for `serve` and for `service users` alike.
pub(crate) async fn open_identity(
    data: &DataSpec,
    keys_dir: &Path,
    access_ttl: Duration,
    settings: AuthSettings,
    denylist: Arc<dyn Denylist>,
) -> Result<Identity, CmdError> {
    let ring = KeyRing::open(keys_dir, access_ttl)
        .map_err(|e| CmdError::Usage(format!("signing keys: {e}")))?;
    let users = UsersDb::open(data, None, Passwords::new())
        .await
        .map_err(|e| CmdError::Usage(format!("cannot open the users database: {e}")))?;
    let refresh_secret = users
        .refresh_secret()
        .await
        .map_err(|e| CmdError::Usage(format!("cannot read the refresh secret: {e}")))?;
    Ok(Identity {
        users,
        tokens: Arc::new(TokenIssuer::new(ring, ISSUER, AUDIENCE, access_ttl)),
        denylist,
        refresh_secret,
        settings,
        cluster: None,
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
    /// Opens the order flow's services under `--data`, except those given
    /// as remote URLs (called with tokens `tokens` mints), and runs their
    /// part of the flow on `--events`.
    pub(crate) async fn services(
        &self,
        remote: &RemoteUrls,
        tokens: &Arc<TokenIssuer>,
    ) -> Result<ServiceLinks, CmdError> {
        let fail = |e: statecraft_services::DbError| {
            CmdError::Usage(format!("cannot open the services' databases: {e}"))
        };
        let link = |name, url: &Option<String>| {
            url.as_deref()
                .map(|url| {
                    RemoteService::new(name, url, Arc::clone(tokens))
                        .map(Arc::new)
                        .map_err(|e| CmdError::Usage(e.to_string()))
                })
                .transpose()
        };
        let (orders, inventory, notifications) = (
            link("orders", &remote.orders_url)?,
            link("inventory", &remote.inventory_url)?,
            link("notifications", &remote.notifications_url)?,
        );
        let local = [
            orders.is_none(),
            inventory.is_none(),
            notifications.is_none(),
        ];
        if local.contains(&true) && local.contains(&false) && self.events == "memory" {
            // The services talk over the bus: an in-process one cannot reach
            // a service in another process.
            return Err(CmdError::Usage(
                "services split between processes need a shared bus: --events nats://HOST:PORT"
                    .to_owned(),
            ));
        }
        // Each service through its trait, chosen once: remote, or its
        // database here (kept too, to run its part of the flow).
        let (orders, local_orders): (Arc<dyn Orders>, _) = match orders {
            Some(remote) => (remote, None),
            None => {
                let db = OrdersDb::open(&self.data, None).await.map_err(fail)?;
                (Arc::new(db.clone()), Some(db))
            }
        };
        let (inventory, local_inventory): (Arc<dyn Inventory>, _) = match inventory {
            Some(remote) => (remote, None),
            None => {
                let db = InventoryDb::open(&self.data, None).await.map_err(fail)?;
                (Arc::new(db.clone()), Some(db))
            }
        };
        let (notifications, local_notifications): (Arc<dyn Notifications>, _) = match notifications
        {
            Some(remote) => (remote, None),
            None => {
                let db = NotificationsDb::open(&self.data, None)
                    .await
                    .map_err(fail)?;
                (Arc::new(db.clone()), Some(db))
            }
        };
        if local.contains(&true) {
            let bus = open_bus(&self.events, &self.events_namespace).await?;
            run_parts(
                local_orders.as_ref(),
                local_inventory.as_ref(),
                local_notifications.as_ref(),
                bus,
            )
            .await
            .map_err(|e| CmdError::Runtime(e.to_string()))?;
        }
        Ok(ServiceLinks {
            orders,
            inventory,
            notifications,
        })
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

    /// Opens the users database and the key directory.
    pub(crate) async fn open(&self, denylist: Arc<dyn Denylist>) -> Result<Identity, CmdError> {
        let settings = AuthSettings {
            mode: self.auth,
            refresh_ttl: self.refresh_ttl,
            refresh_grace: self.refresh_grace,
        };
        open_identity(
            &self.data,
            &self.keys_dir(),
            self.access_ttl,
            settings,
            denylist,
        )
        .await
    }
}

/// How often a server reads its key directory again, so that a key rotated by
/// `statecraft keys rotate` (or another instance) starts signing everywhere.
const KEY_RELOAD_EVERY: Duration = Duration::from_secs(60);
/// How often expired refresh tokens are deleted.
const REFRESH_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Background upkeep of identity: key reloads and the refresh-token sweep.
pub(crate) fn spawn_upkeep(identity: &Identity) {
    let tokens = Arc::clone(&identity.tokens);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_RELOAD_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = tokens.reload() {
                tracing::warn!("cannot reload the signing keys: {e}");
            }
        }
    });
    let (users, grace) = (identity.users.clone(), identity.settings.refresh_grace);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_SWEEP_EVERY);
        loop {
            tick.tick().await;
            match users.sweep_refresh_tokens(grace).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(swept = n, "expired refresh tokens deleted"),
                Err(e) => tracing::warn!("refresh-token sweep failed: {e}"),
            }
            if let Err(e) = users.sweep_attempts(Duration::from_secs(60)).await {
                tracing::warn!("sweep of old login-limit windows failed: {e}");
            }
        }
    });
}
