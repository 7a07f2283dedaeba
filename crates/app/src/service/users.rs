//! The users service's router: registration, token logins, refresh, token
//! status (for the other services' revocation checks) and the public keys.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{Routes, ServiceContext, ServiceState};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::extract::{AppJson, ClientAddr, JsonOk};
use crate::routes::{auth, introspect, users};

type UsersState = ServiceState<Arc<Identity>>;

/// The users service's routes.
pub(super) fn router(context: Arc<ServiceContext>, identity: Identity) -> Routes {
    let routes = Router::new()
        .route("/users", post(register))
        .route("/token", post(token))
        .route("/token/refresh", post(refresh))
        .route("/token/status", get(token_status))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(ServiceState {
            context,
            service: Arc::new(identity),
        });
    (
        routes,
        &[
            "/users",
            "/token",
            "/token/refresh",
            "/token/status",
            "/.well-known/jwks.json",
        ],
    )
}

async fn register(
    State(state): State<UsersState>,
    ClientAddr(client): ClientAddr,
    AppJson(body): AppJson<users::Registration>,
) -> Result<Response, ApiError> {
    users::register_user(&state.service.users, client, body).await
}

async fn token(
    State(state): State<UsersState>,
    ClientAddr(client): ClientAddr,
    AppJson(credentials): AppJson<auth::Credentials>,
) -> Result<Response, ApiError> {
    let identity = &state.service;
    let user = auth::authenticate(identity, &credentials, client).await?;
    Ok(JsonOk(auth::issue_pair(identity, &user).await?).into_response())
}

async fn refresh(
    State(state): State<UsersState>,
    AppJson(request): AppJson<auth::RefreshRequest>,
) -> Result<Response, ApiError> {
    Ok(JsonOk(auth::refresh_pair(&state.service, &request).await?).into_response())
}

async fn token_status(State(state): State<UsersState>, parts: Parts) -> Result<Response, ApiError> {
    introspect::users_token_status(&state.service, &parts).await
}

async fn jwks(State(state): State<UsersState>) -> Response {
    axum::Json(state.context.tokens.jwks()).into_response()
}
