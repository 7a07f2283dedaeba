//! The outbox report for operators (role admin): pending and
//! dead-lettered events of each service's outbox.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_services::{DeadLetter, ServiceOutbox};
use utoipa::ToSchema;

use crate::auth::{AuthUser, Caller};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::JsonOk;
use crate::links::{Call, Link, RemoteService};
use crate::state::AppState;

/// One service's outbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutboxReport {
    service: &'static str,
    /// Events written and not yet published.
    pending: i64,
    /// Events that failed to publish too often.
    #[schema(value_type = Vec<Object>)]
    dead_letters: Vec<DeadLetter>,
}

/// Pending and dead-lettered events of each outbox (role admin).
#[utoipa::path(
    get, path = "/_admin/outbox", tag = "admin",
    responses((status = 200, body = Vec<OutboxReport>), (status = 403, description = "FORBIDDEN", body = ErrorBody))
)]
pub(crate) async fn outbox(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let caller = user.caller();
    let mut reports = Vec::new();
    match &state.services.orders {
        Link::Local(db) => reports.push(outbox_report(&caller, "orders", &db.outbox()).await?),
        Link::Remote(remote) => reports.extend(remote_outbox(&state, &user, remote).await?),
    }
    match &state.services.inventory {
        Link::Local(db) => {
            reports.push(outbox_report(&caller, "inventory", &db.outbox()).await?);
        }
        Link::Remote(remote) => reports.extend(remote_outbox(&state, &user, remote).await?),
    }
    Ok(JsonOk(reports).into_response())
}

/// A remote service's outbox reports.
async fn remote_outbox(
    state: &AppState,
    user: &AuthUser,
    remote: &RemoteService,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let call = Call::get(&["_admin", "outbox"]);
    let (_, reports) = remote
        .send(&state.identity.tokens, Some(&user.subject()), call)
        .await?
        .into_json()?;
    Ok(reports)
}

/// One service's outbox report, as JSON, for role admin only (the monolith's
/// and the services' `/_admin/outbox` alike).
pub(crate) async fn outbox_report(
    caller: &Caller,
    service: &'static str,
    outbox: &ServiceOutbox,
) -> Result<serde_json::Value, ApiError> {
    if caller.role != "admin" {
        return Err(ApiError::Forbidden("The outbox report is for role admin"));
    }
    let (pending, dead_letters) = outbox
        .report()
        .await
        .map_err(ApiError::unavailable(service))?;
    serde_json::to_value(OutboxReport {
        service,
        pending,
        dead_letters,
    })
    .map_err(|err| ApiError::Internal(err.to_string()))
}
