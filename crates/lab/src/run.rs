//! One strategy's run: start its cluster, drive the load while the faults
//! strike on schedule, then take the side measurements and stop it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::LabError;
use crate::client::{self, Account, Target};
use crate::cluster::{Cluster, ClusterApi, Network, Shape};
use crate::driver::User;
use crate::measure;
use crate::plan::Plan;
use crate::progress::{Progress, Sample};
use crate::record::{BUCKET, Recorder, SESSION_ERRORS, Tally};
use crate::results::{
    CounterDrift, DistancePoint, FaultOutcome, Latency, Memory, PERCENTILES, PercentilePoint,
    Retries, StrategyResult, TimelinePoint, Wire,
};
use crate::revocation::Revocation;
use crate::store::SharedStore;
use crate::strategy::Strategy;
use crate::target::Reached;
use crate::{distance, faults, instances};

/// What every strategy's run shares.
#[derive(Debug)]
pub(crate) struct Bench {
    pub(crate) program: PathBuf,
    pub(crate) plan: Plan,
    pub(crate) shared: SharedStore,
    /// Scratch space (data directories), removed after the run.
    pub(crate) work: PathBuf,
    /// Where the clusters' logs go.
    pub(crate) logs: PathBuf,
    /// Bytes per session by store, measured once each.
    pub(crate) bytes: Mutex<BTreeMap<String, Result<u64, String>>>,
    /// How every cluster's parts are joined.
    pub(crate) network: Network,
    /// The deployment driven instead of clusters of the bench's own.
    pub(crate) target: Option<Reached>,
}

impl Bench {
    /// A bench for `plan`.
    pub(crate) fn new(
        program: PathBuf,
        plan: Plan,
        shared: SharedStore,
        work: PathBuf,
        logs: PathBuf,
        network: Network,
        target: Option<Reached>,
    ) -> Self {
        Self {
            program,
            plan,
            shared,
            work,
            logs,
            bytes: Mutex::new(BTreeMap::new()),
            network,
            target,
        }
    }

    /// Where `strategy`'s instances keep sessions.
    pub(crate) fn store_of(&self, strategy: Strategy) -> String {
        if strategy.uses_shared_store() {
            self.shared.spec()
        } else {
            "memory".to_owned()
        }
    }

    /// Runs `strategy` and measures it, then (where it takes part) at
    /// each distance from the store.
    pub(crate) async fn run(
        &self,
        strategy: Strategy,
        progress: &Arc<Progress>,
    ) -> Result<(StrategyResult, Vec<DistancePoint>), LabError> {
        let dir = self.work.join(strategy.id());
        let log = self.logs.join(format!("{}.log", strategy.id()));
        let store = self.store_of(strategy);
        if let Some(reached) = &self.target {
            return self.measure(strategy, &reached.api, &store, progress).await;
        }
        progress.stage("starting the cluster");
        let shape = Shape {
            strategy,
            shared_store: &store,
            instances: self.plan.instances,
            balancer: &self.plan.balancer,
            network: self.network,
            serve_args: &[],
        };
        let cluster = Cluster::start(&self.program, shape, &dir.join("data"), log).await?;
        let outcome = self.measure(strategy, &cluster.api, &store, progress).await;
        cluster.stop().await;
        outcome
    }

