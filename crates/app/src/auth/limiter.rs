//! The login rate limit: more than [`MAX_FAILURES`] failed logins for one user
//! name from one client address within [`WINDOW`] → `429` until the oldest
//! failure leaves the window. Successes do not count.
//!
//! An attempt is counted *before* its password is verified: it reserves a
//! place, which a failure keeps and a success gives back. Checking and
//! counting as two steps let 20 parallel guesses all be verified (the check
//! of each ran before any failure was counted); now N parallel attempts
//! never verify more than the limit.
//!
//! Written here rather than taken from a rate-limiting crate: those count every
//! request that is checked, while this must count only failures and still
//! refuse the next attempt before its password is verified (so a blocked
//! attacker also stops costing Argon2 time).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Failures allowed per window.
pub(crate) const MAX_FAILURES: usize = 5;
/// The sliding window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked at most; past it, keys whose failures have all aged out go,
/// then the oldest half.
const MAX_KEYS: usize = 100_000;

type Key = (String, IpAddr);

/// The name registrations are counted under, per client address: no user
/// name can be it (they are `[a-z0-9_.-]`).
pub(crate) const REGISTRATIONS: &str = "\0registrations";

/// One key's failures in the window and its attempts under way.
#[derive(Debug, Default)]
struct Tally {
    failures: VecDeque<Instant>,
    pending: usize,
}

/// Failed attempts per (name, client address): logins per user name, and
/// registrations refused for a taken name (keyed by address alone).
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    tallies: Mutex<HashMap<Key, Tally>>,
}

/// An attempt that holds a place in the limit until it is settled: a
/// failure keeps the place for the window, a success (or an attempt given
/// up, when dropped) gives it back.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    key: Option<Key>,
}

impl Attempt<'_> {
    /// The attempt failed: it counts for the window.
    pub(crate) fn failed(mut self) {
        if let Some(key) = self.key.take() {
            let now = Instant::now();
            let mut tallies = self.limiter.lock();
            let tally = tallies.entry(key).or_default();
            tally.pending = tally.pending.saturating_sub(1);
            tally.failures.push_back(now);
            // Only the newest MAX_FAILURES matter.
            while tally.failures.len() > MAX_FAILURES {
                tally.failures.pop_front();
            }
        }
    }

    /// The attempt succeeded: its place is given back.
    pub(crate) fn succeeded(self) {}
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut tallies = self.limiter.lock();
            if let Some(tally) = tallies.get_mut(&key) {
                tally.pending = tally.pending.saturating_sub(1);
                if tally.pending == 0 && tally.failures.is_empty() {
                    tallies.remove(&key);
                }
            }
        }
    }
}

impl LoginLimiter {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Tally>> {
        self.tallies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(seconds to wait)` when an attempt by `name` from `client` would
    /// be refused now.
    pub(crate) fn check(&self, name: &str, client: IpAddr) -> Result<(), u64> {
        self.reserve(name, client).map(drop)
    }

    /// Reserves a place for an attempt by `name` from `client`, or
    /// `Err(seconds to wait)` when failures and attempts under way already
    /// fill the limit.
    pub(crate) fn reserve(&self, name: &str, client: IpAddr) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let key = (name.to_ascii_lowercase(), network_of(client));
        let mut tallies = self.lock();
        if tallies.len() >= MAX_KEYS && !tallies.contains_key(&key) {
            make_room(&mut tallies, now);
        }
        let tally = tallies.entry(key.clone()).or_default();
        while tally
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            tally.failures.pop_front();
        }
        if tally.failures.len() + tally.pending >= MAX_FAILURES {
            // Attempts under way free their places within a second or so.
            let wait = tally
                .failures
                .front()
                .map_or(Duration::from_secs(1), |oldest| {
                    WINDOW.saturating_sub(now.duration_since(*oldest))
                });
            return Err(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        tally.pending += 1;
        Ok(Attempt {
            limiter: self,
            key: Some(key),
        })
    }
}

/// The address a client is counted under: an IPv6 client by its /64 (one
/// host commonly holds a whole /64 and could take a fresh address per
/// attempt), an IPv4-mapped one as the IPv4 address it is.
fn network_of(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
        },
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Drops keys whose failures have all aged out and that have nothing under
/// way, then, if still full, the oldest half of the idle ones.
fn make_room(tallies: &mut HashMap<Key, Tally>, now: Instant) {
    tallies.retain(|_, t| {
        t.pending > 0
            || t.failures
                .back()
                .is_some_and(|at| now.duration_since(*at) < WINDOW)
    });
    if tallies.len() >= MAX_KEYS {
        let mut by_age: Vec<_> = (tallies.iter())
            .filter(|(_, t)| t.pending == 0)
            .map(|(k, t)| (t.failures.back().copied(), k.clone()))
            .collect();
        by_age.sort_by_key(|(t, _)| *t);
        for (_, key) in by_age.into_iter().take(MAX_KEYS / 2) {
            tallies.remove(&key);
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
            limiter.reserve("Alice", a).unwrap().failed();
        }
        let wait = limiter.reserve("ALICE", a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another address, another user: unaffected.
        assert!(limiter.reserve("alice", b).is_ok());
        assert!(limiter.reserve("bob", a).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_one_as_ipv4() {
        let limiter = LoginLimiter::default();
        for n in 0..MAX_FAILURES {
            let rotating: IpAddr = format!("2001:db8:1:2::{:x}", n + 1).parse().unwrap();
            limiter.reserve("alice", rotating).unwrap().failed();
        }
        let next: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(
            limiter.reserve("alice", next).is_err(),
            "a fresh address of the same /64"
        );
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.reserve("alice", other).is_ok());
        for _ in 0..MAX_FAILURES {
            limiter
                .reserve("bob", "10.0.0.9".parse().unwrap())
                .unwrap()
                .failed();
        }
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert!(limiter.reserve("bob", mapped).is_err());
    }

    #[test]
    fn attempts_under_way_hold_their_places_and_successes_give_them_back() {
        let limiter = LoginLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        // Twenty at once: five are let through to verify, fifteen refused.
        let attempts: Vec<_> = (0..20).map(|_| limiter.reserve("alice", a)).collect();
        assert_eq!(attempts.iter().filter(|r| r.is_ok()).count(), MAX_FAILURES);
        drop(attempts);
        // Successes (and attempts given up) leave nothing behind.
        for _ in 0..20 {
            limiter.reserve("alice", a).unwrap().succeeded();
        }
        assert!(limiter.lock().is_empty());
        limiter.reserve("alice", a).unwrap().failed();
        let held: Vec<_> = (0..MAX_FAILURES)
            .map(|_| limiter.reserve("alice", a))
            .collect();
        assert_eq!(held.iter().filter(|r| r.is_ok()).count(), MAX_FAILURES - 1);
    }
}
