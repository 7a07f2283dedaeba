//! What each service offers its callers, whether it runs in this process or
//! in another one: one trait per service, chosen once at start (an in-process
//! implementation over the service's database in [`crate::in_process`], or a
//! client of its HTTP API elsewhere). Callers — the app's handlers, a
//! service process's own routes — parse, call and answer; the rules (who may
//! order for whom, a declined payment) live behind these traits, written once.

use std::error::Error as StdError;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{DeadLetter, NewOrder, Notification, Order, Placed, Product};

/// Who calls a service, already authenticated by the caller's own front door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `user-<n>`.
    pub id: String,
    /// Display name (carried on to a remote service in the call's token).
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
}

impl Caller {
    /// Whether the caller may act for every user.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// The cause of a service's failure, kept for the log.
pub type Cause = Box<dyn StdError + Send + Sync>;

/// Why a service refused or failed a call.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such thing (or not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    /// The payment was declined.
    #[error("payment declined")]
    PaymentDeclined,
    /// The idempotency key was used before with another request.
    #[error("idempotency key reused with another request")]
    IdempotencyConflict,
    /// The service (its database, or the process holding it) cannot answer.
    #[error("the {service} service cannot answer: {cause}")]
    Unavailable {
        /// Which service.
        service: &'static str,
        /// Why.
        #[source]
        cause: Cause,
    },
    /// A remote service refused the call with its own error answer, passed
    /// on to the client as it came (same shape, status and code).
    #[error("the service answered {status}")]
    Answered {
        /// Its HTTP status.
        status: u16,
        /// Its JSON body.
        body: Vec<u8>,
    },
}

impl ServiceError {
    /// `service` cannot answer because of `cause`.
    pub fn unavailable(service: &'static str, cause: impl Into<Cause>) -> Self {
        Self::Unavailable {
            service,
            cause: cause.into(),
        }
    }
}

/// One service's outbox, for operators (`GET /_admin/outbox`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxReport {
    /// `orders` or `inventory`.
    pub service: String,
    /// Events written and not yet published.
    pub pending: i64,
    /// Events that failed to publish too often.
    #[schema(value_type = Vec<Object>)]
    pub dead_letters: Vec<DeadLetter>,
}

/// The orders service.
#[async_trait]
pub trait Orders: Send + Sync + std::fmt::Debug {
    /// Places `order` (for the caller, or for anyone when the caller is an
    /// admin); the same `key` and order again is the first order, replayed.
    async fn place(
        &self,
        caller: &Caller,
        order: NewOrder,
        key: Option<&str>,
    ) -> Result<Placed, ServiceError>;
    /// One order: the caller's own, or any for an admin.
    async fn order(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError>;
    /// The caller's orders, newest first; with `key`, the one placed with it.
    async fn orders(&self, caller: &Caller, key: Option<&str>) -> Result<Vec<Order>, ServiceError>;
    /// The outbox report (admins only).
    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError>;
    /// Whether the service can answer.
    async fn ping(&self) -> Result<(), ServiceError>;
    /// Gives back what the service holds here (a database's pool) at
    /// shutdown, once its tasks have stopped; nothing for a remote one.
    async fn close(&self) {}
}

/// The catalog and its stock.
#[async_trait]
pub trait Inventory: Send + Sync + std::fmt::Debug {
    /// Every product.
    async fn products(&self) -> Result<Vec<Product>, ServiceError>;
    /// Units of product `id` available.
    async fn available(&self, id: &str) -> Result<i64, ServiceError>;
    /// The outbox report (admins only).
    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError>;
    /// Whether the service can answer.
    async fn ping(&self) -> Result<(), ServiceError>;
    /// As [`Orders::close`].
    async fn close(&self) {}
}

/// The notifications of the order flow.
#[async_trait]
pub trait Notifications: Send + Sync + std::fmt::Debug {
    /// The caller's notifications, newest first.
    async fn of(&self, caller: &Caller) -> Result<Vec<Notification>, ServiceError>;
    /// Whether the service can answer.
    async fn ping(&self) -> Result<(), ServiceError>;
    /// As [`Orders::close`].
    async fn close(&self) {}
}
