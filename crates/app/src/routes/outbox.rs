//! The outbox report for operators (role admin): pending and
//! dead-lettered events of each service's outbox.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statecraft_services::OutboxReport;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::JsonOk;
use crate::state::AppState;

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
    let mut reports = state.services.orders.outbox(&caller).await?;
    reports.extend(state.services.inventory.outbox(&caller).await?);
    Ok(JsonOk(reports).into_response())
}
