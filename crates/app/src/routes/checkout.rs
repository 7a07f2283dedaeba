//! The checkout workflow: stateful (the session holds the progress) and
//! stateless (the confirming request carries everything).

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_services::{NewOrder, Order, OrderLine, OrdersError, Placed};
use statecraft_state::{Address, MAX_ADDRESS_FIELD, MAX_PAYMENT_TOKEN, Mutation, SessionData};
use utoipa::ToSchema;

use crate::auth::{AuthUser, Bearer, bearer};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppJson, JsonOk, OptionalJson};
use crate::links::{Call, Link};
use crate::session::SessionRequest;
use crate::state::AppState;

/// The payment token that is always declined (API.md).
pub(crate) const DECLINED: &str = "tok_declined";
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// A field of an address in `/openapi.json`: exactly what
/// `ShippingBody::validate` takes — 1-200 characters, none a control
/// character, not all whitespace; but for the 200-character limit, which a
/// newtype's schema cannot carry in utoipa. (A stricter schema, ASCII only, let
/// schemathesis find values the schema forbids and the server accepted.)
#[derive(Debug, ToSchema)]
#[schema(
    pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
)]
#[allow(dead_code)]
pub(crate) struct AddressField(String);

/// A shipping address in a request: each field 1-200 printable characters,
/// not all blank.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ShippingBody {
    #[schema(value_type = AddressField)]
    name: String,
    #[schema(value_type = AddressField)]
    line1: String,
    #[schema(value_type = AddressField)]
    city: String,
    #[schema(value_type = AddressField)]
    postal_code: String,
    #[schema(value_type = AddressField)]
    country: String,
}

impl ShippingBody {
    pub(crate) fn validate(self) -> Result<Address, ApiError> {
        for (field, value) in [
            ("name", &self.name),
            ("line1", &self.line1),
            ("city", &self.city),
            ("postalCode", &self.postal_code),
            ("country", &self.country),
        ] {
            if value.trim().is_empty()
                || value.chars().count() > MAX_ADDRESS_FIELD
                || value.chars().any(char::is_control)
            {
                return Err(ApiError::invalid(
                    field,
                    format!("{field} must be 1-{MAX_ADDRESS_FIELD} printable characters"),
                ));
            }
        }
        Ok(Address {
            name: self.name,
            line1: self.line1,
            city: self.city,
            postal_code: self.postal_code,
            country: self.country,
        })
    }
}

/// `POST /checkout/payment`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PaymentBody {
    /// A payment token, `tok_…` (never a card number).
    #[schema(max_length = 128, pattern = "^tok_[A-Za-z0-9_]*$")]
    payment_token: String,
}

pub(crate) fn valid_token(token: &str) -> Result<(), ApiError> {
    let ok = token.starts_with("tok_")
        && token.len() <= MAX_PAYMENT_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "paymentToken",
            "paymentToken must be a token like tok_123 (letters, digits, '_')",
        ))
    }
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

/// `GET /orders`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrderList {
    pub(crate) orders: Vec<OrderView>,
}

/// A placed order, as confirm and `POST /orders` answer it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderView {
    order_id: String,
    status: String,
    #[schema(value_type = Vec<Object>)]
    items: Vec<OrderLine>,
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
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

/// Checks the lines of an order a client sent (the stateless confirm,
/// `POST /orders`): at least one, each a valid product ID and 1-999 units.
pub(crate) fn valid_lines(items: &[OrderLine]) -> Result<(), ApiError> {
    if items.is_empty() {
        return Err(ApiError::invalid(
            "items",
            "items must hold at least one line",
        ));
    }
    for line in items {
        if statecraft_state::ProductId::parse(&line.product_id).is_err() {
            return Err(ApiError::invalid(
                "productId",
                "productId must be 1-64 of A-Z a-z 0-9 _ -",
            ));
        }
        if !(1..=u32::from(statecraft_state::MAX_QUANTITY)).contains(&line.quantity) {
            return Err(ApiError::invalid("quantity", "quantity must be 1-999"));
        }
    }
    Ok(())
}

