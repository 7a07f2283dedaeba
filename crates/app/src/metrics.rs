//! Prometheus metrics: requests and latency by route, method and status, and
//! live sessions (read from the store when scraped).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const REQUESTS: &str = "http_requests_total";
const LATENCY: &str = "http_request_duration_seconds";
const LIVE_SESSIONS: &str = "statecraft_live_sessions";
/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's metrics. The `metrics` facade has one global recorder, so
/// every app in a process (tests start several) shares it.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    handle: Option<PrometheusHandle>,
    /// Handles of every (route, method, status) series seen, so that recording a
    /// request is a map lookup and two atomic updates, not a registry walk with
    /// freshly allocated labels.
    series: RwLock<HashMap<Box<str>, Vec<Series>>>,
}

#[derive(Debug)]
struct Series {
    /// The method's label (not the method: invented methods share one series).
    method: &'static str,
    status: StatusCode,
    requests: Counter,
    latency: Histogram,
}

fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(LATENCY.to_owned()),
            statecraft_http::LATENCY_BUCKETS,
        )
        .ok()?;
    let handle = match builder.install_recorder() {
        Ok(handle) => handle,
        Err(err) => {
            tracing::warn!(%err, "metrics recorder not installed; /metrics will be empty");
            return None;
        }
    };
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(%err, "metrics upkeep thread not started");
    }
    Some(handle)
}

/// The method as a label; unknown methods share one label so that requests
/// with invented methods cannot grow the series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

impl Metrics {
    /// The process-wide metrics, installed on first use.
    pub(crate) fn global() -> Self {
        static GLOBAL: OnceLock<Metrics> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Self {
                inner: Arc::new(Inner {
                    handle: install(),
                    series: RwLock::new(HashMap::new()),
                }),
            })
            .clone()
    }

    /// Records one finished request.
    pub(crate) fn record(&self, method: &Method, route: &str, status: StatusCode, took: Duration) {
        let seconds = took.as_secs_f64();
        let method = method_label(method);
        {
            let series = self.inner.series.read().unwrap_or_else(|p| p.into_inner());
            let found = series.get(route).and_then(|list| {
                list.iter()
                    .find(|s| s.status == status && s.method == method)
            });
            if let Some(s) = found {
                s.requests.increment(1);
                s.latency.record(seconds);
                return;
            }
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.as_str().to_owned()),
        ];
        let s = Series {
            method,
            status,
            requests: metrics::counter!(REQUESTS, &labels),
            latency: metrics::histogram!(LATENCY, &labels),
        };
        s.requests.increment(1);
        s.latency.record(seconds);
        let mut series = self.inner.series.write().unwrap_or_else(|p| p.into_inner());
        series.entry(route.into()).or_default().push(s);
    }

    /// The Prometheus text exposition, with the live session count given.
    pub(crate) fn render(&self, live_sessions: Option<u64>) -> String {
        if let Some(n) = live_sessions {
            // f64 is exact for counts below 2^53.
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(LIVE_SESSIONS).set(n as f64);
        }
        self.inner
            .handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_series() {
        let metrics = Metrics::global();
        let route = "/test-invented-methods";
        for i in 0..100 {
            let method = Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
            metrics.record(
                &method,
                route,
                StatusCode::NOT_FOUND,
                Duration::from_micros(5),
            );
        }
        metrics.record(
            &Method::GET,
            route,
            StatusCode::NOT_FOUND,
            Duration::from_micros(5),
        );
        let series = metrics.inner.series.read().unwrap();
        assert_eq!(series.get(route).map(Vec::len), Some(2), "OTHER and GET");
    }
}
