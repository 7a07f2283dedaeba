//! The orders service's public endpoints.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_services::{NewOrder, OrderLine, OrdersDb};
use utoipa::ToSchema;

use crate::auth::{AuthUser, Caller};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, JsonOk};
use crate::routes::checkout::{OrderView, idempotency_key, place, valid_lines};
use crate::routes::health::ErrorBody;
use crate::state::AppState;

/// `POST /orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OrderBody {
    /// Whose order: the caller's own unless the caller is an admin.
    pub(crate) user_id: String,
    #[schema(value_type = Vec<Object>)]
    items: Vec<OrderLine>,
}

/// `GET /orders`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderList {
    orders: Vec<OrderView>,
}

/// Places an order (the caller's own; an admin may order for anyone).
#[utoipa::path(
    post, path = "/orders", tag = "orders", request_body = OrderBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key and body: the first answer")),
    responses(
        (status = 201, body = OrderView),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 409, description = "IDEMPOTENCY_CONFLICT", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: AuthUser,
    AppJson(body): AppJson<OrderBody>,
) -> Result<Response, ApiError> {
    place_order(&state.services.orders, &user.caller(), &headers, body).await
}

/// `POST /orders`, in the monolith and in the orders service alike.
pub(crate) async fn place_order(
    orders: &OrdersDb,
    caller: &Caller,
    headers: &HeaderMap,
    body: OrderBody,
) -> Result<Response, ApiError> {
    let user = caller;
    let key = idempotency_key(headers)?;
    if body.user_id != user.id && user.role != "admin" {
        return Err(ApiError::Forbidden(
            "Orders are placed for oneself unless role admin",
        ));
    }
    valid_lines(&body.items)?;
    let order = NewOrder {
        user_id: body.user_id,
        items: body.items,
        shipping: None,
        payment_token: None,
    };
    let (status, order) = place(orders, &order, key.as_deref()).await?;
    Ok((status, axum::Json(OrderView::of(order))).into_response())
}

/// One order: its owner's (or any, for an admin).
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "order-<n>")),
    responses(
        (status = 200, body = OrderView),
        (status = 404, description = "NOT_FOUND (also for another user's order)", body = ErrorBody),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    order_of(&state.services.orders, &user.caller(), &id).await
}

/// `GET /orders/{id}`, in the monolith and in the orders service alike.
pub(crate) async fn order_of(
    orders: &OrdersDb,
    user: &Caller,
    id: &str,
) -> Result<Response, ApiError> {
    let order = orders
        .get(id)
        .await
        .map_err(|_| ApiError::ServiceUnavailable("orders"))?
        .filter(|o| o.user_id == user.id || user.role == "admin")
        .ok_or_else(|| ApiError::NotFound(format!("Order {id} not found")))?;
    Ok(JsonOk(OrderView::of(order)).into_response())
}

/// The caller's orders, newest first.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    responses((status = 200, body = OrderList))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    orders_of(&state.services.orders, &user.caller()).await
}

/// `GET /orders`, in the monolith and in the orders service alike.
pub(crate) async fn orders_of(orders: &OrdersDb, user: &Caller) -> Result<Response, ApiError> {
    let orders = orders
        .of_user(&user.id)
        .await
        .map_err(|_| ApiError::ServiceUnavailable("orders"))?;
    Ok(JsonOk(OrderList {
        orders: orders.into_iter().map(OrderView::of).collect(),
    })
    .into_response())
}
