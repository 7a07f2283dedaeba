//! The checkout workflow: stateful (the session holds the progress) and
//! stateless (the confirming request carries everything).

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_services::{NewOrder, OrderLine};
use statecraft_state::{Address, Mutation, SessionData};
use utoipa::ToSchema;

use crate::auth::{AuthUser, Bearer, bearer};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppJson, JsonOk, OptionalJson};
use crate::routes::order_input::{ShippingBody, idempotency_key, valid_lines, valid_token};
use crate::routes::orders::{OrderView, placed_answer};
use crate::session::SessionRequest;
use crate::state::AppState;

/// `POST /checkout/payment`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PaymentBody {
    /// A payment token, `tok_…` (never a card number).
    #[schema(max_length = 128, pattern = "^tok_[A-Za-z0-9_]*$")]
    payment_token: String,
}

/// The cart in checkout answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CartView {
    #[schema(value_type = Vec<Object>)]
    items: Vec<OrderLine>,
}

/// The state of a checkout.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckoutView {
    current_step: &'static str,
    cart: CartView,
    total_items: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    shipping: Option<Address>,
}

fn lines(data: &SessionData) -> Vec<OrderLine> {
    data.cart_items
        .iter()
        .map(|l| OrderLine {
            product_id: l.product_id.to_string(),
            quantity: u32::from(l.quantity),
        })
        .collect()
}

fn view(data: &SessionData) -> CheckoutView {
    CheckoutView {
        current_step: data.current_step.as_str(),
        cart: CartView { items: lines(data) },
        total_items: data.total_items(),
        shipping: data.shipping.clone(),
    }
}

async fn step(
    state: &AppState,
    session: &SessionRequest,
    mutation: Mutation,
) -> Result<Response, ApiError> {
    if !session.has_cookie() {
        // No session, no cart: nothing to check out.
        return Err(ApiError::CartEmpty);
    }
    let outcome = session.mutate(state, &mutation).await?;
    let source = outcome.source(state);
    Ok((source, JsonOk(view(&outcome.data))).into_response())
}

/// Starts checkout: a snapshot of the cart for review.
#[utoipa::path(
    post, path = "/checkout", tag = "checkout",
    responses(
        (status = 200, body = CheckoutView),
        (status = 400, description = "CART_EMPTY", body = ErrorBody),
        (status = 401, description = "SESSION_MISSING", body = ErrorBody),
    )
)]
pub(crate) async fn start(
    State(state): State<AppState>,
    session: SessionRequest,
) -> Result<Response, ApiError> {
    step(&state, &session, Mutation::StartCheckout).await
}

/// Gives the shipping address.
#[utoipa::path(
    post, path = "/checkout/shipping", tag = "checkout", request_body = ShippingBody,
    responses(
        (status = 200, body = CheckoutView),
        (status = 409, description = "CHECKOUT_STEP_INVALID, with expected", body = ErrorBody),
    )
)]
pub(crate) async fn shipping(
    State(state): State<AppState>,
    session: SessionRequest,
    AppJson(body): AppJson<ShippingBody>,
) -> Result<Response, ApiError> {
    let address = body.validate()?;
    step(&state, &session, Mutation::SetShipping(address)).await
}

/// Gives the payment token.
#[utoipa::path(
    post, path = "/checkout/payment", tag = "checkout", request_body = PaymentBody,
    responses(
        (status = 200, body = CheckoutView),
        (status = 409, description = "CHECKOUT_STEP_INVALID, with expected", body = ErrorBody),
    )
)]
pub(crate) async fn payment(
    State(state): State<AppState>,
    session: SessionRequest,
    AppJson(body): AppJson<PaymentBody>,
) -> Result<Response, ApiError> {
    valid_token(&body.payment_token)?;
    step(&state, &session, Mutation::SetPayment(body.payment_token)).await
}

/// The stateless form of `POST /checkout/confirm`: all context in the body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConfirmBody {
    cart: Option<CartBody>,
    shipping: Option<ShippingBody>,
    payment_token: Option<String>,
}