    async fn measure(
        &self,
        strategy: Strategy,
        api: &ClusterApi,
        store: &str,
        progress: &Arc<Progress>,
    ) -> Result<(StrategyResult, Vec<DistancePoint>), LabError> {
        let plan = &self.plan;
        // Why the faults cannot be injected: a deployment without a control
        // API the lab may use (own clusters always have one).
        let uncontrolled = self.target.as_ref().and_then(|r| r.uncontrolled.as_deref());
        let setup = Target::new(api.base.clone(), None).map_err(LabError::Setup)?;
        // Names of this run's own: a deployment the lab did not start keeps
        // the users of earlier runs (with passwords this run does not know).
        let run = format!("{:04x}", rand::random::<u16>());
        let accounts: Vec<Account> = (0..=plan.users)
            .map(|n| Account::numbered(&run, n))
            .collect();
        progress.stage("registering users");
        for result in join_all(accounts.iter().map(|a| client::register(&setup, a))).await {
            result.map_err(LabError::Setup)?;
        }
        let (probe, users) = accounts
            .split_first()
            .ok_or_else(|| LabError::Setup("no users".to_owned()))?;
        let counter = format!("lab-{}", strategy.id());

        let recorder = Arc::new(Recorder::new(plan.run));
        let target =
            Target::new(api.base.clone(), Some(Arc::clone(&recorder))).map_err(LabError::Setup)?;
        let deadline = recorder.start() + plan.run;
        let running: Vec<_> = users
            .iter()
            .map(|account| {
                let user = User::new(account.clone(), strategy, counter.clone(), plan.cart_items);
                tokio::spawn(user.run(target.clone(), deadline))
            })
            .collect();
        let ticker = tokio::spawn(tick(Arc::clone(progress), Arc::clone(&recorder), plan.run));
        let store_links = match api.store_links().await {
            Ok(links) => links,
            // A deployment without a control API has none to list.
            Err(_) if uncontrolled.is_some() => Vec::new(),
            Err(err) => {
                tracing::warn!(%err, "the cluster's links are not listed");
                Vec::new()
            }
        };
        let schedule = faults::Schedule {
            plan,
            strategy,
            api,
            store_links: &store_links,
            network: self.network,
            start: recorder.start(),
            progress,
            uncontrolled,
        };
        let (mut faults, revocation) = schedule.run(&setup, probe).await;
        let mut notes = Vec::new();
        let users_run = running.len();
        let mut failed_users = 0;
        for user in running {
            if let Err(err) = user.await {
                failed_users += 1;
                tracing::error!(error = %err, "a simulated user stopped early");
            }
        }
        if failed_users > 0 {
            // Its figures would come from fewer users than the plan says.
            notes.push(format!(
                "error: {failed_users} of {users_run} simulated users stopped early (a panic): \
                 the figures come from fewer users than planned"
            ));
        }
        if let (SharedStore::Sqlite { .. }, true) = (&self.shared, strategy.uses_shared_store()) {
            notes.push(
                "no redis-server on this machine: the shared store was a SQLite file (one file \
                 for every instance), and the store's faults and distance could not be injected"
                    .to_owned(),
            );
        }
        ticker.abort();
        let elapsed = recorder
            .start()
            .elapsed()
            .min(plan.run + Duration::from_secs(10));
        let tally = recorder.finish();
        instances::fill_windows(&tally, &mut faults);
        // Before the first fault (the kill, in the article's plan): what
        // the strategy loses on its own.
        let first_fault = faults.iter().map(|f| f.at_seconds).fold(f64::MAX, f64::min);
        let before_kill = tally
            .session_error_times
            .iter()
            .filter(|&&t| t < first_fault)
            .count() as u64;

        progress.stage("measuring counters, overhead and memory");
        let counter = match api.counters(&counter).await {
            Ok(view) => drift(&counter, &view),
            Err(err) => {
                notes.push(format!("counter drift: {err}"));
                CounterDrift::default()
            }
        };
        // A deployment's instances are not reached past its balancer, nor
        // its store measured by the lab's own tools.
        let first_instance = match &self.target {
            Some(_) => {
                notes.push(
                    "overhead, memory and distance: not measured on a deployment the lab did not \
                     start (its instances and store are reached only through its balancer)"
                        .to_owned(),
                );
                None
            }
            None => api.first_instance().await.ok().flatten(),
        };
        let overhead = match first_instance {
            Some(url) => {
                match measure::overhead(&url, strategy, store_kind(store), plan.overhead_requests)
                    .await
                {
                    Ok(o) => Some(o),
                    Err(err) => {
                        notes.push(format!("overhead: {err}"));
                        None
                    }
                }
            }
            None => None,
        };
        let memory = match &self.target {
            Some(_) => Memory::default(),
            None => self.memory(strategy, &tally, &mut notes).await,
        };
        let revocation = revocation.and_then(|probe| {
            probe
                .map_err(|err| notes.push(format!("revocation probe: {err}")))
                .ok()
        });
        let distance =
            if strategy.in_distance_phase() && !plan.store_rtts.is_empty() && self.target.is_none()
            {
                progress.stage("the store at each distance");
                distance::measure(
                    plan,
                    strategy,
                    api,
                    &store_links,
                    store_kind(store),
                    users,
                    &mut notes,
                )
                .await
            } else {
                Vec::new()
            };
        progress.done(format!(
            "{} answers, {} errors",
            tally.requests,
            tally.errors.values().sum::<u64>()
        ));
        let result = assemble(
            strategy,
            store,
            &tally,
            elapsed,
            before_kill,
            revocation,
            counter,
            memory,
            overhead,
            faults,
            notes,
        );
        Ok((result, distance))
    }
}

