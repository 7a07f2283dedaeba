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
        consumer::start(
            Arc::clone(&bus),
            "inventory",
            INVENTORY_EVENTS,
            Arc::new(self.inventory.clone()),
        )
        .await?;
        consumer::start(
            Arc::clone(&bus),
            "orders",
            ORDERS_EVENTS,
            Arc::new(self.orders.clone()),
        )
        .await?;
        consumer::start(
            Arc::clone(&bus),
            "notifications",
            NOTIFICATION_EVENTS,
            Arc::new(self.notifications.clone()),
        )
        .await?;
        relay::spawn(Arc::new(self.orders.outbox()), Arc::clone(&bus), "orders");
        relay::spawn(Arc::new(self.inventory.outbox()), bus, "inventory");
        Ok(())
    }
}
