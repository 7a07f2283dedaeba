//! What a run is asked for: a preset and the figures that change it
//! (strategies, users, duration, instances, the faults and their moments,
//! store distances, session size, the shared store), from `statecraft lab
//! --preset/--spec` or `POST /lab/runs`. Checked here, once, whoever asks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::plan::Fault;
use crate::plan::Plan;
use crate::strategy::Strategy;

/// Most simulated users a run may ask for (each a client task).
pub(crate) const MAX_USERS: usize = 256;
/// Longest load per strategy, seconds.
pub(crate) const MAX_DURATION_SECONDS: f64 = 600.0;
/// Shortest load per strategy, seconds (a fault needs room to act).
pub(crate) const MIN_DURATION_SECONDS: f64 = 3.0;
/// Most instances per cluster.
pub(crate) const MAX_INSTANCES: usize = 8;
/// Most distances in one run.
pub(crate) const MAX_RTTS: usize = 6;
/// The balancers a run can put in front of its instances.
const BALANCERS: [&str; 3] = ["builtin", "haproxy", "nginx"];
/// Most products in a cart (the store's own limit).
pub(crate) const MAX_CART_ITEMS: usize = 100;

/// The shared store of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StoreChoice {
    /// A redis-server the lab starts and stops (a SQLite file where none
    /// is installed).
    Embedded,
    /// A Redis of the caller's, by URL (kept out of argv, logs and the
    /// run's files: they show it without its password).
    Url(String),
}

/// A run as asked for: a preset, and any figure given beside it changes
/// it. Unknown fields are refused, so a typo is not silently ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSpec {
    /// A preset's id ([`Preset::ALL`]); `article` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The full schedule's lengths (about 7 minutes) instead of the quick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<bool>,
    /// The strategies to run, in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategies: Option<Vec<Strategy>>,
    /// Simulated users, 1 to [`MAX_USERS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<usize>,
    /// Seconds of load per strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Instances per cluster, 2 to [`MAX_INSTANCES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<usize>,
    /// The balancer in front of them: `builtin`, `haproxy` or `nginx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<String>,
    /// Each fault and its moment as a fraction of the load (0.05-0.95); a
    /// fault given `null` is left out, one not named keeps the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<BTreeMap<Fault, Option<f64>>>,
    /// Round-trip times to the store for the distance phase, ms (none:
    /// no distance phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_rtt_ms: Option<Vec<f64>>,
    /// Products each user's cart holds before checking out (the session's
    /// size), 1 to [`MAX_CART_ITEMS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_items: Option<usize>,
    /// The shared store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreChoice>,
    /// The replicated store's failover phase after the strategies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<bool>,
}

/// A named run for a first-time reader: one click, a meaningful result.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preset {
    /// Its id (`"preset"` in a spec).
    pub id: &'static str,
    /// Its name for a person.
    pub title: &'static str,
    /// What it shows, in a sentence.
    pub description: &'static str,
}

impl Preset {
    /// Every preset, the default first.
    pub const ALL: [Self; 5] = [
        Self {
            id: "article",
            title: "The article's four strategies",
            description: "In-memory round-robin and sticky, a shared store, stateless tokens: \
                          the same load, an instance killed, the store stopped, partitions, a \
                          slow store, an overloaded instance, a logout; the store at 0 and 2 ms; \
                          the replicated store's failover (about 2.5 minutes).",
        },
        Self {
            id: "another-zone",
            title: "Store in another zone",
            description: "The strategies that reach a store, with it on loopback and 0.5, 2 and \
                          5 ms away: what each millisecond of distance costs a request (about \
                          1.5 minutes).",
        },
        Self {
            id: "rolling-restart",
            title: "Rolling restart",
            description: "A deploy: every instance drained, its sessions handed over, stopped \
                          and started again in turn, under load: who notices (about 1.5 minutes).",
        },
        Self {
            id: "big-sessions",
            title: "Big sessions",
            description: "Carts of 60 products: what a session's size costs the store, the wire \
                          and the tokens that carry it (about 1.5 minutes).",
        },
        Self {
            id: "glance",
            title: "A glance",
            description: "The shared store alone for ten seconds, an instance killed: a first \
                          look at the live figures (about 30 seconds).",
        },
    ];

    /// The spec it stands for (every figure its own).
    fn spec(self) -> RunSpec {
        let no_faults = || Some(BTreeMap::new());
        match self.id {
            "another-zone" => RunSpec {
                strategies: Some(vec![
                    Strategy::MemorySticky,
                    Strategy::SharedStore,
                    Strategy::StatelessTokens,
                ]),
                duration_seconds: Some(12.0),
                faults: no_faults(),
                store_rtt_ms: Some(vec![0.0, 0.5, 2.0, 5.0]),
                failover: Some(false),
                ..RunSpec::default()
            },
            "rolling-restart" => RunSpec {
                duration_seconds: Some(20.0),
                faults: Some(BTreeMap::from([(Fault::RollingRestart, Some(0.2))])),
                store_rtt_ms: Some(Vec::new()),
                failover: Some(false),
                ..RunSpec::default()
            },
            "big-sessions" => RunSpec {
                duration_seconds: Some(15.0),
                faults: no_faults(),
                store_rtt_ms: Some(Vec::new()),
                cart_items: Some(60),
                failover: Some(false),
                ..RunSpec::default()
            },
            "glance" => RunSpec {
                strategies: Some(vec![Strategy::SharedStore]),
                users: Some(8),
                duration_seconds: Some(10.0),
                faults: Some(BTreeMap::from([(Fault::Kill, Some(0.3))])),
                store_rtt_ms: Some(Vec::new()),
                failover: Some(false),
                ..RunSpec::default()
            },
            // "article": the plan as it stands.
            _ => RunSpec::default(),
        }
    }
}

