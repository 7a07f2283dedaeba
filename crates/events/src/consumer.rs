//! Running a consumer: each delivery goes to a handler, is acknowledged when
//! the handler's effect is committed, and comes back (after a pause) when it
//! failed. Handlers must be idempotent per `eventId` (services record the IDs
//! they processed in the same transaction as the effect).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::bus::{Bus, BusError};
use crate::event::{Event, EventType};

/// What a consumer does with an event.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Applies `event`; an error means "not applied, try again later".
    ///
    /// # Errors
    /// A description of what failed, for the log.
    async fn handle(&self, event: &Event) -> Result<(), String>;
}

/// How long to wait before subscribing again after the bus failed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// Subscribes `handler` to events of `types` under the durable name
/// `consumer`, then runs it until the process ends, resubscribing when the bus
/// goes away. Subscribing before returning means events published afterwards
/// reach it even on the in-process bus.
///
/// # Errors
/// [`BusError`] when the first subscription fails.
pub async fn start(
    bus: Arc<dyn Bus>,
    consumer: &'static str,
    types: &'static [EventType],
    handler: Arc<dyn Handler>,
) -> Result<(), BusError> {
    let mut subscription = bus.subscribe(consumer, types).await?;
    tokio::spawn(async move {
        loop {
            while let Some(delivery) = subscription.next().await {
                match handler.handle(&delivery.event).await {
                    Ok(()) => delivery.ack().await,
                    Err(why) => {
                        tracing::warn!(consumer, event = %delivery.event.event_id, "not applied, will retry: {why}");
                        delivery.nack().await;
                    }
                }
            }
            loop {
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                match bus.subscribe(consumer, types).await {
                    Ok(s) => {
                        subscription = s;
                        break;
                    }
                    Err(e) => tracing::warn!(consumer, "cannot subscribe again: {e}"),
                }
            }
        }
    });
    Ok(())
}
