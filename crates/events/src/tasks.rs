//! The owner of a process's background tasks: outbox relays, consumers, key
//! reloads, sweeps. Each task is started through [`Tasks::spawn`] (or, for
//! what publishes, [`Tasks::spawn_publisher`]) with a token that says "stop";
//! a task finishes the step it is in (a relay its batch, a consumer the event
//! it is applying) and returns. On shutdown the process stops accepting,
//! drains its requests, then calls [`Tasks::stop`] and only after it closes
//! its pools: no task holds a connection or a transaction when the process
//! ends. Publishers stop last: a consumer finishing its event may write an
//! outbox row, which the relay's last pass must still find.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The background tasks of one process (cheap to clone: clones share them).
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    /// Everything but the publishers, stopped first.
    tracker: TaskTracker,
    stop: CancellationToken,
    /// The publishers (outbox relays), stopped once the others have.
    publishers: TaskTracker,
    stop_publishers: CancellationToken,
}

impl Tasks {
    /// No tasks yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the task `start` makes from the stop token until it returns.
    /// A task started after [`Tasks::stop`] sees the token already cancelled.
    pub fn spawn<F>(&self, start: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(start(self.stop.clone()));
    }

    /// As [`Tasks::spawn`], for a task that publishes what the others write
    /// (an outbox relay): it is asked to stop only once they have returned.
    pub fn spawn_publisher<F>(&self, start: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.publishers.spawn(start(self.stop_publishers.clone()));
    }

    /// Asks every task to stop and waits until all have returned, at most
    /// `limit` in all: first the others, then the publishers. Returns whether
    /// they all did (a task still running after `limit` is left to the
    /// runtime's end).
    pub async fn stop(&self, limit: Duration) -> bool {
        let in_order = async {
            self.stop.cancel();
            self.tracker.close();
            self.tracker.wait().await;
            self.stop_publishers.cancel();
            self.publishers.close();
            self.publishers.wait().await;
        };
        let stopped = tokio::time::timeout(limit, in_order).await.is_ok();
        // Whatever happened, nothing is left asked to go on.
        self.stop_publishers.cancel();
        stopped
    }

    /// How many tasks are running.
    #[must_use]
    pub fn running(&self) -> usize {
        self.tracker.len() + self.publishers.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn stop_waits_for_a_task_to_finish_its_step() {
        let tasks = Tasks::new();
        let finished = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&finished);
        tasks.spawn(|stop| async move {
            stop.cancelled().await;
            // The step in progress when asked to stop.
            tokio::time::sleep(Duration::from_millis(50)).await;
            done.store(true, Ordering::SeqCst);
        });
        assert_eq!(tasks.running(), 1);
        assert!(tasks.stop(Duration::from_secs(5)).await);
        assert!(finished.load(Ordering::SeqCst));
        assert_eq!(tasks.running(), 0);
    }

    #[tokio::test]
    async fn publishers_stop_after_the_others_have() {
        let tasks = Tasks::new();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (first, second) = (Arc::clone(&order), Arc::clone(&order));
        tasks.spawn_publisher(|stop| async move {
            stop.cancelled().await;
            second.lock().unwrap().push("publisher");
        });
        tasks.spawn(|stop| async move {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            first.lock().unwrap().push("consumer");
        });
        assert!(tasks.stop(Duration::from_secs(5)).await);
        assert_eq!(*order.lock().unwrap(), ["consumer", "publisher"]);
    }

    #[tokio::test]
    async fn stop_gives_up_on_a_task_that_does_not_listen() {
        let tasks = Tasks::new();
        tasks.spawn(|_stop| tokio::time::sleep(Duration::from_secs(60)));
        assert!(!tasks.stop(Duration::from_millis(50)).await);
    }
}
