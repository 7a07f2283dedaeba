//! Forwarding one request: choose an instance, pass the request on with the
//! forwarding headers, stream the answer back, and fail over or retry where it
//! is safe.
//!
//! Bodies stream both ways. A request is retried on another instance when it
//! never reached the first (the connection failed, so its body was never
//! read), or, when it may have reached it, only if repeating it is harmless:
//! an idempotent method or an `Idempotency-Key`. Such a request's body, when
//! small, is kept so it can be sent again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;

use crate::Gateway;
use crate::balance::{CLIENT_COOKIE, Pick, STICKY_COOKIE};
use crate::error::GatewayError;

/// Tells an instance that the client was re-routed away from a dead one.
pub const AFFINITY_LOST: HeaderName = HeaderName::from_static("x-affinity-lost");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Attempts per request at most (one per instance, up to this many).
const MAX_ATTEMPTS: usize = 3;
/// The largest body kept for a safe retry; bigger ones stream and are not
/// retried once sent.
const REPLAYABLE_BODY: u64 = 64 * 1024;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1):
/// never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Every request that is not the gateway's own.
pub(crate) async fn forward(gateway: Gateway, peer: SocketAddr, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let request_id = request_id(&parts.headers);
    let affinity = gateway.balancer.affinity(&parts.headers, peer.ip());
    let retry_after_send =
        parts.method.is_idempotent() || parts.headers.contains_key(IDEMPOTENCY_KEY);
    let body = match OutgoingBody::of(body, &parts.headers, retry_after_send).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    prepare_headers(&mut parts.headers, peer, &request_id);
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let pool = &gateway.upstreams;
    let attempts = MAX_ATTEMPTS.min(pool.len());
    let mut tried = Vec::with_capacity(attempts);
    let mut failure = GatewayError::NoHealthyUpstream;
    while tried.len() < attempts {
        // A client whose instance failed this request is re-routed by the
        // balancer like one whose instance was already known dead.
        let (upstream, lost, pin) = match gateway.balancer.pick(pool, &affinity, &tried) {
            Pick::To {
                upstream,
                lost,
                pin,
            } => (upstream, lost, pin),
            Pick::Lost(dead) => {
                return with_id(GatewayError::SessionLost(dead).into_response(), &request_id);
            }
            Pick::NoneHealthy => break,
        };
        if let Some(i) = pool.iter().position(|u| Arc::ptr_eq(u, &upstream)) {
            tried.push(i);
        }
        let Some(attempt_body) = body.attempt() else {
            break;
        };
        // The last possible attempt takes the headers; earlier ones copy them.
        let mut headers = if tried.len() == attempts {
            std::mem::take(&mut parts.headers)
        } else {
            parts.headers.clone()
        };
        if let Some(dead) = &lost
            && let Ok(value) = HeaderValue::from_str(dead)
        {
            headers.insert(AFFINITY_LOST, value);
        }
        let uri = match upstream.uri(path.clone()) {
            Some(uri) => uri,
            None => return GatewayError::InvalidRequest("Bad request target").into_response(),
        };
        let mut outgoing = http::Request::new(attempt_body);
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = headers;
        let started = Instant::now();
        let in_flight = upstream.start_request();
        let sent = tokio::time::timeout(
            gateway.config.request_timeout,
            gateway.client.request(outgoing),
        )
        .await;
        drop(in_flight);
        match sent {
            Ok(Ok(answer)) => {
                upstream.answered(answer.status(), started.elapsed().as_secs_f64());
                let mut response = answer.map(Body::new);
                strip_hop_by_hop(response.headers_mut());
                let signer = gateway.balancer.signer();
                let cookies = [
                    pin.then(|| gateway.cookie(STICKY_COOKIE, &signer.sign(&upstream.id))),
                    (affinity.new_client.as_ref()).map(|id| gateway.cookie(CLIENT_COOKIE, id)),
                ];
                for cookie in cookies.into_iter().flatten() {
                    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                        response.headers_mut().append(header::SET_COOKIE, cookie);
                    }
                }
                return with_id(response, &request_id);
            }
            Ok(Err(err)) if err.is_connect() => {
                // Never sent: any request may go elsewhere.
                tracing::warn!(upstream = %upstream.id, %err, "connection to instance failed");
                // A streamed body it never read is still in its slot.
                upstream.failed();
                failure = GatewayError::UpstreamFailed(upstream.id.clone());
            }
            Ok(Err(err)) => {
                tracing::warn!(upstream = %upstream.id, %err, "instance broke the exchange");
                upstream.failed();
                failure = GatewayError::UpstreamFailed(upstream.id.clone());
                if !retry_after_send {
                    break;
                }
            }
            Err(_) => {
                // It may still be working on it: a retry could apply it twice
                // and would add load to a slow cluster.
                upstream.metrics.failures.increment(1);
                failure = GatewayError::UpstreamTimeout(upstream.id.clone());
                break;
            }
        }
    }
    with_id(failure.into_response(), &request_id)
}