/// `memory`, `redis` or `sqlite`, never a URL (which may hold a password).
pub(crate) fn store_kind(store: &str) -> &str {
    store.split(':').next().unwrap_or(store)
}

/// Drift of a named counter from `/_cluster/counters/{name}`.
fn drift(name: &str, view: &serde_json::Value) -> CounterDrift {
    let per_server: BTreeMap<String, u64> = view["perServer"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let max = per_server.values().max().copied().unwrap_or(0);
    let min = per_server.values().min().copied().unwrap_or(0);
    CounterDrift {
        name: name.to_owned(),
        consistent: view["consistent"] == true,
        drift: max - min,
        per_server,
    }
}

/// Every half second, the load of the last half second (until aborted).
async fn tick(progress: Arc<Progress>, recorder: Arc<Recorder>, run: Duration) {
    let start = recorder.start();
    let mut every = tokio::time::interval(BUCKET);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let mut last = Instant::now();
    loop {
        every.tick().await;
        let (window, lost) = recorder.take_window();
        let seconds = last.elapsed().as_secs_f64().max(1e-3);
        last = Instant::now();
        let ms = |q: f64| window.latency.value_at_quantile(q) as f64 / 1e3;
        progress.sample(Sample {
            t: start.elapsed().min(run).as_secs_f64(),
            requests_per_second: window.requests as f64 / seconds,
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            errors: window.errors,
            sessions_lost: window.session_errors,
            sessions_lost_total: lost,
        });
    }
}

#[allow(clippy::too_many_arguments)] // one result, assembled from its parts
fn assemble(
    strategy: Strategy,
    store: &str,
    tally: &Tally,
    elapsed: Duration,
    before_kill: u64,
    revocation: Option<Revocation>,
    counter: CounterDrift,
    memory: Memory,
    overhead: Option<measure::Overhead>,
    faults: Vec<FaultOutcome>,
    notes: Vec<String>,
) -> StrategyResult {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let per_request = |bytes: u64| {
        if tally.requests == 0 {
            0.0
        } else {
            bytes as f64 / tally.requests as f64
        }
    };
    StrategyResult {
        strategy,
        title: strategy.title().to_owned(),
        session_store: store_kind(store).to_owned(),
        balance: strategy.balance().to_owned(),
        auth: if strategy.uses_tokens() {
            "token"
        } else {
            "session"
        }
        .to_owned(),
        requests: tally.requests,
        requests_per_second: tally.requests as f64 / seconds,
        visits: tally.visits,
        visits_per_second: tally.visits as f64 / seconds,
        latency_ms: Latency::of(&tally.latency),
        latency_by_operation: tally
            .by_op
            .iter()
            .map(|(op, h)| ((*op).to_owned(), Latency::of(h)))
            .collect(),
        percentiles: PERCENTILES
            .iter()
            .map(|&p| PercentilePoint {
                percentile: p,
                ms: tally.latency.value_at_percentile(p) as f64 / 1e3,
            })
            .collect(),
        errors: tally.errors.clone(),
        errors_by_operation: tally
            .errors_by_op
            .iter()
            .map(|(op, codes)| ((*op).to_owned(), codes.clone()))
            .collect(),
        sessions_lost: SESSION_ERRORS
            .iter()
            .filter_map(|code| tally.errors.get(*code))
            .sum(),
        sessions_lost_before_kill: before_kill,
        first_session_error_seconds: tally.session_error_times.iter().copied().reduce(f64::min),
        silent_state_losses: tally.silent_losses,
        applied_despite_error: tally.applied_despite_error,
        revocation,
        counter,
        memory,
        wire: Wire {
            credential_bytes_per_request: per_request(tally.credential_bytes),
            body_bytes_per_request: per_request(tally.body_bytes),
        },
        overhead,
        faults,
        timeline: tally
            .timeline
            .iter()
            .enumerate()
            .map(|(n, b)| TimelinePoint {
                t: n as f64 * BUCKET.as_secs_f64(),
                requests: b.requests,
                errors: b.errors,
                session_errors: b.session_errors,
            })
            .collect(),
        instance_timeline: instances::timeline(tally),
        retries: Retries {
            retries: tally.retries,
            duplicates_prevented: tally.duplicates_prevented,
            errors_left_to_user: tally.errors_left.clone(),
        },
        notes,
    }
}
