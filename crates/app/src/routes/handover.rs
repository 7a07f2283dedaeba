//! Session hand-over between instances: when an instance holding sessions in
//! its memory is drained, the gateway takes its sessions and gives them to
//! the instance that will serve its clients, so a rolling restart loses
//! none. Internal: answered only with the cluster's hand-over token, off
//! (`404`) when none is configured, and not in the OpenAPI document.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_state::SessionTransfer;
use subtle::ConstantTimeEq as _;

use crate::auth::{Bearer, bearer};
use crate::error::ApiError;
use crate::extract::{AppJson, JsonOk};
use crate::state::AppState;

/// `GET /_internal/sessions`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Export {
    /// This instance's clock when the sessions were read: the `since` of the
    /// next, incremental, export.
    now_ms: u64,
    sessions: Vec<SessionTransfer>,
}

/// `POST /_internal/sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Import {
    sessions: Vec<SessionTransfer>,
}

/// The live sessions used since `?since=MS` (all without it).
pub(crate) async fn export(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, ApiError> {
    authorize(&state, &parts)?;
    let since = parts
        .uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "since"))
        .map(|(_, v)| v.parse::<u64>())
        .transpose()
        .map_err(|_| ApiError::invalid("since", "since must be milliseconds since the epoch"))?
        .unwrap_or(0);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let sessions = state
        .sessions
        .export(since)
        .await
        .map_err(|e| ApiError::from_store(state.sessions.kind(), e))?;
    Ok(JsonOk(Export { now_ms, sessions }).into_response())
}

/// Takes handed-over sessions (a held one only from a fresher copy).
pub(crate) async fn import(
    State(state): State<AppState>,
    parts: Parts,
    AppJson(body): AppJson<Import>,
) -> Result<Response, ApiError> {
    authorize(&state, &parts)?;
    let imported = state
        .sessions
        .import(&body.sessions)
        .await
        .map_err(|e| ApiError::from_store(state.sessions.kind(), e))?;
    Ok(JsonOk(serde_json::json!({ "imported": imported })).into_response())
}

/// The hand-over token, compared in constant time; without one configured
/// the routes do not exist. Nor do they for a request a proxy forwarded
/// (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`): peers call each other
/// directly, and a balancer in front (an Ingress, HAProxy, nginx) marks
/// what it forwards — so the routes are not reachable from outside even
/// where the balancer passes every path.
pub(crate) fn authorize(state: &AppState, parts: &Parts) -> Result<(), ApiError> {
    let Some(expected) = &state.config.handover_token else {
        return Err(ApiError::NotFound("Route not found".to_owned()));
    };
    if statecraft_http::forwarded(&parts.headers) {
        return Err(ApiError::NotFound("Route not found".to_owned()));
    }
    match bearer(parts) {
        Bearer::Token(given) if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "Internal cluster calls need the cluster's token",
        )),
    }
}
