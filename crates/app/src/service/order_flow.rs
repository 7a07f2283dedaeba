//! The routers of the order flow's services: orders, inventory,
//! notifications. Each handler parses, calls its service's trait through the
//! same step as the app's route, and answers.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use statecraft_services::{Inventory, Notifications, Orders};

use super::{Routes, ServiceContext, ServiceState, TokenCaller};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, JsonOk};
use crate::routes::{catalog, notifications as notes, orders as order_routes};

type OrdersState = ServiceState<Arc<dyn Orders>>;
type InventoryState = ServiceState<Arc<dyn Inventory>>;
type NotificationsState = ServiceState<Arc<dyn Notifications>>;

/// The orders service's routes.
pub(super) fn orders(context: Arc<ServiceContext>, orders: Arc<dyn Orders>) -> Routes {
    let routes = Router::new()
        .route("/orders", get(order_list).post(place))
        .route("/orders/{id}", get(order))
        .route("/_admin/outbox", get(orders_outbox))
        .with_state(ServiceState {
            context,
            service: orders,
        });
    (routes, &["/orders", "/orders/{id}", "/_admin/outbox"])
}

async fn place(
    State(state): State<OrdersState>,
    TokenCaller(caller): TokenCaller,
    headers: HeaderMap,
    AppJson(body): AppJson<order_routes::OrderBody>,
) -> Result<Response, ApiError> {
    order_routes::place_order(&*state.service, &caller, &headers, body).await
}

async fn order(
    State(state): State<OrdersState>,
    TokenCaller(caller): TokenCaller,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    order_routes::order_of(&*state.service, &caller, &id).await
}

async fn order_list(
    State(state): State<OrdersState>,
    uri: Uri,
    TokenCaller(caller): TokenCaller,
) -> Result<Response, ApiError> {
    order_routes::orders_of(&*state.service, &caller, &uri).await
}

async fn orders_outbox(
    State(state): State<OrdersState>,
    TokenCaller(caller): TokenCaller,
) -> Result<Response, ApiError> {
    Ok(JsonOk(state.service.outbox(&caller).await?).into_response())
}

/// The inventory service's routes.
pub(super) fn inventory(context: Arc<ServiceContext>, inventory: Arc<dyn Inventory>) -> Routes {
    let routes = Router::new()
        .route(
            "/products",
            get(|State(state): State<InventoryState>| async move {
                catalog::product_list(&*state.service).await
            }),
        )
        .route("/inventory/{productId}", get(availability))
        .route("/_admin/outbox", get(inventory_outbox))
        .with_state(ServiceState {
            context,
            service: inventory,
        });
    (
        routes,
        &["/products", "/inventory/{productId}", "/_admin/outbox"],
    )
}

async fn availability(
    State(state): State<InventoryState>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    catalog::availability_of(&*state.service, id).await
}

async fn inventory_outbox(
    State(state): State<InventoryState>,
    TokenCaller(caller): TokenCaller,
) -> Result<Response, ApiError> {
    Ok(JsonOk(state.service.outbox(&caller).await?).into_response())
}

/// The notifications service's routes.
pub(super) fn notifications(
    context: Arc<ServiceContext>,
    notifications: Arc<dyn Notifications>,
) -> Routes {
    let routes = Router::new()
        .route("/notifications", get(notification_list))
        .with_state(ServiceState {
            context,
            service: notifications,
        });
    (routes, &["/notifications"])
}

async fn notification_list(
    State(state): State<NotificationsState>,
    TokenCaller(caller): TokenCaller,
) -> Result<Response, ApiError> {
    notes::notification_list(&*state.service, &caller).await
}
