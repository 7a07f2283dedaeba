//! The one `Clone` state every handler receives.

use std::sync::Arc;

use axum::http::HeaderValue;

use statecraft_state::{CounterStore, SessionStore};

use crate::config::AppConfig;
use crate::metrics::Metrics;
use crate::session::CookiePolicy;
use crate::state_token::StateSigner;

/// Shared by all handlers of one instance: settings and stores, chosen once at start.
#[derive(Clone, Debug)]
pub struct AppState {
    pub(crate) config: Arc<AppConfig>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) counters: Arc<dyn CounterStore>,
    pub(crate) signer: StateSigner,
    pub(crate) cookies: CookiePolicy,
    pub(crate) metrics: Metrics,
    /// `X-Served-By`, built once.
    pub(crate) served_by: HeaderValue,
}

impl AppState {
    /// Wires an instance from its settings and stores.
    pub fn new(
        config: AppConfig,
        sessions: Arc<dyn SessionStore>,
        counters: Arc<dyn CounterStore>,
    ) -> Self {
        let signer = StateSigner::new(&config.state_key);
        let cookies = CookiePolicy::new(config.secure_cookies, config.cookie_max_age());
        let served_by = HeaderValue::from_str(&config.instance_id)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-instance-id"));
        Self {
            served_by,
            config: Arc::new(config),
            sessions,
            counters,
            signer,
            cookies,
            metrics: Metrics::global(),
        }
    }

    /// The instance's settings.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }
}
