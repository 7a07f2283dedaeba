//! Who is calling: a logged-in session or a bearer token, resolved once per
//! request by the [`AuthUser`] extractor, and the identity services behind it.

pub(crate) mod identity;
mod limiter;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest as _, Sha256};
use statecraft_auth::Claims;
use statecraft_services::User;
use statecraft_state::SessionId;

use crate::error::{ApiError, TokenProblem};
use crate::session::SessionRequest;
use crate::state::AppState;

use identity::USER_TTL;
pub use identity::{AuthMode, AuthSettings, Identity};
pub(crate) use limiter::REGISTRATIONS;
pub(crate) use limiter::{exhausted as attempts_exhausted, reserve as reserve_attempt};

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    /// A logged-in session.
    Session(SessionId),
    /// A bearer access token.
    Bearer(Arc<Claims>),
}

/// The authenticated caller. As an extractor it answers `401` when there is
/// no user: `UNAUTHENTICATED` without credentials, `TOKEN_*` for a bad bearer
/// token, `SESSION_MISSING` for an unknown session cookie.
#[derive(Debug, Clone)]
pub(crate) struct AuthUser {
    /// `user-<n>`.
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
    /// `admin` or `user`.
    pub(crate) role: String,
    /// How.
    pub(crate) credential: Credential,
}

/// What the `Authorization` header holds.
pub(crate) enum Bearer<'a> {
    /// No `Authorization` header.
    Absent,
    /// `Bearer <token>`.
    Token(&'a str),
    /// Another scheme, or not text.
    Malformed,
}

pub(crate) fn bearer(parts: &Parts) -> Bearer<'_> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Bearer::Absent;
    };
    let Ok(text) = value.to_str() else {
        return Bearer::Malformed;
    };
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Bearer::Token(token.trim())
        }
        _ => Bearer::Malformed,
    }
}

/// The denylist entry that revokes every access token of one login.
/// `{…}` is a hash tag: on Redis Cluster a login's entries share one slot, so
/// a token is checked against both in one command.
pub fn family_key(family: &str) -> String {
    format!("sid:{{{family}}}")
}

/// The denylist entry that revokes one access token: its `jti`, after its
/// login's hash tag when it has one (see [`family_key`]).
pub fn token_key(claims: &Claims) -> String {
    match &claims.sid {
        Some(family) => format!("{{{family}}}{}", claims.jti),
        None => claims.jti.clone(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Identity {
    /// `TOKEN_REVOKED` when the token was logged out itself, or when its
    /// login (its refresh family) was ended — a bearer logout, log out
    /// everywhere, or a refresh token reused.
    pub(crate) async fn refuse_revoked(&self, claims: &Claims) -> Result<(), ApiError> {
        let (token, family) = (token_key(claims), claims.sid.as_deref().map(family_key));
        let mut ids = vec![token.as_str()];
        ids.extend(family.as_deref());
        let denied = self
            .denylist
            .any_denied(&ids)
            .await
            .map_err(ApiError::store(self.denylist.kind()))?;
        if denied {
            return Err(ApiError::Token(TokenProblem::Revoked));
        }
        Ok(())
    }
}

impl AppState {
    /// The claims of a bearer token that verifies and is not revoked.
    pub(crate) async fn verify_bearer(&self, token: &str) -> Result<Arc<Claims>, ApiError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.auth.verified.get(&key) {
            Some(claims) => {
                if claims.exp <= unix_now() {
                    return Err(ApiError::Token(TokenProblem::Expired));
                }
                claims
            }
            None => {
                let claims = Arc::new(self.identity.tokens.verify(token)?);
                let left = claims.exp.saturating_sub(unix_now());
                self.auth.verified.insert(
                    key,
                    Arc::clone(&claims),
                    Instant::now() + Duration::from_secs(left),
                );
                claims
            }
        };
        // Never cached: a logout takes effect on the very next request.
        self.identity.revocations_current()?;
        self.identity.refuse_revoked(&claims).await?;
        Ok(claims)
    }

    /// A user by ID, cached briefly.
    pub(crate) async fn user(&self, id: &str) -> Result<Option<User>, ApiError> {
        if let Some(user) = self.auth.users.get(&id.to_owned()) {
            return Ok(Some(user));
        }
        let user = self
            .identity
            .users
            .get(id)
            .await
            .map_err(ApiError::unavailable("users"))?;
        if let Some(user) = &user {
            self.auth
                .users
                .insert(id.to_owned(), user.clone(), Instant::now() + USER_TTL);
        }
        Ok(user)
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::from_parts(parts, state).await
    }
}

impl AuthUser {
    /// The caller as the orders endpoints see it.
    pub(crate) fn caller(&self) -> statecraft_services::Caller {
        statecraft_services::Caller {
            id: self.id.clone(),
            name: self.name.clone(),
            role: self.role.clone(),
        }
    }

    /// The caller of a request, for handlers that check identity only after
    /// other things (checkout checks its context first).
    pub(crate) async fn from_parts(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts) {
            Bearer::Token(token) => {
                let claims = state.verify_bearer(token).await?;
                return Ok(Self {
                    id: claims.sub.clone(),
                    name: claims.name.clone(),
                    role: claims.role.clone(),
                    credential: Credential::Bearer(claims),
                });
            }
            Bearer::Malformed => return Err(ApiError::Token(TokenProblem::Invalid)),
            Bearer::Absent => {}
        }
        let session = SessionRequest::from_parts(parts);
        if !session.has_cookie() {
            return Err(ApiError::Unauthenticated);
        }
        let outcome = session.load(state).await?;
        Self::of_session(state, outcome.id, outcome.data.user_id.as_deref()).await
    }

    /// The user of a session already loaded (`id`, its `user_id`): a handler
    /// that read the session for its own needs does not read it twice.
    pub(crate) async fn of_session(
        state: &AppState,
        id: Option<SessionId>,
        user_id: Option<&str>,
    ) -> Result<Self, ApiError> {
        let (Some(id), Some(user_id)) = (id, user_id) else {
            return Err(ApiError::Unauthenticated);
        };
        // A session of a user that no longer exists is no login.
        let user = state
            .user(user_id)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Self {
            id: user.id,
            name: user.name,
            role: user.role,
            credential: Credential::Session(id),
        })
    }
}
