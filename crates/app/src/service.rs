//! One service alone (`statecraft service orders|inventory|notifications`): its
//! own routes over its own database, with callers proved by bearer tokens that
//! the service verifies itself with the users service's public keys (JWKS),
//! never by trusting a header. The same domain functions serve these routes
//! and the monolith's.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use statecraft_auth::TokenIssuer;
use statecraft_services::{InventoryDb, NotificationsDb, OrdersDb};
use tower::{Service, ServiceBuilder};

use crate::Introspection;
use crate::auth::{Bearer, Caller, Identity, bearer};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, JsonOk};
use crate::extract::{ClientAddr, TrustedProxies};
use crate::metrics::Metrics;
use crate::middleware::{ObserveLayer, Observed, RouteLabels};
use crate::routes::auth;
use crate::routes::{catalog, orders, users};

/// What one service process owns.
#[derive(Debug, Clone)]
pub enum ServiceData {
    /// Users: registration, token logins, refresh, the public keys.
    Users(Box<Identity>),
    /// Orders.
    Orders(OrdersDb),
    /// Catalog and stock.
    Inventory(InventoryDb),
    /// Notifications.
    Notifications(NotificationsDb),
}

/// The state of a service process's routes.
#[derive(Debug, Clone)]
pub struct ServiceState(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    data: ServiceData,
    tokens: Arc<TokenIssuer>,
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Where a client's token is checked for revocation (every service but
    /// the users one, which holds the denylist itself).
    introspection: Option<Introspection>,
}

/// A service's bodies are small: an order of at most 100 lines.
const SERVICE_BODY_LIMIT: usize = 64 * 1024;

impl crate::extract::BodyLimit for ServiceState {
    fn body_limit(&self) -> usize {
        SERVICE_BODY_LIMIT
    }
}

impl ServiceState {
    /// A service over `data`, verifying tokens with `tokens` (a verify-only
    /// issuer made from the users service's JWKS).
    pub fn new(data: ServiceData, tokens: Arc<TokenIssuer>) -> Self {
        Self::with_trusted_proxies(data, tokens, Vec::new(), None)
    }

    /// The same, believing `X-Forwarded-For` from `proxies` (the gateway),
    /// and asking `introspection` whether a client's token was revoked.
    pub fn with_trusted_proxies(
        data: ServiceData,
        tokens: Arc<TokenIssuer>,
        proxies: Vec<std::net::IpAddr>,
        introspection: Option<Introspection>,
    ) -> Self {
        Self(Arc::new(Shared {
            data,
            tokens,
            trusted_proxies: proxies,
            introspection,
        }))
    }
}

impl TrustedProxies for ServiceState {
    fn trusted_proxies(&self) -> &[std::net::IpAddr] {
        &self.0.trusted_proxies
    }
}

/// A caller proved by a bearer token.
struct TokenCaller(Caller);

impl FromRequestParts<ServiceState> for TokenCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ServiceState) -> Result<Self, ApiError> {
        let Bearer::Token(token) = bearer(parts) else {
            return Err(ApiError::Unauthenticated);
        };
        let claims = state.0.tokens.verify(token)?;
        if let Some(introspection) = &state.0.introspection {
            introspection.check(token, &claims).await?;
        }
        Ok(Self(Caller {
            id: claims.sub,
            role: claims.role,
        }))
    }
}

fn not_here() -> ApiError {
    ApiError::NotFound("Route not found".to_owned())
}

async fn place(
    State(state): State<ServiceState>,
    TokenCaller(caller): TokenCaller,
    headers: HeaderMap,
    AppJson(body): AppJson<orders::OrderBody>,
) -> Result<Response, ApiError> {
    let ServiceData::Orders(db) = &state.0.data else {
        return Err(not_here());
    };
    orders::place_order(db, &caller, &headers, body).await
}

async fn order(
    State(state): State<ServiceState>,
    TokenCaller(caller): TokenCaller,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let ServiceData::Orders(db) = &state.0.data else {
        return Err(not_here());
    };
    orders::order_of(db, &caller, &id).await
}

async fn order_list(
    State(state): State<ServiceState>,
    uri: Uri,
    TokenCaller(caller): TokenCaller,
) -> Result<Response, ApiError> {
    let ServiceData::Orders(db) = &state.0.data else {
        return Err(not_here());
    };
    orders::orders_of(db, &caller, orders::key_query(&uri).as_deref()).await
}

/// The outbox report of the orders or the inventory service (role admin).
async fn outbox(
    State(state): State<ServiceState>,
    TokenCaller(caller): TokenCaller,
) -> Result<Response, ApiError> {
    let report = match &state.0.data {
        ServiceData::Orders(db) => {
            crate::routes::outbox::outbox_report(&caller, "orders", &db.outbox()).await?
        }
        ServiceData::Inventory(db) => {
            crate::routes::outbox::outbox_report(&caller, "inventory", &db.outbox()).await?
        }
        _ => return Err(not_here()),
    };
    Ok(JsonOk([report]).into_response())
}

