//! `results.json`: every figure of a lab run (schema in docs/lab.md).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::measure::{Overhead, TokenCost};
use crate::plan::Plan;
use crate::revocation::Revocation;
use crate::strategy::Strategy;

/// A whole lab run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabResults {
    /// Version of this document's shape.
    pub schema: u32,
    /// The run's id (its directory under the history).
    pub id: String,
    /// Whether this ran the quick plan's lengths.
    pub quick: bool,
    /// When the run started, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// Wall time of the whole run, seconds.
    pub total_seconds: f64,
    /// CPU cores the machine offered.
    pub cores: usize,
    /// What the shared store was.
    pub shared_store: String,
    /// How the parts were joined: each instance in its own network
    /// namespace, or links on loopback.
    pub network: crate::Network,
    /// The deployment driven (`--target`), when the lab started none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetReport>,
    /// The schedule every strategy ran.
    pub plan: Plan,
    /// One entry per strategy, in the plan's order.
    pub strategies: Vec<StrategyResult>,
    /// The distance phase: each strategy that touches the store (and the
    /// sticky one as the reference) at each round-trip time to it.
    pub distance: Vec<DistancePoint>,
    /// The failover phase: the shared store on a replicated Redis, its
    /// primary killed under load, with each durability.
    pub failover: Vec<FailoverPoint>,
    /// Why the failover phase did not run, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_skipped: Option<String>,
    /// What the run shows, in plain sentences computed from the figures
    /// (the report and the `/lab` page open with them).
    pub findings: Vec<String>,
}

/// Latency figures, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Answers measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1e3;
        Self {
            count: h.len(),
            mean: h.mean() / 1e3,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Latency at one percentile, for the distribution chart.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PercentilePoint {
    /// The percentile (50, 90, 99.9, …).
    pub percentile: f64,
    /// Milliseconds.
    pub ms: f64,
}

/// The percentiles the distribution chart shows.
pub(crate) const PERCENTILES: [f64; 8] = [50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 100.0];

/// One half-second of the run.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelinePoint {
    /// Seconds from the start of the load to the start of this bucket.
    pub t: f64,
    /// Answers to requests sent in it.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
    /// Of those, `SESSION_MISSING` or `SESSION_LOST`.
    pub session_errors: u64,
}

/// A deployment the lab drove without starting it (`--target`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    /// Its base URL.
    pub url: String,
    /// Why the faults but the logout were skipped (`None`: its control API
    /// took them).
    pub uncontrolled: Option<String>,
}

/// A fault as it was injected.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultOutcome {
    /// `kill`, `restart`, `store-stop`, `store-partition`,
    /// `gateway-partition`, `slow-store`, `overload` or `logout`.
    pub kind: String,
    /// Seconds from the start of the load.
    pub at_seconds: f64,
    /// What was done (or why nothing was).
    pub detail: String,
    /// The instance it struck, when it struck one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// How long it lasted, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Seconds from the fault until the gateway took the instance out of
    /// rotation (`None`: it never did while the fault lasted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected_seconds: Option<f64>,
    /// For a restart: seconds until the gateway saw every instance healthy;
    /// for a network fault: from its end until the instance was back in
    /// rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered_seconds: Option<f64>,
    /// What the users saw while it lasted and for two seconds after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<FaultWindow>,
    /// Not injected (`detail` says why): a deployment the lab did not
    /// start, without a control API it may use, or a control call that
    /// failed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

impl FaultOutcome {
    /// A fault of `kind` at `at_seconds`.
    pub(crate) fn new(kind: &str, at_seconds: f64, detail: String) -> Self {
        Self {
            kind: kind.to_owned(),
            at_seconds,
            detail,
            instance: None,
            duration_seconds: None,
            detected_seconds: None,
            recovered_seconds: None,
            window: None,
            skipped: false,
        }
    }

    /// Marked not injected unless `injected` (its control call failed: it
    /// must not be read as a fault survived).
    pub(crate) fn injected(self, injected: bool) -> Self {
        Self {
            skipped: self.skipped || !injected,
            ..self
        }
    }

    /// A fault of `kind` planned at `at_seconds` and not injected: `why`.
    pub(crate) fn skipped(kind: &str, at_seconds: f64, why: &str) -> Self {
        Self {
            skipped: true,
            ..Self::new(kind, at_seconds, format!("skipped: {why}"))
        }
    }

    /// It struck `instance`.
    pub(crate) fn on(mut self, instance: &str) -> Self {
        self.instance = Some(instance.to_owned());
        self
    }

    /// It lasted `span`.
    pub(crate) fn lasting(mut self, span: std::time::Duration) -> Self {
        self.duration_seconds = Some(span.as_secs_f64());
        self
    }
}

/// The answers of a fault's window.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultWindow {
    /// Answers in the window.
    pub requests: u64,
    /// Error answers in it, by code.
    pub errors: BTreeMap<String, u64>,
    /// Answers of the struck instance in it.
    pub instance_requests: u64,
    /// The struck instance's 99th-percentile latency in it, milliseconds.
    pub instance_p99_ms: f64,
    /// Its slowest answer in it, milliseconds.
    pub instance_max_ms: f64,
    /// What that answer was: the operation, and its error code if any
    /// (`login: STORE_UNAVAILABLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_slowest: Option<String>,
}

/// One half-second of one instance.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstancePoint {
    /// Seconds from the start of the load.
    pub t: f64,
    /// Answers it gave.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
    /// Their 99th-percentile latency, milliseconds (0 with no answer).
    pub p99_ms: f64,
}

