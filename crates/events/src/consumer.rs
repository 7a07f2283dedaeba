//! Running a consumer: each delivery goes to a handler, is acknowledged when
//! the handler's effect is committed, and comes back (after a pause) when it
//! failed. Handlers must be idempotent per `eventId` (services record the IDs
//! they processed in the same transaction as the effect).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::bus::{Bus, BusError};
use crate::event::{Event, EventType};
use crate::tasks::Tasks;

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
/// `consumer`, then runs it until `tasks` stop, resubscribing when the bus
/// goes away. Subscribing before returning means events published afterwards
/// reach it even on the in-process bus. Asked to stop, it finishes the event
/// it is applying (acknowledged or not) and returns; what it has not taken
/// stays on the bus for the next start.
///
/// # Errors
/// [`BusError`] when the first subscription fails.
pub async fn start(
    tasks: &Tasks,
    bus: Arc<dyn Bus>,
    consumer: &'static str,
    types: &'static [EventType],
    handler: Arc<dyn Handler>,
) -> Result<(), BusError> {
    let mut subscription = bus.subscribe(consumer, types).await?;
    tasks.spawn(|stop| async move {
        loop {
            loop {
                let delivery = tokio::select! {
                    delivery = subscription.next() => delivery,
                    () = stop.cancelled() => return,
                };
                let Some(delivery) = delivery else { break };
                match handler.handle(&delivery.event).await {
                    Ok(()) => delivery.ack().await,
                    Err(why) => {
                        tracing::warn!(consumer, event = %delivery.event.event_id, "not applied, will retry: {why}");
                        delivery.nack().await;
                    }
                }
            }
            loop {
                tokio::select! {
                    () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
                    () = stop.cancelled() => return,
                }
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
