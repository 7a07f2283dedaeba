//! The background sweeper shared by the backends that must remove expired
//! sessions themselves (memory, SQLite; Redis expires keys on its own).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::StoreError;

/// Runs `sweep` every `every` on the current tokio runtime (none: nothing is
/// started) for as long as `inner` is alive; it holds only a weak reference, so
/// dropping the store stops the sweeper.
pub(crate) fn spawn_sweeper<T, F, Fut>(inner: &Arc<T>, every: Duration, sweep: F)
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, StoreError>> + Send,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(inner);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            match sweep(inner).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "swept expired sessions"),
                Err(err) => tracing::warn!(%err, "sweeping expired sessions failed"),
            }
        }
    });
}