/// Retries of the simulated users.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retries {
    /// Safe requests sent again after a transient error.
    pub retries: u64,
    /// Keyed retries answered with the first attempt's result: writes
    /// that had been applied despite their error, not applied twice.
    pub duplicates_prevented: u64,
    /// Requests that still failed after their retries, by code.
    pub errors_left_to_user: BTreeMap<String, u64>,
}

/// One strategy at one distance between its instances and the store.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DistancePoint {
    /// Which strategy.
    pub strategy: Strategy,
    /// The round-trip time added between every instance and the store.
    pub rtt_ms: f64,
    /// Answers per second at the plan's users.
    pub requests_per_second: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// `T_stateful − T_stateless` at this distance (`None`: not measured).
    pub overhead_ms: Option<f64>,
    /// Error answers during the load.
    pub errors: u64,
}

/// One durability in the failover phase.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailoverPoint {
    /// `shared-store-replicated`: sessions in a Redis primary with two
    /// replicas, found through three sentinels.
    pub strategy: String,
    /// `fast` (acknowledged once the primary has it) or `replicated`
    /// (once one replica confirmed it too).
    pub durability: String,
    /// Increments answered per second before the kill.
    pub requests_per_second: f64,
    /// Median answer time before the kill.
    pub p50_ms: f64,
    /// 99th percentile before the kill.
    pub p99_ms: f64,
    /// Increments acknowledged in the whole phase.
    pub writes_acknowledged: u64,
    /// Acknowledged increments the store no longer held afterwards.
    pub writes_lost: u64,
    /// Users whose session was gone.
    pub sessions_lost: u64,
    /// From the kill to the first write sent after it being acknowledged
    /// (`None`: none was).
    pub failover_seconds: Option<f64>,
    /// Error answers (writes refused while there was no primary).
    pub errors: u64,
}

/// The named counter every user incremented, as each instance reports it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterDrift {
    /// The counter's name.
    pub name: String,
    /// Each reachable instance's value.
    pub per_server: BTreeMap<String, u64>,
    /// Every reachable instance reports the same value.
    pub consistent: bool,
    /// Largest minus smallest value.
    pub drift: u64,
}

/// Memory for session state.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Bytes one session (a counter and the plan's cart) takes on the
    /// server side; for tokens, the refresh rows one login keeps there.
    pub server_bytes_per_session: u64,
    /// How that was found.
    pub method: String,
    /// Server bytes for 10,000 sessions (M_total = N × S).
    pub projected_10k: u64,
    /// Server bytes for 1,000,000 sessions.
    pub projected_1m: u64,
    /// Bytes the client holds for its identity and state (cookie header, or
    /// bearer token and signed state), averaged over visits.
    pub client_bytes_per_session: f64,
    /// For tokens: what a login and a logout leave on the server, measured.
    pub token_cost: Option<TokenCost>,
}

/// Bytes a request carries.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wire {
    /// Credential header values (`Cookie` or `Authorization`), per request.
    pub credential_bytes_per_request: f64,
    /// Request bodies, per request.
    pub body_bytes_per_request: f64,
}

/// Everything measured for one strategy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyResult {
    /// Which strategy.
    pub strategy: Strategy,
    /// Its name for a person.
    pub title: String,
    /// Where the instances kept sessions (and the denylist).
    pub session_store: String,
    /// The gateway's policy.
    pub balance: String,
    /// `session` (cookie) or `token` (bearer) logins.
    pub auth: String,
    /// Answers received during the load.
    pub requests: u64,
    /// Answers per second.
    pub requests_per_second: f64,
    /// Journeys (log in if needed, count ×3, cart ×2, profile, checkout)
    /// completed without an error.
    pub visits: u64,
    /// Journeys per second.
    pub visits_per_second: f64,
    /// Over all answers.
    pub latency_ms: Latency,
    /// Per operation (login, count, cart, profile, checkout, confirm, …).
    pub latency_by_operation: BTreeMap<String, Latency>,
    /// The distribution, for the chart.
    pub percentiles: Vec<PercentilePoint>,
    /// Error answers by code (API.md codes; `CONNECTION_FAILED` and
    /// `CLIENT_TIMEOUT` when no answer came).
    pub errors: BTreeMap<String, u64>,
    /// The same, per operation.
    pub errors_by_operation: BTreeMap<String, BTreeMap<String, u64>>,
    /// `SESSION_MISSING` + `SESSION_LOST` answers: each one a session the
    /// server lost or never had, and a user sent back to log in.
    pub sessions_lost: u64,
    /// Of those, before the first fault (the instance kill).
    pub sessions_lost_before_kill: u64,
    /// When the first one came, seconds from the start.
    pub first_session_error_seconds: Option<f64>,
    /// Count answers lower than the client's last one with no error between:
    /// state lost without anyone being told. Must be 0 everywhere.
    pub silent_state_losses: u64,
    /// Count answers higher than expected: an increment answered with an
    /// error (a store timeout) that the store applied after all — a timeout
    /// says nothing about whether a write happened.
    pub applied_despite_error: u64,
    /// The logout probe.
    pub revocation: Option<Revocation>,
    /// The named counter across instances.
    pub counter: CounterDrift,
    /// Bytes per session, projected.
    pub memory: Memory,
    /// Bytes on the wire.
    pub wire: Wire,
    /// `T_stateful − T_stateless`.
    pub overhead: Option<Overhead>,
    /// The faults as injected.
    pub faults: Vec<FaultOutcome>,
    /// Requests and errors per half second.
    pub timeline: Vec<TimelinePoint>,
    /// Per instance (and `none`: no instance answered), per half second.
    pub instance_timeline: BTreeMap<String, Vec<InstancePoint>>,
    /// The users' retries.
    pub retries: Retries,
    /// Measurements that could not be taken, and why.
    pub notes: Vec<String>,
}
