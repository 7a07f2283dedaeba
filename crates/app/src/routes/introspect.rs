//! Whether an access token is still good: `GET /token/status`, and the
//! services' use of it.
//!
//! A service checks a token's signature with the users service's public keys,
//! but a logout is known only where it was made (the users side's denylist).
//! So a service asks, for every client token — one carrying a login (`sid`) —
//! `GET {users}/token/status` with that token, the way an OAuth resource
//! server introspects a revocable token (RFC 7662), and refuses it when the
//! answer is no. The short-lived tokens an instance mints for its own calls
//! to a service (no `sid`: checked by the instance just before) are not
//! asked about, so the monolith's calls cost no extra hop.

use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_auth::Claims;
use utoipa::ToSchema;

use crate::Identity;
use crate::auth::{Bearer, bearer};
use crate::error::ErrorBody;
use crate::error::{ApiError, TokenProblem};
use crate::extract::JsonOk;
use crate::state::AppState;

/// A token that verifies and is not revoked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenStatus {
    /// Always `true` (a bad token is a `401`).
    active: bool,
    /// Its user.
    sub: String,
    /// Its expiry, seconds since the epoch.
    exp: u64,
}

impl TokenStatus {
    fn of(claims: &Claims) -> Self {
        Self {
            active: true,
            sub: claims.sub.clone(),
            exp: claims.exp,
        }
    }
}

/// The bearer token of `parts`, or `UNAUTHENTICATED`.
fn token_of(parts: &Parts) -> Result<&str, ApiError> {
    match bearer(parts) {
        Bearer::Token(token) => Ok(token),
        Bearer::Absent => Err(ApiError::Unauthenticated),
        Bearer::Malformed => Err(ApiError::Token(TokenProblem::Invalid)),
    }
}

/// Whether the bearer token verifies and has not been revoked (logged out,
/// its login ended): for services that verify tokens themselves.
#[utoipa::path(
    get, path = "/token/status", tag = "auth",
    responses(
        (status = 200, body = TokenStatus),
        (status = 401, description = "UNAUTHENTICATED or TOKEN_INVALID / TOKEN_EXPIRED / TOKEN_REVOKED", body = ErrorBody),
    )
)]
pub(crate) async fn token_status(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let claims = state.verify_bearer(token_of(&parts)?).await?;
    Ok(JsonOk(TokenStatus::of(&claims)).into_response())
}

/// `GET /token/status` on the users service alone.
pub(crate) async fn users_token_status(
    identity: &Identity,
    parts: &Parts,
) -> Result<Response, ApiError> {
    let claims = identity.tokens.verify(token_of(parts)?)?;
    identity.refuse_revoked(&claims).await?;
    Ok(JsonOk(TokenStatus::of(&claims)).into_response())
}

/// How long the users side may take to say.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// A service's way of asking the users side about a client's token.
#[derive(Debug, Clone)]
pub struct Introspection {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl Introspection {
    /// Asks the users service (or `statecraft serve`) at `users_url`.
    ///
    /// # Errors
    /// A sentence naming what is wrong with `users_url`.
    pub fn new(users_url: &str) -> Result<Self, String> {
        let (url, client) =
            crate::remote::endpoint(users_url, "--users-url", "/token/status", ASK_TIMEOUT)?;
        Ok(Self { url, client })
    }

    /// Refuses `token` (whose signature verified to `claims`) when the users
    /// side says it is revoked; a token without a login is not asked about.
    /// The users side out of reach: `503`, never a revoked token let in.
    pub(crate) async fn check(&self, token: &str, claims: &Claims) -> Result<(), ApiError> {
        if claims.sid.is_none() {
            return Ok(());
        }
        let answer = self
            .client
            .get(self.url.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|err| {
                ApiError::service_down("users", format_args!("a token check: unreachable: {err}"))
            })?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            return Err(match body["code"].as_str() {
                Some("TOKEN_EXPIRED") => ApiError::Token(TokenProblem::Expired),
                Some("TOKEN_INVALID") => ApiError::Token(TokenProblem::Invalid),
                _ => ApiError::Token(TokenProblem::Revoked),
            });
        }
        Err(ApiError::service_down(
            "users",
            format_args!("a token check answered {status}"),
        ))
    }
}
