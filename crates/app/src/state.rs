//! The one `Clone` state every handler receives.

use std::ops::Deref;
use std::sync::Arc;

use axum::http::HeaderValue;
use statecraft_state::{CounterStore, SessionStore};

use crate::auth::identity::{AuthRuntime, Identity};
use crate::config::AppConfig;
use crate::cookies::CookiePolicy;
use crate::links::ServiceLinks;
use crate::metrics::Metrics;
use crate::state_token::StateSigner;

/// Shared by all handlers of one instance: settings and stores, chosen once at
/// start. Cloned for every request, so it is one `Arc`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; reached through `Deref`, its fields stay crate-private.
// `pub` only because `Deref::Target` of a public type must be; nothing outside
// the crate can name it.
#[allow(unreachable_pub)]
#[derive(Debug)]
pub struct Shared {
    pub(crate) config: AppConfig,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) counters: Arc<dyn CounterStore>,
    pub(crate) signer: StateSigner,
    pub(crate) cookies: CookiePolicy,
    pub(crate) metrics: Metrics,
    /// `X-Served-By`, built once.
    pub(crate) served_by: HeaderValue,
    /// Users, tokens, revocations.
    pub(crate) identity: Identity,
    /// Caches and the login rate limit.
    pub(crate) auth: AuthRuntime,
    /// The orders, inventory and notifications services, here or remote.
    pub(crate) services: ServiceLinks,
    /// `/openapi.json` when routes were added beside the application's.
    pub(crate) openapi_json: std::sync::OnceLock<String>,
}

impl AppState {
    /// Wires an instance from its settings and stores.
    pub fn new(
        config: AppConfig,
        sessions: Arc<dyn SessionStore>,
        counters: Arc<dyn CounterStore>,
        identity: Identity,
        services: impl Into<ServiceLinks>,
    ) -> Self {
        let signer = StateSigner::new(&config.state_key);
        let cookies = CookiePolicy::new(config.secure_cookies, config.cookie_max_age());
        let served_by = HeaderValue::from_str(&config.instance_id)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-instance-id"));
        Self(Arc::new(Shared {
            config,
            sessions,
            counters,
            signer,
            cookies,
            metrics: Metrics::global(),
            served_by,
            identity,
            auth: AuthRuntime::default(),
            services: services.into(),
            openapi_json: std::sync::OnceLock::new(),
        }))
    }

    /// What the observing middleware needs.
    pub(crate) fn observed(&self) -> crate::middleware::Observed {
        crate::middleware::Observed {
            served_by: self.served_by.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// The instance's settings.
    pub fn config(&self) -> &AppConfig {
        &self.0.config
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
