//! The orders service's public endpoints.

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_services::{NewOrder, OrderLine, OrdersDb};
use utoipa::ToSchema;

use crate::auth::{AuthUser, Caller};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppJson, AppPath, JsonOk};
use crate::links::{Call, Link};
use crate::routes::checkout::{
    DECLINED, OrderList, OrderView, ShippingBody, idempotency_key, place, valid_lines, valid_token,
};
use crate::state::AppState;

/// `POST /orders`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OrderBody {
    /// Whose order: the caller's own unless the caller is an admin.
    pub(crate) user_id: String,
    #[schema(value_type = Vec<Object>)]
    items: Vec<OrderLine>,
    /// Where to ship it (optional; checkout sends it).
    shipping: Option<ShippingBody>,
    /// A payment token, `tok_…` (optional; checkout sends it):
    /// `tok_declined` is refused with `402 PAYMENT_DECLINED`.
    payment_token: Option<String>,
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
    match &state.services.orders {
        Link::Local(db) => place_order(db, &user.caller(), &headers, body).await,
        Link::Remote(remote) => {
            let key = idempotency_key(&headers)?;
            let call = Call {
                method: Method::POST,
                segments: &["orders"],
                query: None,
                idempotency_key: key.as_deref(),
                body: Some(&body),
            };
            Ok(remote
                .send(&state.identity.tokens, Some(&user.subject()), call)
                .await?
                .into_response())
        }
    }
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
    let shipping = body.shipping.map(ShippingBody::validate).transpose()?;
    if let Some(token) = &body.payment_token {
        valid_token(token)?;
        if token == DECLINED {
            return Err(ApiError::PaymentDeclined);
        }
    }
    let order = NewOrder {
        user_id: body.user_id,
        items: body.items,
        shipping: shipping.and_then(|a| serde_json::to_value(a).ok()),
        payment_token: body.payment_token,
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
    match &state.services.orders {
        Link::Local(db) => order_of(db, &user.caller(), &id).await,
        Link::Remote(remote) => Ok(remote
            .send(
                &state.identity.tokens,
                Some(&user.subject()),
                Call::get(&["orders", &id]),
            )
            .await?
            .into_response()),
    }
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
        .map_err(ApiError::unavailable("orders"))?
        .filter(|o| o.user_id == user.id || user.role == "admin")
        .ok_or_else(|| ApiError::NotFound(format!("Order {id} not found")))?;
    Ok(JsonOk(OrderView::of(order)).into_response())
}

/// The caller's orders, newest first; with `?idempotencyKey=K`, the one
/// placed with that key (a client retrying a confirm it lost the answer to).
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(("idempotencyKey" = Option<String>, Query, description = "only the order placed with this Idempotency-Key")),
    responses((status = 200, body = OrderList))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    uri: Uri,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let key = key_query(&uri);
    match &state.services.orders {
        Link::Local(db) => orders_of(db, &user.caller(), key.as_deref()).await,
        Link::Remote(remote) => {
            let mut call = Call::get(&["orders"]);
            call.query = key.as_deref().map(|k| (KEY_QUERY, k));
            Ok(remote
                .send(&state.identity.tokens, Some(&user.subject()), call)
                .await?
                .into_response())
        }
    }
}

/// The query parameter naming an idempotency key.
const KEY_QUERY: &str = "idempotencyKey";

/// `idempotencyKey` of a query string, if given.
pub(crate) fn key_query(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(name, _)| name == KEY_QUERY)
        .map(|(_, value)| value.into_owned())
}

/// `GET /orders`, in the monolith and in the orders service alike.
pub(crate) async fn orders_of(
    orders: &OrdersDb,
    user: &Caller,
    key: Option<&str>,
) -> Result<Response, ApiError> {
    let down = ApiError::unavailable::<statecraft_services::DbError>("orders");
    let orders = match key {
        Some(key) => orders
            .find_by_key(&user.id, key)
            .await
            .map_err(down)?
            .into_iter()
            .collect(),
        None => orders.of_user(&user.id).await.map_err(down)?,
    };
    Ok(JsonOk(OrderList {
        orders: orders.into_iter().map(OrderView::of).collect(),
    })
    .into_response())
}
