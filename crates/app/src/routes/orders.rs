//! The orders service's public endpoints, and their parse-call-answer steps
//! shared with a lone orders service's routes (`crate::service`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_services::{Caller, NewOrder, Order, OrderLine, Orders, Placed};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppJson, AppPath, JsonOk};
use crate::routes::order_input::{ShippingBody, idempotency_key, valid_lines, valid_token};
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

impl OrderBody {
    /// The order, its input checked.
    fn into_order(self) -> Result<NewOrder, ApiError> {
        valid_lines(&self.items)?;
        let shipping = self.shipping.map(ShippingBody::validate).transpose()?;
        if let Some(token) = &self.payment_token {
            valid_token(token)?;
        }
        Ok(NewOrder {
            user_id: self.user_id,
            items: self.items,
            shipping: shipping.and_then(|a| serde_json::to_value(a).ok()),
            payment_token: self.payment_token,
        })
    }
}

/// `GET /orders`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderList {
    orders: Vec<OrderView>,
}

/// A placed order, as confirm and `POST /orders` answer it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderView {
    order_id: String,
    status: String,
    #[schema(value_type = Vec<Object>)]
    items: Vec<OrderLine>,
    /// The checkout's step after a stateful confirm.
    #[serde(skip_serializing_if = "Option::is_none")]
    current_step: Option<&'static str>,
}

impl OrderView {
    pub(crate) fn of(order: Order) -> Self {
        Self {
            order_id: order.order_id,
            status: order.status,
            items: order.items,
            current_step: None,
        }
    }
}

/// The answer to a placement: `201` with a new order, `200` with the one a
/// retry's idempotency key placed before; with the checkout's step after a
/// stateful confirm.
pub(crate) fn placed_answer(placed: Placed, current_step: Option<&'static str>) -> Response {
    let (status, order) = match placed {
        Placed::Created(order) => (StatusCode::CREATED, order),
        Placed::Replayed(order) => (StatusCode::OK, order),
    };
    let view = OrderView {
        current_step,
        ..OrderView::of(order)
    };
    (status, axum::Json(view)).into_response()
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
    place_order(&*state.services.orders, &user.caller(), &headers, body).await
}

/// `POST /orders`, in the app and in the orders service alike.
pub(crate) async fn place_order(
    orders: &dyn Orders,
    caller: &Caller,
    headers: &HeaderMap,
    body: OrderBody,
) -> Result<Response, ApiError> {
    let key = idempotency_key(headers)?;
    statecraft_services::may_order_for(caller, &body.user_id)?;
    let placed = orders
        .place(caller, body.into_order()?, key.as_deref())
        .await?;
    Ok(placed_answer(placed, None))
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
    order_of(&*state.services.orders, &user.caller(), &id).await
}

/// `GET /orders/{id}`, in the app and in the orders service alike.
pub(crate) async fn order_of(
    orders: &dyn Orders,
    caller: &Caller,
    id: &str,
) -> Result<Response, ApiError> {
    let order = orders.order(caller, id).await?;
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
    orders_of(&*state.services.orders, &user.caller(), &uri).await
}

/// `GET /orders`, in the app and in the orders service alike.
pub(crate) async fn orders_of(
    orders: &dyn Orders,
    caller: &Caller,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let key = uri.query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == crate::remote::KEY_QUERY)
            .map(|(_, value)| value.into_owned())
    });
    let orders = orders.orders(caller, key.as_deref()).await?;
    Ok(JsonOk(OrderList {
        orders: orders.into_iter().map(OrderView::of).collect(),
    })
    .into_response())
}
