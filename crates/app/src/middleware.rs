//! The one observing layer around every route: request ID, the request span,
//! `X-Served-By` / `X-State-Source` / `X-Request-Id`, error logging and metrics.
//! One layer instead of several keeps the per-request cost small.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponseParts, Response, ResponseParts};
use rand::RngCore as _;
use statecraft_state::StoreKind;
use tracing::Instrument as _;

use crate::error::ErrorCause;
use crate::state::AppState;

static X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
static X_STATE_SOURCE: HeaderName = HeaderName::from_static("x-state-source");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request ID taken from a caller; longer ones are replaced.
const MAX_REQUEST_ID: usize = 64;

/// Where the state an answer used came from; reported as `X-State-Source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateSource {
    /// No state was used.
    None,
    /// State the client sent (a signed token or a plain value).
    Client,
    /// A store of the server.
    Store(StoreKind),
}

impl StateSource {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::None => "none",
            Self::Client => "client",
            Self::Store(kind) => kind.as_str(),
        })
    }
}

impl IntoResponseParts for StateSource {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// Request IDs: a random per-process prefix and a counter, unique without a
/// random draw per request.
fn next_request_id() -> HeaderValue {
    static PREFIX: LazyLock<u32> = LazyLock::new(|| rand::rng().next_u32());
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let text = format!("{:08x}-{n:x}", *PREFIX);
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

fn request_id(req: &Request) -> HeaderValue {
    match req.headers().get(&X_REQUEST_ID) {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id.as_bytes().iter().all(|b| b.is_ascii_graphic()) =>
        {
            id.clone()
        }
        _ => next_request_id(),
    }
}

/// Wraps every route (and the fallbacks).
pub(crate) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = method.as_str(),
        route = route.as_str()
    );
    let mut response = next.run(req).instrument(span.clone()).await;

    let status = response.status();
    let source = response
        .extensions()
        .get::<StateSource>()
        .copied()
        .unwrap_or(StateSource::None);
    let headers = response.headers_mut();
    headers.insert(X_SERVED_BY.clone(), state.served_by.clone());
    headers.insert(X_STATE_SOURCE.clone(), source.header());
    headers.insert(X_REQUEST_ID.clone(), id);

    let elapsed = started.elapsed();
    if let Some(ErrorCause(cause)) = response.extensions().get::<ErrorCause>() {
        tracing::error!(parent: &span, status = status.as_u16(), %cause, "request failed");
    }
    tracing::debug!(
        parent: &span,
        status = status.as_u16(),
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request finished"
    );
    state.metrics.record(&method, &route, status, elapsed);
    response
}
