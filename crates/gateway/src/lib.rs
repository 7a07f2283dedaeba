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
mod client_body;
mod cluster;
mod config;
mod edge;
mod error;
mod handover;
mod health;
mod links;
mod outlier;
mod pool;
mod proxy;
mod revocations;
mod supervisor;
#[cfg(test)]
mod testing;
mod upstream;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use futures_util::FutureExt as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

pub use balance::{CLIENT_COOKIE, STICKY_COOKIE};
pub use cluster::InstanceControl;
pub use config::{AffinityLoss, GatewayConfig, Policy, ServiceRoute, UpstreamSpec};
pub use error::GatewayError;
pub use links::{Links, NamedCable, NamedLink};
pub use outlier::OutlierRule;
pub use proxy::AFFINITY_LOST;
pub use supervisor::{InstanceSpec, StartError, Supervisor};
pub use upstream::Upstream;

use axum::response::IntoResponse as _;
use balance::Balancer;
use edge::EdgeAuth;
use outlier::Outliers;
use proxy::Target;
use statecraft_http::ControlGuard;

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
    /// The instances' outlier detection.
    outliers: Outliers,
    /// Services by path prefix, longest prefix first.
    services: Vec<ServiceTarget>,
    /// Checks bearer tokens bound for services.
    edge: Option<EdgeAuth>,
    control: Option<Arc<dyn InstanceControl>>,
    /// The cluster's network links, when it runs with them.
    links: Option<Links>,
    /// Who may make control calls.
    guard: ControlGuard,
    /// Where `serve` listens (unknown for a gateway used through `handle`).
    listening: OnceLock<SocketAddr>,
    /// Routes the gateway answers itself under a path prefix (the lab's
    /// `/lab/…`), rather than an instance.
    extra: Option<(&'static str, Router)>,
    /// The cluster's logouts, for instances that keep state to themselves.
    revocations: revocations::Revocations,
    metrics: Option<PrometheusHandle>,
}

