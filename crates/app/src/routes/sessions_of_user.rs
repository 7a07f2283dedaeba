//! A user's logins: the live sessions (`GET /sessions`) and logging out
//! everywhere (`DELETE /sessions`).

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AuthUser, Credential};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonOk;
use crate::revocation::{Revocation, latest, unix_ms_after};
use crate::routes::auth::deny_families;
use crate::session::IssuedCookie;
use crate::state::AppState;

/// One of the user's live sessions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionEntry {
    /// The first 8 characters of the session's public ID.
    id_prefix: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    last_seen_at: String,
    user_agent: String,
    /// The session this request came with.
    current: bool,
}

/// `GET /sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionList {
    sessions: Vec<SessionEntry>,
}

/// `DELETE /sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ended {
    /// Sessions ended.
    ended: u64,
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The caller's live sessions.
#[utoipa::path(
    get, path = "/sessions", tag = "auth",
    responses(
        (status = 200, body = SessionList),
        (status = 401, description = "UNAUTHENTICATED, SESSION_MISSING or TOKEN_*", body = ErrorBody),
    )
)]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let store = &state.sessions;
    let live = store
        .user_sessions(&user.id)
        .await
        .map_err(ApiError::store(store.kind()))?;
    let current = match &user.credential {
        Credential::Session(id) => Some(*id),
        Credential::Bearer(_) => None,
    };
    let sessions = live
        .into_iter()
        .map(|l| SessionEntry {
            id_prefix: l.id.to_string().chars().take(8).collect(),
            created_at: rfc3339(l.created_ms),
            last_seen_at: rfc3339(l.last_seen_ms),
            user_agent: l.user_agent,
            current: Some(l.id) == current,
        })
        .collect();
    Ok(JsonOk(SessionList { sessions }).into_response())
}

/// Logs the caller out everywhere: every session, every refresh family, and
/// the access tokens issued with them.
#[utoipa::path(
    delete, path = "/sessions", tag = "auth",
    responses(
        (status = 200, body = Ended),
        (status = 401, description = "UNAUTHENTICATED, SESSION_MISSING or TOKEN_*", body = ErrorBody),
    )
)]
pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let store = &state.sessions;
    let ended = store
        .delete_user_sessions(&user.id)
        .await
        .map_err(ApiError::store(store.kind()))?;
    let families = state
        .identity
        .users
        .revoke_user_families(&user.id)
        .await
        .map_err(ApiError::unavailable("users"))?;
    let denied = deny_families(&state.identity, &families).await?;
    let revocation = Revocation {
        users: vec![user.id.clone()],
        expires_ms: unix_ms_after(state.config.timeouts.idle).max(latest(&denied)),
        denied,
        ..Revocation::default()
    };
    state.identity.announce(revocation).await?;
    let clear = match user.credential {
        Credential::Session(_) => IssuedCookie(Some(state.cookies.clear())),
        Credential::Bearer(_) => IssuedCookie(None),
    };
    Ok((clear, JsonOk(Ended { ended })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
