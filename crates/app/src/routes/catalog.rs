//! The inventory's and the notifications' public endpoints, and the outbox
//! report for operators.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_services::{
    DeadLetter, InventoryDb, Notification, NotificationsDb, Product, ServiceOutbox,
};
use utoipa::ToSchema;

use crate::auth::{AuthUser, Caller};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppPath, JsonOk};
use crate::links::{Call, Link, RemoteService};
use crate::state::AppState;

/// `GET /products`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Catalog {
    #[schema(value_type = Vec<Object>)]
    products: Vec<Product>,
}

/// `GET /inventory/{productId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Availability {
    product_id: String,
    available: i64,
}

/// `GET /notifications`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationList {
    #[schema(value_type = Vec<Object>)]
    notifications: Vec<Notification>,
}

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

/// The catalog, with price and stock.
#[utoipa::path(get, path = "/products", tag = "inventory", responses((status = 200, body = Catalog)))]
pub(crate) async fn products(State(state): State<AppState>) -> Result<Response, ApiError> {
    match &state.services.inventory {
        Link::Local(db) => product_list(db).await,
        Link::Remote(remote) => Ok(remote
            .send(&state.identity.tokens, None, Call::get(&["products"]))
            .await?
            .into_response()),
    }
}

/// `GET /products`, in the monolith and in the inventory service alike.
pub(crate) async fn product_list(inventory: &InventoryDb) -> Result<Response, ApiError> {
    let products = inventory
        .products()
        .await
        .map_err(ApiError::unavailable("inventory"))?;
    Ok(JsonOk(Catalog { products }).into_response())
}

/// Units of a product available.
#[utoipa::path(
    get, path = "/inventory/{productId}", tag = "inventory",
    params(("productId" = String, Path, description = "a product of the catalog")),
    responses((status = 200, body = Availability), (status = 404, description = "NOT_FOUND", body = ErrorBody))
)]
pub(crate) async fn availability(
    State(state): State<AppState>,
    AppPath(product_id): AppPath<String>,
) -> Result<Response, ApiError> {
    match &state.services.inventory {
        Link::Local(db) => availability_of(db, &product_id).await,
        Link::Remote(remote) => Ok(remote
            .send(
                &state.identity.tokens,
                None,
                Call::get(&["inventory", &product_id]),
            )
            .await?
            .into_response()),
    }
}

/// `GET /inventory/{productId}`, in the monolith and in the inventory service alike.
pub(crate) async fn availability_of(
    inventory: &InventoryDb,
    product_id: &str,
) -> Result<Response, ApiError> {
    let product = inventory
        .product(product_id)
        .await
        .map_err(ApiError::unavailable("inventory"))?
        .ok_or_else(|| ApiError::NotFound(format!("Product {product_id} not found")))?;
    Ok(JsonOk(Availability {
        product_id: product.product_id,
        available: product.stock,
    })
    .into_response())
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
