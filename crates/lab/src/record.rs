//! What the load driver saw: every answer's latency (HDR histograms), errors
//! by code, and both over time in half-second buckets.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Width of one bucket of the timeline.
pub(crate) const BUCKET: Duration = Duration::from_millis(500);

/// Codes that mean the server lost (or never had) the client's session.
pub(crate) const SESSION_ERRORS: [&str; 2] = ["SESSION_MISSING", "SESSION_LOST"];

/// One bucket of the timeline.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bucket {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) session_errors: u64,
}

/// One bucket of one instance's timeline.
#[derive(Debug, Clone, Default)]
pub(crate) struct InstanceBucket {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Every answer's latency, microseconds (a few hundred a bucket).
    pub(crate) latencies: Vec<u32>,
    /// The slowest answer's latency (microseconds), what it was and the
    /// error it gave, if any: a fault's window names it.
    pub(crate) slowest: Option<(u32, &'static str, Option<String>)>,
}

/// The answers since the live feed last looked (half a second).
#[derive(Debug)]
pub(crate) struct Window {
    pub(crate) requests: u64,
    /// Microseconds.
    pub(crate) latency: Histogram<u64>,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) session_errors: u64,
}

impl Window {
    fn new() -> Self {
        Self {
            requests: 0,
            latency: histogram(),
            errors: BTreeMap::new(),
            session_errors: 0,
        }
    }
}

/// Everything recorded for one strategy.
#[derive(Debug)]
pub(crate) struct Tally {
    /// All answers, microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Per operation ("login", "count", …), microseconds.
    pub(crate) by_op: BTreeMap<&'static str, Histogram<u64>>,
    pub(crate) requests: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    /// Error codes per operation.
    pub(crate) errors_by_op: BTreeMap<&'static str, BTreeMap<String, u64>>,
    pub(crate) timeline: Vec<Bucket>,
    /// When each session error was answered, seconds from the start.
    pub(crate) session_error_times: Vec<f64>,
    /// Visits (login-to-checkout journeys) completed.
    pub(crate) visits: u64,
    /// Counts that went back or stood still without an error answer: state
    /// lost silently.
    pub(crate) silent_losses: u64,
    /// Counts that jumped ahead: an increment answered with an error (a store
    /// timeout) that the store applied anyway.
    pub(crate) applied_despite_error: u64,
    /// Bytes of credentials sent (`Cookie` or `Authorization` header values).
    pub(crate) credential_bytes: u64,
    /// Bytes of request bodies sent.
    pub(crate) body_bytes: u64,
    /// Bytes a client holds for its state after a successful count (cookies
    /// or token plus signed state), summed over those samples.
    pub(crate) client_state_bytes: u64,
    /// Samples in `client_state_bytes`.
    pub(crate) client_state_samples: u64,
    /// Per instance (`X-Served-By`; `none` when no instance answered),
    /// bucket by bucket like `timeline`.
    pub(crate) by_instance: BTreeMap<String, Vec<InstanceBucket>>,
    /// Every error answer: when (seconds from the start) and its code.
    pub(crate) error_log: Vec<(f64, String)>,
    /// Attempts made again after an error (safe ones only).
    pub(crate) retries: u64,
    /// Retries of a keyed request answered with the first attempt's
    /// result: the first had been applied despite its error, and the key
    /// kept it from being applied twice.
    pub(crate) duplicates_prevented: u64,
    /// Requests that still failed after their retries (or could not be
    /// retried), by code: what the user was left with.
    pub(crate) errors_left: BTreeMap<String, u64>,
    /// The live feed's current window.
    pub(crate) window: Window,
}

/// 1 µs to 100 s, 3 significant digits.
#[allow(clippy::expect_used)] // constant bounds that hdrhistogram accepts (a unit test builds one)
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds")
}

impl Tally {
    fn new(buckets: usize) -> Self {
        Self {
            latency: histogram(),
            by_op: BTreeMap::new(),
            requests: 0,
            errors: BTreeMap::new(),
            errors_by_op: BTreeMap::new(),
            timeline: vec![Bucket::default(); buckets],
            session_error_times: Vec::new(),
            visits: 0,
            silent_losses: 0,
            applied_despite_error: 0,
            credential_bytes: 0,
            body_bytes: 0,
            client_state_bytes: 0,
            client_state_samples: 0,
            by_instance: BTreeMap::new(),
            error_log: Vec::new(),
            retries: 0,
            duplicates_prevented: 0,
            errors_left: BTreeMap::new(),
            window: Window::new(),
        }
    }
}

/// The shared recorder of a run; one lock held for a few map updates.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    tally: Mutex<Tally>,
}

