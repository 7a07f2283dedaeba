//! The observing layer around the whole router: request ID, the request span,
//! `X-Served-By` / `X-State-Source` / `X-Request-Id`, error logging and metrics.
//!
//! It wraps the router once from the outside, rather than every route through
//! `Router::layer` (which re-boxes and clones each route's service per request);
//! the route label comes from matching the path against the documented route
//! templates.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse as _, Response};
use futures_util::FutureExt as _;
use rand::RngCore as _;
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::error::{ApiError, ErrorCause};
use crate::metrics::Metrics;
use crate::source::{StateSource, X_STATE_SOURCE};

static X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request ID taken from a caller; longer ones are replaced.
const MAX_REQUEST_ID: usize = 64;
/// The route label of a path that matches no route.
const UNMATCHED: &str = "unmatched";

/// Hex digits of `n`, most significant first, into `out`; returns the length.
fn hex(mut n: u64, out: &mut [u8; 16]) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut len = 0;
    loop {
        tmp[len] = DIGITS[(n & 0xf) as usize];
        len += 1;
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        out[i] = tmp[len - 1 - i];
    }
    len
}

/// Request IDs: a random per-process prefix and a counter, unique without a
/// random draw (or a formatter) per request.
fn next_request_id() -> HeaderValue {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| rand::rng().next_u64() | (1 << 60));
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 33];
    let mut digits = [0u8; 16];
    let a = hex(*PREFIX >> 32, &mut digits);
    buf[..a].copy_from_slice(&digits[..a]);
    buf[a] = b'-';
    let b = hex(n, &mut digits);
    buf[a + 1..a + 1 + b].copy_from_slice(&digits[..b]);
    HeaderValue::from_bytes(&buf[..a + 1 + b])
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The caller's request ID, when it is 1-64 visible ASCII characters.
fn given_request_id(req: &Request) -> Option<HeaderValue> {
    req.headers()
        .get(&X_REQUEST_ID)
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id.as_bytes().iter().all(u8::is_ascii_graphic)
        })
        .cloned()
}

fn response_id(response: &Response) -> &str {
    response
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Maps a request path to its route template (the metrics label).
#[derive(Debug)]
pub(crate) struct RouteLabels(matchit::Router<&'static str>);

impl RouteLabels {
    /// Labels for these route templates (`/cart/items/{productId}` style).
    pub(crate) fn new(templates: impl IntoIterator<Item = &'static str>) -> Self {
        let mut router = matchit::Router::new();
        for template in templates {
            // Templates come from the router's own route list, so they are valid
            // and distinct; a failure would only lose a label.
            let _ = router.insert(template, template);
        }
        Self(router)
    }

    fn label(&self, path: &str) -> &'static str {
        self.0.at(path).map_or(UNMATCHED, |m| *m.value)
    }
}

/// What [`Observe`] needs of the process: its name and its metrics.
#[derive(Clone, Debug)]
pub(crate) struct Observed {
    /// `X-Served-By`.
    pub(crate) served_by: HeaderValue,
    /// Where requests are counted.
    pub(crate) metrics: Metrics,
}

/// Wraps a service with [`Observe`].
#[derive(Clone, Debug)]
pub(crate) struct ObserveLayer {
    state: Arc<Observed>,
    labels: Arc<RouteLabels>,
}

impl ObserveLayer {
    pub(crate) fn new(state: Observed, labels: RouteLabels) -> Self {
        Self {
            state: Arc::new(state),
            labels: Arc::new(labels),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            state: Arc::clone(&self.state),
            labels: Arc::clone(&self.labels),
        }
    }
}

/// The observing service; see the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Observe<S> {
    inner: S,
    state: Arc<Observed>,
    labels: Arc<RouteLabels>,
}

