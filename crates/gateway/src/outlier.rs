//! Passive outlier detection: when failed exchanges take an instance out of
//! rotation before a health check would.
//!
//! Only failures on the instance's side count (a refused or reset
//! connection, a malformed answer, no answer head in time): a client that
//! breaks off its own request says nothing about the instance, and counting
//! it let any client empty the gateway with a few cut-off bodies. The rule is
//! Envoy's `consecutive_gateway_failure` with `max_ejection_percent`: N such
//! failures in a row eject an instance, never more than a share of the
//! instances at once, and never the last one in rotation, so that a burst of
//! failures cannot turn every request into `NO_HEALTHY_UPSTREAM`. An ejected
//! instance comes back when a health check finds it ready.

use std::sync::{Arc, Mutex, PoisonError};

use crate::Upstream;

/// When failures take an instance out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierRule {
    /// Instance-side failures in a row that eject an instance (at least 1).
    pub consecutive_failures: u32,
    /// The most instances failures may hold out of rotation at once, as a
    /// percentage of the pool, rounded down; one may always be (of two or
    /// more), as in Envoy.
    pub max_ejection_percent: u8,
}

impl Default for OutlierRule {
    /// Envoy's default of 5 in a row; at most half of the instances.
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            max_ejection_percent: 50,
        }
    }
}

/// One pool's outlier detection: the rule, and a lock that makes each
/// ejection's count of the others exact (two instances failing at the same
/// moment must not both pass the limit).
#[derive(Debug)]
pub(crate) struct Outliers {
    rule: OutlierRule,
    deciding: Mutex<()>,
}

impl Outliers {
    pub(crate) fn new(rule: OutlierRule) -> Self {
        Self {
            rule,
            deciding: Mutex::new(()),
        }
    }

    /// Records an instance-side failure of `upstream`, one of `pool`, and
    /// ejects it when the rule says so and the limits allow.
    pub(crate) fn failed(&self, upstream: &Upstream, pool: &[Arc<Upstream>]) {
        let in_a_row = upstream.count_failure();
        if in_a_row < self.rule.consecutive_failures.max(1) || !upstream.is_healthy() {
            return;
        }
        let _deciding = self.deciding.lock().unwrap_or_else(PoisonError::into_inner);
        let others_in_rotation = pool
            .iter()
            .filter(|u| !std::ptr::eq(u.as_ref(), upstream) && u.is_healthy())
            .count();
        let ejected = pool.iter().filter(|u| u.is_ejected()).count();
        let limit = (pool.len() * usize::from(self.rule.max_ejection_percent) / 100).max(1);
        if others_in_rotation == 0 || ejected >= limit {
            tracing::warn!(
                upstream = %upstream.id,
                failures = in_a_row,
                ejected,
                others_in_rotation,
                "instance failing, kept in rotation: ejecting it would pass the ejection limit"
            );
            return;
        }
        upstream.eject(in_a_row);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{OutlierRule, Outliers};
    use crate::{Upstream, UpstreamSpec};

    fn pool(n: usize) -> Vec<Arc<Upstream>> {
        (1..=n)
            .map(|i| {
                let spec = UpstreamSpec::parse(&format!("outlier-{i}=http://127.0.0.1:9"), i)
                    .unwrap_or_else(|e| panic!("{e}"));
                Arc::new(Upstream::new(&spec, Duration::from_millis(100)))
            })
            .collect()
    }

    fn fail(outliers: &Outliers, pool: &[Arc<Upstream>], i: usize, times: u32) {
        for _ in 0..times {
            outliers.failed(&pool[i], pool);
        }
    }

    fn rotation(pool: &[Arc<Upstream>]) -> Vec<bool> {
        pool.iter().map(|u| u.is_healthy()).collect()
    }

    #[test]
    fn an_instance_is_ejected_only_after_n_failures_in_a_row() {
        let pool = pool(3);
        let outliers = Outliers::new(OutlierRule::default());
        fail(&outliers, &pool, 0, 4);
        assert_eq!(rotation(&pool), [true; 3], "four are not five");
        // An answer between failures starts the count again.
        pool[0].answered(http::StatusCode::OK, 0.001);
        fail(&outliers, &pool, 0, 4);
        assert_eq!(rotation(&pool), [true; 3]);
        fail(&outliers, &pool, 0, 1);
        assert_eq!(rotation(&pool), [false, true, true]);
    }

    #[test]
    fn failures_never_take_out_more_than_the_limit_nor_the_last_instance() {
        let pool = pool(3);
        let outliers = Outliers::new(OutlierRule::default());
        fail(&outliers, &pool, 0, 5);
        // Half of three, rounded down: one at a time.
        fail(&outliers, &pool, 1, 50);
        fail(&outliers, &pool, 2, 50);
        assert_eq!(rotation(&pool), [false, true, true]);
        // A health check brings the first back: another may go.
        pool[0].set_healthy(true);
        fail(&outliers, &pool, 1, 1);
        assert_eq!(rotation(&pool), [true, false, true]);

        // Even with no limit, the last instance in rotation stays.
        let pool = self::pool(2);
        let outliers = Outliers::new(OutlierRule {
            consecutive_failures: 1,
            max_ejection_percent: 100,
        });
        fail(&outliers, &pool, 0, 1);
        fail(&outliers, &pool, 1, 10);
        assert_eq!(rotation(&pool), [false, true]);
        // One instance alone is never ejected by failures.
        let single = self::pool(1);
        fail(&outliers, &single, 0, 10);
        assert_eq!(rotation(&single), [true]);
    }
}
