//! What the session looks like, and who answered.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::JsonOk;
use crate::session::SessionRequest;
use crate::source::StateSource;
use crate::state::AppState;

/// Longest `X-Client-Id` echoed by `/whoami`.
const MAX_CLIENT_ID: usize = 128;

/// The answer to `GET /session`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionSummary {
    /// The public ID; `null` without a session.
    session_id: Option<String>,
    /// `browsing`, `checkout`, `shipping`, `payment` or `confirmed`.
    current_step: &'static str,
    /// Total quantity in the cart.
    cart_items: u64,
    user_logged_in: bool,
    /// The session's `POST /increment` count (0 without a session): what a
    /// page shows on load instead of starting from nothing.
    counter: u64,
}

/// The answer to `GET /whoami`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Whoami {
    /// `X-Client-Id`, or the public session ID, or `null`.
    client: Option<String>,
    /// The instance that answered.
    routed_to: String,
    /// Whether this instance knows the request's session.
    session_found: bool,
}

/// A summary of the session; without a cookie an empty one (nothing is created).
#[utoipa::path(
    get, path = "/session", tag = "session",
    responses(
        (status = 200, body = SessionSummary),
        (status = 401, description = "SESSION_MISSING or SESSION_LOST", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn summary(
    State(state): State<AppState>,
    session: SessionRequest,
) -> Result<Response, ApiError> {
    let outcome = session.load(&state).await?;
    let source = outcome.source(&state);
    let body = SessionSummary {
        session_id: outcome.id.map(|id| id.to_string()),
        current_step: outcome.data.current_step.as_str(),
        cart_items: outcome.data.total_items(),
        user_logged_in: outcome.data.user_id.is_some(),
        counter: outcome.data.counter,
    };
    Ok((source, JsonOk(body)).into_response())
}

fn client_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("x-client-id")?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= MAX_CLIENT_ID
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    ok.then(|| value.to_owned())
}

/// Which instance answered, and whether it knows the session: the view of
/// routing that makes a load balancer's choices visible.
#[utoipa::path(
    get, path = "/whoami", tag = "session",
    params(("X-Client-Id" = Option<String>, Header, description = "a name for the client, echoed back")),
    responses(
        (status = 200, body = Whoami),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: SessionRequest,
) -> Result<Response, ApiError> {
    // An unknown session is an answer here, not an error: this endpoint reports it.
    let (found, source) = match session.load(&state).await {
        Ok(outcome) => (
            outcome.id,
            outcome
                .id
                .map(|_| StateSource::Store(state.sessions.kind())),
        ),
        Err(ApiError::SessionMissing { .. }) => {
            (None, Some(StateSource::Store(state.sessions.kind())))
        }
        Err(other) => return Err(other),
    };
    let body = Whoami {
        client: client_id(&headers).or_else(|| found.map(|id| id.to_string())),
        routed_to: state.config.instance_id.clone(),
        session_found: found.is_some(),
    };
    Ok((source.unwrap_or(StateSource::None), JsonOk(body)).into_response())
}