async fn products(State(state): State<ServiceState>) -> Result<Response, ApiError> {
    let ServiceData::Inventory(db) = &state.0.data else {
        return Err(not_here());
    };
    catalog::product_list(db).await
}

async fn availability(
    State(state): State<ServiceState>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let ServiceData::Inventory(db) = &state.0.data else {
        return Err(not_here());
    };
    catalog::availability_of(db, &id).await
}

async fn notifications(
    State(state): State<ServiceState>,
    TokenCaller(caller): TokenCaller,
) -> Result<Response, ApiError> {
    let ServiceData::Notifications(db) = &state.0.data else {
        return Err(not_here());
    };
    crate::routes::notifications::notification_list(db, &caller.id).await
}

async fn register(
    State(state): State<ServiceState>,
    ClientAddr(client): ClientAddr,
    AppJson(body): AppJson<users::Registration>,
) -> Result<Response, ApiError> {
    let ServiceData::Users(identity) = &state.0.data else {
        return Err(not_here());
    };
    users::register_user(&identity.users, client, body).await
}

async fn token(
    State(state): State<ServiceState>,
    ClientAddr(client): ClientAddr,
    AppJson(credentials): AppJson<auth::Credentials>,
) -> Result<Response, ApiError> {
    let ServiceData::Users(identity) = &state.0.data else {
        return Err(not_here());
    };
    let user = auth::authenticate(identity, &credentials, client).await?;
    Ok(JsonOk(auth::issue_pair(identity, &user).await?).into_response())
}

async fn refresh(
    State(state): State<ServiceState>,
    AppJson(request): AppJson<auth::RefreshRequest>,
) -> Result<Response, ApiError> {
    let ServiceData::Users(identity) = &state.0.data else {
        return Err(not_here());
    };
    Ok(JsonOk(auth::refresh_pair(identity, &request).await?).into_response())
}

async fn token_status(
    State(state): State<ServiceState>,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    let ServiceData::Users(identity) = &state.0.data else {
        return Err(not_here());
    };
    crate::routes::introspect::users_token_status(identity, &parts).await
}

async fn jwks(State(state): State<ServiceState>) -> Response {
    axum::Json(state.0.tokens.jwks()).into_response()
}

async fn readyz(State(state): State<ServiceState>) -> Response {
    let ping = match &state.0.data {
        ServiceData::Users(identity) => identity.users.ping().await,
        ServiceData::Orders(db) => db.ping().await,
        ServiceData::Inventory(db) => db.ping().await,
        ServiceData::Notifications(db) => db.ping().await,
    };
    match ping {
        Ok(()) => JsonOk(serde_json::json!({"status": "ok"})).into_response(),
        Err(err) => ApiError::service_down("database", err).into_response(),
    }
}

/// The routes of one service, observed like the app's (request IDs, JSON 500
/// for a panic, metrics, `X-Served-By`).
pub fn service_app(
    state: ServiceState,
    instance_id: &str,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    let (routes, templates): (Router<ServiceState>, &[&'static str]) = match &state.0.data {
        ServiceData::Users(_) => (
            Router::new()
                .route("/users", axum::routing::post(register))
                .route("/token", axum::routing::post(token))
                .route("/token/refresh", axum::routing::post(refresh))
                .route("/token/status", get(token_status))
                .route("/.well-known/jwks.json", get(jwks)),
            &[
                "/users",
                "/token",
                "/token/refresh",
                "/token/status",
                "/.well-known/jwks.json",
                "/healthz",
                "/readyz",
            ],
        ),
        ServiceData::Orders(_) => (
            Router::new()
                .route("/orders", get(order_list).post(place))
                .route("/orders/{id}", get(order))
                .route("/_admin/outbox", get(outbox)),
            &[
                "/orders",
                "/orders/{id}",
                "/_admin/outbox",
                "/healthz",
                "/readyz",
            ],
        ),
        ServiceData::Inventory(_) => (
            Router::new()
                .route("/products", get(products))
                .route("/inventory/{productId}", get(availability))
                .route("/_admin/outbox", get(outbox)),
            &[
                "/products",
                "/inventory/{productId}",
                "/_admin/outbox",
                "/healthz",
                "/readyz",
            ],
        ),
        ServiceData::Notifications(_) => (
            Router::new().route("/notifications", get(notifications)),
            &["/notifications", "/healthz", "/readyz"],
        ),
    };
    let routes = routes
        .route(
            "/healthz",
            get(|| async { JsonOk(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .fallback(|| async { not_here() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state);
    let observed = Observed {
        served_by: HeaderValue::from_str(instance_id)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-instance-id")),
        metrics: Metrics::global(),
    };
    ServiceBuilder::new()
        .layer(ObserveLayer::new(
            observed,
            RouteLabels::new(templates.iter().copied()),
        ))
        .service(routes)
}
