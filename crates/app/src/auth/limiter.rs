//! The login rate limit: more than [`MAX_FAILURES`] failed logins for one user
//! name from one client address within [`WINDOW`] → `429` until the oldest
//! failure leaves the window. Successes do not count.
//!
//! Written here rather than taken from a rate-limiting crate: those count every
//! request that is checked, while this must count only failures and still
//! refuse the next attempt before its password is verified (so a blocked
//! attacker also stops costing Argon2 time).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per window.
pub(crate) const MAX_FAILURES: usize = 5;
/// The sliding window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked at most; past it, keys whose failures have all aged out go,
/// then the oldest half.
const MAX_KEYS: usize = 100_000;

type Key = (String, IpAddr);

/// Failed logins per (user name, client address).
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` if `user` from `client` is blocked now.
    pub(crate) fn check(&self, user: &str, client: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(&(user.to_ascii_lowercase(), client)) else {
            return Ok(());
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() < MAX_FAILURES {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        let wait = WINDOW.saturating_sub(now.duration_since(oldest));
        Err(wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Records a failed login.
    pub(crate) fn failed(&self, user: &str, client: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
            if failures.len() >= MAX_KEYS {
                let mut by_age: Vec<_> = failures
                    .iter()
                    .map(|(k, t)| (t.back().copied(), k.clone()))
                    .collect();
                by_age.sort_by_key(|(t, _)| *t);
                for (_, key) in by_age.into_iter().take(MAX_KEYS / 2) {
                    failures.remove(&key);
                }
            }
        }
        let times = failures
            .entry((user.to_ascii_lowercase(), client))
            .or_default();
        times.push_back(now);
        // Only the newest MAX_FAILURES matter.
        while times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_attempt_after_five_failures_is_refused_per_user_and_address() {
        let limiter = LoginLimiter::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert_eq!(limiter.check("alice", a), Ok(()));
            limiter.failed("Alice", a);
        }
        let wait = limiter.check("ALICE", a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another address, another user: unaffected.
        assert_eq!(limiter.check("alice", b), Ok(()));
        assert_eq!(limiter.check("bob", a), Ok(()));
    }
}