impl<S, B> Service<Request> for Observe<S>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        // A caller's (or the gateway's) ID is passed on. Otherwise one is made
        // only when a log line will carry it: at debug level (every request is
        // logged) or when the request fails; an ID nobody logged correlates nothing.
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        let mut id = given_request_id(&req).or_else(|| debug.then(next_request_id));
        let method = req.method().clone();
        let route = self.labels.label(req.uri().path());
        // The span gives every line logged inside the request its ID. It costs
        // as much as the rest of this layer, so it exists at debug level only;
        // the lines this layer logs at other levels carry the ID themselves.
        let span = tracing::debug_span!(
            "request",
            request_id = id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        );
        // A panic in a handler is a bug; it must still answer the JSON error
        // shape (and be counted), not drop the connection.
        // Its store calls wait for an unreachable store once in all.
        let future =
            AssertUnwindSafe(statecraft_state::one_wait(self.inner.call(req))).catch_unwind();
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let mut response = match future.instrument(span.clone()).await {
                Ok(Ok(response)) => response.map(axum::body::Body::new),
                Err(_panic) => ApiError::Internal("handler panicked".to_owned()).into_response(),
            };
            let status = response.status();
            let headers = response.headers_mut();
            headers.insert(X_SERVED_BY.clone(), state.served_by.clone());
            if !headers.contains_key(X_STATE_SOURCE) {
                headers.insert(X_STATE_SOURCE, StateSource::None.header());
            }
            let failed = response.extensions().get::<ErrorCause>().is_some();
            if failed && id.is_none() {
                id = Some(next_request_id());
            }
            if let Some(id) = id {
                response.headers_mut().insert(X_REQUEST_ID.clone(), id);
            }
            let elapsed = started.elapsed();
            if let Some(ErrorCause(cause)) = response.extensions().get::<ErrorCause>() {
                // Every 5xx once, with its cause and request ID: a 500 is
                // a bug (error), a 503 a dependency that did not answer.
                if status == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
                    tracing::error!(
                        parent: &span,
                        request_id = response_id(&response),
                        status = status.as_u16(),
                        %method,
                        route,
                        %cause,
                        "request failed"
                    );
                } else {
                    tracing::warn!(
                        parent: &span,
                        request_id = response_id(&response),
                        status = status.as_u16(),
                        %method,
                        route,
                        %cause,
                        "request failed"
                    );
                }
            }
            tracing::debug!(
                parent: &span,
                request_id = response_id(&response),
                status = status.as_u16(),
                %method,
                route,
                micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                "request finished"
            );
            state.metrics.record(&method, route, status, elapsed);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_hex_and_distinct() {
        let a = next_request_id();
        let b = next_request_id();
        assert_ne!(a, b);
        let text = a.to_str().unwrap();
        let (prefix, n) = text.split_once('-').unwrap();
        assert!(
            u64::from_str_radix(prefix, 16).is_ok() && u64::from_str_radix(n, 16).is_ok(),
            "{text}"
        );
    }

    #[test]
    fn hex_writes_most_significant_first() {
        let mut out = [0u8; 16];
        let n = hex(0x1a2b, &mut out);
        assert_eq!(&out[..n], b"1a2b");
        let n = hex(0, &mut out);
        assert_eq!(&out[..n], b"0");
        let n = hex(u64::MAX, &mut out);
        assert_eq!(&out[..n], b"ffffffffffffffff");
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_json_500_with_a_request_id() {
        use tower::ServiceExt as _;

        // The layer needs only what it adds: a served-by name and metrics.
        let observed = Observed {
            served_by: HeaderValue::from_static("panic-test"),
            metrics: crate::metrics::Metrics::global(),
        };
        let boom = tower::service_fn(|_req: Request| async move {
            if std::hint::black_box(true) {
                panic!("a bug in a handler");
            }
            Ok::<Response, Infallible>(Response::new(axum::body::Body::empty()))
        });
        let service = ObserveLayer::new(observed, RouteLabels::new(["/boom"])).layer(boom);
        let request = Request::builder()
            .uri("/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["x-served-by"], "panic-test");
        assert!(
            response.headers().contains_key("x-request-id"),
            "failures get an ID to report"
        );
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "INTERNAL_ERROR");
        assert!(
            !String::from_utf8_lossy(&body).contains("a bug"),
            "the cause is never sent"
        );
    }

    #[test]
    fn paths_map_to_their_route_templates() {
        let labels = RouteLabels::new(["/cart", "/cart/items/{productId}", "/counters/{name}"]);
        assert_eq!(
            labels.label("/cart/items/book-1"),
            "/cart/items/{productId}"
        );
        assert_eq!(labels.label("/counters/x"), "/counters/{name}");
        assert_eq!(labels.label("/nope"), UNMATCHED);
    }
}
