//! Logging in and out, tokens and the profile.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_auth::{RefreshToken, TokenSubject};
use statecraft_services::{RefreshOutcome, User};
use statecraft_state::SessionSecret;
use utoipa::ToSchema;

use crate::auth::{AuthMode, AuthUser, Credential, Identity, reserve_attempt};
use crate::error::ErrorBody;
use crate::error::{ApiError, TokenProblem};
use crate::extract::{AppJson, ClientAddr, JsonOk};
use crate::revocation::{Denied, Revocation, unix_ms_after};
use crate::session::{IssuedCookie, SessionRequest};
use crate::state::AppState;

/// `POST /login` and `POST /token`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    /// The user name.
    user: String,
    /// The password.
    password: String,
}

/// The answer of a session login.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Message {
    message: &'static str,
}

/// Access and refresh tokens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenPair {
    /// The access token (JWT, EdDSA).
    token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: u64,
    /// The refresh token (opaque; rotated on every use).
    refresh_token: String,
}

/// `POST /token/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

/// `GET /profile`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Profile {
    name: String,
    role: String,
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reserves a place in the rate limit, then checks the password; a failure
/// keeps the place, a success gives it back.
pub(crate) async fn authenticate(
    identity: &Identity,
    credentials: &Credentials,
    client: IpAddr,
) -> Result<User, ApiError> {
    let attempt = reserve_attempt(&identity.users, &credentials.user, client).await?;
    // Overlong input is a failed login, not a reason to hash a megabyte.
    // So is a name no account can have (PostgreSQL refused a NUL byte in
    // it with an error, answered 503).
    let plausible = credentials.user.len() <= 64
        && credentials.password.len() <= 1024
        && (credentials.user.bytes())
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let user = if plausible {
        identity
            .users
            .authenticate(&credentials.user, &credentials.password)
            .await
            .map_err(ApiError::unavailable("users"))?
    } else {
        None
    };
    match user {
        Some(user) => {
            attempt.succeeded().await;
            Ok(user)
        }
        None => {
            attempt.failed().await;
            tracing::info!(client = %client, "failed login");
            Err(ApiError::InvalidCredentials)
        }
    }
}

/// A new token pair for `user`, starting a refresh family.
pub(crate) async fn issue_pair(identity: &Identity, user: &User) -> Result<TokenPair, ApiError> {
    let refresh = RefreshToken::generate();
    let family = identity
        .users
        .start_family(&user.id, &refresh, identity.settings.refresh_ttl)
        .await
        .map_err(ApiError::unavailable("users"))?;
    access_pair(identity, user, family, refresh)
}

fn access_pair(
    identity: &Identity,
    user: &User,
    family: String,
    refresh: RefreshToken,
) -> Result<TokenPair, ApiError> {
    let subject = TokenSubject {
        id: user.id.clone(),
        name: user.name.clone(),
        role: user.role.clone(),
        session: Some(family),
    };
    let tokens = &identity.tokens;
    let (token, _) = tokens
        .issue(&subject)
        .map_err(|_| ApiError::Internal("no signing key".to_owned()))?;
    Ok(TokenPair {
        token,
        token_type: "Bearer",
        expires_in: tokens.ttl().as_secs(),
        refresh_token: refresh.expose().to_owned(),
    })
}

/// Logs in. In session mode (the default) the session ID is rotated and the
/// anonymous session's cart kept; in token mode the answer is a token pair.
#[utoipa::path(
    post, path = "/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "session mode: Set-Cookie; token mode: a token pair", body = Message),
        (status = 401, description = "INVALID_CREDENTIALS", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    session: SessionRequest,
    AppJson(credentials): AppJson<Credentials>,
) -> Result<Response, ApiError> {
    let user = authenticate(&state.identity, &credentials, client).await?;
    if state.identity.settings.mode == AuthMode::Token {
        return Ok(JsonOk(issue_pair(&state.identity, &user).await?).into_response());
    }
    // The anonymous session's state (or the same user's) moves to the new
    // ID; a stale cookie just starts afresh (logging in is how one recovers
    // from a lost session). Another user's session is never inherited: its
    // checkout holds their address and payment token. Its ID dies all the
    // same, below.
    let previous = session.load(&state).await.ok().filter(|o| o.id.is_some());
    let mut data = previous
        .as_ref()
        .filter(|o| {
            o.data
                .user_id
                .as_ref()
                .is_none_or(|owner| *owner == user.id)
        })
        .map(|o| o.data.clone())
        .unwrap_or_default();
    data.user_id = Some(user.id.clone());
    let secret = SessionSecret::generate_for_user(&user.id);
    let store = &state.sessions;
    store
        .create_login(&secret.public_id(), &data, user_agent(&headers))
        .await
        .map_err(ApiError::store(store.kind()))?;
    if let Some(old) = previous.and_then(|o| o.id) {
        // Fixation defence: the ID known before login dies now.
        store
            .delete(&old)
            .await
            .map_err(ApiError::store(store.kind()))?;
    }
    let cookie = IssuedCookie(Some(state.cookies.issue(&secret)));
    Ok((
        cookie,
        JsonOk(Message {
            message: "Login successful",
        }),
    )
        .into_response())
}

/// Logs in for a token pair, whatever `--auth` says.
#[utoipa::path(
    post, path = "/token", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "INVALID_CREDENTIALS", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED", body = ErrorBody),
    )
)]
pub(crate) async fn token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AppJson(credentials): AppJson<Credentials>,
) -> Result<Response, ApiError> {
    let user = authenticate(&state.identity, &credentials, client).await?;
    Ok(JsonOk(issue_pair(&state.identity, &user).await?).into_response())
}

