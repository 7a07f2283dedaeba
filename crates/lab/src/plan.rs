//! How long each strategy runs, with how many users, and when the faults
//! strike: the same plan for every strategy, so their figures compare.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::strategy::Strategy;

/// The schedule of one lab run. A fault's moment is `None` when the run
/// leaves it out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The preset it started from (`article` for `statecraft lab`).
    pub preset: String,
    /// The strategies, in the order they run.
    pub strategies: Vec<Strategy>,
    /// Instances per cluster.
    pub instances: usize,
    /// The balancer in front of them: `builtin` (statecraft's gateway),
    /// `haproxy` or `nginx` (`statecraft cluster --balancer`).
    pub balancer: String,
    /// Simulated users, each a sequential client.
    pub users: usize,
    /// Products each user puts in the cart before checking out: the
    /// session's size (beyond the catalog's, products of its own names).
    pub cart_items: usize,
    /// How long the load runs per strategy.
    #[serde(serialize_with = "seconds")]
    pub run: Duration,
    /// When an instance is killed (SIGKILL), as a fraction of `run`.
    pub kill_at: Option<f64>,
    /// When it is started again.
    pub restart_at: Option<f64>,
    /// When the shared store is stopped (where a strategy uses it).
    pub store_stop_at: Option<f64>,
    /// For how long it stays stopped.
    #[serde(serialize_with = "seconds")]
    pub store_stop: Duration,
    /// When one instance is cut off from the store (a blackhole on its
    /// link: a partition that sends no RST), for `partition`.
    pub store_partition_at: Option<f64>,
    /// When the gateway is cut off from one instance (its link
    /// blackholed; the process keeps running), for `partition`.
    pub gateway_partition_at: Option<f64>,
    /// How long each partition lasts.
    #[serde(serialize_with = "seconds")]
    pub partition: Duration,
    /// When the store turns slow for every instance: each way of their
    /// links delayed by `slow_store_delay`, above the instances' store
    /// timeout, for `partition`.
    pub slow_store_at: Option<f64>,
    /// The delay each way while the store is slow.
    #[serde(serialize_with = "seconds")]
    pub slow_store_delay: Duration,
    /// When one instance turns overloaded: its link from the gateway
    /// delayed by `overload_delay` each way, for `overload`.
    pub overload_at: Option<f64>,
    /// The delay each way while the instance is overloaded.
    #[serde(serialize_with = "seconds")]
    pub overload_delay: Duration,
    /// How long the overload lasts.
    #[serde(serialize_with = "seconds")]
    pub overload: Duration,
    /// When the rolling restart begins (every instance in turn).
    pub rolling_restart_at: Option<f64>,
    /// When a user logs out and keeps using their credential.
    pub revoke_at: Option<f64>,
    /// Requests a logged-out credential is tried with afterwards.
    pub revocation_probes: usize,
    /// Requests of each kind for the stateful/stateless comparison.
    pub overhead_requests: usize,
    /// Sessions created to measure bytes per session: `statecraft capacity
    /// --measure`'s default, in both plans, so the lab and that command
    /// agree (a store's tables grow in steps, so a smaller count reads
    /// higher: 116 B at 20,000 sessions against 96 B at 100,000).
    pub capacity_sessions: u64,
    /// Token logins (and logouts) made to measure what they leave on the
    /// server (each a database transaction, so fewer in the quick plan).
    pub token_logins: u64,
    /// Round-trip times between the instances and the store for the
    /// distance phase (0: a link with no delay, as the rest of the run).
    #[serde(serialize_with = "all_millis")]
    pub store_rtts: Vec<Duration>,
    /// How long the load runs at each distance.
    #[serde(serialize_with = "seconds")]
    pub distance_run: Duration,
    /// Requests of each kind for the overhead at each distance.
    pub distance_overhead_requests: usize,
    /// How long the load runs in the failover phase, for each durability.
    #[serde(serialize_with = "seconds")]
    pub failover_run: Duration,
    /// When the replicated store's primary is killed, as a fraction of
    /// `failover_run`.
    pub failover_at: f64,
    /// Whether the failover phase runs after the strategies.
    pub failover: bool,
}

impl Plan {
    /// About 2½ minutes on a 2-core machine (145 s in a release build).
    pub fn quick() -> Self {
        Self {
            users: 16,
            // Every fault of the full plan still fits, one after another
            // (the overload ends at 18 s, the logout follows).
            run: Duration::from_secs(20),
            store_stop: Duration::from_secs(1),
            revocation_probes: 12,
            overhead_requests: 300,
            // 376 B a login at 5,000 as at 20,000, in a third of the time.
            token_logins: 5_000,
            store_rtts: vec![Duration::ZERO, Duration::from_millis(2)],
            distance_run: Duration::from_millis(2500),
            distance_overhead_requests: 150,
            failover_run: Duration::from_secs(10),
            ..Self::full()
        }
    }