/// The `Idempotency-Key` header, if any.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!("Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Places `order` for `user` through the orders service, here or remote.
async fn place_for(
    state: &AppState,
    user: &AuthUser,
    order: &NewOrder,
    key: Option<&str>,
) -> Result<(StatusCode, OrderView), ApiError> {
    match &state.services.orders {
        Link::Local(db) => {
            let (status, order) = place(db, order, key).await?;
            Ok((status, OrderView::of(order)))
        }
        Link::Remote(remote) => {
            let call = Call {
                method: Method::POST,
                segments: &["orders"],
                query: None,
                idempotency_key: key,
                body: Some(order),
            };
            remote
                .send(&state.identity.tokens, Some(&user.subject()), call)
                .await?
                .into_json()
        }
    }
}

/// The order `user` placed with idempotency key `key`, if any.
async fn order_by_key(
    state: &AppState,
    user: &AuthUser,
    key: &str,
) -> Result<Option<OrderView>, ApiError> {
    match &state.services.orders {
        Link::Local(db) => Ok(db
            .find_by_key(&user.id, key)
            .await
            .map_err(ApiError::unavailable("orders"))?
            .map(OrderView::of)),
        Link::Remote(remote) => {
            let mut call = Call::get(&["orders"]);
            call.query = Some(("idempotencyKey", key));
            let (_, list): (_, OrderList) = remote
                .send(&state.identity.tokens, Some(&user.subject()), call)
                .await?
                .into_json()?;
            Ok(list.orders.into_iter().next())
        }
    }
}

/// Places an order in the orders service's database.
pub(crate) async fn place(
    orders: &statecraft_services::OrdersDb,
    order: &NewOrder,
    key: Option<&str>,
) -> Result<(StatusCode, Order), ApiError> {
    match orders.place(order, key).await {
        Ok(Placed::Created(order)) => Ok((StatusCode::CREATED, order)),
        Ok(Placed::Replayed(order)) => Ok((StatusCode::OK, order)),
        Err(OrdersError::IdempotencyConflict) => Err(ApiError::IdempotencyConflict),
        Err(OrdersError::Db(err)) => Err(ApiError::service_down("orders", err)),
    }
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
    if token == DECLINED {
        return Err(ApiError::PaymentDeclined);
    }
    let order = NewOrder {
        user_id: user.id.clone(),
        items,
        shipping: address.and_then(|a| serde_json::to_value(a).ok()),
        payment_token: Some(token),
    };
    let (status, view) = place_for(&state, &user, &order, key.as_deref()).await?;
    Ok((status, axum::Json(view)).into_response())
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
        && let Some(order) = order_by_key(state, user, key).await?
    {
        return Ok((StatusCode::OK, axum::Json(order)).into_response());
    }
    let data = &outcome.data;
    if data.current_step != statecraft_state::CheckoutStep::Payment {
        return Err(ApiError::StepInvalid("payment"));
    }
    if data.cart_items.is_empty() {
        return Err(ApiError::CartEmpty);
    }
    let user = user?;
    let token = data.payment_token.clone().unwrap_or_default();
    if token == DECLINED {
        return Err(ApiError::PaymentDeclined);
    }
    let order = NewOrder {
        user_id: user.id.clone(),
        items: lines(data),
        shipping: data
            .shipping
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok()),
        payment_token: Some(token),
    };
    let (status, mut view) = place_for(state, &user, &order, key).await?;
    // The order stands; the session moves on (a concurrent confirm that lost
    // the race finds the step already confirmed, and its order is the retry's).
    let done = session.mutate(state, &Mutation::CompleteCheckout).await;
    view.current_step = Some(match done {
        Ok(outcome) => outcome.data.current_step.as_str(),
        Err(_) => "confirmed",
    });
    Ok((status, axum::Json(view)).into_response())
}
