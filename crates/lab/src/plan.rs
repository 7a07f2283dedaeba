//! How long each strategy runs, with how many users, and when the faults
//! strike: the same plan for every strategy, so their figures compare.

use std::time::Duration;

use serde::Serialize;

/// The schedule of one lab run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Simulated users, each a sequential client.
    pub users: usize,
    /// How long the load runs per strategy.
    #[serde(serialize_with = "seconds")]
    pub run: Duration,
    /// When an instance is killed (SIGKILL), as a fraction of `run`.
    pub kill_at: f64,
    /// When it is started again.
    pub restart_at: f64,
    /// When the shared store is stopped (where a strategy uses it).
    pub store_stop_at: f64,
    /// For how long it stays stopped.
    #[serde(serialize_with = "seconds")]
    pub store_stop: Duration,
    /// When a user logs out and keeps using their credential.
    pub revoke_at: f64,
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
}

impl Plan {
    /// About 80 seconds on a 2-core machine.
    pub fn quick() -> Self {
        Self {
            users: 16,
            run: Duration::from_secs(15),
            store_stop: Duration::from_secs(1),
            revocation_probes: 12,
            overhead_requests: 300,
            token_logins: 20_000,
            ..Self::full()
        }
    }

    /// About 6 minutes on a 2-core machine.
    pub fn full() -> Self {
        Self {
            users: 32,
            run: Duration::from_secs(75),
            kill_at: 0.30,
            restart_at: 0.50,
            store_stop_at: 0.65,
            store_stop: Duration::from_secs(2),
            revoke_at: 0.80,
            revocation_probes: 30,
            overhead_requests: 2_000,
            capacity_sessions: 100_000,
            token_logins: 100_000,
        }
    }

    /// Seconds from the start of the load to a moment given as a fraction.
    pub(crate) fn at(&self, fraction: f64) -> Duration {
        self.run.mul_f64(fraction)
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