/// Exchanges a refresh token for a new pair; the old refresh token retires.
/// Presenting a retired one after the grace window revokes its whole family.
#[utoipa::path(
    post, path = "/token/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "TOKEN_INVALID, TOKEN_EXPIRED or TOKEN_REVOKED", body = ErrorBody),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    AppJson(request): AppJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    Ok(JsonOk(refresh_pair(&state.identity, &request).await?).into_response())
}

/// Rotates a refresh token into a new pair (see [`refresh`]).
pub(crate) async fn refresh_pair(
    identity: &Identity,
    request: &RefreshRequest,
) -> Result<TokenPair, ApiError> {
    let token = RefreshToken::parse(&request.refresh_token)
        .ok_or(ApiError::Token(TokenProblem::Invalid))?;
    let outcome = identity
        .users
        .rotate(
            &token,
            &identity.refresh_secret,
            identity.settings.refresh_ttl,
            identity.settings.refresh_grace,
        )
        .await
        .map_err(ApiError::unavailable("users"))?;
    let (user_id, family, successor) = match outcome {
        RefreshOutcome::Rotated {
            user_id,
            family,
            successor,
        }
        | RefreshOutcome::Replayed {
            user_id,
            family,
            successor,
        } => (user_id, family, successor),
        RefreshOutcome::ReuseDetected { family } => {
            // A thief or the holder has the family's access tokens too:
            // they stop now, not at their expiry, on every instance.
            let denied = deny_families(identity, std::slice::from_ref(&family)).await?;
            identity.announce(Revocation::of_denied(denied)).await?;
            return Err(ApiError::Token(TokenProblem::Revoked));
        }
        RefreshOutcome::Revoked => return Err(ApiError::Token(TokenProblem::Revoked)),
        RefreshOutcome::Expired => return Err(ApiError::Token(TokenProblem::Expired)),
        RefreshOutcome::Unknown => return Err(ApiError::Token(TokenProblem::Invalid)),
    };
    let user = identity
        .users
        .get(&user_id)
        .await
        .map_err(ApiError::unavailable("users"))?
        .ok_or(ApiError::Token(TokenProblem::Revoked))?;
    access_pair(identity, &user, family, successor)
}

/// Logs out: deletes the session at once, or revokes the bearer token (until
/// its expiry) and its refresh family.
#[utoipa::path(
    post, path = "/logout", tag = "auth",
    responses(
        (status = 200, body = Message),
        (status = 401, description = "UNAUTHENTICATED, SESSION_MISSING or TOKEN_*", body = ErrorBody),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    match &user.credential {
        Credential::Session(id) => {
            let store = &state.sessions;
            store
                .delete(id)
                .await
                .map_err(ApiError::store(store.kind()))?;
            // A copy handed to another instance ends too.
            let revocation = Revocation {
                sessions: vec![id.to_string()],
                expires_ms: unix_ms_after(state.config.timeouts.idle),
                ..Revocation::default()
            };
            state.identity.announce(revocation).await?;
            let clear = IssuedCookie(Some(state.cookies.clear()));
            Ok((
                clear,
                JsonOk(Message {
                    message: "Logged out",
                }),
            )
                .into_response())
        }
        Credential::Bearer(claims) => {
            let until_ms = claims.exp.saturating_mul(1000);
            let token = crate::auth::token_key(claims);
            let denylist = &state.identity.denylist;
            denylist
                .deny(&token, until_ms)
                .await
                .map_err(ApiError::store(denylist.kind()))?;
            let mut denied = vec![Denied {
                key: token,
                until_ms,
            }];
            if let Some(family) = &claims.sid {
                state
                    .identity
                    .users
                    .revoke_family(family)
                    .await
                    .map_err(ApiError::unavailable("users"))?;
                denied.extend(deny_families(&state.identity, std::slice::from_ref(family)).await?);
            }
            state
                .identity
                .announce(Revocation::of_denied(denied))
                .await?;
            Ok(JsonOk(Message {
                message: "Logged out",
            })
            .into_response())
        }
    }
}

/// Refuses every access token issued with these refresh families from now on,
/// for as long as such a token could live, here; the entries made, for the
/// rest of the cluster.
pub(crate) async fn deny_families(
    identity: &Identity,
    families: &[String],
) -> Result<Vec<Denied>, ApiError> {
    let until_ms = unix_ms_after(identity.tokens.ttl() + Duration::from_secs(60));
    let denylist = &identity.denylist;
    let mut denied = Vec::with_capacity(families.len());
    for family in families {
        let key = crate::auth::family_key(family);
        denylist
            .deny(&key, until_ms)
            .await
            .map_err(ApiError::store(denylist.kind()))?;
        denied.push(Denied { key, until_ms });
    }
    Ok(denied)
}

/// The caller's name and role, by session cookie or bearer token.
#[utoipa::path(
    get, path = "/profile", tag = "auth",
    responses(
        (status = 200, body = Profile),
        (status = 401, description = "UNAUTHENTICATED, SESSION_MISSING or TOKEN_*", body = ErrorBody),
    )
)]
pub(crate) async fn profile(user: AuthUser) -> Response {
    JsonOk(Profile {
        name: user.name,
        role: user.role,
    })
    .into_response()
}

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "a JWK set of Ed25519 keys"))
)]
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.identity.tokens.jwks()),
    )
        .into_response()
}