/// The client's request ID when it is sane, else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(REQUEST_ID)
        .filter(|v| (1..=128).contains(&v.len()) && v.as_bytes().iter().all(u8::is_ascii_graphic))
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// A new request ID: this process's random prefix and a sequence number.
/// Unique, not secret, and cheaper than drawing random bytes per request.
fn new_request_id() -> HeaderValue {
    static PREFIX: std::sync::OnceLock<[u8; 6]> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut raw = [0u8; 15];
    raw[..6].copy_from_slice(PREFIX.get_or_init(rand::random));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    raw[6..14].copy_from_slice(&n.to_be_bytes());
    let mut text = [0u8; 20];
    let len = URL_SAFE_NO_PAD
        .encode_slice(raw, &mut text)
        .unwrap_or_default();
    HeaderValue::from_bytes(&text[..len]).unwrap_or(HeaderValue::from_static("0"))
}

fn with_id(mut response: Response, id: &HeaderValue) -> Response {
    response.headers_mut().insert(REQUEST_ID, id.clone());
    response
}

/// The headers an instance receives: no hop-by-hop ones, no client-made
/// affinity marker, the client's address appended to `X-Forwarded-For`.
fn prepare_headers(headers: &mut HeaderMap, peer: SocketAddr, request_id: &HeaderValue) {
    strip_hop_by_hop(headers);
    headers.remove(AFFINITY_LOST);
    let forwarded = match headers.get(FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(earlier) => HeaderValue::from_str(&format!("{earlier}, {}", peer.ip())).ok(),
        None => Some(address_value(peer.ip())),
    };
    if let Some(value) = forwarded {
        headers.insert(FORWARDED_FOR, value);
    }
    headers.insert(FORWARDED_PROTO, HeaderValue::from_static("http"));
    headers.insert(REQUEST_ID, request_id.clone());
}

/// A client address as a header value, remembered per thread for the last
/// address seen: most requests come over connections from a few addresses.
fn address_value(ip: std::net::IpAddr) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(std::net::IpAddr, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((seen, value)) if *seen == ip => value.clone(),
        _ => {
            let value = HeaderValue::from_str(&ip.to_string())
                .unwrap_or(HeaderValue::from_static("unknown"));
            *last = Some((ip, value.clone()));
            value
        }
    })
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names, no hashing.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// A request body as attempts need it.
enum OutgoingBody {
    /// None at all: every attempt sends an empty body.
    Empty,
    /// Small and safe to repeat: kept whole.
    Kept(Bytes),
    /// Streamed: one attempt reads it; a connection that failed before
    /// reading it gives it back.
    Streamed(Arc<Mutex<Option<Body>>>, SizeHint),
}

impl OutgoingBody {
    async fn of(
        body: Body,
        headers: &HeaderMap,
        retry_after_send: bool,
    ) -> Result<Self, GatewayError> {
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let chunked = headers.contains_key(header::TRANSFER_ENCODING);
        if length.unwrap_or(0) == 0 && !chunked {
            return Ok(Self::Empty);
        }
        if retry_after_send && !chunked && length.is_some_and(|l| l <= REPLAYABLE_BODY) {
            let bytes = body
                .collect()
                .await
                .map_err(|_| GatewayError::InvalidRequest("The request body was cut off"))?
                .to_bytes();
            return Ok(Self::Kept(bytes));
        }
        let hint = http_body::Body::size_hint(&body);
        Ok(Self::Streamed(Arc::new(Mutex::new(Some(body))), hint))
    }

    /// The body of the next attempt, or `None` when a streamed body has been
    /// read and cannot be sent again.
    fn attempt(&self) -> Option<Body> {
        match self {
            Self::Empty => Some(Body::empty()),
            Self::Kept(bytes) => Some(Body::from(bytes.clone())),
            Self::Streamed(slot, hint) => {
                let unread = slot
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some();
                unread.then(|| {
                    Body::new(TakeOnRead {
                        slot: Arc::clone(slot),
                        body: None,
                        hint: *hint,
                    })
                })
            }
        }
    }
}

/// A streamed body taken from its slot on first read, so that an attempt that
/// never read it leaves it for the next.
struct TakeOnRead {
    slot: Arc<Mutex<Option<Body>>>,
    body: Option<Body>,
    hint: SizeHint,
}

impl http_body::Body for TakeOnRead {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.body.is_none() {
            this.body = this
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
        match this.body.as_mut() {
            Some(body) => std::pin::Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or(self.hint, http_body::Body::size_hint)
    }
}
