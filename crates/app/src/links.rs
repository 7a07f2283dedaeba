//! How an instance reaches the orders, inventory and notifications services:
//! each through its trait, chosen once at start — its database in this
//! process (the monolith), or its HTTP API in another process (`serve
//! --orders-url …`, see [`crate::remote`]). The routes are the same either way.

use std::sync::Arc;

use axum::http::StatusCode;
use statecraft_services::{Inventory, Notifications, Orders, ServiceError, Services};

use crate::error::{ApiError, cause_chain};

/// The services an instance reaches.
#[derive(Debug, Clone)]
pub struct ServiceLinks {
    /// Orders.
    pub orders: Arc<dyn Orders>,
    /// Catalog and stock.
    pub inventory: Arc<dyn Inventory>,
    /// Notifications.
    pub notifications: Arc<dyn Notifications>,
}

impl From<Services> for ServiceLinks {
    /// Every service in this process.
    fn from(services: Services) -> Self {
        Self {
            orders: Arc::new(services.orders),
            inventory: Arc::new(services.inventory),
            notifications: Arc::new(services.notifications),
        }
    }
}

impl ServiceLinks {
    /// Whether every service answers: a local database's ping, a remote
    /// service's `/readyz`.
    pub(crate) async fn ping(&self) -> Result<(), ServiceError> {
        let (orders, inventory, notifications) = tokio::join!(
            self.orders.ping(),
            self.inventory.ping(),
            self.notifications.ping(),
        );
        orders.and(inventory).and(notifications)
    }

    /// Gives back the pools of the services in this process (a remote one
    /// holds none), once their tasks have stopped.
    pub(crate) async fn close(&self) {
        tokio::join!(
            self.orders.close(),
            self.inventory.close(),
            self.notifications.close(),
        );
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Forbidden(why) => Self::Forbidden(why),
            ServiceError::NotFound(what) => Self::NotFound(what),
            ServiceError::PaymentDeclined => Self::PaymentDeclined,
            ServiceError::IdempotencyConflict => Self::IdempotencyConflict,
            ServiceError::Unavailable { service, cause } => {
                Self::ServiceUnavailable(service, cause_chain(&*cause))
            }
            ServiceError::Answered { status, body } => Self::Relayed {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                body: body.into(),
            },
        }
    }
}
