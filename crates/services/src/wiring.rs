//! The order flow's services together: their databases, and in-process, their
//! consumers and outbox relays on one bus.

use std::sync::Arc;

use statecraft_events::{Bus, BusError, EventType, consumer, relay};

use crate::db::{DataSpec, DbError};
use crate::{InventoryDb, NotificationsDb, OrdersDb};

/// The orders, inventory and notifications services.
#[derive(Debug, Clone)]
pub struct Services {
    /// Orders (and the order saga's state).
    pub orders: OrdersDb,
    /// Catalog and stock.
    pub inventory: InventoryDb,
    /// Notifications per user.
    pub notifications: NotificationsDb,
}

/// What each consumer hears.
const INVENTORY_EVENTS: &[EventType] = &[EventType::OrderCreated];
const ORDERS_EVENTS: &[EventType] = &[EventType::StockReserved, EventType::StockRejected];
const NOTIFICATION_EVENTS: &[EventType] = &[EventType::OrderConfirmed, EventType::OrderRejected];

impl Services {
    /// Opens every database under `spec`. On PostgreSQL each service has its
    /// own schema: its name, or `<prefix>_<name>` when a prefix is given
    /// (tests).
    ///
    /// # Errors
    /// [`DbError`] when a database cannot be reached or migrated.
    pub async fn open(spec: &DataSpec, prefix: Option<&str>) -> Result<Self, DbError> {
        let schema = |name: &str| prefix.map(|p| format!("{p}_{name}"));
        Ok(Self {
            orders: OrdersDb::open(spec, schema("orders").as_deref()).await?,
            inventory: InventoryDb::open(spec, schema("inventory").as_deref()).await?,
            notifications: NotificationsDb::open(spec, schema("notifications").as_deref()).await?,
        })
    }

    /// Checks that every service's database answers.
    ///
    /// # Errors
    /// The first [`DbError`].
    pub async fn ping(&self) -> Result<(), DbError> {
        let (orders, inventory, notifications) = tokio::join!(
            self.orders.ping(),
            self.inventory.ping(),
            self.notifications.ping()
        );
        orders.and(inventory).and(notifications)
    }

    /// Runs the order flow on `bus`: the consumers subscribe first, then the
    /// relays start publishing the outboxes.
    ///
    /// # Errors
    /// [`BusError`] when a consumer cannot subscribe.
    pub async fn run(&self, bus: Arc<dyn Bus>) -> Result<(), BusError> {
        // Every consumer listens before any relay publishes: on the in-process
        // bus an event published to a consumer not yet declared is not kept.
        listen(&bus, "inventory", INVENTORY_EVENTS, self.inventory.clone()).await?;
        listen(&bus, "orders", ORDERS_EVENTS, self.orders.clone()).await?;
        listen(
            &bus,
            "notifications",
            NOTIFICATION_EVENTS,
            self.notifications.clone(),
        )
        .await?;
        relay::spawn(Arc::new(self.orders.outbox()), Arc::clone(&bus), "orders");
        relay::spawn(Arc::new(self.inventory.outbox()), bus, "inventory");
        Ok(())
    }
}

/// The inventory service's part of the flow: it hears `OrderCreated` and
/// publishes its outbox.
///
/// # Errors
/// [`BusError`] when its consumer cannot subscribe.
pub async fn run_inventory(inventory: &InventoryDb, bus: Arc<dyn Bus>) -> Result<(), BusError> {
    listen(&bus, "inventory", INVENTORY_EVENTS, inventory.clone()).await?;
    relay::spawn(Arc::new(inventory.outbox()), bus, "inventory");
    Ok(())
}

/// The orders service's part: it hears the inventory's answers and publishes
/// its outbox.
///
/// # Errors
/// [`BusError`] when its consumer cannot subscribe.
pub async fn run_orders(orders: &OrdersDb, bus: Arc<dyn Bus>) -> Result<(), BusError> {
    listen(&bus, "orders", ORDERS_EVENTS, orders.clone()).await?;
    relay::spawn(Arc::new(orders.outbox()), bus, "orders");
    Ok(())
}

/// The notifications service's part: it hears the orders' outcomes.
///
/// # Errors
/// [`BusError`] when its consumer cannot subscribe.
pub async fn run_notifications(
    notifications: &NotificationsDb,
    bus: Arc<dyn Bus>,
) -> Result<(), BusError> {
    listen(
        &bus,
        "notifications",
        NOTIFICATION_EVENTS,
        notifications.clone(),
    )
    .await
}

async fn listen(
    bus: &Arc<dyn Bus>,
    name: &'static str,
    types: &'static [EventType],
    handler: impl consumer::Handler,
) -> Result<(), BusError> {
    consumer::start(Arc::clone(bus), name, types, Arc::new(handler)).await
}
