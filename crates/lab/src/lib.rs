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
mod events;
mod failover;
mod faults;
mod footprint;
mod instances;
pub mod live;
mod measure;
mod plan;
mod progress;
mod record;
mod replicated;
mod report;
mod results;
mod revocation;
mod run;
mod spec;
mod store;
mod strategy;
mod target;

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indicatif::MultiProgress;
use progress::Progress;

pub use cluster::Network;
pub use events::{EventOutput, LabEvent, reader_gone};
pub use measure::{Overhead, TokenCost};
pub use plan::Plan;
pub use report::{findings_text, html, seed_lines, table};
pub use results::{
    CounterDrift, DistancePoint, FailoverPoint, FaultOutcome, FaultWindow, InstancePoint,
    LabResults, Latency, Memory, PercentilePoint, Retries, StrategyResult, TargetReport,
    TimelinePoint, Wire,
};
pub use revocation::Revocation;
pub use spec::{Fault, Preset, RunSpec, StoreChoice, redact_url};
pub use strategy::Strategy;
pub use target::Deployment;

/// What to run.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The `statecraft` binary (it starts the clusters and measures stores).
    pub program: PathBuf,
    /// The run's own directory (`lab-results/<id>/`): its `results.json`,
    /// `report.html`, `spec.json`, `plan.json` and the clusters' logs.
    pub dir: PathBuf,
    /// The run's id (the directory's name, by [`new_run_id`]).
    pub id: String,
    /// What the run was asked for.
    pub spec: RunSpec,
    /// Run the clusters on loopback links even where each instance could
    /// have a network namespace of its own.
    pub loopback: bool,
    /// Where the run's events go besides the terminal.
    pub events: EventOutput,
    /// A deployment to drive instead of clusters of the lab's own
    /// (`--target`): the spec's strategies name the journeys (sessions or
    /// tokens) and what to expect of it.
    pub target: Option<Deployment>,
}

/// Why the lab could not finish.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A process, store or file it needs could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The spec asks for something out of range.
    #[error("{0}")]
    Spec(String),
}

/// A new run's id: its start time (UTC) and four random hex digits,
/// `20261205-105213-3f9a`: sortable, and safe as a directory's name.
#[must_use]
pub fn new_run_id() -> String {
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    // 2026-12-05T10:52:13Z → 20261205-105213
    let digits: String = now.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(digits.len().min(8));
    format!("{date}-{time}-{:04x}", rand::random::<u16>())
}

/// Whether `id` is shaped as [`new_run_id`] makes them (nothing else may
/// name a directory under the history).
#[must_use]
pub fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(n, c)| match n {
            8 | 15 => *c == b'-',
            16..=19 => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
            _ => c.is_ascii_digit(),
        })
}

/// Runs the spec's strategies in turn (then the failover phase, when
/// asked), writes `results.json` and `report.html` to `config.dir`, and
/// returns the results.
///
/// # Errors
/// A spec out of range, or a part of the run that could not be set up.
pub async fn run(config: LabConfig) -> Result<LabResults, LabError> {
    let started = Instant::now();
    let started_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let plan = config.spec.plan().map_err(LabError::Spec)?;
    let logs = config.dir.join("logs");
    let work = config.dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    for dir in [&logs, &work] {
        std::fs::create_dir_all(dir)
            .map_err(|e| LabError::Setup(format!("cannot create {}: {e}", dir.display())))?;
    }
    // The spec as asked (re-runnable with --spec) and the plan it made.
    write_json(&config.dir.join("spec.json"), &config.spec.redacted())?;
    write_json(&config.dir.join("plan.json"), &plan)?;
    let mut phases: Vec<String> = plan
        .strategies
        .iter()
        .map(|s| s.title().to_owned())
        .collect();
    if plan.failover {
        phases.push(FAILOVER_TITLE.to_owned());
    }
    config.events.emit(&LabEvent::Started {
        id: config.id.clone(),
        plan: serde_json::to_value(&plan).unwrap_or_default(),
        phases: phases.clone(),
    });
    let redis = match config.spec.store() {
        StoreChoice::Embedded => None,
        StoreChoice::Url(url) => Some(url),
    };
    let reached = match &config.target {
        Some(deployment) => Some(deployment.reach().await?),
        None => None,
    };
    let shared = match config.target {
        Some(_) => store::SharedStore::Deployed,
        None => store::SharedStore::prepare(redis, &work).await?,
    };
    let shared_store = shared.describe();
    let network = if config.target.is_some() {
        Network::Deployed
    } else if !config.loopback && statecraft_link::netns::available() {
        Network::Netns
    } else {
        Network::Loopback
    };
    let bench = run::Bench::new(
        config.program.clone(),
        plan.clone(),
        shared,
        work.clone(),
        logs.clone(),
        network,
        reached.clone(),
    );

    let bars = MultiProgress::new();
    let mut strategies = Vec::new();
    let mut distance = Vec::new();
    let mut failure = None;
    for (n, &strategy) in plan.strategies.iter().enumerate() {
        let progress = std::sync::Arc::new(Progress::new(
            &bars,
            (n + 1, phases.len()),
            strategy.title(),
            plan.run,
            config.events,
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
    let (failover, failover_skipped) = if failure.is_none() && config.target.is_some() {
        let why = "the lab measures failover on a replicated store it starts itself; a \
                   deployment's store is its own";
        (Vec::new(), Some(why.to_owned()))
    } else if failure.is_none() && plan.failover {
        let progress = Progress::new(
            &bars,
            (phases.len(), phases.len()),
            FAILOVER_TITLE,
            plan.failover_run * 2,
            config.events,
        );
        match failover::measure(&config.program, &plan, &work, &logs, &progress).await {
            Ok(points) => {
                progress.done(format!("{} durabilities measured", points.len()));
                (points, None)
            }
            Err(why) => {
                progress.failed(why.clone());
                (Vec::new(), Some(why))
            }
        }
    } else if failure.is_none() {
        (Vec::new(), Some("not asked for in this run".to_owned()))
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
        schema: 3,
        id: config.id.clone(),
        quick: plan.run < Plan::full().run,
        started_at_ms,
        total_seconds: started.elapsed().as_secs_f64(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        shared_store,
        network,
        target: reached.as_ref().map(target::Reached::report),
        plan,
        strategies,
        distance,
        failover,
        failover_skipped,
        findings: Vec::new(),
    };
    results.findings = report::findings(&results);
    write_json(&config.dir.join("results.json"), &results)?;
    write(&config.dir.join("report.html"), html(&results).as_bytes())?;
    config.events.emit(&LabEvent::Finished {
        total_seconds: results.total_seconds,
    });
    Ok(results)
}

/// The failover phase's title.
const FAILOVER_TITLE: &str = "shared store, replicated: failover";

fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), LabError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| LabError::Setup(format!("cannot encode {}: {e}", path.display())))?;
    write(path, &bytes)
}

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), LabError> {
    std::fs::write(path, bytes)
        .map_err(|e| LabError::Setup(format!("cannot write {}: {e}", path.display())))
}
