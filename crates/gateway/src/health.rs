//! Active health checks: every instance's `/readyz`, on an interval. An
//! instance out of rotation (failed check or failed exchange) comes back as
//! soon as a check finds it ready.
//!
//! An instance that answers "not ready" (a store it needs is down) is alive,
//! unlike one that does not answer. While any instance is ready, only the
//! ready ones take requests. When none is — the shared store is down for
//! all of them at once — the gateway routes to every live one anyway (what
//! Envoy calls panic routing): they still answer what needs no store, and
//! answer the rest `STORE_UNAVAILABLE` themselves, where taking them all out
//! would refuse every request with `NO_HEALTHY_UPSTREAM`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{Gateway, Upstream};

/// The longest a check may take. Not shortened to the interval: an
/// instance whose store hangs answers `/readyz` only after its own store
/// timeout (500 ms), and must not be taken for dead.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Checks in a row without an answer before an instance is taken for dead.
/// One slow answer is not death: on a starved machine (the chaos suite under
/// the soak) an instance's `/readyz` can take over a second, and taking every
/// instance out at once refused all requests with `NO_HEALTHY_UPSTREAM` where
/// they would have been served. A refused connection is death at once, and
/// failed requests still eject an instance on their own (`outlier`).
const UNANSWERED_BEFORE_DOWN: u32 = 2;

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// `/readyz` answered success.
    Ready,
    /// It answered, but not ready.
    Unready,
    /// No answer.
    Down,
}