    /// About 7 minutes on a 2-core machine.
    pub fn full() -> Self {
        Self {
            preset: "article".to_owned(),
            strategies: Strategy::ALL.to_vec(),
            instances: 3,
            balancer: "builtin".to_owned(),
            users: 32,
            cart_items: 2,
            run: Duration::from_secs(75),
            kill_at: Some(0.12),
            restart_at: Some(0.22),
            store_stop_at: Some(0.30),
            store_stop: Duration::from_secs(2),
            store_partition_at: Some(0.40),
            gateway_partition_at: Some(0.52),
            partition: Duration::from_secs(2),
            slow_store_at: Some(0.64),
            // Above the instances' 500 ms store timeout for a round trip.
            slow_store_delay: Duration::from_millis(300),
            overload_at: Some(0.75),
            overload_delay: Duration::from_millis(20),
            overload: Duration::from_secs(3),
            rolling_restart_at: None,
            revoke_at: Some(0.90),
            revocation_probes: 30,
            overhead_requests: 2_000,
            capacity_sessions: 100_000,
            token_logins: 100_000,
            store_rtts: [0, 500, 2_000, 10_000]
                .into_iter()
                .map(Duration::from_micros)
                .collect(),
            distance_run: Duration::from_secs(6),
            distance_overhead_requests: 400,
            // A failover takes 3-5 s here (2 s to be declared down, the
            // vote, a replica in step with the new primary): the load runs
            // well past it.
            failover_run: Duration::from_secs(16),
            failover_at: 0.3,
            failover: true,
        }
    }

    /// Leaves every fault out.
    pub(crate) fn clear_faults(&mut self) {
        for fault in [
            Fault::Kill,
            Fault::StoreStop,
            Fault::StorePartition,
            Fault::GatewayPartition,
            Fault::SlowStore,
            Fault::Overload,
            Fault::RollingRestart,
            Fault::Logout,
        ] {
            self.set_fault(fault, None);
        }
    }

    /// Strikes with `fault` at `at` (a fraction of the run), or not at all.
    pub(crate) fn set_fault(&mut self, fault: Fault, at: Option<f64>) {
        match fault {
            Fault::Kill => {
                self.kill_at = at;
                // Started again a tenth of the run later.
                self.restart_at = at.map(|at| (at + 0.10).min(0.97));
            }
            Fault::StoreStop => self.store_stop_at = at,
            Fault::StorePartition => self.store_partition_at = at,
            Fault::GatewayPartition => self.gateway_partition_at = at,
            Fault::SlowStore => self.slow_store_at = at,
            Fault::Overload => self.overload_at = at,
            Fault::RollingRestart => self.rolling_restart_at = at,
            Fault::Logout => self.revoke_at = at,
        }
    }

    /// The faults the plan strikes with, by name, in the order of their
    /// moments.
    #[must_use]
    pub fn faults(&self) -> Vec<&'static str> {
        let mut all: Vec<(f64, &'static str)> = [
            (self.kill_at, "an instance killed and restarted"),
            (self.store_stop_at, "the shared store stopped"),
            (
                self.store_partition_at,
                "one instance cut off from the store",
            ),
            (
                self.gateway_partition_at,
                "the balancer cut off from one instance",
            ),
            (self.slow_store_at, "a slow store"),
            (self.overload_at, "an overloaded instance"),
            (self.rolling_restart_at, "a rolling restart"),
            (
                self.revoke_at,
                "a user logged out who keeps using the credential",
            ),
        ]
        .into_iter()
        .filter_map(|(at, what)| Some((at?, what)))
        .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all.into_iter().map(|(_, what)| what).collect()
    }

    /// Seconds from the start of the load to a moment given as a fraction.
    pub(crate) fn at(&self, fraction: f64) -> Duration {
        self.run.mul_f64(fraction)
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn all_millis<S: serde::Serializer>(all: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(all.iter().map(|d| d.as_secs_f64() * 1e3))
}

/// A fault the schedule can strike with, and at what fraction of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fault {
    /// One instance SIGKILLed, started again a tenth of the run later.
    Kill,
    /// The shared store refuses everyone for a while.
    StoreStop,
    /// One instance cut off from the store (a blackhole).
    StorePartition,
    /// The gateway cut off from one instance (the process keeps running).
    GatewayPartition,
    /// The store answers later than the instances' store timeout.
    SlowStore,
    /// One instance answers slowly.
    Overload,
    /// Every instance drained, its sessions handed over, stopped and
    /// started again, one after another: a deploy.
    RollingRestart,
    /// A user logs out and a copy of their credential is tried again.
    Logout,
}

impl Fault {
    /// Its name in a spec (`storeStop`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::StoreStop => "storeStop",
            Self::StorePartition => "storePartition",
            Self::GatewayPartition => "gatewayPartition",
            Self::SlowStore => "slowStore",
            Self::Overload => "overload",
            Self::RollingRestart => "rollingRestart",
            Self::Logout => "logout",
        }
    }

    /// Its kind in the results (`store-stop`).
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::StoreStop => "store-stop",
            Self::StorePartition => "store-partition",
            Self::GatewayPartition => "gateway-partition",
            Self::SlowStore => "slow-store",
            Self::Overload => "overload",
            Self::RollingRestart => "rolling-restart",
            Self::Logout => "logout",
        }
    }
}
