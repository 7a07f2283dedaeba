//! The services' traits over their HTTP APIs: the routes of `statecraft
//! service orders|inventory|notifications` (see `crate::service`).

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use serde::Deserialize;
use statecraft_services::{
    Caller, Inventory, NewOrder, Notification, Notifications, Order, Orders, OutboxReport, Placed,
    Product, ServiceError,
};

use super::{Call, RemoteService};

/// The query parameter naming an idempotency key (`GET /orders`).
pub(crate) const KEY_QUERY: &str = "idempotencyKey";

#[derive(Deserialize)]
struct OrderList {
    orders: Vec<Order>,
}

#[derive(Deserialize)]
struct Catalog {
    products: Vec<Product>,
}

#[derive(Deserialize)]
struct Availability {
    available: i64,
}

#[derive(Deserialize)]
struct NotificationList {
    notifications: Vec<Notification>,
}

/// An order as the service answers it, which leaves out its owner: the
/// caller's own, or the one asked for.
fn owned_by(mut order: Order, user_id: &str) -> Order {
    user_id.clone_into(&mut order.user_id);
    order
}

#[async_trait]
impl Orders for RemoteService {
    async fn place(
        &self,
        caller: &Caller,
        order: NewOrder,
        key: Option<&str>,
    ) -> Result<Placed, ServiceError> {
        let call = Call {
            method: Method::POST,
            segments: &["orders"],
            query: None,
            idempotency_key: key,
            body: Some(&order),
        };
        let (status, placed): (_, Order) = self.send(Some(caller), call).await?;
        let placed = owned_by(placed, &order.user_id);
        Ok(if status == StatusCode::CREATED {
            Placed::Created(placed)
        } else {
            Placed::Replayed(placed)
        })
    }

    async fn order(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        let (_, order): (_, Order) = self.send(Some(caller), Call::get(&["orders", id])).await?;
        // The answer leaves out the owner (the service already held the
        // caller to their own, or let an admin see any): `user_id` is empty.
        Ok(order)
    }

    async fn orders(&self, caller: &Caller, key: Option<&str>) -> Result<Vec<Order>, ServiceError> {
        let mut call = Call::get(&["orders"]);
        call.query = key.map(|key| (KEY_QUERY, key));
        let (_, list): (_, OrderList) = self.send(Some(caller), call).await?;
        Ok(list
            .orders
            .into_iter()
            .map(|order| owned_by(order, &caller.id))
            .collect())
    }

    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError> {
        let (_, reports) = self
            .send(Some(caller), Call::get(&["_admin", "outbox"]))
            .await?;
        Ok(reports)
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        self.ready().await
    }
}

#[async_trait]
impl Inventory for RemoteService {
    async fn products(&self) -> Result<Vec<Product>, ServiceError> {
        let (_, catalog): (_, Catalog) = self.send(None, Call::get(&["products"])).await?;
        Ok(catalog.products)
    }

    async fn available(&self, id: &str) -> Result<i64, ServiceError> {
        let (_, stock): (_, Availability) = self.send(None, Call::get(&["inventory", id])).await?;
        Ok(stock.available)
    }

    async fn outbox(&self, caller: &Caller) -> Result<Vec<OutboxReport>, ServiceError> {
        Orders::outbox(self, caller).await
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        self.ready().await
    }
}

#[async_trait]
impl Notifications for RemoteService {
    async fn of(&self, caller: &Caller) -> Result<Vec<Notification>, ServiceError> {
        let (_, list): (_, NotificationList) = self
            .send(Some(caller), Call::get(&["notifications"]))
            .await?;
        Ok(list.notifications)
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        self.ready().await
    }
}
