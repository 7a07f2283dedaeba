//! What the suite holds each fault to: the error codes it may cause (each at
//! most so many times), how soon its part must be back after the restart,
//! and no error at all outside the faults. `docs/reliability.md` quotes
//! these bounds, not one run's print.
//!
//! A fault's span runs from its crash to the next fault's crash (or the end
//! of the load): the part's downtime, its recovery and the 3 s of steady load
//! after it, where stragglers (an instance still reconnecting to a Redis the
//! probe already found back) land.

use std::collections::BTreeMap;

/// One fault's limits.
pub(crate) struct Bound {
    /// The fault's name, as the suite runs it.
    pub(crate) fault: &'static str,
    /// The codes it may cause in its span, each with the most allowed.
    pub(crate) allowed: &'static [(&'static str, u64)],
    /// The longest the part may take to be back after its restart, ms.
    pub(crate) recover_within_ms: u64,
}

/// Counts are bounded by the workers' pace: 3 cart workers (20 ms between
/// requests) and 3 order workers (100-200 ms after a failure) send at most
/// about 180 requests a second while everything fails, and a span is at most
/// 2 s down + its recovery + 3 s.
pub(crate) const BOUNDS: [Bound; 8] = [
    Bound {
        fault: "app instance (server-1)",
        // Only what was in flight on the killed instance: one per worker.
        allowed: &[("UPSTREAM_FAILED", 6)],
        recover_within_ms: 5_000,
    },
    Bound {
        fault: "gateway",
        // Nothing listens for 2 s: every request in that time finds no one.
        allowed: &[("CONNECTION", 1_000)],
        recover_within_ms: 3_000,
    },
    Bound {
        fault: "redis",
        // Sessions and counters refused fast and clearly; never a hang, a
        // lost session or an instance taken out of rotation.
        allowed: &[("STORE_UNAVAILABLE", 600)],
        recover_within_ms: 5_000,
    },
    Bound {
        fault: "postgresql",
        // Only what needs the services' database (checkout, orders).
        allowed: &[("STORE_UNAVAILABLE", 300)],
        recover_within_ms: 10_000,
    },
    Bound {
        fault: "nats-server (1 of 3)",
        // Orders go into the outbox meanwhile: no client sees the fault.
        // Back means an order placed then is confirmed through the events,
        // two hops (OrderCreated → inventory → StockReserved → orders): a
        // delivery that died with the server is redelivered after the
        // consumers' ack wait (10 s) on each hop, after JetStream's leader
        // election and the clients' reconnect. Measured 4-7.5 s idle, 17.5 s
        // and about 35 s with the machine loaded (2026-12-04).
        allowed: &[],
        recover_within_ms: 45_000,
    },
    Bound {
        fault: "redis partition (server-1)",
        // server-1's store calls time out (500 ms each): refused clearly,
        // never a hang; it leaves rotation, being unready. A write answered
        // STORE_UNAVAILABLE but held by the partition reaches Redis when it
        // heals, after the buyer has started over through server-2: a late
        // checkout step puts the buyer's next one out of order
        // (CHECKOUT_STEP_INVALID), a late `DELETE /cart` empties the cart
        // the buyer has just filled (CART_EMPTY at checkout). The rules
        // refuse the step, the checkout is abandoned, nothing is placed
        // twice and the ledger balances; the fence that would refuse a late
        // write in Redis itself is not built (docs/reliability.md).
        allowed: &[
            ("STORE_UNAVAILABLE", 600),
            ("CHECKOUT_STEP_INVALID", 3),
            ("CART_EMPTY", 3),
        ],
        recover_within_ms: 5_000,
    },
    Bound {
        fault: "postgresql partition (server-1)",
        allowed: &[("STORE_UNAVAILABLE", 300)],
        recover_within_ms: 10_000,
    },
    Bound {
        fault: "nats partition (server-1)",
        // Its orders wait in its outbox; no client sees the partition.
        allowed: &[],
        recover_within_ms: 45_000,
    },
];

/// At most this many checkouts may end with no certain answer (each retried
/// with its key for 40 s).
pub(crate) const MAX_UNRESOLVED: usize = 3;
/// At least this many orders must be accepted (a checkout flow that mostly
/// fails would otherwise pass a clean ledger); an idle 2-core machine
/// accepts about 3,900, a loaded CI machine about a third of that.
pub(crate) const MIN_ACCEPTED: usize = 300;

/// Errors by code in `[from, to)` ms of the run (answers `ok` left out).
pub(crate) fn errors_in(entries: &[(u64, String)], from: u64, to: u64) -> BTreeMap<&str, u64> {
    entries
        .iter()
        .filter(|(at, outcome)| (from..to).contains(at) && outcome != "ok")
        .fold(BTreeMap::new(), |mut by_code, (_, outcome)| {
            *by_code.entry(outcome.as_str()).or_default() += 1;
            by_code
        })
}

/// Every way `errors` (in the span of `bound`'s fault) and `recover_ms`
/// break the bound, as sentences; empty when it holds.
pub(crate) fn breaches(
    bound: &Bound,
    errors: &BTreeMap<&str, u64>,
    recover_ms: u64,
) -> Vec<String> {
    let mut found = Vec::new();
    for (code, &count) in errors {
        match bound.allowed.iter().find(|(allowed, _)| allowed == code) {
            None => found.push(format!(
                "{}: {count} {code} answers, a code this fault must not cause",
                bound.fault
            )),
            Some((_, most)) if count > *most => found.push(format!(
                "{}: {count} {code} answers, more than the {most} allowed",
                bound.fault
            )),
            Some(_) => {}
        }
    }
    if recover_ms > bound.recover_within_ms {
        found.push(format!(
            "{}: back {recover_ms} ms after its restart, later than the {} ms allowed",
            bound.fault, bound.recover_within_ms
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_not_allowed_too_many_answers_and_a_slow_recovery_each_breach() {
        let bound = &BOUNDS[0];
        let fine = BTreeMap::from([("UPSTREAM_FAILED", 1)]);
        assert!(breaches(bound, &fine, 300).is_empty());
        let too_many = BTreeMap::from([("UPSTREAM_FAILED", 7)]);
        assert_eq!(breaches(bound, &too_many, 300).len(), 1);
        let foreign = BTreeMap::from([("SESSION_MISSING", 1)]);
        assert_eq!(breaches(bound, &foreign, 300).len(), 1);
        assert_eq!(breaches(bound, &fine, 5_001).len(), 1);
    }
}
