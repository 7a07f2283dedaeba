//! The services in this process: each trait of [`crate::interface`] over the
//! service's own database. The rules of the order flow live here, once: the
//! app's routes and a service process's routes both call them.

use async_trait::async_trait;

use crate::interface::{Caller, Inventory, Notifications, Orders, OutboxReport, ServiceError};
use crate::outbox::ServiceOutbox;
use crate::{
    DbError, InventoryDb, NewOrder, Notification, NotificationsDb, Order, OrdersDb, OrdersError,
    Placed, Product,
};

/// The payment token that is always declined (API.md): the stand-in for a
/// payment provider's refusal.
pub const DECLINED_PAYMENT: &str = "tok_declined";

/// Whether `caller` may place an order for `user_id`: for oneself, or for
/// anyone as an admin. The front doors ask it before they read the order's
/// lines (a `403` comes before a `400`), and placing asks again.
///
/// # Errors
/// [`ServiceError::Forbidden`].
pub fn may_order_for(caller: &Caller, user_id: &str) -> Result<(), ServiceError> {
    if user_id == caller.id || caller.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "Orders are placed for oneself unless role admin",
        ))
    }
}

fn down(service: &'static str) -> impl Fn(DbError) -> ServiceError {
    move |err| ServiceError::unavailable(service, err)
}

/// The outbox report of `service`, for admins only.
async fn outbox_report(
    caller: &Caller,
    service: &'static str,
    outbox: &ServiceOutbox,
) -> Result<Vec<OutboxReport>, ServiceError> {
    if !caller.is_admin() {
        return Err(ServiceError::Forbidden(
            "The outbox report is for role admin",
        ));
    }
    let (pending, dead_letters) = outbox
        .report()
        .await
        .map_err(|why| ServiceError::unavailable(service, why))?;
    Ok(vec![OutboxReport {
        service: service.to_owned(),
        pending,
        dead_letters,
    }])
}

#[async_trait]
impl Orders for OrdersDb {
    async fn place(
        &self,
        caller: &Caller,
        order: NewOrder,
        key: Option<&str>,
    ) -> Result<Placed, ServiceError> {
        may_order_for(caller, &order.user_id)?;
        if order.payment_token.as_deref() == Some(DECLINED_PAYMENT) {
            return Err(ServiceError::PaymentDeclined);
        }
        match OrdersDb::place(self, &order, key).await {
            Ok(placed) => Ok(placed),
            Err(OrdersError::IdempotencyConflict) => Err(ServiceError::IdempotencyConflict),
            Err(OrdersError::Db(err)) => Err(ServiceError::unavailable("orders", err)),
        }
    }

    async fn order(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        self.get(id)
            .await
            .map_err(down("orders"))?
            // Another user's order is "not found": its existence is not theirs to learn.
            .filter(|order| order.user_id == caller.id || caller.is_admin())
            .ok_or_else(|| ServiceError::NotFound(format!("Order {id} not found")))
    }

    async fn orders(&self, caller: &Caller, key: Option<&str>) -> Result<Vec<Order>, ServiceError> {
        match key {
            Some(key) => Ok(self
                .find_by_key(&caller.id, key)
                .await
                .map_err(down("orders"))?
                .into_iter()
                .collect()),
            None => self.of_user(&caller.id).await.map_err(down("orders")),
        }
    }

    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError> {
        outbox_report(caller, "orders", &OrdersDb::outbox(self)).await
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        OrdersDb::ping(self).await.map_err(down("orders"))
    }

    async fn close(&self) {
        OrdersDb::close(self).await;
    }
}

#[async_trait]
impl Inventory for InventoryDb {
    async fn products(&self) -> Result<Vec<Product>, ServiceError> {
        InventoryDb::products(self).await.map_err(down("inventory"))
    }

    async fn available(&self, id: &str) -> Result<i64, ServiceError> {
        InventoryDb::product(self, id)
            .await
            .map_err(down("inventory"))?
            .map(|product| product.stock)
            .ok_or_else(|| ServiceError::NotFound(format!("Product {id} not found")))
    }

    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError> {
        outbox_report(caller, "inventory", &InventoryDb::outbox(self)).await
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        InventoryDb::ping(self).await.map_err(down("inventory"))
    }

    async fn close(&self) {
        InventoryDb::close(self).await;
    }
}

#[async_trait]
impl Notifications for NotificationsDb {
    async fn of(&self, caller: &Caller) -> Result<Vec<Notification>, ServiceError> {
        self.of_user(&caller.id)
            .await
            .map_err(down("notifications"))
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        NotificationsDb::ping(self)
            .await
            .map_err(down("notifications"))
    }

    async fn close(&self) {
        NotificationsDb::close(self).await;
    }
}
