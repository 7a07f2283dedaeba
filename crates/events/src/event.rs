//! The event JSON of API.md.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// An order was placed (orders → inventory).
    OrderCreated,
    /// Stock was reserved for an order (inventory → orders).
    StockReserved,
    /// Stock could not be reserved (inventory → orders).
    StockRejected,
    /// An order is confirmed (orders → notifications).
    OrderConfirmed,
    /// An order is rejected (orders → notifications).
    OrderRejected,
}

impl EventType {
    /// The name, as in `eventType`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "OrderCreated",
            Self::StockReserved => "StockReserved",
            Self::StockRejected => "StockRejected",
            Self::OrderConfirmed => "OrderConfirmed",
            Self::OrderRejected => "OrderRejected",
        }
    }
}

/// One line of an order in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLine {
    /// The product.
    pub product_id: String,
    /// Units.
    pub quantity: u32,
}

/// An event on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique per event: consumers deduplicate on it.
    pub event_id: String,
    /// What happened.
    pub event_type: EventType,
    /// The order concerned.
    pub order_id: String,
    /// Whose order.
    pub user_id: String,
    /// The order's lines.
    pub items: Vec<EventLine>,
    /// When, RFC 3339.
    pub timestamp: String,
    /// Why, for rejections (e.g. the product out of stock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Event {
    /// A new event with a fresh `eventId` and the current time.
    pub fn new(
        event_type: EventType,
        order_id: &str,
        user_id: &str,
        items: Vec<EventLine>,
    ) -> Self {
        let id: [u8; 16] = rand::random();
        Self {
            event_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            event_type,
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            items,
            timestamp: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            reason: None,
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON text of an event.
    ///
    /// # Errors
    /// The parse error, for anything that is not an event.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_api_shape_and_unique_ids() {
        let line = EventLine {
            product_id: "book-1".into(),
            quantity: 2,
        };
        let e = Event::new(EventType::OrderCreated, "order-789", "user-1", vec![line]);
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["eventType"], "OrderCreated");
        assert_eq!(json["orderId"], "order-789");
        assert_eq!(json["items"][0]["productId"], "book-1");
        assert!(json["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(json.get("reason").is_none());
        assert_eq!(Event::from_json(&e.to_json()).unwrap(), e);
        let other = Event::new(EventType::OrderCreated, "order-789", "user-1", vec![]);
        assert_ne!(other.event_id, e.event_id);
    }
}
