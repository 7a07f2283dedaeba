//! One service alone (`statecraft service users|orders|inventory|notifications`):
//! its own routes over its own database, with callers proved by bearer tokens
//! that the service verifies itself with the users service's public keys
//! (JWKS), never by trusting a header. Each service owns its router (here,
//! one module each); their handlers call the same parse-call-answer steps as
//! the app's routes, over the same service traits.

mod order_flow;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use statecraft_auth::TokenIssuer;
use statecraft_services::{Caller, Inventory, Notifications, Orders, ServiceError};
use tower::ServiceBuilder;

use crate::Introspection;
use crate::auth::{Bearer, Identity, bearer};
use crate::error::ApiError;
use crate::extract::{BodyLimit, JsonOk, TrustedProxies};
use crate::metrics::Metrics;
use crate::middleware::{ObserveLayer, Observed, RouteLabels};

/// Which service a process serves, over what.
#[derive(Debug, Clone)]
pub enum LoneService {
    /// Users: registration, token logins, refresh, the public keys.
    Users(Box<Identity>),
    /// Orders.
    Orders(Arc<dyn Orders>),
    /// Catalog and stock.
    Inventory(Arc<dyn Inventory>),
    /// Notifications.
    Notifications(Arc<dyn Notifications>),
}

impl LoneService {
    /// Whether the service's database answers.
    async fn ping(&self) -> Result<(), ServiceError> {
        match self {
            Self::Users(identity) => identity
                .users
                .ping()
                .await
                .map_err(|err| ServiceError::unavailable("users", err)),
            Self::Orders(orders) => orders.ping().await,
            Self::Inventory(inventory) => inventory.ping().await,
            Self::Notifications(notifications) => notifications.ping().await,
        }
    }

    /// Gives back the service's database pool at shutdown (its tasks
    /// stopped first).
    pub async fn close(&self) {
        match self {
            Self::Users(identity) => identity.users.close().await,
            Self::Orders(orders) => orders.close().await,
            Self::Inventory(inventory) => inventory.close().await,
            Self::Notifications(notifications) => notifications.close().await,
        }
    }
}

/// What every service's routes share: how callers are proved.
#[derive(Debug)]
pub struct ServiceContext {
    /// Verifies callers' tokens (the users service's own keys, or a
    /// verify-only ring made from its JWKS).
    tokens: Arc<TokenIssuer>,
    /// Whose `X-Forwarded-For` is believed (the gateway).
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Where a client's token is checked for revocation (every service but
    /// the users one, which holds the denylist itself).
    introspection: Option<Introspection>,
}

impl ServiceContext {
    /// Callers proved by tokens `tokens` verifies, `X-Forwarded-For` believed
    /// from `proxies`, revocations asked of `introspection`.
    pub fn new(
        tokens: Arc<TokenIssuer>,
        proxies: Vec<ipnet::IpNet>,
        introspection: Option<Introspection>,
    ) -> Self {
        Self {
            tokens,
            trusted_proxies: proxies,
            introspection,
        }
    }
}

/// The state of one service's routes: the shared context and the service.
#[derive(Debug)]
struct ServiceState<S> {
    context: Arc<ServiceContext>,
    service: S,
}

impl<S: Clone> Clone for ServiceState<S> {
    fn clone(&self) -> Self {
        Self {
            context: Arc::clone(&self.context),
            service: self.service.clone(),
        }
    }
}

/// A service's bodies are small: an order of at most 100 lines.
const SERVICE_BODY_LIMIT: usize = 64 * 1024;

impl<S: Send + Sync> BodyLimit for ServiceState<S> {
    fn body_limit(&self) -> usize {
        SERVICE_BODY_LIMIT
    }
}

impl<S> TrustedProxies for ServiceState<S> {
    fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.context.trusted_proxies
    }
}

/// A caller proved by a bearer token.
struct TokenCaller(Caller);

impl<S: Send + Sync> FromRequestParts<ServiceState<S>> for TokenCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServiceState<S>,
    ) -> Result<Self, ApiError> {
        let Bearer::Token(token) = bearer(parts) else {
            return Err(ApiError::Unauthenticated);
        };
        let claims = state.context.tokens.verify(token)?;
        if let Some(introspection) = &state.context.introspection {
            introspection.check(token, &claims).await?;
        }
        Ok(Self(Caller {
            id: claims.sub,
            name: claims.name,
            role: claims.role,
        }))
    }
}

/// `/readyz`'s answer: whether the service's database answers.
fn readiness(ping: Result<(), ServiceError>) -> Response {
    match ping {
        Ok(()) => JsonOk(serde_json::json!({"status": "ok"})).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// A service's routes and the templates its metrics are labelled by.
type Routes = (Router, &'static [&'static str]);

/// The routes of one service, observed like the app's (request IDs, JSON 500
/// for a panic, metrics, `X-Served-By`).
pub fn service_app(
    service: LoneService,
    context: ServiceContext,
    instance_id: &str,
) -> impl crate::HttpService {
    let context = Arc::new(context);
    let pinged = service.clone();
    let (routes, templates): Routes = match service {
        LoneService::Users(identity) => users::router(context, *identity),
        LoneService::Orders(orders) => order_flow::orders(context, orders),
        LoneService::Inventory(inventory) => order_flow::inventory(context, inventory),
        LoneService::Notifications(notes) => order_flow::notifications(context, notes),
    };
    let routes = routes
        .route(
            "/healthz",
            get(|| async { JsonOk(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(move || {
                let service = pinged.clone();
                async move { readiness(service.ping().await) }
            }),
        )
        .fallback(|| async { ApiError::NotFound("Route not found".to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    let observed = Observed {
        served_by: HeaderValue::from_str(instance_id)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-instance-id")),
        metrics: Metrics::global(),
    };
    let labels = RouteLabels::new(templates.iter().copied().chain(["/healthz", "/readyz"]));
    ServiceBuilder::new()
        .layer(ObserveLayer::new(observed, labels))
        .service(routes)
}
