//! The instances behind the gateway and what it knows of each: health, drain,
//! requests in flight, and their metrics.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use metrics::{Counter, Gauge, Histogram};
use sha2::{Digest as _, Sha256};

use crate::config::UpstreamSpec;
use crate::pool::ConnPool;

/// The latency series: time to an answer's head, by instance.
pub(crate) const LATENCY: &str = "gateway_upstream_seconds";

/// One instance.
#[derive(Debug)]
pub struct Upstream {
    /// Its name.
    pub id: String,
    /// `http://HOST:PORT`.
    pub url: Uri,
    /// Its keep-alive connections.
    pub(crate) pool: Arc<ConnPool>,
    /// Its weight seed in rendezvous hashing, from its name, so every gateway
    /// ranks instances the same.
    pub(crate) seed: u64,
    healthy: AtomicBool,
    /// Its last check said ready (it may be in rotation without: panic
    /// routing, see `health`).
    ready: AtomicBool,
    draining: AtomicBool,
    /// The instance its sessions were handed to: its pinned clients go there.
    moved_to: std::sync::RwLock<Option<String>>,
    in_flight: AtomicUsize,
    /// Instance-side failures in a row (see `outlier`).
    failures: AtomicU32,
    /// Out of rotation for its failures (not for a health check's verdict):
    /// what the ejection limit counts.
    ejected: AtomicBool,
    /// Active checks in a row that got no answer in time.
    unanswered_checks: AtomicU32,
    /// Answers to proxied requests so far: a health check that times out
    /// while this stands still and requests wait found it silent.
    answers: AtomicU64,
    /// Woken when a health check finds it dead: the requests waiting on it
    /// stop waiting (a partitioned instance would hold them until the
    /// request timeout).
    silenced: tokio::sync::Notify,
    pub(crate) metrics: UpstreamMetrics,
}

/// An instance's series, registered once so that recording a request is a
/// few atomic updates.
#[derive(Debug)]
pub(crate) struct UpstreamMetrics {
    /// Answers by status class: 1xx … 5xx.
    pub(crate) answers: [Counter; 5],
    /// Exchanges that failed (connect, reset, timeout).
    pub(crate) failures: Counter,
    /// Time to the answer's head.
    pub(crate) latency: Histogram,
    /// 1 when in rotation.
    pub(crate) healthy: Gauge,
}

impl UpstreamMetrics {
    fn new(id: &str) -> Self {
        let class = |c: &'static str| metrics::counter!("gateway_upstream_answers_total", "upstream" => id.to_owned(), "class" => c);
        Self {
            answers: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            failures: metrics::counter!("gateway_upstream_failures_total", "upstream" => id.to_owned()),
            latency: metrics::histogram!(LATENCY, "upstream" => id.to_owned()),
            healthy: metrics::gauge!("gateway_upstream_healthy", "upstream" => id.to_owned()),
        }
    }
}

impl Upstream {
    /// An instance, assumed healthy until a check says otherwise, reached
    /// with connections that take at most `connect_timeout` to open.
    pub fn new(spec: &UpstreamSpec, connect_timeout: Duration) -> Self {
        let digest = Sha256::digest(spec.id.as_bytes());
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        let metrics = UpstreamMetrics::new(&spec.id);
        metrics.healthy.set(1.0);
        let authority = spec
            .url
            .authority()
            .map_or_else(String::new, ToString::to_string);
        Self {
            id: spec.id.clone(),
            url: spec.url.clone(),
            pool: Arc::new(ConnPool::new(authority, connect_timeout)),
            seed: u64::from_le_bytes(seed),
            healthy: AtomicBool::new(true),
            ready: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            moved_to: std::sync::RwLock::new(None),
            in_flight: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            ejected: AtomicBool::new(false),
            unanswered_checks: AtomicU32::new(0),
            answers: AtomicU64::new(0),
            silenced: tokio::sync::Notify::new(),
            metrics,
        }
    }

    /// `HOST:PORT`.
    pub(crate) fn authority(&self) -> &str {
        self.url
            .authority()
            .map_or("", http::uri::Authority::as_str)
    }

    /// A `GET` of `path` with no body, for the gateway's own calls.
    pub(crate) fn get(&self, path: &str) -> Option<http::Request<axum::body::Body>> {
        http::Request::get(path)
            .header(http::header::HOST, self.authority())
            .body(axum::body::Body::empty())
            .ok()
    }

    /// Whether it is in rotation.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Whether its last health check found it ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Records a health check's readiness.
    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether it takes no new clients (its pinned clients are still served).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Requests it is answering now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Stops (or resumes) sending it new clients.
    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Relaxed);
    }

    /// The instance its sessions were handed to, if they were.
    pub fn moved_to(&self) -> Option<String> {
        self.moved_to
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records (or clears) where its sessions went.
    pub(crate) fn set_moved_to(&self, to: Option<String>) {
        *self
            .moved_to
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = to;
    }

    /// Whether it may take a client that is not pinned to it.
    pub(crate) fn takes_new_clients(&self) -> bool {
        self.is_healthy() && !self.is_draining()
    }

    /// A health check's verdict.
    pub(crate) fn set_healthy(&self, healthy: bool) {
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        if healthy && !was {
            // Back in rotation: its failures are behind it. (A check that
            // finds a serving instance ready does not clear its count: a
            // run of failures must not be forgotten every interval.)
            self.failures.store(0, Ordering::Relaxed);
            self.ejected.store(false, Ordering::Relaxed);
        }
        if was != healthy {
            self.metrics.healthy.set(if healthy { 1.0 } else { 0.0 });
            if healthy {
                tracing::info!(upstream = %self.id, "instance healthy: back in rotation");
            } else {
                tracing::warn!(upstream = %self.id, "instance unhealthy: out of rotation");
            }
        }
    }

    /// An active check got an answer.
    pub(crate) fn check_answered(&self) {
        self.unanswered_checks.store(0, Ordering::Relaxed);
    }

    /// An active check got no answer in time; how many in a row now.
    pub(crate) fn check_unanswered(&self) -> u32 {
        self.unanswered_checks.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// An exchange with it failed on its side (connect, reset, no answer in
    /// time): counted; how many in a row now. Whether that ejects it is the
    /// pool's `Outliers`' call.
    pub(crate) fn count_failure(&self) -> u32 {
        self.metrics.failures.increment(1);
        self.failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether failures took it out of rotation (until a check finds it ready).
    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    /// Takes it out of rotation for `failures` in a row.
    pub(crate) fn eject(&self, failures: u32) {
        tracing::warn!(upstream = %self.id, failures, "instance failed too often in a row");
        self.ejected.store(true, Ordering::Relaxed);
        self.set_healthy(false);
    }

    /// It answered.
    pub(crate) fn answered(&self, status: http::StatusCode, seconds: f64) {
        self.failures.store(0, Ordering::Relaxed);
        self.answers.fetch_add(1, Ordering::Relaxed);
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.metrics.answers[class].increment(1);
        self.metrics.latency.record(seconds);
    }

    /// Answers to proxied requests so far.
    pub(crate) fn answers(&self) -> u64 {
        self.answers.load(Ordering::Relaxed)
    }

    /// Found dead: every request waiting on it stops waiting.
    pub(crate) fn silence(&self) {
        self.silenced.notify_waiters();
    }

    /// Completes when it is found dead (see [`Upstream::silence`]).
    pub(crate) fn silenced(&self) -> tokio::sync::futures::Notified<'_> {
        self.silenced.notified()
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }
}

/// A request in flight at an instance.
pub(crate) struct InFlight<'a>(&'a Upstream);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
