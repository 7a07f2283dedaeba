//! The one place an instance is wired: `statecraft serve`, the API tests and
//! the fuzz targets all describe what they want in a [`Blueprint`] and call
//! [`build`] (zero2prod's `spawn_app` calling the same `build` as `main`).
//! The caller chooses the stores (where sessions live is the experiment);
//! `build` opens the users database and keys, the services (here or remote)
//! and their part of the order flow, and starts every background task under
//! one owner, [`Tasks`]. [`Application::serve`] shuts down in order: stop
//! accepting, drain requests, stop the tasks, close the pools.

mod identity;
mod services;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use statecraft_auth::Passwords;
use statecraft_events::{Bus, BusError, MemoryBus, Tasks};
use statecraft_services::{DataSpec, DbError, InventoryDb, UsersDb};
use statecraft_state::memory::{MemoryCounterStore, MemoryDenylist, MemorySessionStore};
use statecraft_state::{CounterStore, Denylist, SessionStore};
use tokio::net::TcpListener;

pub use services::RemoteServices;

use crate::{AppConfig, AppState, AuthSettings, ClusterLink};

/// What an instance is made of, before it is wired.
#[derive(Debug)]
pub struct Blueprint {
    /// Its settings.
    pub config: AppConfig,
    /// Where sessions live.
    pub sessions: Arc<dyn SessionStore>,
    /// Where counters live.
    pub counters: Arc<dyn CounterStore>,
    /// Revoked access tokens (beside the sessions).
    pub denylist: Arc<dyn Denylist>,
    /// Where the users database and the services' databases are.
    pub data: DataSpec,
    /// On PostgreSQL, the users' schema, and the prefix of the services'
    /// (`<schema>_orders` …); `None`: `users`, `orders` … (tests isolate
    /// themselves with it).
    pub schema: Option<String>,
    /// The signing keys' directory.
    pub keys_dir: PathBuf,
    /// How long an access token lives.
    pub access_ttl: Duration,
    /// Login mode and refresh lifetimes.
    pub auth: AuthSettings,
    /// Password hashing (tests use cheap parameters).
    pub passwords: Passwords,
    /// Services in other processes; the rest open here.
    pub remote: RemoteServices,
    /// The bus of the order flow.
    pub bus: Arc<dyn Bus>,
    /// The cluster's gateway, which passes revocations on.
    pub cluster: Option<ClusterLink>,
}

impl Blueprint {
    /// An instance named by `config`, its data in `data` and keys in
    /// `keys_dir`, with memory stores, every service here, the in-process
    /// bus and default logins.
    #[must_use]
    pub fn new(config: AppConfig, data: DataSpec, keys_dir: PathBuf) -> Self {
        let timeouts = config.timeouts;
        Self {
            config,
            sessions: Arc::new(MemorySessionStore::new(timeouts)),
            counters: Arc::new(MemoryCounterStore::new()),
            denylist: Arc::new(MemoryDenylist::new()),
            data,
            schema: None,
            keys_dir,
            access_ttl: Duration::from_secs(900),
            auth: AuthSettings::default(),
            passwords: Passwords::new(),
            remote: RemoteServices::default(),
            bus: Arc::new(MemoryBus::new()),
            cluster: None,
        }
    }
}

/// Why an instance could not be built; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The key directory cannot be used.
    #[error("signing keys: {0}")]
    Keys(#[source] statecraft_auth::KeyError),
    /// The users database cannot be opened.
    #[error("cannot open the users database: {0}")]
    Users(#[source] DbError),
    /// A service's database cannot be opened.
    #[error("cannot open the services' databases: {0}")]
    Services(#[source] DbError),
    /// A remote service's URL cannot be used.
    #[error(transparent)]
    ServiceUrl(#[from] crate::BadServiceUrl),
    /// The order flow cannot subscribe to the bus.
    #[error("the event bus: {0}")]
    Bus(#[source] BusError),
}

/// The identity of `blueprint` alone (the users service's process): the
/// users database and keys, their upkeep owned by `tasks`.
///
/// # Errors
/// [`BuildError`] naming the part that could not be opened.
pub async fn build_identity(
    blueprint: &Blueprint,
    tasks: &Tasks,
) -> Result<crate::Identity, BuildError> {
    let identity = identity::open(blueprint).await?;
    identity::spawn_upkeep(&identity, tasks);
    Ok(identity)
}

/// A wired instance: its state, its background tasks, its pools.
#[derive(Debug)]
pub struct Application {
    state: AppState,
    tasks: Tasks,
    users: UsersDb,
    local: services::Local,
    /// Routes served beside the application's own.
    extension: Option<crate::Extension>,
}

/// Builds the instance `blueprint` describes; its background tasks run from
/// here on, owned by the [`Application`].
///
/// # Errors
/// [`BuildError`] naming the part that could not be opened.
pub async fn build(blueprint: Blueprint) -> Result<Application, BuildError> {
    let tasks = Tasks::new();
    let mut identity = build_identity(&blueprint, &tasks).await?;
    identity.cluster = blueprint.cluster.clone();
    let (links, local) = match services::open(&blueprint, &identity.tokens, &tasks).await {
        Ok(opened) => opened,
        Err(err) => {
            // What was started for this instance stops with it.
            tasks.stop(Duration::from_secs(2)).await;
            identity.users.close().await;
            return Err(err);
        }
    };
    let users = identity.users.clone();
    let state = AppState::new(
        blueprint.config,
        blueprint.sessions,
        blueprint.counters,
        identity,
        links,
    );
    Ok(Application {
        state,
        tasks,
        users,
        local,
        extension: None,
    })
}

impl Application {
    /// Serves `extension`'s routes beside the application's (the lab's).
    #[must_use]
    pub fn with_extension(mut self, extension: crate::Extension) -> Self {
        self.extension = Some(extension);
        self
    }

    /// The handlers' state.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The owner of the instance's background tasks (for tasks its caller
    /// adds, such as catching up with the cluster's revocations).
    #[must_use]
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// The users database.
    #[must_use]
    pub fn users(&self) -> &UsersDb {
        &self.users
    }

    /// The access-token issuer.
    #[must_use]
    pub fn tokens(&self) -> &Arc<statecraft_auth::TokenIssuer> {
        &self.state.identity.tokens
    }

    /// The inventory's database, when it is in this process (tests set stock).
    #[must_use]
    pub fn inventory(&self) -> Option<&InventoryDb> {
        self.local.inventory.as_ref()
    }

    /// Serves on `listener` until `shutdown`, then shuts down in order:
    /// stops accepting, lets requests in flight finish and stops the
    /// background tasks (a relay sends its last rows), all within `limit`,
    /// and closes the pools.
    ///
    /// # Errors
    /// An I/O error of the listener.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        limit: Duration,
    ) -> std::io::Result<()> {
        let app = crate::routes::app_with(self.state.clone(), self.extension.clone());
        let left = crate::serve_then_stop(listener, app, shutdown, limit, &self.tasks).await?;
        crate::close_within(left, self.close()).await;
        Ok(())
    }

    /// Closes the pools (the tasks stopped first).
    async fn close(&self) {
        tokio::join!(self.users.close(), self.state.services.close());
    }
}
