//! The statecraft gateway: a streaming reverse proxy in front of N app
//! instances. It balances them round-robin, by a signed sticky cookie, by
//! rendezvous hashing or by least requests; checks their health actively
//! (`/readyz`) and passively (failed exchanges); re-routes a client whose
//! instance died with `X-Affinity-Lost` (or answers `SESSION_LOST` in strict
//! mode); retries only what is safe to retry; and shows the cluster at
//! `/_cluster`.
//!
//! `statecraft gateway` builds a [`GatewayConfig`] and calls [`serve`]; tests
//! do the same on port 0.

mod balance;
mod cluster;
mod config;
mod error;
mod health;
mod pool;
mod proxy;
mod supervisor;
mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use std::convert::Infallible;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

pub use balance::{CLIENT_COOKIE, STICKY_COOKIE};
pub use cluster::InstanceControl;
pub use config::{AffinityLoss, GatewayConfig, Policy, UpstreamSpec};
pub use error::GatewayError;
pub use proxy::AFFINITY_LOST;
pub use supervisor::{InstanceSpec, StartError, Supervisor};
pub use upstream::Upstream;

use balance::Balancer;

/// One gateway: its settings, instances, balancer and connection pool. Cloned
/// per request (one `Arc`).
#[derive(Clone, Debug)]
pub struct Gateway(Arc<Inner>);

/// What [`Gateway`] shares.
#[allow(unreachable_pub)] // `pub` only as the `Deref::Target` of a public type
#[derive(Debug)]
pub struct Inner {
    config: GatewayConfig,
    upstreams: Vec<Arc<Upstream>>,
    balancer: Balancer,
    control: Option<Arc<dyn InstanceControl>>,
    metrics: Option<PrometheusHandle>,
}

impl Deref for Gateway {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Gateway {
    /// A gateway over `config`'s instances; `control`, when given, lets
    /// `/_cluster/instances/{id}/stop|start` act on their processes.
    pub fn new(config: GatewayConfig, control: Option<Arc<dyn InstanceControl>>) -> Self {
        let upstreams = config
            .upstreams
            .iter()
            .map(|spec| Arc::new(Upstream::new(spec, config.connect_timeout)))
            .collect();
        let balancer = Balancer::new(config.policy, config.on_affinity_loss, &config.sticky_key);
        Self(Arc::new(Inner {
            config,
            upstreams,
            balancer,
            control,
            metrics: metrics_handle(),
        }))
    }

    /// The instances, in the order given.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// A `Set-Cookie` of the gateway's (the sticky pin, a hashed client's key).
    fn cookie(&self, name: &str, value: &str) -> String {
        let secure = if self.config.insecure_cookies {
            ""
        } else {
            "; Secure"
        };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}")
    }

    /// The gateway as a service: `/_cluster…` and `/metrics` are its own
    /// routes; everything else is forwarded without passing through a router
    /// (the path test is all the routing a proxied request needs).
    pub fn service(
        &self,
    ) -> impl tower::Service<
        Request,
        Response = Response,
        Error = Infallible,
        Future = impl Future<Output = Result<Response, Infallible>> + Send,
    > + Clone
    + Send
    + 'static {
        let own = cluster::routes().with_state(self.clone());
        let gateway = self.clone();
        tower::service_fn(move |request: Request| {
            let (gateway, own) = (gateway.clone(), own.clone());
            async move {
                let path = request.uri().path();
                if path.starts_with("/_cluster") || path == "/metrics" {
                    return own.oneshot(request).await;
                }
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
                Ok(proxy::forward(gateway, peer, request).await)
            }
        })
    }
}

/// The process's Prometheus recorder (one per process: the `metrics` facade
/// has a single global recorder).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::warn!(%err, "metrics recorder not installed; /metrics will be empty");
                None
            }
        })
        .clone()
}

/// Serves `gateway` on `listener` until `shutdown`, checking the instances'
/// health in the background; requests in flight finish.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let checks = tokio::spawn(health::run(gateway.clone()));
    let app = axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(
        gateway.service(),
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    checks.abort();
    served
}