/// One answer as the driver saw it.
#[derive(Debug)]
pub(crate) struct Answer<'a> {
    pub(crate) op: &'static str,
    pub(crate) sent: Instant,
    pub(crate) latency: Duration,
    /// `None` for a success, else the error code (API.md), or a transport
    /// failure such as `CONNECTION_FAILED`.
    pub(crate) error: Option<&'a str>,
    pub(crate) credential_bytes: usize,
    pub(crate) body_bytes: usize,
    /// The instance that answered (`X-Served-By`), when one did.
    pub(crate) served_by: Option<&'a str>,
}

impl Recorder {
    /// Starts the clock.
    pub(crate) fn new(run: Duration) -> Self {
        let buckets = usize::try_from(run.as_millis() / BUCKET.as_millis()).unwrap_or(0) + 2;
        Self {
            start: Instant::now(),
            tally: Mutex::new(Tally::new(buckets)),
        }
    }

    /// When the run started.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one answer.
    pub(crate) fn answer(&self, answer: &Answer<'_>) {
        let micros = u64::try_from(answer.latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // Bucketed when the answer came: that is when the client saw it.
        let at = (answer.sent + answer.latency).saturating_duration_since(self.start);
        let slot = usize::try_from(at.as_millis() / BUCKET.as_millis()).unwrap_or(usize::MAX);
        let mut tally = self.lock();
        tally.requests += 1;
        tally.latency.saturating_record(micros);
        tally
            .by_op
            .entry(answer.op)
            .or_insert_with(histogram)
            .saturating_record(micros);
        tally.window.requests += 1;
        tally.window.latency.saturating_record(micros);
        tally.credential_bytes += answer.credential_bytes as u64;
        tally.body_bytes += answer.body_bytes as u64;
        let session_error = answer
            .error
            .is_some_and(|code| SESSION_ERRORS.contains(&code));
        if let Some(code) = answer.error {
            *tally.errors.entry(code.to_owned()).or_default() += 1;
            *tally
                .errors_by_op
                .entry(answer.op)
                .or_default()
                .entry(code.to_owned())
                .or_default() += 1;
            *tally.window.errors.entry(code.to_owned()).or_default() += 1;
            if session_error {
                tally.session_error_times.push(at.as_secs_f64());
                tally.window.session_errors += 1;
            }
            tally.error_log.push((at.as_secs_f64(), code.to_owned()));
        }
        let buckets = tally.timeline.len();
        if let Some(bucket) = tally.timeline.get_mut(slot) {
            bucket.requests += 1;
            bucket.errors += u64::from(answer.error.is_some());
            bucket.session_errors += u64::from(session_error);
        }
        let instance = tally
            .by_instance
            .entry(answer.served_by.unwrap_or("none").to_owned())
            .or_insert_with(|| vec![InstanceBucket::default(); buckets]);
        if let Some(bucket) = instance.get_mut(slot) {
            bucket.requests += 1;
            bucket.errors += u64::from(answer.error.is_some());
            let micros = u32::try_from(micros).unwrap_or(u32::MAX);
            bucket.latencies.push(micros);
            if bucket
                .slowest
                .as_ref()
                .is_none_or(|(most, ..)| micros > *most)
            {
                bucket.slowest = Some((micros, answer.op, answer.error.map(str::to_owned)));
            }
        }
    }

    /// A safe request is sent again after an error.
    pub(crate) fn retry(&self) {
        self.lock().retries += 1;
    }

    /// A keyed retry was answered with the first attempt's result.
    pub(crate) fn duplicate_prevented(&self) {
        self.lock().duplicates_prevented += 1;
    }

    /// A request failed for good with `code`.
    pub(crate) fn left_to_user(&self, code: &str) {
        *self.lock().errors_left.entry(code.to_owned()).or_default() += 1;
    }

    /// The answers since the last call, and the sessions lost so far.
    pub(crate) fn take_window(&self) -> (Window, u64) {
        let mut tally = self.lock();
        let lost = tally.session_error_times.len() as u64;
        (std::mem::replace(&mut tally.window, Window::new()), lost)
    }

    /// A visit completed.
    pub(crate) fn visit(&self) {
        self.lock().visits += 1;
    }

    /// After a successful count the client held `bytes` for its state.
    pub(crate) fn client_state(&self, bytes: usize) {
        let mut tally = self.lock();
        tally.client_state_bytes += bytes as u64;
        tally.client_state_samples += 1;
    }

    /// A count answer disagreed with the client's earlier ones: `ahead`
    /// when it jumped forward, else it went back.
    pub(crate) fn count_mismatch(&self, ahead: bool) {
        let mut tally = self.lock();
        if ahead {
            tally.applied_despite_error += 1;
        } else {
            tally.silent_losses += 1;
        }
    }

    /// Everything recorded, for the results; answers recorded afterwards
    /// (none, once the users have stopped) start a new tally.
    pub(crate) fn finish(&self) -> Tally {
        let mut tally = self.lock();
        let buckets = tally.timeline.len();
        std::mem::replace(&mut *tally, Tally::new(buckets))
    }
}
