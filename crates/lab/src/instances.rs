//! What each instance served over time, and what the users saw while each
//! fault lasted: the per-instance figures of the network faults.

use std::collections::BTreeMap;

use crate::record::{BUCKET, InstanceBucket, Tally};
use crate::results::{FaultOutcome, FaultWindow, InstancePoint};

/// How long after a fault ends its window still counts (retries, recovery).
const AFTER: f64 = 2.0;

/// The 99th percentile and the maximum of `latencies` (microseconds), ms.
fn p99_and_max(latencies: &mut [u32]) -> (f64, f64) {
    if latencies.is_empty() {
        return (0.0, 0.0);
    }
    latencies.sort_unstable();
    let at = (latencies.len() * 99).div_ceil(100).saturating_sub(1);
    let ms = |micros: u32| f64::from(micros) / 1e3;
    (ms(latencies[at]), ms(latencies[latencies.len() - 1]))
}

/// Each instance's answers, errors and p99 per bucket.
pub(crate) fn timeline(tally: &Tally) -> BTreeMap<String, Vec<InstancePoint>> {
    tally
        .by_instance
        .iter()
        .map(|(id, buckets)| {
            let points = buckets
                .iter()
                .enumerate()
                .map(|(n, b)| InstancePoint {
                    t: n as f64 * BUCKET.as_secs_f64(),
                    requests: b.requests,
                    errors: b.errors,
                    p99_ms: p99_and_max(&mut b.latencies.clone()).0,
                })
                .collect();
            (id.clone(), points)
        })
        .collect()
}

/// Fills each lasting fault's window from what was recorded.
pub(crate) fn fill_windows(tally: &Tally, faults: &mut [FaultOutcome]) {
    for fault in faults.iter_mut() {
        let Some(span) = fault.duration_seconds else {
            continue;
        };
        let (from, to) = (fault.at_seconds, fault.at_seconds + span + AFTER);
        let mut window = FaultWindow::default();
        for (_, code) in tally
            .error_log
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
        {
            *window.errors.entry(code.clone()).or_default() += 1;
        }
        let slots = |buckets: &[InstanceBucket]| -> Vec<InstanceBucket> {
            let first = (from / BUCKET.as_secs_f64()).floor() as usize;
            let last = (to / BUCKET.as_secs_f64()).ceil() as usize;
            buckets
                .iter()
                .skip(first)
                .take(last.saturating_sub(first))
                .cloned()
                .collect()
        };
        for (id, buckets) in &tally.by_instance {
            let inside = slots(buckets);
            window.requests += inside.iter().map(|b| b.requests).sum::<u64>();
            if fault.instance.as_deref() == Some(id.as_str()) {
                window.instance_requests = inside.iter().map(|b| b.requests).sum();
                window.instance_slowest = inside
                    .iter()
                    .filter_map(|b| b.slowest.as_ref())
                    .max_by_key(|(micros, ..)| *micros)
                    .map(|(_, op, error)| match error {
                        Some(code) => format!("{op}: {code}"),
                        None => (*op).to_owned(),
                    });
                let mut all: Vec<u32> = inside.into_iter().flat_map(|b| b.latencies).collect();
                (window.instance_p99_ms, window.instance_max_ms) = p99_and_max(&mut all);
            }
        }
        fault.window = Some(window);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_99th_percentile_is_the_answer_below_which_99_in_100_fall() {
        let mut hundred: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(super::p99_and_max(&mut hundred), (99.0, 100.0));
        assert_eq!(super::p99_and_max(&mut [5000]), (5.0, 5.0));
        assert_eq!(super::p99_and_max(&mut []), (0.0, 0.0));
    }
}
