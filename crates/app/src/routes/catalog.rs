//! The inventory's public endpoints: the catalog and a product's stock.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_services::{Inventory, Product};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppPath, JsonOk};
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

/// The catalog, with price and stock.
#[utoipa::path(get, path = "/products", tag = "inventory", responses((status = 200, body = Catalog)))]
pub(crate) async fn products(State(state): State<AppState>) -> Result<Response, ApiError> {
    product_list(&*state.services.inventory).await
}

/// `GET /products`, in the app and in the inventory service alike.
pub(crate) async fn product_list(inventory: &dyn Inventory) -> Result<Response, ApiError> {
    let products = inventory.products().await?;
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
    availability_of(&*state.services.inventory, product_id).await
}

/// `GET /inventory/{productId}`, in the app and in the inventory service alike.
pub(crate) async fn availability_of(
    inventory: &dyn Inventory,
    product_id: String,
) -> Result<Response, ApiError> {
    let available = inventory.available(&product_id).await?;
    Ok(JsonOk(Availability {
        product_id,
        available,
    })
    .into_response())
}
