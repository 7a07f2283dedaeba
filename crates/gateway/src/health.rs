//! Active health checks: every instance's `/readyz`, on an interval. An
//! instance out of rotation (failed check or failed exchange) comes back as
//! soon as a check finds it ready.

use std::sync::Arc;
use std::time::Duration;

use crate::{Gateway, Upstream};

/// The longest a check may take, whatever the interval.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Checks every instance every `health_interval`, forever.
pub(crate) async fn run(gateway: Gateway) {
    let mut tick = tokio::time::interval(gateway.config.health_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let checks = gateway
            .checked()
            .map(|upstream| check(&gateway, Arc::clone(upstream)));
        futures_util::future::join_all(checks).await;
    }
}

/// Asks one instance whether it is ready, and records the verdict.
pub(crate) async fn check(gateway: &Gateway, upstream: Arc<Upstream>) {
    let timeout = CHECK_TIMEOUT.min(gateway.config.health_interval);
    let ready = match upstream.get("/readyz") {
        Some(request) => matches!(
            tokio::time::timeout(timeout, upstream.pool.send(request)).await,
            Ok(Ok(answer)) if answer.status().is_success()
        ),
        None => false,
    };
    upstream.set_healthy(ready);
}
