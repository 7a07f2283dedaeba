//! Wake-ups at an instant, to a tenth of a millisecond. tokio's timer counts
//! whole milliseconds and rounds a deadline up: through it a 1 ms delay took
//! about 2.1 ms, and a link set to a 2 ms round trip measured 4.2 ms. One
//! thread per link keeps the due times in a heap and waits on a channel with
//! a timeout, which the kernel honours to tens of microseconds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use tokio::sync::oneshot;

/// One wake-up: when, in which order it was asked, and whom to wake.
struct Due(Instant, u64, oneshot::Sender<()>);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(other.0, other.1))
    }
}

/// The wake-ups of one link; its thread ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Alarm {
    asks: mpsc::Sender<(Instant, oneshot::Sender<()>)>,
}

impl Alarm {
    /// Starts the alarm's thread.
    pub(crate) fn new() -> Self {
        let (asks, asked) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        let spawned = std::thread::Builder::new()
            .name("link-alarm".into())
            .spawn(move || {
                let mut heap: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
                let mut order = 0u64;
                loop {
                    let next = heap.peek().map(|Reverse(due)| due.0);
                    let asked = match next {
                        None => asked.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(at) => {
                            asked.recv_timeout(at.saturating_duration_since(Instant::now()))
                        }
                    };
                    match asked {
                        Ok((at, wake)) => {
                            order += 1;
                            heap.push(Reverse(Due(at, order, wake)));
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) if heap.is_empty() => return,
                        Err(RecvTimeoutError::Disconnected) => {
                            std::thread::sleep(next.map_or(std::time::Duration::ZERO, |at| {
                                at.saturating_duration_since(Instant::now())
                            }));
                        }
                    }
                    let now = Instant::now();
                    while heap.peek().is_some_and(|Reverse(due)| due.0 <= now) {
                        if let Some(Reverse(Due(_, _, wake))) = heap.pop() {
                            let _ = wake.send(());
                        }
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "link alarm thread not started: delays use tokio's timer");
        }
        Self { asks }
    }

    /// Returns at `at` (at once when it has passed).
    pub(crate) async fn until(&self, at: tokio::time::Instant) {
        let at_std = at.into_std();
        if at_std <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        if self.asks.send((at_std, wake)).is_err() || woken.await.is_err() {
            // No thread: tokio's timer, late by up to a millisecond or two.
            tokio::time::sleep_until(at).await;
        }
    }
}
