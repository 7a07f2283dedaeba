//! The outbox relay: publishes the events a service wrote in its own
//! transactions, oldest first, and marks them sent. While the bus is down the
//! relay waits with growing pauses and the rows wait with it, however long;
//! a row the bus refuses [`MAX_ATTEMPTS`] times moves to the service's dead
//! letters. A crash between publishing and marking publishes
//! the row again on restart: consumers absorb the duplicate by its `eventId`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::bus::{Bus, BusError};
use crate::event::Event;
use crate::tasks::Tasks;

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

/// Publishes `outbox` to `bus` until `tasks` stop. Asked to stop, the relay
/// finishes its batch, then sends what is left (the requests are drained by
/// then, so nothing new arrives) unless the bus fails, and returns: an order
/// committed before shutdown has its event on the bus when the process ends.
pub fn spawn(tasks: &Tasks, outbox: Arc<dyn Outbox>, bus: Arc<dyn Bus>, name: &'static str) {
    // A publisher: stopped once the consumers, whose events may write rows,
    // have stopped.
    tasks.spawn_publisher(|stop| async move {
        let mut backoff = IDLE;
        while !stop.is_cancelled() {
            let pause = match pass(&*outbox, &*bus).await {
                Ok(0) => {
                    backoff = IDLE;
                    IDLE
                }
                Ok(_) => {
                    backoff = IDLE;
                    continue;
                }
                Err(why) => {
                    tracing::warn!(outbox = name, "relay: {why}; retrying in {backoff:?}");
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => {}
            }
        }
        // The last rows, while the bus takes them: until a pass finds less
        // than a batch (the backlog is caught up; rows that other instances
        // sharing this outbox keep writing are theirs to send).
        loop {
            match pass_rows(&*outbox, &*bus).await {
                Ok((read, _)) if read < BATCH_ROWS => break,
                Ok(_) => {}
                Err(why) => {
                    tracing::warn!(
                        outbox = name,
                        "relay stopped with rows unsent (sent at the next start): {why}"
                    );
                    break;
                }
            }
        }
        tracing::debug!(outbox = name, "relay stopped");
    });
}

/// One pass: publishes what is unsent; returns how many went out.
///
/// # Errors
/// The first failure; rows before it stay sent.
pub async fn pass(outbox: &dyn Outbox, bus: &dyn Bus) -> Result<usize, String> {
    pass_rows(outbox, bus).await.map(|(_, sent)| sent)
}

/// [`BATCH`] as a count of rows.
const BATCH_ROWS: usize = BATCH as usize;

/// One pass: (rows read, rows published).
async fn pass_rows(outbox: &dyn Outbox, bus: &dyn Bus) -> Result<(usize, usize), String> {
    let rows = outbox.unsent(BATCH).await?;
    let read = rows.len();
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
            Err(BusError::Unavailable(why)) => {
                // Not this row's fault: nothing is counted, the pass stops and
                // resumes with this row when the bus is back.
                return Err(why);
            }
            Err(e @ BusError::Rejected(_)) => {
                let dead = attempts + 1 >= MAX_ATTEMPTS;
                outbox.mark_failed(id, &e.to_string(), dead).await?;
                return Err(e.to_string());
            }
        }
    }
    Ok((read, sent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Subscription;
    use crate::event::EventType;
    use std::sync::Mutex;

    /// One row: (id, json, attempts, sent, dead).
    type Row = (i64, String, u32, bool, bool);

    /// An outbox in a vector.
    #[derive(Default)]
    struct Rows(Mutex<Vec<Row>>);

    #[async_trait]
    impl Outbox for Rows {
        async fn unsent(&self, limit: i64) -> Result<Vec<(i64, String, u32)>, String> {
            let rows = self.0.lock().unwrap();
            Ok(rows
                .iter()
                .filter(|r| !r.3 && !r.4)
                .take(usize::try_from(limit).unwrap())
                .map(|r| (r.0, r.1.clone(), r.2))
                .collect())
        }
        async fn mark_sent(&self, id: i64) -> Result<(), String> {
            self.0
                .lock()
                .unwrap()
                .iter_mut()
                .filter(|r| r.0 == id)
                .for_each(|r| r.3 = true);
            Ok(())
        }
        async fn mark_failed(&self, id: i64, _: &str, dead: bool) -> Result<(), String> {
            for r in self.0.lock().unwrap().iter_mut().filter(|r| r.0 == id) {
                r.2 += 1;
                r.4 = dead;
            }
            Ok(())
        }
    }

    /// A bus that answers with a fixed outcome and counts publications.
    #[derive(Debug)]
    struct Fixed(Option<BusError>, Mutex<usize>);

    #[async_trait]
    impl Bus for Fixed {
        async fn publish(&self, _: &Event) -> Result<(), BusError> {
            *self.1.lock().unwrap() += 1;
            self.0.clone().map_or(Ok(()), Err)
        }
        async fn subscribe(
            &self,
            _: &str,
            _: &[EventType],
        ) -> Result<Box<dyn Subscription>, BusError> {
            Err(BusError::Unavailable("not here".into()))
        }
    }

    fn rows(n: i64) -> Rows {
        let rows = Rows::default();
        for id in 1..=n {
            let e = Event::new(
                EventType::OrderCreated,
                &format!("order-{id}"),
                "user-1",
                vec![],
            );
            rows.0
                .lock()
                .unwrap()
                .push((id, e.to_json(), 0, false, false));
        }
        rows
    }

    #[tokio::test]
    async fn a_down_bus_costs_no_attempts_and_everything_goes_out_after() {
        let outbox = rows(3);
        let down = Fixed(Some(BusError::Unavailable("down".into())), Mutex::new(0));
        for _ in 0..(MAX_ATTEMPTS * 2) {
            assert!(pass(&outbox, &down).await.is_err());
        }
        assert!(
            outbox.0.lock().unwrap().iter().all(|r| r.2 == 0 && !r.4),
            "nothing counted, nothing dead"
        );
        let up = Fixed(None, Mutex::new(0));
        assert_eq!(pass(&outbox, &up).await.unwrap(), 3);
        assert_eq!(pass(&outbox, &up).await.unwrap(), 0);
        assert_eq!(*up.1.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn a_refused_row_is_dead_lettered_after_max_attempts_and_junk_at_once() {
        let outbox = rows(1);
        outbox
            .0
            .lock()
            .unwrap()
            .push((2, "not json".into(), 0, false, false));
        let refusing = Fixed(Some(BusError::Rejected("too big".into())), Mutex::new(0));
        // Rows go out in order: the refused one holds the others back until
        // it is dead-lettered; the junk row behind it goes at its first pass.
        for _ in 0..=MAX_ATTEMPTS {
            let _ = pass(&outbox, &refusing).await;
        }
        let rows = outbox.0.lock().unwrap();
        assert!(rows[0].4 && rows[0].2 == MAX_ATTEMPTS, "{:?}", rows[0]);
        assert!(rows[1].4 && rows[1].2 == 1, "junk dead at once");
    }
}
