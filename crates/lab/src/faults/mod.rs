//! The faults of one strategy's run, each at its planned moment: an
//! instance killed and started again, the store down, then the network's
//! faults through the cluster's links — one instance cut off from the store,
//! the gateway cut off from one instance, a slow store, an overloaded
//! instance — and the logout probe. The same schedule for every strategy.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::client::{Account, Target};
use crate::cluster::{ClusterApi, Network};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::results::FaultOutcome;
use crate::revocation::{self, Revocation};
use crate::spec::Fault;
use crate::strategy::Strategy;
use watch::Watched;

mod watch;

/// The instance killed and started again.
const KILLED: &str = "server-2";
/// The instance cut off from the store.
const CUT_FROM_STORE: &str = "server-1";
/// The instance that turns overloaded.
const OVERLOADED: &str = "server-2";

/// A link's faults: `rtt` as half each way.
pub(crate) fn delay_each_way(each_way: Duration) -> Value {
    let ms = each_way.as_secs_f64() * 1e3;
    json!({"upstream": {"latencyMs": ms}, "downstream": {"latencyMs": ms}})
}

/// Faults on schedule for one strategy's run.
pub(crate) struct Schedule<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) strategy: Strategy,
    pub(crate) api: &'a ClusterApi,
    /// The cluster's links to the store (none for the memory strategies,
    /// or when the store is a file).
    pub(crate) store_links: &'a [String],
    /// How the parts are joined: in namespaces the gateway's partition
    /// pulls the instance's cable.
    pub(crate) network: Network,
    /// When the load started.
    pub(crate) start: Instant,
    /// Where each fault is told as it strikes.
    pub(crate) progress: &'a Progress,
    /// Why the faults but the logout cannot be injected, when they cannot
    /// (a deployment the lab did not start, without a control API).
    pub(crate) uncontrolled: Option<&'a str>,
}

/// One step of the schedule: a fault, or the killed instance's restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Strike(Fault),
    Restart,
}

