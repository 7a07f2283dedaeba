//! The notifications service's public endpoint: the caller's notifications.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_services::{Caller, Notification, Notifications};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::JsonOk;
use crate::state::AppState;

/// `GET /notifications`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationList {
    #[schema(value_type = Vec<Object>)]
    notifications: Vec<Notification>,
}

/// The caller's notifications, newest first.
#[utoipa::path(
    get, path = "/notifications", tag = "notifications",
    responses((status = 200, body = NotificationList), (status = 401, description = "UNAUTHENTICATED", body = ErrorBody))
)]
pub(crate) async fn notifications(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    notification_list(&*state.services.notifications, &user.caller()).await
}

/// `GET /notifications`, in the app and in the notifications service alike.
pub(crate) async fn notification_list(
    notifications: &dyn Notifications,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let notifications = notifications.of(caller).await?;
    Ok(JsonOk(NotificationList { notifications }).into_response())
}
