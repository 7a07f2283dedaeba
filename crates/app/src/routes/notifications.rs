//! The notifications service's public endpoint: the caller's notifications.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_services::{Notification, NotificationsDb};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::JsonOk;
use crate::links::{Call, Link};
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
    match &state.services.notifications {
        Link::Local(db) => notification_list(db, &user.id).await,
        Link::Remote(remote) => Ok(remote
            .send(
                &state.identity.tokens,
                Some(&user.subject()),
                Call::get(&["notifications"]),
            )
            .await?
            .into_response()),
    }
}

/// `GET /notifications`, in the monolith and in the notifications service alike.
pub(crate) async fn notification_list(
    notifications: &NotificationsDb,
    user_id: &str,
) -> Result<Response, ApiError> {
    let notifications = notifications
        .of_user(user_id)
        .await
        .map_err(ApiError::unavailable("notifications"))?;
    Ok(JsonOk(NotificationList { notifications }).into_response())
}
