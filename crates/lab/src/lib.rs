//! The statecraft lab: each state strategy (sessions in each instance's
//! memory behind round-robin or sticky balancing, sessions in a shared store,
//! stateless tokens) runs on a real local cluster — `statecraft cluster`, a
//! gateway and three instances as processes — under the same scripted load,
//! with the same faults at the same moments, and every cost is measured:
//! throughput, latency, errors by code, sessions lost, requests served after
//! a logout, counter drift, bytes per session, bytes on the wire, and the
//! time a stateful request costs over a stateless one.

pub mod capacity;
mod client;
mod cluster;
mod distance;
mod driver;
mod failover;
mod faults;
mod footprint;
mod instances;
mod measure;
mod plan;
mod progress;
mod record;
mod replicated;
mod report;
mod results;
mod revocation;
mod run;
mod store;
mod strategy;

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indicatif::MultiProgress;
use progress::Progress;

pub use cluster::Network;
pub use measure::{Overhead, TokenCost};
pub use plan::Plan;
pub use report::{findings_text, html, seed_lines, table};
pub use results::{
    CounterDrift, DistancePoint, FailoverPoint, FaultOutcome, FaultWindow, InstancePoint,
    LabResults, Latency, Memory, PercentilePoint, Retries, StrategyResult, TimelinePoint, Wire,
};
pub use revocation::Revocation;
pub use strategy::Strategy;

/// What to run.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The `statecraft` binary (it starts the clusters and measures stores).
    pub program: PathBuf,
    /// Where `results.json`, `report.html` and the clusters' logs go.
    pub out: PathBuf,
    /// The short plan ([`Plan::quick`]) instead of the full one.
    pub quick: bool,
    /// A Redis to use as the shared store; by default the lab starts its
    /// own redis-server, or uses a SQLite file when none is installed.
    pub redis: Option<String>,
    /// The distance phase's round-trip times instead of the plan's.
    pub store_rtts: Option<Vec<std::time::Duration>>,
    /// Run the clusters on loopback links even where each instance could
    /// have a network namespace of its own.
    pub loopback: bool,
}

/// Why the lab could not finish.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A process, store or file it needs could not be set up.
    #[error("{0}")]
    Setup(String),
}

/// Runs every strategy in turn, writes `results.json` and `report.html` to
/// `config.out`, and returns the results.
pub async fn run(config: LabConfig) -> Result<LabResults, LabError> {
    let started = Instant::now();
    let started_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut plan = if config.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(rtts) = config.store_rtts.clone() {
        plan.store_rtts = rtts;
    }
    let logs = config.out.join("logs");
    let work = config.out.join("work");
    let _ = std::fs::remove_dir_all(&work);
    for dir in [&logs, &work] {
        std::fs::create_dir_all(dir)
            .map_err(|e| LabError::Setup(format!("cannot create {}: {e}", dir.display())))?;
    }
    let shared = store::SharedStore::prepare(config.redis.clone(), &work).await?;
    let shared_store = shared.describe();
    let network = if !config.loopback && statecraft_link::netns::available() {
        Network::Netns
    } else {
        Network::Loopback
    };
    let bench = run::Bench::new(
        config.program.clone(),
        plan.clone(),
        shared,
        work.clone(),
        logs,
        network,
    );

    let bars = MultiProgress::new();
    let mut strategies = Vec::new();
    let mut distance = Vec::new();
    let mut failure = None;
    for (n, strategy) in Strategy::ALL.into_iter().enumerate() {
        let progress = std::sync::Arc::new(Progress::new(
            &bars,
            n + 1,
            // The failover phase comes last.
            Strategy::ALL.len() + 1,
            strategy.title(),
            plan.run,
        ));
        match bench.run(strategy, &progress).await {
            Ok((result, points)) => {
                strategies.push(result);
                distance.extend(points);
            }
            Err(err) => {
                progress.failed(err.to_string());
                failure = Some(err);
                break;
            }
        }
    }
    let (failover, failover_skipped) = if failure.is_none() {
        let progress = Progress::new(
            &bars,
            Strategy::ALL.len() + 1,
            Strategy::ALL.len() + 1,
            "shared store, replicated: failover",
            plan.failover_run * 2,
        );
        match failover::measure(
            &config.program,
            &plan,
            &work,
            &config.out.join("logs"),
            &progress,
        )
        .await
        {
            Ok(points) => {
                progress.done(format!("{} durabilities measured", points.len()));
                (points, None)
            }
            Err(why) => {
                progress.failed(why.clone());
                (Vec::new(), Some(why))
            }
        }
    } else {
        (Vec::new(), None)
    };
    let run::Bench { shared, .. } = bench;
    shared.shut_down().await;
    let _ = std::fs::remove_dir_all(&work);
    if let Some(err) = failure {
        return Err(err);
    }
    let mut results = LabResults {
        schema: 2,
        quick: config.quick,
        started_at_ms,
        total_seconds: started.elapsed().as_secs_f64(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        shared_store,
        network,
        plan,
        strategies,
        distance,
        failover,
        failover_skipped,
        findings: Vec::new(),
    };
    results.findings = report::findings(&results);
    write(
        &config.out.join("results.json"),
        &serde_json::to_vec_pretty(&results).unwrap_or_default(),
    )?;
    write(&config.out.join("report.html"), html(&results).as_bytes())?;
    Ok(results)
}

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), LabError> {
    std::fs::write(path, bytes)
        .map_err(|e| LabError::Setup(format!("cannot write {}: {e}", path.display())))
}
