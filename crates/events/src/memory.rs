//! The in-process bus: the embedded default, for `statecraft serve` with no
//! external service. A subscription is a queue per consumer name; events
//! published before the consumer subscribes wait for it, and a negative
//! acknowledgement puts the event back after a short delay. It lives as long
//! as the process: durability across restarts comes from the outboxes, which
//! publish again whatever was not marked sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::bus::{Bus, BusError, Delivery, Settle, Subscription};
use crate::event::{Event, EventType};

/// How long a nacked event waits before it is delivered again.
const REDELIVERY_DELAY: Duration = Duration::from_millis(200);

type Queue = (
    Vec<EventType>,
    mpsc::UnboundedSender<Event>,
    Option<mpsc::UnboundedReceiver<Event>>,
);

/// Events within this process.
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    consumers: Arc<Mutex<HashMap<String, Queue>>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a consumer's queue, so that events published before it
    /// subscribes are kept for it (as a durable consumer on a real bus).
    pub fn declare(&self, consumer: &str, types: &[EventType]) {
        let mut consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        consumers.entry(consumer.to_owned()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            (types.to_vec(), tx, Some(rx))
        });
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        for (types, tx, _) in consumers.values() {
            if types.contains(&event.event_type) {
                // A closed queue is a consumer that stopped with the process.
                let _ = tx.send(event.clone());
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        types: &[EventType],
    ) -> Result<Box<dyn Subscription>, BusError> {
        self.declare(consumer, types);
        let mut consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        let (_, tx, rx) = consumers
            .get_mut(consumer)
            .ok_or_else(|| BusError::Unavailable("consumer vanished".to_owned()))?;
        let rx = rx.take().ok_or_else(|| {
            BusError::Rejected(format!("consumer {consumer} is already subscribed"))
        })?;
        Ok(Box::new(MemorySubscription {
            rx,
            again: tx.clone(),
        }))
    }
}

struct MemorySubscription {
    rx: mpsc::UnboundedReceiver<Event>,
    again: mpsc::UnboundedSender<Event>,
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Option<Delivery> {
        let event = self.rx.recv().await?;
        let settle = MemorySettle {
            event: event.clone(),
            again: self.again.clone(),
        };
        Some(Delivery::new(event, Box::new(settle)))
    }
}

struct MemorySettle {
    event: Event,
    again: mpsc::UnboundedSender<Event>,
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(self: Box<Self>) {}

    async fn nack(self: Box<Self>) {
        let (event, again) = (self.event, self.again);
        tokio::spawn(async move {
            tokio::time::sleep(REDELIVERY_DELAY).await;
            let _ = again.send(event);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_wait_for_declared_consumers_and_come_back_when_nacked() {
        let bus = MemoryBus::new();
        bus.declare("inventory", &[EventType::OrderCreated]);
        let e = Event::new(EventType::OrderCreated, "order-1", "user-1", vec![]);
        bus.publish(&e).await.unwrap();
        bus.publish(&Event::new(
            EventType::OrderConfirmed,
            "order-1",
            "user-1",
            vec![],
        ))
        .await
        .unwrap();
        let mut sub = bus
            .subscribe("inventory", &[EventType::OrderCreated])
            .await
            .unwrap();
        let first = sub.next().await.unwrap();
        assert_eq!(first.event, e);
        first.nack().await;
        let again = sub.next().await.unwrap();
        assert_eq!(again.event.event_id, e.event_id);
        again.ack().await;
        assert!(
            bus.subscribe("inventory", &[]).await.is_err(),
            "one subscriber per name"
        );
    }
}