/// Checks every instance every `health_interval`, forever.
pub(crate) async fn run(gateway: Gateway) {
    let mut tick = tokio::time::interval(gateway.config.health_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let panicking = AtomicBool::new(false);
    loop {
        tick.tick().await;
        let instances =
            futures_util::future::join_all(gateway.upstreams.iter().map(|u| check(Arc::clone(u))));
        let services = futures_util::future::join_all(
            gateway
                .services
                .iter()
                .map(|s| check(Arc::clone(&s.upstream[0]))),
        );
        let (mut instances, services) = tokio::join!(instances, services);
        // With no revocation on its way: an instance coming back into
        // rotation first takes every revocation it may have missed, and one
        // taken out meanwhile for a missed delivery counts as coming back.
        let gate = gateway.revocations.exclusive().await;
        let returning: Vec<Arc<Upstream>> = (instances.iter())
            .filter(|(u, v)| *v != Verdict::Down && !u.is_healthy())
            .map(|(u, _)| Arc::clone(u))
            .collect();
        if !returning.is_empty() {
            let token = gateway.config.handover_token.as_deref();
            let failed = gateway.revocations.catch_up(&returning, token).await;
            for (upstream, verdict) in &mut instances {
                if failed.iter().any(|f| Arc::ptr_eq(f, upstream)) {
                    *verdict = Verdict::Down;
                }
            }
        }
        settle(&instances, &panicking);
        drop(gate);
        // A service has no peer to stand in for it: ready or out.
        for (upstream, verdict) in &services {
            upstream.set_healthy(*verdict == Verdict::Ready);
        }
    }
}

/// Puts the ready instances in rotation, or every live one when none is.
fn settle(verdicts: &[(Arc<Upstream>, Verdict)], panicking: &AtomicBool) {
    let any_ready = verdicts.iter().any(|(_, v)| *v == Verdict::Ready);
    let any_alive = verdicts.iter().any(|(_, v)| *v == Verdict::Unready);
    let panic = !any_ready && any_alive;
    if panicking.swap(panic, Ordering::Relaxed) != panic {
        if panic {
            tracing::warn!("no instance is ready: routing to every live one (panic routing)");
        } else {
            tracing::info!("panic routing over");
        }
    }
    for (upstream, verdict) in verdicts {
        upstream.set_ready(*verdict == Verdict::Ready);
        upstream.set_healthy(match verdict {
            Verdict::Ready => true,
            Verdict::Unready => panic,
            Verdict::Down => false,
        });
    }
}

/// Asks one upstream whether it is ready.
async fn check(upstream: Arc<Upstream>) -> (Arc<Upstream>, Verdict) {
    let answers_before = upstream.answers();
    let verdict = match upstream.get("/readyz") {
        Some(request) => {
            match tokio::time::timeout(CHECK_TIMEOUT, upstream.pool.send(request)).await {
                Ok(Ok(answer)) => {
                    upstream.check_answered();
                    if answer.status().is_success() {
                        Verdict::Ready
                    } else {
                        Verdict::Unready
                    }
                }
                Ok(Err(_)) => Verdict::Down,
                Err(_) => unanswered(&upstream, answers_before),
            }
        }
        None => Verdict::Down,
    };
    (upstream, verdict)
}

/// The verdict on a check that got no answer in time: what the instance was
/// until [`UNANSWERED_BEFORE_DOWN`] such checks in a row, then down — at
/// once when it is silent: requests wait on it and none was answered while
/// the check waited (a partition, or a frozen process, not a slow machine,
/// where answers keep coming, only later). Found down, the requests that
/// wait on it stop waiting.
fn unanswered(upstream: &Upstream, answers_before: u64) -> Verdict {
    let strikes = upstream.check_unanswered();
    let silent = upstream.in_flight() > 0 && upstream.answers() == answers_before;
    if strikes >= UNANSWERED_BEFORE_DOWN || silent {
        if upstream.is_healthy() {
            tracing::warn!(upstream = %upstream.id, silent, strikes, "instance does not answer");
        }
        upstream.silence();
        Verdict::Down
    } else if upstream.is_ready() {
        Verdict::Ready
    } else if upstream.is_healthy() {
        Verdict::Unready
    } else {
        Verdict::Down
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::{Verdict, settle, unanswered};
    use crate::{Upstream, UpstreamSpec};

    fn upstreams() -> Vec<Arc<Upstream>> {
        (1..=3)
            .map(|n| {
                let spec = UpstreamSpec::parse(&format!("http://127.0.0.1:{}", 9000 + n), n)
                    .unwrap_or_else(|e| panic!("{e}"));
                Arc::new(Upstream::new(&spec, std::time::Duration::from_millis(100)))
            })
            .collect()
    }

    /// Settles `verdicts` on `pool`; which instances are in rotation then.
    fn rotation_after(
        pool: &[Arc<Upstream>],
        verdicts: [Verdict; 3],
        panicking: &AtomicBool,
    ) -> Vec<bool> {
        settle(
            &pool.iter().cloned().zip(verdicts).collect::<Vec<_>>(),
            panicking,
        );
        pool.iter().map(|u| u.is_healthy()).collect()
    }

    #[test]
    fn only_ready_instances_serve_while_one_is_ready() {
        let pool = upstreams();
        let panicking = AtomicBool::new(false);
        let verdicts = [Verdict::Ready, Verdict::Unready, Verdict::Down];
        assert_eq!(
            rotation_after(&pool, verdicts, &panicking),
            [true, false, false]
        );
    }

    #[test]
    fn when_none_is_ready_every_live_instance_serves_and_the_dead_stay_out() {
        let pool = upstreams();
        let panicking = AtomicBool::new(false);
        let verdicts = [Verdict::Unready, Verdict::Unready, Verdict::Down];
        assert_eq!(
            rotation_after(&pool, verdicts, &panicking),
            [true, true, false]
        );
        assert!(pool.iter().all(|u| !u.is_ready()));
        // The store is back for one: panic routing ends.
        let verdicts = [Verdict::Ready, Verdict::Unready, Verdict::Down];
        assert_eq!(
            rotation_after(&pool, verdicts, &panicking),
            [true, false, false]
        );
    }

    #[test]
    fn with_every_instance_dead_none_serves() {
        let pool = upstreams();
        let panicking = AtomicBool::new(false);
        assert_eq!(
            rotation_after(&pool, [Verdict::Down; 3], &panicking),
            [false; 3]
        );
    }

    #[test]
    fn one_unanswered_check_keeps_the_last_verdict_two_in_a_row_are_down() {
        let pool = upstreams();
        let up = &pool[0];
        // Ready before: one slow check changes nothing.
        assert_eq!(unanswered(up, 0), Verdict::Ready);
        assert_eq!(unanswered(up, 0), Verdict::Down);
        // An answer starts the count again.
        up.check_answered();
        assert_eq!(unanswered(up, 0), Verdict::Ready);
        // Alive but not ready before (panic routing): stays alive once.
        up.check_answered();
        up.set_ready(false);
        assert_eq!(unanswered(up, 0), Verdict::Unready);
        // Already out of rotation: a slow check does not bring it back.
        up.check_answered();
        up.set_healthy(false);
        assert_eq!(unanswered(up, 0), Verdict::Down);
    }

    #[tokio::test]
    async fn a_silent_instance_is_down_at_the_first_unanswered_check_and_its_waiters_are_woken() {
        let pool = upstreams();
        let up = &pool[0];
        let _waiting = up.start_request();
        // A slow machine: requests are waiting, but answers keep coming.
        up.answered(http::StatusCode::OK, 0.001);
        assert_eq!(unanswered(up, 0), Verdict::Ready);
        // A partition: requests wait and nothing comes back.
        up.check_answered();
        let woken = up.silenced();
        assert_eq!(unanswered(up, up.answers()), Verdict::Down);
        tokio::time::timeout(std::time::Duration::from_secs(1), woken)
            .await
            .unwrap_or_else(|_| panic!("a request waiting on a silent instance was not woken"));
    }
}
