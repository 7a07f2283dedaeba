//! The distance phase: the store a round trip away from every instance
//! (their links to it delayed by half the round trip each way), and what
//! that costs each strategy — requests per second and latency at the same
//! users, and `T_stateful − T_stateless` — against the seed's formula,
//! overhead ≈ RTT + the store's own service time.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::client::{Account, Target};
use crate::cluster::ClusterApi;
use crate::driver::User;
use crate::faults::delay_each_way;
use crate::measure;
use crate::plan::Plan;
use crate::record::Recorder;
use crate::results::DistancePoint;
use crate::strategy::Strategy;

/// One strategy's figures at each of the plan's distances, on its running
/// cluster; the links are left without delay afterwards.
pub(crate) async fn measure(
    plan: &Plan,
    strategy: Strategy,
    api: &ClusterApi,
    store_links: &[String],
    store_kind: &str,
    users: &[Account],
    notes: &mut Vec<String>,
) -> Vec<DistancePoint> {
    let instance = api.first_instance().await.unwrap_or_else(|err| {
        notes.push(format!(
            "distance: the cluster did not list its instances: {err}"
        ));
        None
    });
    let mut points = Vec::new();
    for &rtt in &plan.store_rtts {
        if let Err(err) = set_all(api, store_links, rtt / 2).await {
            notes.push(format!("distance {rtt:?}: {err}"));
            continue;
        }
        let recorder = Arc::new(Recorder::new(plan.distance_run));
        let target = match Target::new(api.base.clone(), Some(Arc::clone(&recorder))) {
            Ok(target) => target,
            Err(err) => {
                notes.push(format!("distance: {err}"));
                break;
            }
        };
        let deadline = recorder.start() + plan.distance_run;
        let counter = format!("lab-distance-{}", strategy.id());
        let running = users.iter().map(|account| {
            let user = User::new(account.clone(), strategy, counter.clone(), plan.cart_items);
            tokio::spawn(user.run(target.clone(), deadline))
        });
        join_all(running.collect::<Vec<_>>()).await;
        let seconds = recorder.start().elapsed().as_secs_f64().max(1e-9);
        let tally = recorder.finish();
        let overhead = match &instance {
            Some(url) => {
                match measure::overhead(url, strategy, store_kind, plan.distance_overhead_requests)
                    .await
                {
                    Ok(o) => Some(o.overhead_ms),
                    Err(err) => {
                        notes.push(format!("distance {rtt:?}: overhead: {err}"));
                        None
                    }
                }
            }
            None => None,
        };
        points.push(DistancePoint {
            strategy,
            rtt_ms: rtt.as_secs_f64() * 1e3,
            requests_per_second: tally.requests as f64 / seconds,
            p50_ms: tally.latency.value_at_quantile(0.50) as f64 / 1e3,
            p99_ms: tally.latency.value_at_quantile(0.99) as f64 / 1e3,
            overhead_ms: overhead,
            errors: tally.errors.values().sum(),
        });
    }
    if let Err(err) = set_all(api, store_links, Duration::ZERO).await {
        notes.push(format!("distance: the store links kept their delay: {err}"));
    }
    points
}

async fn set_all(api: &ClusterApi, links: &[String], each_way: Duration) -> Result<(), String> {
    let faults = if each_way.is_zero() {
        json!({})
    } else {
        delay_each_way(each_way)
    };
    api.set_links(links, &faults).await
}