/// A cart carried by the client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CartBody {
    #[schema(value_type = Vec<Object>)]
    items: Vec<OrderLine>,
}

/// Places the order: from the session (stateful), or from the body alone
/// (stateless, with a bearer token). Context is checked before identity.
#[utoipa::path(
    post, path = "/checkout/confirm", tag = "checkout",
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key returns the first order")),
    responses(
        (status = 201, body = OrderView),
        (status = 400, description = "INSUFFICIENT_CONTEXT (stateless) or CART_EMPTY", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 402, description = "PAYMENT_DECLINED", body = ErrorBody),
        (status = 409, description = "CHECKOUT_STEP_INVALID or IDEMPOTENCY_CONFLICT", body = ErrorBody),
    )
)]
pub(crate) async fn confirm(
    State(state): State<AppState>,
    parts: Parts,
    OptionalJson(body): OptionalJson<ConfirmBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&parts.headers)?;
    let session = SessionRequest::from_parts(&parts);
    if session.has_cookie() && body.is_none() {
        return confirm_stateful(&state, &parts, &session, key.as_deref()).await;
    }
    let body = body.unwrap_or_default();
    let mut missing = Vec::new();
    let items = body.cart.map(|c| c.items).unwrap_or_default();
    if items.is_empty() {
        missing.push("cart");
    }
    if body.shipping.is_none() {
        missing.push("shipping");
    }
    if body.payment_token.is_none() {
        missing.push("paymentToken");
    }
    if !missing.is_empty() {
        return Err(ApiError::InsufficientContext(missing));
    }
    let address = body.shipping.map(ShippingBody::validate).transpose()?;
    let token = body.payment_token.unwrap_or_default();
    valid_token(&token)?;
    valid_lines(&items)?;
    let user = AuthUser::from_parts(&parts, &state).await?;
    let order = NewOrder {
        user_id: user.id.clone(),
        items,
        shipping: address.and_then(|a| serde_json::to_value(a).ok()),
        payment_token: Some(token),
    };
    let placed = state
        .services
        .orders
        .place(&user.caller(), order, key.as_deref())
        .await?;
    Ok(placed_answer(placed, None))
}

async fn confirm_stateful(
    state: &AppState,
    parts: &Parts,
    session: &SessionRequest,
    key: Option<&str>,
) -> Result<Response, ApiError> {
    let outcome = session.load(state).await?;
    // A bearer token speaks for the caller; otherwise the session just read does.
    let user = if matches!(bearer(parts), Bearer::Absent) {
        AuthUser::of_session(state, outcome.id, outcome.data.user_id.as_deref()).await
    } else {
        AuthUser::from_parts(parts, state).await
    };
    // A retry of a confirmation that went through returns its order.
    if let (Some(key), Ok(user)) = (key, &user)
        && let Some(order) = state
            .services
            .orders
            .orders(&user.caller(), Some(key))
            .await?
            .pop()
    {
        return Ok((StatusCode::OK, axum::Json(OrderView::of(order))).into_response());
    }
    let data = &outcome.data;
    // The order is placed before the session moves on: the step's rule,
    // asked first.
    Mutation::CompleteCheckout
        .check(data)
        .map_err(ApiError::from_rule)?;
    let user = user?;
    let token = data.payment_token.clone().unwrap_or_default();
    let order = NewOrder {
        user_id: user.id.clone(),
        items: lines(data),
        shipping: data
            .shipping
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok()),
        payment_token: Some(token),
    };
    let placed = state
        .services
        .orders
        .place(&user.caller(), order, key)
        .await?;
    // The order stands; the session moves on (a concurrent confirm that lost
    // the race finds the step already confirmed, and its order is the retry's).
    let done = session.mutate(state, &Mutation::CompleteCheckout).await;
    let step = match done {
        Ok(outcome) => outcome.data.current_step.as_str(),
        Err(_) => "confirmed",
    };
    Ok(placed_answer(placed, Some(step)))
}
