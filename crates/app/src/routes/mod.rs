//! The routes: each module exposes its handlers; this one assembles them, the
//! fallbacks and the layers, and derives `/openapi.json` from the same list.

mod cart;
mod counter;
mod health;
mod session;
mod web;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::middleware::observe;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "statecraft",
        description = "The same application with its state in memory, a store, or the client. \
                       Every error is {\"error\": string, \"code\": string}."
    ),
    components(schemas(crate::routes::health::ErrorBody))
)]
struct ApiDoc;

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(counter::increment))
        .routes(routes!(counter::increment_named))
        .routes(routes!(counter::get_named))
        .routes(routes!(cart::get_cart, cart::clear_cart))
        .routes(routes!(cart::add_item))
        .routes(routes!(cart::set_quantity, cart::remove_item))
        .routes(routes!(session::summary))
        .routes(routes!(session::whoami))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi_json))
        .routes(routes!(web::index))
        .routes(routes!(web::counter_js))
}

/// The OpenAPI document of every route, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// `/openapi.json`, rendered once.
static OPENAPI_JSON: LazyLock<String> =
    LazyLock::new(|| openapi().to_json().unwrap_or_else(|_| "{}".to_owned()));

async fn not_found() -> ApiError {
    ApiError::NotFound("Route not found".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("handler panicked".to_owned()).into_response()
}

/// The application for `state`: every route, JSON fallbacks for unknown routes and
/// methods, the body limit, panic containment and the observing layer.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api().split_for_parts();
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}
