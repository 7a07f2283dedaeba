//! One phase's progress, as it runs: a bar on a terminal; on anything
//! else (a pipe, a CI log) a plain line at each stage, each fault and every
//! few seconds of load, so a reader never waits in silence; and every event
//! to the run's [`EventOutput`] (the live page's feed).

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::events::{EventOutput, LabEvent};

/// How often a plain line reports the load.
const PLAIN_EVERY: Duration = Duration::from_secs(3);

/// Where one strategy's progress goes.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    /// The phase, 1-based.
    phase: usize,
    output: EventOutput,
    /// "strategy 2 of 4, shared store".
    label: String,
    /// No terminal: print lines instead of drawing the bar.
    plain: bool,
    last_line: Mutex<Option<Instant>>,
}

impl Progress {
    /// Phase `n` of `total` (1-based), titled `title`, running `run`,
    /// its events to `output`.
    pub(crate) fn new(
        bars: &MultiProgress,
        (n, total): (usize, usize),
        title: &str,
        run: Duration,
        output: EventOutput,
    ) -> Self {
        let style = ProgressStyle::with_template("{prefix:>32} [{bar:30}] {elapsed:>4} {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let length = u64::try_from(run.as_millis()).unwrap_or(u64::MAX);
        let bar = bars.add(ProgressBar::new(length).with_style(style));
        bar.set_prefix(format!("{n}/{total} {title}"));
        Self {
            bar,
            phase: n,
            output,
            label: format!("phase {n} of {total}, {title}"),
            plain: !std::io::stderr().is_terminal(),
            last_line: Mutex::new(None),
        }
    }

    /// A stage of the run ("starting the cluster").
    pub(crate) fn stage(&self, what: &str) {
        self.bar.set_message(what.to_owned());
        self.output.emit(&LabEvent::Stage {
            phase: self.phase,
            what: what.to_owned(),
        });
        if self.plain {
            eprintln!("lab: {}: {what}", self.label);
        }
    }

    /// The last half second of load.
    pub(crate) fn sample(&self, sample: Sample) {
        let elapsed = Duration::from_secs_f64(sample.t.max(0.0));
        self.bar
            .set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        let line = sample.line();
        self.bar.set_message(line.clone());
        self.output.emit(&LabEvent::Sample {
            phase: self.phase,
            t: sample.t,
            requests_per_second: sample.requests_per_second,
            p50_ms: sample.p50_ms,
            p99_ms: sample.p99_ms,
            errors: sample.errors,
            sessions_lost: sample.sessions_lost,
            sessions_lost_total: sample.sessions_lost_total,
        });
        if !self.plain {
            return;
        }
        let mut last = self
            .last_line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= PLAIN_EVERY) {
            *last = Some(Instant::now());
            eprintln!("lab: {}: {:.1} s, {line}", self.label, sample.t);
        }
    }

    /// A fault struck `t` seconds into the load.
    pub(crate) fn fault(&self, kind: &str, t: f64, what: &str) {
        self.output.emit(&LabEvent::Fault {
            phase: self.phase,
            t,
            kind: kind.to_owned(),
            what: what.to_owned(),
        });
        let line = format!("{t:.1} s, fault {kind}: {what}");
        if self.plain {
            eprintln!("lab: {}: {line}", self.label);
        } else {
            self.bar.println(format!("  {line}"));
        }
    }

    /// The phase is done.
    pub(crate) fn done(&self, summary: String) {
        self.output.emit(&LabEvent::PhaseDone {
            phase: self.phase,
            summary: summary.clone(),
        });
        if self.plain {
            eprintln!("lab: {}: done, {summary}", self.label);
        }
        self.bar.finish_with_message(summary);
    }

    /// The phase failed.
    pub(crate) fn failed(&self, why: String) {
        self.output.emit(&LabEvent::PhaseFailed {
            phase: self.phase,
            error: why.clone(),
        });
        if self.plain {
            eprintln!("lab: {}: failed: {why}", self.label);
        }
        self.bar.abandon_with_message(format!("failed: {why}"));
    }
}

/// Half a second of load, as [`LabEvent::Sample`] carries it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    pub(crate) t: f64,
    pub(crate) requests_per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) errors: std::collections::BTreeMap<String, u64>,
    pub(crate) sessions_lost: u64,
    pub(crate) sessions_lost_total: u64,
}

impl Sample {
    /// The sample for a person: "812 req/s, p50 1.20 ms, p99 8.10 ms, …".
    fn line(&self) -> String {
        let mut line = format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            self.requests_per_second, self.p50_ms, self.p99_ms
        );
        if !self.errors.is_empty() {
            let errors: Vec<String> = (self.errors.iter())
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            line.push_str(&format!(", errors {}", errors.join(" ")));
        }
        if self.sessions_lost_total > 0 {
            line.push_str(&format!(", {} sessions lost", self.sessions_lost_total));
        }
        line
    }
}
