//! The cart, held in the session; every change is one atomic store update.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_state::{CartLine, MAX_QUANTITY, Mutation, ProductId, SessionIdText};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppJson, AppPath, JsonOk};
use crate::session::{Outcome, SessionRequest};
use crate::state::AppState;

/// Body of `POST /cart/items`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AddItem {
    /// 1-64 characters of `[A-Za-z0-9_-]`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    product_id: String,
    /// 1 to 999.
    #[schema(minimum = 1, maximum = 999)]
    quantity: u64,
}

/// Body of `PUT /cart/items/{productId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetQuantity {
    /// 0 to 999; 0 removes the product.
    #[schema(maximum = 999)]
    quantity: u64,
}

/// One cart line (schema only; the store's `CartLine` is what is sent).
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct CartItem {
    product_id: String,
    quantity: u16,
}

/// The cart inside a change's answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CartView<'a> {
    #[schema(value_type = Vec<CartItem>)]
    items: &'a [CartLine],
    total_items: u64,
}

/// The answer to a cart change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CartChanged<'a> {
    /// The session's public ID; `null` when no session exists (an empty cart).
    #[schema(value_type = Option<String>)]
    session_id: Option<SessionIdText>,
    cart: CartView<'a>,
}

/// The answer to `GET /cart`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CartContents<'a> {
    #[schema(value_type = Vec<CartItem>)]
    cart_items: &'a [CartLine],
    total_items: u64,
}

fn product(raw: &str) -> Result<ProductId, ApiError> {
    ProductId::parse(raw).map_err(|e| ApiError::invalid("productId", format!("productId {e}")))
}

fn quantity(raw: u64, min: u64) -> Result<u16, ApiError> {
    u16::try_from(raw)
        .ok()
        .filter(|q| u64::from(*q) >= min && *q <= MAX_QUANTITY)
        .ok_or_else(|| {
            ApiError::invalid(
                "quantity",
                format!("quantity must be an integer from {min} to {MAX_QUANTITY}"),
            )
        })
}

fn changed(state: &AppState, outcome: Outcome) -> Response {
    let total_items = outcome.data.total_items();
    let body = CartChanged {
        session_id: outcome.id.map(|id| id.encode()),
        cart: CartView {
            items: &outcome.data.cart_items,
            total_items,
        },
    };
    let source = outcome.source(state);
    (source, outcome.cookie, JsonOk(body)).into_response()
}

/// The session's cart; without a cookie an empty cart (no session is created).
#[utoipa::path(
    get, path = "/cart", tag = "cart",
    responses(
        (status = 200, body = CartContents),
        (status = 401, description = "SESSION_MISSING or SESSION_LOST", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn get_cart(
    State(state): State<AppState>,
    session: SessionRequest,
) -> Result<Response, ApiError> {
    let outcome = session.load(&state).await?;
    let source = outcome.source(&state);
    let body = CartContents {
        cart_items: &outcome.data.cart_items,
        total_items: outcome.data.total_items(),
    };
    Ok((source, JsonOk(body)).into_response())
}

/// Adds units of a product (a product already in the cart grows); creates the
/// session when there is none.
#[utoipa::path(
    post, path = "/cart/items", tag = "cart",
    request_body(content = AddItem, content_type = "application/json"),
    responses(
        (status = 200, body = CartChanged),
        (status = 400, description = "INVALID_REQUEST (bad field, over 999 of a product, over 100 products)", body = ErrorBody),
        (status = 401, description = "SESSION_MISSING or SESSION_LOST", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn add_item(
    State(state): State<AppState>,
    session: SessionRequest,
    AppJson(body): AppJson<AddItem>,
) -> Result<Response, ApiError> {
    let mutation = Mutation::AddToCart {
        product: product(&body.product_id)?,
        quantity: quantity(body.quantity, 1)?,
    };
    let outcome = session.mutate(&state, &mutation).await?;
    Ok(changed(&state, outcome))
}

/// Sets a product's quantity; 0 removes it.
#[utoipa::path(
    put, path = "/cart/items/{productId}", tag = "cart",
    params(("productId" = String, Path, description = "1-64 characters of [A-Za-z0-9_-]", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content = SetQuantity, content_type = "application/json"),
    responses(
        (status = 200, body = CartChanged),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 401, description = "SESSION_MISSING or SESSION_LOST", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn set_quantity(
    State(state): State<AppState>,
    session: SessionRequest,
    AppPath(product_id): AppPath<String>,
    AppJson(body): AppJson<SetQuantity>,
) -> Result<Response, ApiError> {
    let mutation = Mutation::SetCartQuantity {
        product: product(&product_id)?,
        quantity: quantity(body.quantity, 0)?,
    };
    let outcome = session.mutate(&state, &mutation).await?;
    Ok(changed(&state, outcome))
}

/// Removes a product from the cart.
#[utoipa::path(
    delete, path = "/cart/items/{productId}", tag = "cart",
    params(("productId" = String, Path, description = "1-64 characters of [A-Za-z0-9_-]", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, body = CartChanged),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 401, description = "SESSION_MISSING or SESSION_LOST", body = ErrorBody),
        (status = 404, description = "NOT_FOUND: the product is not in the cart", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn remove_item(
    State(state): State<AppState>,
    session: SessionRequest,
    AppPath(product_id): AppPath<String>,
) -> Result<Response, ApiError> {
    let mutation = Mutation::RemoveFromCart {
        product: product(&product_id)?,
    };
    let outcome = session.mutate(&state, &mutation).await?;
    Ok(changed(&state, outcome))
}

/// Empties the cart.
#[utoipa::path(
    delete, path = "/cart", tag = "cart",
    responses(
        (status = 200, body = CartChanged),
        (status = 401, description = "SESSION_MISSING or SESSION_LOST", body = ErrorBody),
        (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub(crate) async fn clear_cart(
    State(state): State<AppState>,
    session: SessionRequest,
) -> Result<Response, ApiError> {
    let outcome = session.mutate(&state, &Mutation::ClearCart).await?;
    Ok(changed(&state, outcome))
}
