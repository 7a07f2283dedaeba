//! The order flow's services together: their databases, and in-process, their
//! consumers and outbox relays on one bus.

use std::sync::Arc;

use statecraft_events::{Bus, BusError, EventType, Tasks, consumer, relay};

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

    /// Closes every service's connection pool, waiting until each connection
    /// in use is given back and closed: after it no statement of this
    /// process holds a lock (a relay's transaction, say), so a schema can
    /// be dropped without a deadlock against it.
    pub async fn close(&self) {
        tokio::join!(
            self.orders.close(),
            self.inventory.close(),
            self.notifications.close()
        );
    }

    /// Runs the order flow on `bus`: the consumers subscribe first, then the
    /// relays start publishing the outboxes; `tasks` owns them all.
    ///
    /// # Errors
    /// [`BusError`] when a consumer cannot subscribe.
    pub async fn run(&self, bus: Arc<dyn Bus>, tasks: &Tasks) -> Result<(), BusError> {
        run_parts(
            Some(&self.orders),
            Some(&self.inventory),
            Some(&self.notifications),
            bus,
            tasks,
        )
        .await
    }
}

/// Runs the parts of the order flow this process holds (the others run
/// elsewhere on the same bus): their consumers subscribe first, then their
/// relays start publishing; `tasks` owns them all.
///
/// # Errors
/// [`BusError`] when a consumer cannot subscribe.
pub async fn run_parts(
    orders: Option<&OrdersDb>,
    inventory: Option<&InventoryDb>,
    notifications: Option<&NotificationsDb>,
    bus: Arc<dyn Bus>,
    tasks: &Tasks,
) -> Result<(), BusError> {
    // Every consumer listens before any relay publishes: on the in-process
    // bus an event published to a consumer not yet declared is not kept.
    if let Some(inventory) = inventory {
        listen(
            tasks,
            &bus,
            "inventory",
            INVENTORY_EVENTS,
            inventory.clone(),
        )
        .await?;
    }
    if let Some(orders) = orders {
        listen(tasks, &bus, "orders", ORDERS_EVENTS, orders.clone()).await?;
    }
    if let Some(notifications) = notifications {
        let handler = notifications.clone();
        listen(tasks, &bus, "notifications", NOTIFICATION_EVENTS, handler).await?;
    }
    if let Some(orders) = orders {
        relay::spawn(tasks, Arc::new(orders.outbox()), Arc::clone(&bus), "orders");
    }
    if let Some(inventory) = inventory {
        relay::spawn(tasks, Arc::new(inventory.outbox()), bus, "inventory");
    }
    Ok(())
}

async fn listen(
    tasks: &Tasks,
    bus: &Arc<dyn Bus>,
    name: &'static str,
    types: &'static [EventType],
    handler: impl consumer::Handler,
) -> Result<(), BusError> {
    consumer::start(tasks, Arc::clone(bus), name, types, Arc::new(handler)).await
}
