//! The inventory's and the notifications' public endpoints, and the outbox
//! report for operators.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_services::{DeadLetter, InventoryDb, Notification, NotificationsDb, Product};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{AppPath, JsonOk};
use crate::routes::health::ErrorBody;
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
    product_list(&state.services.inventory).await
}

/// `GET /products`, in the monolith and in the inventory service alike.
pub(crate) async fn product_list(inventory: &InventoryDb) -> Result<Response, ApiError> {
    let products = inventory
        .products()
        .await
        .map_err(|_| ApiError::ServiceUnavailable("inventory"))?;
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
    availability_of(&state.services.inventory, &product_id).await
}

/// `GET /inventory/{productId}`, in the monolith and in the inventory service alike.
pub(crate) async fn availability_of(
    inventory: &InventoryDb,
    product_id: &str,
) -> Result<Response, ApiError> {
    let product = inventory
        .product(product_id)
        .await
        .map_err(|_| ApiError::ServiceUnavailable("inventory"))?
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
    notification_list(&state.services.notifications, &user.id).await
}

/// `GET /notifications`, in the monolith and in the notifications service alike.
pub(crate) async fn notification_list(
    notifications: &NotificationsDb,
    user_id: &str,
) -> Result<Response, ApiError> {
    let notifications = notifications
        .of_user(user_id)
        .await
        .map_err(|_| ApiError::ServiceUnavailable("notifications"))?;
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
    if user.role != "admin" {
        return Err(ApiError::Forbidden("The outbox report is for role admin"));
    }
    let mut reports = Vec::new();
    for (service, outbox) in [
        ("orders", state.services.orders.outbox()),
        ("inventory", state.services.inventory.outbox()),
    ] {
        let (pending, dead_letters) = outbox
            .report()
            .await
            .map_err(|_| ApiError::ServiceUnavailable(service))?;
        reports.push(OutboxReport {
            service,
            pending,
            dead_letters,
        });
    }
    Ok(JsonOk(reports).into_response())
}