impl Schedule<'_> {
    fn since(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    async fn until(&self, fraction: f64) -> Instant {
        tokio::time::sleep_until((self.start + self.plan.at(fraction)).into()).await;
        Instant::now()
    }

    /// The instance the gateway is cut off from: the third, or the last
    /// of fewer.
    fn cut_from_gateway(&self) -> String {
        format!("server-{}", self.plan.instances.min(3))
    }

    /// The plan's faults in the order of their moments (one at a time: a
    /// fault whose moment falls inside an earlier one's span waits for it).
    fn steps(&self) -> Vec<(f64, Step)> {
        let plan = self.plan;
        let mut steps: Vec<(f64, Step)> = [
            (plan.kill_at, Step::Strike(Fault::Kill)),
            (plan.restart_at, Step::Restart),
            (plan.store_stop_at, Step::Strike(Fault::StoreStop)),
            (plan.store_partition_at, Step::Strike(Fault::StorePartition)),
            (
                plan.gateway_partition_at,
                Step::Strike(Fault::GatewayPartition),
            ),
            (plan.slow_store_at, Step::Strike(Fault::SlowStore)),
            (plan.overload_at, Step::Strike(Fault::Overload)),
            (plan.rolling_restart_at, Step::Strike(Fault::RollingRestart)),
            (plan.revoke_at, Step::Strike(Fault::Logout)),
        ]
        .into_iter()
        .filter_map(|(at, step)| Some((at?, step)))
        .collect();
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        steps
    }

    /// Runs the plan's faults and the logout probe; their outcomes in the
    /// order they struck (the probe's result, when it ran).
    pub(crate) async fn run(
        &self,
        probe_target: &Target,
        probe: &Account,
    ) -> (Vec<FaultOutcome>, Option<Result<Revocation, String>>) {
        let plan = self.plan;
        let mut faults = Vec::new();
        let mut watched = Vec::new();
        let mut revocation = None;
        let mut restarted = None;
        for (fraction, step) in self.steps() {
            if let (Some(why), false) = (self.uncontrolled, step == Step::Strike(Fault::Logout)) {
                let kind = match step {
                    Step::Strike(fault) => fault.kind(),
                    Step::Restart => "restart",
                };
                let at = self.plan.at(fraction).as_secs_f64();
                faults.push(FaultOutcome::skipped(kind, at, why));
                continue;
            }
            match step {
                Step::Strike(Fault::Kill) => {
                    let at = self.until(fraction).await;
                    self.progress.fault(
                        "kill",
                        self.since(at),
                        &format!("{KILLED} killed (SIGKILL)"),
                    );
                    let killed = self.api.control(KILLED, "stop").await;
                    let detail = match &killed {
                        Ok(()) => format!("{KILLED} killed (SIGKILL)"),
                        Err(err) => format!("kill failed: {err}"),
                    };
                    faults.push(
                        FaultOutcome::new("kill", self.since(at), detail)
                            .on(KILLED)
                            .injected(killed.is_ok()),
                    );
                }
                Step::Restart => restarted = Some(self.restart(fraction).await),
                Step::Strike(Fault::StoreStop) => faults.push(self.store_down(fraction).await),
                Step::Strike(Fault::StorePartition) => watched.push(
                    self.partition("store-partition", fraction, CUT_FROM_STORE)
                        .await,
                ),
                Step::Strike(Fault::GatewayPartition) => watched.push(
                    self.partition("gateway-partition", fraction, &self.cut_from_gateway())
                        .await,
                ),
                Step::Strike(Fault::SlowStore) => faults.push(self.slow_store(fraction).await),
                Step::Strike(Fault::Overload) => watched.push(self.overload(fraction).await),
                Step::Strike(Fault::RollingRestart) => {
                    faults.push(self.rolling_restart(fraction).await)
                }
                Step::Strike(Fault::Logout) => {
                    let at = self.until(fraction).await;
                    self.progress.fault(
                        "logout",
                        self.since(at),
                        "a user logs out; a copy of the credential is tried again",
                    );
                    revocation = Some(
                        revocation::revocation_probe(
                            probe_target,
                            self.strategy,
                            probe,
                            plan.revocation_probes,
                        )
                        .await,
                    );
                    faults.push(FaultOutcome::new(
                        "logout",
                        self.since(at),
                        "a user logs out; a copy of the credential is tried again".to_owned(),
                    ));
                }
            }
        }
        if let Some((mut restart, watch)) = restarted {
            if let Some(watch) = watch {
                restart.recovered_seconds = watch.await.ok().flatten();
            }
            faults.push(restart);
        }
        for watch in watched {
            faults.push(watch.finish().await);
        }
        faults.sort_by(|a, b| a.at_seconds.total_cmp(&b.at_seconds));
        (faults, revocation)
    }

    /// The killed instance started again, watched until it is healthy
    /// beside the rest (so the next fault stays on time).
    async fn restart(&self, fraction: f64) -> (FaultOutcome, Option<JoinHandle<Option<f64>>>) {
        let at = self.until(fraction).await;
        self.progress.fault(
            "restart",
            self.since(at),
            &format!("{KILLED} started again"),
        );
        let started = self.api.control(KILLED, "start").await;
        let injected = started.is_ok();
        let (detail, watch) = match started {
            Ok(()) => {
                let api = self.api.clone();
                let watch = tokio::spawn(async move {
                    api.wait_healthy(Duration::from_secs(30))
                        .await
                        .ok()
                        .map(|d| d.as_secs_f64())
                });
                (format!("{KILLED} started again"), Some(watch))
            }
            Err(err) => (format!("restart failed: {err}"), None),
        };
        (
            FaultOutcome::new("restart", self.since(at), detail)
                .on(KILLED)
                .injected(injected),
            watch,
        )
    }

    /// A deploy: each instance in turn drained, its sessions handed over
    /// (the memory strategies' only way to keep them), stopped, started
    /// again and, once healthy, back in rotation.
    async fn rolling_restart(&self, fraction: f64) -> FaultOutcome {
        let at = self.until(fraction).await;
        let mut steps = Vec::new();
        let mut all_done = true;
        for n in 1..=self.plan.instances {
            let id = format!("server-{n}");
            self.progress.fault(
                "rolling-restart",
                self.since(Instant::now()),
                &format!("{id} drained, handed over and restarted"),
            );
            let outcome = async {
                self.api.control(&id, "drain").await?;
                // Nothing to hand over where sessions are not in memory.
                let handed = self.api.control(&id, "handover").await.is_ok();
                self.api.control(&id, "stop").await?;
                self.api.control(&id, "start").await?;
                let back = self
                    .api
                    .wait_healthy(Duration::from_secs(30))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((handed, back))
            }
            .await;
            steps.push(match outcome {
                Ok((handed, back)) => format!(
                    "{id}: {}restarted, healthy after {:.1} s",
                    if handed { "sessions handed over, " } else { "" },
                    back.as_secs_f64()
                ),
                Err(err) => {
                    all_done = false;
                    format!("{id}: failed ({err})")
                }
            });
        }
        let span = at.elapsed();
        FaultOutcome::new(
            "rolling-restart",
            self.since(at),
            format!("every instance in turn: {}", steps.join("; ")),
        )
        .lasting(span)
        .injected(all_done)
    }

    /// The store goes down for everyone (its links refuse and cut
    /// connections), as when its process dies, and comes back.
    async fn store_down(&self, fraction: f64) -> FaultOutcome {
        let plan = self.plan;
        let at = self.until(fraction).await;
        self.progress.fault(
            "store-stop",
            self.since(at),
            &format!(
                "the store refuses everyone for {} ms",
                plan.store_stop.as_millis()
            ),
        );
        let mut injected = false;
        let detail = if self.store_links.is_empty() {
            self.no_store_link()
        } else {
            let down = self
                .api
                .set_links(self.store_links, &json!({"down": true}))
                .await;
            tokio::time::sleep_until((at + plan.store_stop).into()).await;
            let healed = self.api.set_links(self.store_links, &json!({})).await;
            let done = down.and(healed);
            injected = done.is_ok();
            match done {
                Ok(()) => format!(
                    "the store refused every instance for {} ms (its links down: connections cut and refused)",
                    plan.store_stop.as_millis()
                ),
                Err(err) => format!("store stop failed: {err}"),
            }
        };
        FaultOutcome::new("store-stop", self.since(at), detail)
            .lasting(plan.store_stop)
            .injected(injected)
    }

    fn no_store_link(&self) -> String {
        if self.strategy.uses_shared_store() {
            "the shared store is a file read in each instance: no network to fault".to_owned()
        } else {
            "no shared store: sessions live in each instance".to_owned()
        }
    }

    /// A blackhole on link `victim` (or `victim-store` for the store) for
    /// the plan's partition, watching whether the gateway takes the instance
    /// out of rotation and when it is back.
    async fn partition(&self, kind: &str, fraction: f64, victim: &str) -> Watched {
        let span = self.plan.partition;
        let link = if kind == "store-partition" {
            if self.store_links.is_empty() {
                let at = self.until(fraction).await;
                self.progress
                    .fault(kind, self.since(at), &self.no_store_link());
                let outcome = FaultOutcome::new(kind, self.since(at), self.no_store_link());
                return Watched::done(outcome);
            }
            format!("{victim}-store")
        } else if self.network == Network::Netns {
            format!("{victim}-net")
        } else {
            victim.to_owned()
        };
        // A cable is pulled (its veth down); a relay is blackholed. Both
        // stop the data and leave connections open.
        let (fault, how) = if link.ends_with("-net") {
            (json!({"down": true}), "cable pulled (its veth down)")
        } else {
            (json!({"blackhole": true}), "blackholed")
        };
        let at = self.until(fraction).await;
        self.progress.fault(
            kind,
            self.since(at),
            &format!("link {link} {how} for {} ms", span.as_millis()),
        );
        let cut = self.api.set_link(&link, &fault).await;
        let watch = watch::watch(self.api, victim, at, at + span);
        tokio::time::sleep_until((at + span).into()).await;
        let healed = self.api.set_link(&link, &json!({})).await;
        let done = cut.and(healed);
        let injected = done.is_ok();
        let detail = match done {
            Ok(()) => format!(
                "link {link} {how} for {} ms: data stops, connections stay open",
                span.as_millis()
            ),
            Err(err) => format!("partition failed: {err}"),
        };
        let outcome = FaultOutcome::new(kind, self.since(at), detail)
            .on(victim)
            .lasting(span)
            .injected(injected);
        Watched::watching(outcome, watch)
    }

    /// Every instance's store answers late, past their store timeout.
    async fn slow_store(&self, fraction: f64) -> FaultOutcome {
        let plan = self.plan;
        let at = self.until(fraction).await;
        self.progress.fault(
            "slow-store",
            self.since(at),
            &format!(
                "the store {} ms away each way for {} ms",
                plan.slow_store_delay.as_millis(),
                plan.partition.as_millis()
            ),
        );
        let mut injected = false;
        let detail = if self.store_links.is_empty() {
            self.no_store_link()
        } else {
            let slow = self
                .api
                .set_links(self.store_links, &delay_each_way(plan.slow_store_delay))
                .await;
            tokio::time::sleep_until((at + plan.partition).into()).await;
            let healed = self.api.set_links(self.store_links, &json!({})).await;
            let done = slow.and(healed);
            injected = done.is_ok();
            match done {
                Ok(()) => format!(
                    "the store {} ms away each way for every instance, for {} ms",
                    plan.slow_store_delay.as_millis(),
                    plan.partition.as_millis()
                ),
                Err(err) => format!("slow store failed: {err}"),
            }
        };
        FaultOutcome::new("slow-store", self.since(at), detail)
            .lasting(plan.partition)
            .injected(injected)
    }

    /// One instance answers slowly (its link from the gateway delayed).
    async fn overload(&self, fraction: f64) -> Watched {
        let plan = self.plan;
        let at = self.until(fraction).await;
        self.progress.fault(
            "overload",
            self.since(at),
            &format!(
                "{OVERLOADED} answers {} ms later each way for {} ms",
                plan.overload_delay.as_millis(),
                plan.overload.as_millis()
            ),
        );
        let slow = self
            .api
            .set_link(OVERLOADED, &delay_each_way(plan.overload_delay))
            .await;
        let watch = watch::watch(self.api, OVERLOADED, at, at + plan.overload);
        tokio::time::sleep_until((at + plan.overload).into()).await;
        let healed = self.api.set_link(OVERLOADED, &json!({})).await;
        let done = slow.and(healed);
        let injected = done.is_ok();
        let detail = match done {
            Ok(()) => format!(
                "{OVERLOADED} answers {} ms later each way for {} ms",
                plan.overload_delay.as_millis(),
                plan.overload.as_millis()
            ),
            Err(err) => format!("overload failed: {err}"),
        };
        let outcome = FaultOutcome::new("overload", self.since(at), detail)
            .on(OVERLOADED)
            .lasting(plan.overload)
            .injected(injected);
        Watched::watching(outcome, watch)
    }
}
