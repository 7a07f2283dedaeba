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
use crate::results::FaultOutcome;
use crate::revocation::{self, Revocation};
use crate::strategy::Strategy;

/// The instance killed and started again.
const KILLED: &str = "server-2";
/// The instance cut off from the store.
const CUT_FROM_STORE: &str = "server-1";
/// The instance the gateway is cut off from.
const CUT_FROM_GATEWAY: &str = "server-3";
/// The instance that turns overloaded.
const OVERLOADED: &str = "server-2";
/// How long after a heal the watch waits for the instance to come back.
const RECOVERY_WATCH: Duration = Duration::from_secs(10);

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
}

impl Schedule<'_> {
    fn since(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    async fn until(&self, fraction: f64) -> Instant {
        tokio::time::sleep_until((self.start + self.plan.at(fraction)).into()).await;
        Instant::now()
    }

    /// Runs every fault and the logout probe; their outcomes in order.
    pub(crate) async fn run(
        &self,
        probe_target: &Target,
        probe: &Account,
    ) -> (Vec<FaultOutcome>, Result<Revocation, String>) {
        let plan = self.plan;
        let mut faults = Vec::new();

        let at = self.until(plan.kill_at).await;
        let detail = match self.api.control(KILLED, "stop").await {
            Ok(()) => format!("{KILLED} killed (SIGKILL)"),
            Err(err) => format!("kill failed: {err}"),
        };
        faults.push(FaultOutcome::new("kill", self.since(at), detail).on(KILLED));

        let at = self.until(plan.restart_at).await;
        let (detail, watch) = match self.api.control(KILLED, "start").await {
            Ok(()) => {
                // Watched beside the rest, so the next fault stays on time.
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
        let restart = FaultOutcome::new("restart", self.since(at), detail).on(KILLED);

        let store_stop = self.store_down().await;
        let store_partition = self
            .partition("store-partition", plan.store_partition_at, CUT_FROM_STORE)
            .await;
        let gateway_partition = self
            .partition(
                "gateway-partition",
                plan.gateway_partition_at,
                CUT_FROM_GATEWAY,
            )
            .await;
        let slow_store = self.slow_store().await;
        let overload = self.overload().await;

        let at = self.until(plan.revoke_at).await;
        let revocation = revocation::revocation_probe(
            probe_target,
            self.strategy,
            probe,
            plan.revocation_probes,
        )
        .await;
        let logout = FaultOutcome::new(
            "logout",
            self.since(at),
            "a user logs out; a copy of the credential is tried again".to_owned(),
        );

        let mut restart = restart;
        if let Some(watch) = watch {
            restart.recovered_seconds = watch.await.ok().flatten();
        }
        faults.push(restart);
        faults.push(store_stop);
        faults.push(store_partition.finish().await);
        faults.push(gateway_partition.finish().await);
        faults.push(slow_store);
        faults.push(overload.finish().await);
        faults.push(logout);
        (faults, revocation)
    }

    /// The store goes down for everyone (its links refuse and cut
    /// connections), as when its process dies, and comes back.
    async fn store_down(&self) -> FaultOutcome {
        let plan = self.plan;
        let at = self.until(plan.store_stop_at).await;
        let detail = if self.store_links.is_empty() {
            self.no_store_link()
        } else {
            let down = self
                .api
                .set_links(self.store_links, &json!({"down": true}))
                .await;
            tokio::time::sleep_until((at + plan.store_stop).into()).await;
            let healed = self.api.set_links(self.store_links, &json!({})).await;
            match down.and(healed) {
                Ok(()) => format!(
                    "the store refused every instance for {} ms (its links down: connections cut and refused)",
                    plan.store_stop.as_millis()
                ),
                Err(err) => format!("store stop failed: {err}"),
            }
        };
        FaultOutcome::new("store-stop", self.since(at), detail).lasting(plan.store_stop)
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
        let cut = self.api.set_link(&link, &fault).await;
        let watch = self.watch(victim, at, at + span);
        tokio::time::sleep_until((at + span).into()).await;
        let healed = self.api.set_link(&link, &json!({})).await;
        let detail = match cut.and(healed) {
            Ok(()) => format!(
                "link {link} {how} for {} ms: data stops, connections stay open",
                span.as_millis()
            ),
            Err(err) => format!("partition failed: {err}"),
        };
        let outcome = FaultOutcome::new(kind, self.since(at), detail)
            .on(victim)
            .lasting(span);
        Watched::watching(outcome, watch)
    }

    /// Every instance's store answers late, past their store timeout.
    async fn slow_store(&self) -> FaultOutcome {
        let plan = self.plan;
        let at = self.until(plan.slow_store_at).await;
        let detail = if self.store_links.is_empty() {
            self.no_store_link()
        } else {
            let slow = self
                .api
                .set_links(self.store_links, &delay_each_way(plan.slow_store_delay))
                .await;
            tokio::time::sleep_until((at + plan.partition).into()).await;
            let healed = self.api.set_links(self.store_links, &json!({})).await;
            match slow.and(healed) {
                Ok(()) => format!(
                    "the store {} ms away each way for every instance, for {} ms",
                    plan.slow_store_delay.as_millis(),
                    plan.partition.as_millis()
                ),
                Err(err) => format!("slow store failed: {err}"),
            }
        };
        FaultOutcome::new("slow-store", self.since(at), detail).lasting(plan.partition)
    }

    /// One instance answers slowly (its link from the gateway delayed).
    async fn overload(&self) -> Watched {
        let plan = self.plan;
        let at = self.until(plan.overload_at).await;
        let slow = self
            .api
            .set_link(OVERLOADED, &delay_each_way(plan.overload_delay))
            .await;
        let watch = self.watch(OVERLOADED, at, at + plan.overload);
        tokio::time::sleep_until((at + plan.overload).into()).await;
        let healed = self.api.set_link(OVERLOADED, &json!({})).await;
        let detail = match slow.and(healed) {
            Ok(()) => format!(
                "{OVERLOADED} answers {} ms later each way for {} ms",
                plan.overload_delay.as_millis(),
                plan.overload.as_millis()
            ),
            Err(err) => format!("overload failed: {err}"),
        };
        let outcome = FaultOutcome::new("overload", self.since(at), detail)
            .on(OVERLOADED)
            .lasting(plan.overload);
        Watched::watching(outcome, watch)
    }

    /// Watches instance `id` from `at`: how long until the gateway took it
    /// out of rotation (if it did before `heal`), and how long after `heal`
    /// until it was back.
    fn watch(&self, id: &str, at: Instant, heal: Instant) -> JoinHandle<Rotation> {
        let (api, id) = (self.api.clone(), id.to_owned());
        tokio::spawn(async move {
            let mut rotation = Rotation::default();
            while Instant::now() < heal {
                if rotation.out.is_none() && api.in_rotation(&id).await == Some(false) {
                    rotation.out = Some(at.elapsed().as_secs_f64());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep_until(heal.into()).await;
            if rotation.out.is_some() {
                while heal.elapsed() < RECOVERY_WATCH {
                    if api.in_rotation(&id).await == Some(true) {
                        rotation.back = Some(heal.elapsed().as_secs_f64());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            rotation
        })
    }
}

/// What the gateway did with a faulted instance.
#[derive(Debug, Default)]
struct Rotation {
    /// Seconds from the fault until it was out of rotation.
    out: Option<f64>,
    /// Seconds from the heal until it was back.
    back: Option<f64>,
}

/// A fault's outcome, with the watch of its instance still running.
struct Watched {
    outcome: FaultOutcome,
    watch: Option<JoinHandle<Rotation>>,
}

impl Watched {
    fn done(outcome: FaultOutcome) -> Self {
        Self {
            outcome,
            watch: None,
        }
    }

    fn watching(outcome: FaultOutcome, watch: JoinHandle<Rotation>) -> Self {
        Self {
            outcome,
            watch: Some(watch),
        }
    }

    async fn finish(self) -> FaultOutcome {
        let mut outcome = self.outcome;
        if let Some(watch) = self.watch
            && let Ok(rotation) = watch.await
        {
            outcome.detected_seconds = rotation.out;
            outcome.recovered_seconds = rotation.back;
        }
        outcome
    }
}
