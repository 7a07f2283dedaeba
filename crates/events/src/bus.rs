//! The bus abstraction: publish, and durable subscriptions with explicit acks.

use async_trait::async_trait;

use crate::event::{Event, EventType};

/// The bus could not take or give an event.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// The bus is down or did not answer in time: try again later; the
    /// outbox keeps the event meanwhile, however long that is.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The bus refused this event (too large, malformed): retrying the same
    /// row will not help, and after a few tries it is dead-lettered.
    #[error("event bus refused the event: {0}")]
    Rejected(String),
}

/// Where events go and come from.
#[async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug + 'static {
    /// Publishes `event` (at least once; a duplicate has the same `eventId`).
    ///
    /// # Errors
    /// [`BusError`] when the bus cannot take it now.
    async fn publish(&self, event: &Event) -> Result<(), BusError>;

    /// A durable subscription named `consumer` to events of `types`: events
    /// published while nobody listens are kept for it, and an event not
    /// acknowledged is delivered again.
    ///
    /// # Errors
    /// [`BusError`] when the bus cannot set it up.
    async fn subscribe(
        &self,
        consumer: &str,
        types: &[EventType],
    ) -> Result<Box<dyn Subscription>, BusError>;
}

/// A stream of deliveries.
#[async_trait]
pub trait Subscription: Send {
    /// The next delivery; `None` when the bus has closed.
    async fn next(&mut self) -> Option<Delivery>;
}

/// How a delivery is settled.
#[async_trait]
pub trait Settle: Send {
    /// Done: never deliver it again.
    async fn ack(self: Box<Self>);
    /// Not done: deliver it again later.
    async fn nack(self: Box<Self>);
}

/// One event, to be acknowledged once its effect is committed.
pub struct Delivery {
    /// The event.
    pub event: Event,
    settle: Box<dyn Settle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery settled by `settle`.
    pub fn new(event: Event, settle: Box<dyn Settle>) -> Self {
        Self { event, settle }
    }

    /// The effect is committed.
    pub async fn ack(self) {
        self.settle.ack().await;
    }

    /// The effect failed; deliver again.
    pub async fn nack(self) {
        self.settle.nack().await;
    }
}
