//! Time as the stores see it, injectable so that expiry is tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `d` in whole milliseconds, saturating (the unit every store keeps time in).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A monotonic clock: the time elapsed since some fixed origin.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since this clock's origin; never goes backwards.
    fn now(&self) -> Duration;

    /// The calendar time (ms since the Unix epoch) of a reading of this
    /// clock in ms: what a user is shown, and what other processes' stores
    /// understand. The default suits clocks whose origin is the epoch.
    fn unix_ms(&self, reading_ms: u64) -> u64 {
        reading_ms
    }

    /// This clock's reading (ms) at calendar time `unix_ms`; the inverse of
    /// [`Clock::unix_ms`], saturating at the origin.
    fn reading_ms(&self, unix_ms: u64) -> u64 {
        unix_ms
    }
}

/// How far before its creation a [`SystemClock`]'s origin lies, so that
/// moments before the process started are readings too: a session handed
/// over from an older instance keeps its age (its absolute expiry), where
/// a reading stopped at zero would have made it young again.
const HISTORY: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The real monotonic clock (origin: [`HISTORY`] before it was created),
/// which expiry uses so that a wall-clock step cannot end or prolong
/// sessions; its readings map to calendar time through the wall clock at
/// its creation.
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: Instant,
    /// The wall clock at `origin` less [`HISTORY`], in ms since the Unix
    /// epoch: the calendar time of reading 0.
    origin_unix_ms: u64,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            origin_unix_ms: millis(UnixClock.now()).saturating_sub(millis(HISTORY)),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        HISTORY + self.origin.elapsed()
    }

    fn unix_ms(&self, reading_ms: u64) -> u64 {
        self.origin_unix_ms.saturating_add(reading_ms)
    }

    fn reading_ms(&self, unix_ms: u64) -> u64 {
        unix_ms.saturating_sub(self.origin_unix_ms)
    }
}

/// Wall-clock time since the Unix epoch: the clock of stores that several
/// processes share (their times must agree), such as an SQLite file.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnixClock;

impl Clock for UnixClock {
    fn now(&self) -> Duration {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.millis.fetch_add(millis(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let clock = ManualClock::new();
        let other = clock.clone();
        assert_eq!(clock.now(), Duration::ZERO);
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), Duration::from_millis(1500));
    }

    #[test]
    fn system_clock_readings_map_to_calendar_time_and_back() {
        let clock = SystemClock::new();
        let now = millis(clock.now());
        let wall = millis(UnixClock.now());
        assert!(clock.unix_ms(now).abs_diff(wall) < 1000, "{wall}");
        assert_eq!(clock.reading_ms(clock.unix_ms(1234)), 1234);
        // A moment before the process started (a handed-over session's
        // creation) keeps its distance from now.
        let hour_ago = clock.reading_ms(wall - 3_600_000);
        assert!(
            (now - hour_ago).abs_diff(3_600_000) < 1000,
            "{now} {hour_ago}"
        );
    }

    #[test]
    fn system_clock_does_not_go_backwards() {
        let clock = SystemClock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }
}
