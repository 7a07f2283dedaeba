//! One strategy's progress, as it runs: a bar on a terminal; on anything
//! else (a pipe, a CI log) a plain line at each stage and every few seconds
//! of load, so a reader never waits in silence.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// How often a plain line reports the load.
const PLAIN_EVERY: Duration = Duration::from_secs(3);

/// Where one strategy's progress goes.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    /// "strategy 2 of 4, shared store".
    label: String,
    /// No terminal: print lines instead of drawing the bar.
    plain: bool,
    last_line: Mutex<Option<Instant>>,
}

impl Progress {
    /// Strategy `n` of `total` (1-based), titled `title`, running `run`.
    pub(crate) fn new(
        bars: &MultiProgress,
        n: usize,
        total: usize,
        title: &str,
        run: Duration,
    ) -> Self {
        let style = ProgressStyle::with_template("{prefix:>32} [{bar:30}] {elapsed:>4} {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let length = u64::try_from(run.as_millis()).unwrap_or(u64::MAX);
        let bar = bars.add(ProgressBar::new(length).with_style(style));
        bar.set_prefix(format!("{n}/{total} {title}"));
        Self {
            bar,
            label: format!("strategy {n} of {total}, {title}"),
            plain: !std::io::stderr().is_terminal(),
            last_line: Mutex::new(None),
        }
    }

    /// A stage of the run ("starting the cluster").
    pub(crate) fn stage(&self, what: &str) {
        self.bar.set_message(what.to_owned());
        if self.plain {
            eprintln!("lab: {}: {what}", self.label);
        }
    }

    /// The load so far: `elapsed` of the run, answers and errors.
    pub(crate) fn load(&self, elapsed: Duration, requests: u64, errors: u64) {
        self.bar
            .set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        self.bar
            .set_message(format!("{requests} answers, {errors} errors"));
        if !self.plain {
            return;
        }
        let mut last = self
            .last_line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= PLAIN_EVERY) {
            *last = Some(Instant::now());
            eprintln!(
                "lab: {}: {:.0} s of load, {requests} answers, {errors} errors",
                self.label,
                elapsed.as_secs_f64()
            );
        }
    }

    /// The strategy is done.
    pub(crate) fn done(&self, summary: String) {
        if self.plain {
            eprintln!("lab: {}: done, {summary}", self.label);
        }
        self.bar.finish_with_message(summary);
    }

    /// The strategy failed.
    pub(crate) fn failed(&self, why: String) {
        if self.plain {
            eprintln!("lab: {}: failed: {why}", self.label);
        }
        self.bar.abandon_with_message(format!("failed: {why}"));
    }
}
