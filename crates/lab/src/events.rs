//! What a run tells as it goes, one event at a time: the stages, the load
//! every half second, the faults as they strike, each phase's end. The
//! terminal prints them as lines; `statecraft lab --events json` writes
//! them to stdout as JSON lines, which the server relays to `/lab`'s page.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when the reader of the JSON events went away (the server that
/// started the run stopped or died): the run then cancels itself.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Whether the reader of the JSON events went away.
#[must_use]
pub fn reader_gone() -> bool {
    READER_GONE.load(Ordering::Relaxed)
}

use serde::Serialize;

/// One thing a run tells (documented in docs/lab.md, "Live events").
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LabEvent {
    /// The run began: its id and plan.
    #[serde(rename_all = "camelCase")]
    Started {
        /// The run's id (its directory's name).
        id: String,
        /// The plan it runs.
        plan: serde_json::Value,
        /// The phases' titles, in order (each strategy, then failover).
        phases: Vec<String>,
    },
    /// A phase reached a stage ("starting the cluster").
    #[serde(rename_all = "camelCase")]
    Stage {
        /// The phase, 1-based.
        phase: usize,
        /// What it does now.
        what: String,
    },
    /// The last half second of load.
    #[serde(rename_all = "camelCase")]
    Sample {
        /// The phase, 1-based.
        phase: usize,
        /// Seconds of load so far.
        t: f64,
        /// Answers a second over the window.
        requests_per_second: f64,
        /// Median latency of the window's answers, ms.
        p50_ms: f64,
        /// 99th percentile of the window's answers, ms.
        p99_ms: f64,
        /// The window's error answers by code.
        errors: BTreeMap<String, u64>,
        /// Sessions lost (`SESSION_MISSING`, `SESSION_LOST`) in the window.
        sessions_lost: u64,
        /// Sessions lost since the phase began.
        sessions_lost_total: u64,
    },
    /// A fault struck.
    #[serde(rename_all = "camelCase")]
    Fault {
        /// The phase, 1-based.
        phase: usize,
        /// Seconds of load when it struck.
        t: f64,
        /// Its kind (`kill`, `store-stop`, …).
        kind: String,
        /// What it did.
        what: String,
    },
    /// A phase finished.
    #[serde(rename_all = "camelCase")]
    PhaseDone {
        /// The phase, 1-based.
        phase: usize,
        /// Its figures in a few words.
        summary: String,
    },
    /// A phase failed (the run stops, or skips it where it can).
    #[serde(rename_all = "camelCase")]
    PhaseFailed {
        /// The phase, 1-based.
        phase: usize,
        /// Why.
        error: String,
    },
    /// The run finished and wrote its results.
    #[serde(rename_all = "camelCase")]
    Finished {
        /// Wall time of the run, seconds.
        total_seconds: f64,
    },
}

/// Where a run's events go besides the terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventOutput {
    /// Lines for a person on stderr only.
    #[default]
    Terminal,
    /// Also each event as a JSON line on stdout (for the server).
    Json,
}

impl EventOutput {
    /// Writes `event` where it goes (a JSON line on stdout, when asked).
    pub(crate) fn emit(self, event: &LabEvent) {
        if self == Self::Json
            && let Ok(mut line) = serde_json::to_vec(event)
        {
            line.push(b'\n');
            // The reader that went away is the server that started the
            // run: a run does not outlive it.
            let mut out = std::io::stdout().lock();
            if out.write_all(&line).and_then(|()| out.flush()).is_err() {
                READER_GONE.store(true, Ordering::Relaxed);
            }
        }
    }
}
