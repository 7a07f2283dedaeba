//! The inventory's public endpoints: the catalog and a product's stock.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statecraft_services::{InventoryDb, Product};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{AppPath, JsonOk};
use crate::links::{Call, Link};
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
