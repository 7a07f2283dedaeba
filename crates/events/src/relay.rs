//! The outbox relay: publishes the events a service wrote in its own
//! transactions, oldest first, and marks them sent. A failure is retried with
//! growing pauses; a row that fails [`MAX_ATTEMPTS`] times moves to the
//! service's dead letters. A crash between publishing and marking publishes
//! the row again on restart: consumers absorb the duplicate by its `eventId`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::bus::Bus;
use crate::event::Event;

/// Failed publications of one row before it is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 10;
/// Rows read per pass.
const BATCH: i64 = 100;
/// Pause when there is nothing to send.
const IDLE: Duration = Duration::from_millis(50);
/// Longest pause after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A service's outbox.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Unsent rows, oldest first: (row ID, event JSON, failed attempts so far).
    ///
    /// # Errors
    /// A description, for the log.
    async fn unsent(&self, limit: i64) -> Result<Vec<(i64, String, u32)>, String>;
    /// The row was published.
    ///
    /// # Errors
    /// A description, for the log.
    async fn mark_sent(&self, id: i64) -> Result<(), String>;
    /// Publishing the row failed; `dead` moves it to the dead letters.
    ///
    /// # Errors
    /// A description, for the log.
    async fn mark_failed(&self, id: i64, error: &str, dead: bool) -> Result<(), String>;
}

/// Publishes `outbox` to `bus` until the process ends.
pub fn spawn(outbox: Arc<dyn Outbox>, bus: Arc<dyn Bus>, name: &'static str) {
    tokio::spawn(async move {
        let mut backoff = IDLE;
        loop {
            match pass(&*outbox, &*bus).await {
                Ok(0) => {
                    backoff = IDLE;
                    tokio::time::sleep(IDLE).await;
                }
                Ok(_) => backoff = IDLE,
                Err(why) => {
                    tracing::warn!(outbox = name, "relay: {why}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    });
}

/// One pass: publishes what is unsent; returns how many went out.
///
/// # Errors
/// The first failure; rows before it stay sent.
pub async fn pass(outbox: &dyn Outbox, bus: &dyn Bus) -> Result<usize, String> {
    let rows = outbox.unsent(BATCH).await?;
    let mut sent = 0;
    for (id, json, attempts) in rows {
        let event = match Event::from_json(&json) {
            Ok(e) => e,
            Err(e) => {
                // Not an event: it can never be published.
                outbox
                    .mark_failed(id, &format!("not an event: {e}"), true)
                    .await?;
                continue;
            }
        };
        match bus.publish(&event).await {
            Ok(()) => {
                outbox.mark_sent(id).await?;
                sent += 1;
            }
            Err(e) => {
                let dead = attempts + 1 >= MAX_ATTEMPTS;
                outbox.mark_failed(id, &e.to_string(), dead).await?;
                return Err(e.to_string());
            }
        }
    }
    Ok(sent)
}
