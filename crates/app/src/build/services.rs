//! The order flow's part of an instance: each service through its trait,
//! chosen once — its database here, or its HTTP API elsewhere — and, for
//! those here, their consumers and relays on the bus.

use std::sync::Arc;

use statecraft_auth::TokenIssuer;
use statecraft_events::Tasks;
use statecraft_services::{
    Bounded, Inventory, InventoryDb, Notifications, NotificationsDb, Orders, OrdersDb,
    SERVICE_CALL_LIMIT, run_parts,
};

use super::{Blueprint, BuildError};
use crate::{RemoteService, ServiceLinks};

/// The services in other processes, by URL (`http://HOST:PORT`).
#[derive(Debug, Clone, Default)]
pub struct RemoteServices {
    /// Orders.
    pub orders: Option<String>,
    /// Catalog and stock.
    pub inventory: Option<String>,
    /// Notifications.
    pub notifications: Option<String>,
}

impl RemoteServices {
    /// Whether some services run here and some elsewhere: their events then
    /// need a bus both can reach.
    #[must_use]
    pub fn split(&self) -> bool {
        let remote = [&self.orders, &self.inventory, &self.notifications].map(Option::is_some);
        remote.contains(&true) && remote.contains(&false)
    }
}

/// The databases of the services in this process (their part of the flow
/// runs here; tests set stock).
#[derive(Debug, Default)]
pub(super) struct Local {
    pub(super) orders: Option<OrdersDb>,
    pub(super) inventory: Option<InventoryDb>,
    pub(super) notifications: Option<NotificationsDb>,
}

/// Opens the services of `blueprint` (remote ones called with tokens
/// `tokens` mints) and runs the local ones' part of the flow under `tasks`.
pub(super) async fn open(
    blueprint: &Blueprint,
    tokens: &Arc<TokenIssuer>,
    tasks: &Tasks,
) -> Result<(ServiceLinks, Local), BuildError> {
    let (data, remote) = (&blueprint.data, &blueprint.remote);
    let schema = |name: &str| blueprint.schema.as_ref().map(|p| format!("{p}_{name}"));
    let client = |name, url: &String| RemoteService::new(name, url, Arc::clone(tokens));
    let mut local = Local::default();
    let orders: Arc<dyn Orders> = match &remote.orders {
        Some(url) => Arc::new(client("orders", url)?),
        None => {
            let db = OrdersDb::open(data, schema("orders").as_deref()).await;
            // Bounded: a silent database answers Unavailable, never a hang.
            let db = local
                .orders
                .insert(db.map_err(BuildError::Services)?)
                .clone();
            Arc::new(Bounded::new("orders", db, SERVICE_CALL_LIMIT))
        }
    };
    let inventory: Arc<dyn Inventory> = match &remote.inventory {
        Some(url) => Arc::new(client("inventory", url)?),
        None => {
            let db = InventoryDb::open(data, schema("inventory").as_deref()).await;
            // Bounded: a silent database answers Unavailable, never a hang.
            let db = local
                .inventory
                .insert(db.map_err(BuildError::Services)?)
                .clone();
            Arc::new(Bounded::new("inventory", db, SERVICE_CALL_LIMIT))
        }
    };
    let notifications: Arc<dyn Notifications> = match &remote.notifications {
        Some(url) => Arc::new(client("notifications", url)?),
        None => {
            let db = NotificationsDb::open(data, schema("notifications").as_deref()).await;
            // Bounded: a silent database answers Unavailable, never a hang.
            let db = local
                .notifications
                .insert(db.map_err(BuildError::Services)?)
                .clone();
            Arc::new(Bounded::new("notifications", db, SERVICE_CALL_LIMIT))
        }
    };
    run_parts(
        local.orders.as_ref(),
        local.inventory.as_ref(),
        local.notifications.as_ref(),
        Arc::clone(&blueprint.bus),
        tasks,
    )
    .await
    .map_err(BuildError::Bus)?;
    let links = ServiceLinks {
        orders,
        inventory,
        notifications,
    };
    Ok((links, local))
}