impl RunSpec {
    /// The spec of the preset `id`.
    #[must_use]
    pub fn preset(id: &str) -> Self {
        Self {
            preset: Some(id.to_owned()),
            ..Self::default()
        }
    }

    /// The plan this spec asks for, or what is wrong with it (a sentence
    /// naming the field and what it takes).
    ///
    /// # Errors
    /// A field out of its range, an unknown preset or strategy list.
    pub fn plan(&self) -> Result<Plan, String> {
        let preset_id = self.preset.as_deref().unwrap_or("article");
        let preset = Preset::ALL
            .into_iter()
            .find(|p| p.id == preset_id)
            .ok_or_else(|| {
                let known: Vec<&str> = Preset::ALL.iter().map(|p| p.id).collect();
                format!(
                    "preset: no preset {preset_id:?} (known: {})",
                    known.join(", ")
                )
            })?;
        let base = preset.spec();
        let mut plan = if pick(&self.full, &base.full).unwrap_or(false) {
            Plan::full()
        } else {
            Plan::quick()
        };
        plan.preset = preset.id.to_owned();
        if let Some(strategies) = pick(&self.strategies, &base.strategies) {
            if strategies.is_empty() {
                return Err("strategies: name at least one".to_owned());
            }
            let mut seen = Vec::new();
            for s in strategies {
                if seen.contains(&s) {
                    return Err(format!("strategies: {} is named twice", s.id()));
                }
                seen.push(s);
            }
            plan.strategies = seen;
        }
        if let Some(users) = pick(&self.users, &base.users) {
            within("users", users as f64, 1.0, MAX_USERS as f64)?;
            plan.users = users;
        }
        if let Some(seconds) = pick(&self.duration_seconds, &base.duration_seconds) {
            within(
                "durationSeconds",
                seconds,
                MIN_DURATION_SECONDS,
                MAX_DURATION_SECONDS,
            )?;
            plan.run = Duration::from_secs_f64(seconds);
        }
        if let Some(instances) = pick(&self.instances, &base.instances) {
            within("instances", instances as f64, 2.0, MAX_INSTANCES as f64)?;
            plan.instances = instances;
        }
        if let Some(balancer) = pick(&self.balancer, &base.balancer) {
            if !BALANCERS.contains(&balancer.as_str()) {
                return Err(format!(
                    "balancer: {balancer:?} is none of {}",
                    BALANCERS.join(", ")
                ));
            }
            plan.balancer = balancer;
        }
        // A preset that names faults names all of its own; the caller's
        // then change those they name (`null`: left out).
        if base.faults.is_some() {
            plan.clear_faults();
        }
        for faults in [&base.faults, &self.faults].into_iter().flatten() {
            for (&fault, &at) in faults {
                if let Some(at) = at {
                    within(&format!("faults.{}", fault.name()), at, 0.05, 0.95)?;
                }
                plan.set_fault(fault, at);
            }
        }
        if let Some(rtts) = pick(&self.store_rtt_ms, &base.store_rtt_ms) {
            if rtts.len() > MAX_RTTS {
                return Err(format!("storeRttMs: at most {MAX_RTTS} distances"));
            }
            for &ms in &rtts {
                within("storeRttMs", ms, 0.0, 1000.0)?;
            }
            plan.store_rtts = rtts
                .iter()
                .map(|ms| Duration::from_secs_f64(ms / 1e3))
                .collect();
        }
        if let Some(items) = pick(&self.cart_items, &base.cart_items) {
            within("cartItems", items as f64, 1.0, MAX_CART_ITEMS as f64)?;
            plan.cart_items = items;
        }
        if let Some(failover) = pick(&self.failover, &base.failover) {
            plan.failover = failover;
        }
        Ok(plan)
    }

    /// The shared store asked for (embedded when not given).
    #[must_use]
    pub fn store(&self) -> StoreChoice {
        self.store.clone().unwrap_or(StoreChoice::Embedded)
    }

    /// This spec as it may be shown and kept: a store URL without its
    /// password.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        if let Some(StoreChoice::Url(url)) = &mut shown.store {
            *url = redact_url(url);
        }
        shown
    }
}

/// `url` with any password replaced by `***`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => "(not a URL)".to_owned(),
    }
}

/// The caller's figure, else the preset's.
fn pick<T: Clone>(mine: &Option<T>, preset: &Option<T>) -> Option<T> {
    mine.clone().or_else(|| preset.clone())
}

fn within(field: &str, value: f64, min: f64, max: f64) -> Result<(), String> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{field}: {value} is out of range ({min} to {max})"))
    }
}

#[cfg(test)]
mod tests;
