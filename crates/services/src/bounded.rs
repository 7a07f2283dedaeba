//! Every call of an in-process service bounded in time. A pool bounds the
//! wait for a connection, but a query on a connection whose database has
//! gone silent (a partition: no RST, nothing back) waits as long as the
//! partition lasts — minutes, until TCP gives up. [`Bounded`] answers
//! `Unavailable` after its limit instead; the call may or may not have
//! applied (an order placed with an `Idempotency-Key` is found by a retry).

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::interface::{Caller, Inventory, Notifications, Orders, OutboxReport, ServiceError};
use crate::{NewOrder, Notification, Order, Placed, Product};

/// How long one call of an in-process service may take: above SQLite's 2 s
/// wait for a writer's lock and the pool's 2 s wait for a connection, far
/// below a partition's minutes.
pub const SERVICE_CALL_LIMIT: Duration = Duration::from_secs(5);

/// `inner`, each of whose calls answers within `limit`.
#[derive(Debug, Clone)]
pub struct Bounded<T> {
    inner: T,
    service: &'static str,
    limit: Duration,
}

impl<T> Bounded<T> {
    /// The `service` named so in errors, its calls bounded by `limit`.
    pub fn new(service: &'static str, inner: T, limit: Duration) -> Self {
        Self {
            inner,
            service,
            limit,
        }
    }

    async fn within<R>(
        &self,
        call: impl Future<Output = Result<R, ServiceError>>,
    ) -> Result<R, ServiceError> {
        match tokio::time::timeout(self.limit, call).await {
            Ok(answer) => answer,
            Err(_) => Err(ServiceError::unavailable(
                self.service,
                format!(
                    "its database did not answer within {:?} (the call may or may not have applied)",
                    self.limit
                ),
            )),
        }
    }
}

#[async_trait]
impl<T: Orders> Orders for Bounded<T> {
    async fn place(
        &self,
        caller: &Caller,
        order: NewOrder,
        key: Option<&str>,
    ) -> Result<Placed, ServiceError> {
        self.within(self.inner.place(caller, order, key)).await
    }

    async fn order(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        self.within(self.inner.order(caller, id)).await
    }

    async fn orders(&self, caller: &Caller, key: Option<&str>) -> Result<Vec<Order>, ServiceError> {
        self.within(self.inner.orders(caller, key)).await
    }

    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError> {
        self.within(Orders::outbox(&self.inner, caller)).await
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        self.within(Orders::ping(&self.inner)).await
    }

    async fn close(&self) {
        Orders::close(&self.inner).await;
    }
}

#[async_trait]
impl<T: Inventory> Inventory for Bounded<T> {
    async fn products(&self) -> Result<Vec<Product>, ServiceError> {
        self.within(self.inner.products()).await
    }

    async fn available(&self, id: &str) -> Result<i64, ServiceError> {
        self.within(self.inner.available(id)).await
    }

    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError> {
        self.within(Inventory::outbox(&self.inner, caller)).await
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        self.within(Inventory::ping(&self.inner)).await
    }

    async fn close(&self) {
        Inventory::close(&self.inner).await;
    }
}

#[async_trait]
impl<T: Notifications> Notifications for Bounded<T> {
    async fn of(&self, caller: &Caller) -> Result<Vec<Notification>, ServiceError> {
        self.within(self.inner.of(caller)).await
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        self.within(Notifications::ping(&self.inner)).await
    }

    async fn close(&self) {
        Notifications::close(&self.inner).await;
    }
}