/// A service behind a path prefix.
#[derive(Debug)]
struct ServiceTarget {
    route: ServiceRoute,
    upstream: [Arc<Upstream>; 1],
    balancer: Balancer,
    outliers: Outliers,
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
        // The recorder first: the instances register their series as they are
        // made, and a series registered before it is installed records nowhere
        // (`/metrics` was empty until this came first).
        let metrics = metrics_handle();
        let upstreams = config
            .upstreams
            .iter()
            .map(|spec| Arc::new(Upstream::new(spec, config.connect_timeout)))
            .collect();
        let balancer = Balancer::new(config.policy, config.on_affinity_loss, &config.sticky_key);
        let mut services: Vec<ServiceTarget> = config
            .routes
            .iter()
            .map(|route| ServiceTarget {
                route: route.clone(),
                upstream: [Arc::new(Upstream::new(
                    &route.upstream,
                    config.connect_timeout,
                ))],
                balancer: Balancer::new(
                    Policy::RoundRobin,
                    AffinityLoss::Redispatch,
                    &config.sticky_key,
                ),
                outliers: Outliers::new(config.outlier),
            })
            .collect();
        services.sort_by_key(|s| std::cmp::Reverse(s.route.prefix.len()));
        let edge = config
            .jwks_url
            .as_ref()
            .and_then(|url| EdgeAuth::new(url, config.connect_timeout));
        let outliers = Outliers::new(config.outlier);
        let guard = ControlGuard {
            admin_token: config.admin_token.clone(),
            public_hosts: (config.public_hosts.iter())
                .filter(|h| !h.is_empty())
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        };
        Self(Arc::new(Inner {
            config,
            upstreams,
            balancer,
            outliers,
            services,
            edge,
            control,
            links: None,
            extra: None,
            guard,
            listening: OnceLock::new(),
            revocations: revocations::Revocations::default(),
            metrics,
        }))
    }

    /// This gateway with `links` to control at `/_cluster/links`; to be
    /// called on a new gateway, before it is cloned (a shared one is kept
    /// as it is, with a warning).
    #[must_use]
    pub fn with_links(mut self, links: Links) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.links = Some(links),
            None => tracing::warn!("links given to a gateway already shared: not controllable"),
        }
        self
    }

    /// This gateway answering the paths under `prefix` (e.g. `/lab/`) with
    /// `router` itself; to be called on a new gateway, as [`Self::with_links`].
    #[must_use]
    pub fn with_own_routes(mut self, prefix: &'static str, router: Router) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.extra = Some((prefix, router)),
            None => tracing::warn!("routes given to a gateway already shared: not served"),
        }
        self
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

    /// Answers one request: `/_cluster…` and `/metrics` are the gateway's
    /// own routes; everything else is forwarded without passing through a
    /// router (the path test is all the routing a proxied request needs).
    ///
    /// A future is copied whole each time it moves (hyper moves it into its
    /// connection's slot), so this one holds one forwarding and boxes the
    /// rarer work: the own routes and the edge's token check (an 8.8 KB
    /// future was ~4% of the gateway's CPU in memcpy).
    async fn dispatch(self, own: Router, peer: SocketAddr, mut request: Request) -> Response {
        let path = request.uri().path();
        // Whole path segments: `/_clusterfoo` is an instance's path, not ours.
        let own_path = path == "/_cluster" || path.starts_with("/_cluster/") || path == "/metrics";
        // Between the gateway and its instances only: never a client's.
        if path.starts_with("/_internal/") {
            return GatewayError::NotFound("Route not found".to_owned()).into_response();
        }
        if let Some((prefix, extra)) = &self.extra
            && path.starts_with(prefix)
        {
            request.extensions_mut().insert(ConnectInfo(peer));
            return match Box::pin(extra.clone().oneshot(request)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
        if own_path {
            // Scrapers name the gateway as they please; the rest is ours.
            if path != "/metrics"
                && let Err(refused) =
                    (self.guard).check_host(request.headers(), self.listening.get().copied())
            {
                return GatewayError::from(refused).into_response();
            }
            request.extensions_mut().insert(ConnectInfo(peer));
            return match Box::pin(own.oneshot(request)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
        let target = match self.services.iter().find(|s| s.route.matches(path)) {
            Some(service) => {
                if let Some(edge) = &self.edge
                    && let Err(refused) = Box::pin(edge.check(request.headers())).await
                {
                    return refused.into_response();
                }
                Target {
                    upstreams: &service.upstream,
                    balancer: &service.balancer,
                    outliers: &service.outliers,
                }
            }
            None => Target {
                upstreams: &self.upstreams,
                balancer: &self.balancer,
                outliers: &self.outliers,
            },
        };
        proxy::forward(&self, target, peer, request).await
    }

    /// Answers one request from `peer` as [`serve`] does, without a
    /// listener (no health checks run: instances count as healthy until a
    /// failed exchange). For embedding the gateway, and for fuzzing its
    /// handling of hostile headers.
    pub async fn handle(&self, peer: SocketAddr, request: Request) -> Response {
        let own = cluster::routes().with_state(self.clone());
        self.clone().dispatch(own, peer, request).await
    }
}

/// The process's Prometheus recorder (one per process: the `metrics` facade
/// has a single global recorder).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Buckets, not the default summary: a sample then costs a bucket
            // search when folded in, not a quantile sketch's insert (~420
            // instructions a proxied request, callgrind), and histograms of
            // several gateways add up.
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(upstream::LATENCY.to_owned()),
                    statecraft_http::LATENCY_BUCKETS,
                )
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(%err, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

/// How often recorded histogram samples are folded into their buckets.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How long requests in flight may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `gateway` on `listener` until `shutdown`, checking the instances'
/// health in the background; requests in flight finish. Each connection is
/// served by hyper's HTTP/1 server directly: the client's address is known
/// per connection, not stored in every request.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let _ = gateway.listening.set(local);
    if !local.ip().is_loopback() && gateway.config.admin_token.is_none() {
        tracing::warn!(
            "listening on {local}, beyond loopback, without an admin token: cluster control \
             (/_cluster/instances/…) is closed; set STATECRAFT_ADMIN_TOKEN or \
             --admin-token-file to open it"
        );
    }
    let checks = tokio::spawn(health::run(gateway.clone()));
    // Histogram samples wait in the recorder until folded into buckets:
    // without this they would pile up between scrapes.
    let upkeep = gateway.metrics.clone().map(|handle| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(METRICS_UPKEEP_EVERY).await;
                handle.run_upkeep();
            }
        })
    });
    let keys = gateway.edge.is_some().then(|| {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            loop {
                if let Some(edge) = &gateway.edge {
                    edge.refresh().await;
                }
                tokio::time::sleep(edge::REFRESH_EVERY).await;
            }
        })
    });
    let own = cluster::routes().with_state(gateway.clone());
    let served = statecraft_http::serve_http1(listener, shutdown, Some(DRAIN_TIMEOUT), |peer| {
        let (gateway, own) = (gateway.clone(), own.clone());
        hyper::service::service_fn(move |request: http::Request<Body>| {
            // No wrapping `async` block: it would be one more copy of the future.
            gateway
                .clone()
                .dispatch(own.clone(), peer, request)
                .map(Ok::<_, Infallible>)
        })
    })
    .await;
    checks.abort();
    for task in [keys, upkeep].into_iter().flatten() {
        task.abort();
    }
    served
}
