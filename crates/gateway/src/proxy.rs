//! Forwarding one request: choose an instance, pass the request on with the
//! forwarding headers, stream the answer back, and fail over or retry where it
//! is safe.
//!
//! Bodies stream both ways. A request is retried on another instance when it
//! was never written to the first (hyper hands it back, body unread), or,
//! when it may have reached it, only if repeating it is harmless: an
//! idempotent method or an `Idempotency-Key`. Such a request's body, when
//! small, is kept so it can be sent again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use http::Uri;
use http::header::Entry;
use http::header::{self, HeaderName, HeaderValue};
use http_body_util::BodyExt as _;

use crate::Gateway;
use crate::balance::{Balancer, CLIENT_COOKIE, Pick, STICKY_COOKIE, session_fingerprint};
use crate::client_body::BodyWatch;
use crate::error::GatewayError;
use crate::outlier::Outliers;
use crate::pool::SendError;
use crate::upstream::Upstream;

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

/// Where a request may go: the app instances, or a service's.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) upstreams: &'a [Arc<Upstream>],
    pub(crate) balancer: &'a Balancer,
    /// When their failures take them out of rotation.
    pub(crate) outliers: &'a Outliers,
}

/// Every request that is not the gateway's own, to one of `target`'s instances.
pub(crate) async fn forward(
    gateway: &Gateway,
    target: Target<'_>,
    peer: SocketAddr,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // Whether the client delivers its body: its failure is not the instance's.
    let (body, watch) = BodyWatch::watch(body);
    let affinity = target.balancer.affinity(&parts.headers, peer.ip());
    let retry_after_send =
        parts.method.is_idempotent() || parts.headers.contains_key(IDEMPOTENCY_KEY);
    let request_id = prepare_headers(&mut parts.headers, peer);
    // Origin-form: the same request suits any instance.
    parts.uri = match parts.uri.path_and_query() {
        Some(path) => Uri::from(path.clone()),
        None => Uri::from_static("/"),
    };
    let pool = target.upstreams;
    let attempts = MAX_ATTEMPTS.min(pool.len());
    // What a retry after a send needs: the request's parts and its body
    // kept. Most requests need none, and skip the awaiting (each move of a
    // request into a future is a copy of it).
    let (first, replay) = if retry_after_send && attempts > 1 {
        match Replay::prepare(parts, body).await {
            Ok(prepared) => prepared,
            Err(err) => return with_id(err.into_response(), &request_id),
        }
    } else {
        (http::Request::from_parts(parts, body), None)
    };
    let mut next = Some(first);
    // Whether the request in `next` carries an `X-Affinity-Lost` of ours
    // (a request handed back unsent keeps the headers it was given).
    let mut marked = false;
    // The instances tried so far (no allocation: at most MAX_ATTEMPTS).
    let (mut tried, mut attempted) = ([0usize; MAX_ATTEMPTS], 0);
    let mut failure = GatewayError::NoHealthyUpstream;
    while attempted < attempts {
        // A client whose instance failed this request is re-routed by the
        // balancer like one whose instance was already known dead.
        let (upstream, lost, pin) = match target.balancer.pick(pool, &affinity, &tried[..attempted])
        {
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
        if let Some(i) = pool.iter().position(|u| Arc::ptr_eq(u, &upstream))
            && let Some(slot) = tried.get_mut(attempted)
        {
            *slot = i;
            attempted += 1;
        }
        let Some(mut outgoing) = next.take() else {
            break;
        };
        match lost.as_deref().map(HeaderValue::from_str) {
            Some(Ok(dead)) => {
                outgoing.headers_mut().insert(AFFINITY_LOST, dead);
                marked = true;
            }
            _ if marked => {
                outgoing.headers_mut().remove(AFFINITY_LOST);
                marked = false;
            }
            _ => {}
        }
        // A client re-pinned away from a dead instance keeps the mark for the
        // session it had there (see `Affinity::lost_from`); read before the
        // request goes, and only on a re-pin.
        let mark = if pin {
            lost.clone()
                .or_else(|| affinity.lost_from.clone())
                .and_then(|dead| {
                    let session = (affinity.session.clone())
                        .or_else(|| session_fingerprint(outgoing.headers()));
                    session.map(|fp| (dead, fp))
                })
        } else {
            None
        };
        if !outgoing.headers().contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(upstream.authority())
        {
            outgoing.headers_mut().insert(header::HOST, host);
        }
        let started = Instant::now();
        let in_flight = upstream.start_request();
        // One clock read for the deadline and the latency metric.
        let deadline = tokio::time::Instant::from_std(started) + gateway.config.request_timeout;
        // Made before the request goes: a silence found meanwhile wakes it.
        let silenced = upstream.silenced();
        let sent = tokio::select! {
            sent = tokio::time::timeout_at(deadline, upstream.pool.send(outgoing)) => sent,
            () = silenced => {
                // A health check found the instance dead while this waited
                // (a partition holds a request until the timeout): a
                // harmless request goes elsewhere, the rest is answered now.
                drop(in_flight);
                tracing::warn!(upstream = %upstream.id, "instance stopped answering: request cut");
                failure = GatewayError::UpstreamTimeout(upstream.id.clone());
                next = replay.as_ref().map(Replay::request);
                marked = false;
                continue;
            }
        };
        drop(in_flight);
        match sent {
            Ok(Ok(mut response)) => {
                upstream.answered(response.status(), started.elapsed().as_secs_f64());
                strip_hop_by_hop(response.headers_mut());
                let signer = target.balancer.signer();
                let mark = mark.as_ref().map(|(dead, fp)| (dead.as_str(), fp.as_str()));
                let cookies = [
                    pin.then(|| gateway.cookie(STICKY_COOKIE, &signer.sign(&upstream.id, mark))),
                    (affinity.new_client.as_ref()).map(|id| gateway.cookie(CLIENT_COOKIE, id)),
                ];
                for cookie in cookies.into_iter().flatten() {
                    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                        response.headers_mut().append(header::SET_COOKIE, cookie);
                    }
                }
                return with_id(response, &request_id);
            }
            Ok(Err(SendError::NotSent(request, why))) => {
                // Never written: any request may go elsewhere, body and all.
                tracing::warn!(upstream = %upstream.id, %why, "instance unreachable");
                target.outliers.failed(&upstream, pool);
                failure = GatewayError::UpstreamFailed(upstream.id.clone());
                next = Some(*request);
            }
            Ok(Err(SendError::Failed(err))) => {
                if watch.broken_by_client() || err.is_user() {
                    // The client broke off its body: its failure, not the
                    // instance's, and nothing to retry.
                    return with_id(client_failed(&upstream, &err, &watch), &request_id);
                }
                tracing::warn!(upstream = %upstream.id, %err, "instance broke the exchange");
                // One that hangs up while the body is still coming may have
                // refused it (a 413 before reading, then a reset): not
                // counted against it.
                if watch.delivered() {
                    target.outliers.failed(&upstream, pool);
                }
                failure = GatewayError::UpstreamFailed(upstream.id.clone());
                // It may have been applied: only a harmless request goes again.
                next = replay.as_ref().map(Replay::request);
                marked = false;
            }
            Err(_) if watch.awaiting_client() => {
                // The client had not sent its whole body by the deadline,
                // and its last part was still awaited: the instance was
                // waiting for it.
                tracing::info!(upstream = %upstream.id, "client too slow to send its body");
                return with_id(client_body_failure(true).into_response(), &request_id);
            }
            Err(_) => {
                // It may still be working on it: a retry could apply it twice
                // and would add load to a slow cluster.
                target.outliers.failed(&upstream, pool);
                failure = GatewayError::UpstreamTimeout(upstream.id.clone());
                break;
            }
        }
    }
    with_id(failure.into_response(), &request_id)
}

/// The answer to a client that broke off its own request (or sent its body
/// too slowly): logged, never held against the instance.
fn client_failed(upstream: &Upstream, err: &hyper::Error, watch: &BodyWatch) -> Response {
    tracing::info!(upstream = %upstream.id, %err, "client failed to send its request body");
    client_body_failure(watch.too_slow()).into_response()
}

/// A client's failure to send its body, `late` or cut off: counted in
/// `gateway_client_failures_total`, and what it is answered.
fn client_body_failure(late: bool) -> GatewayError {
    let (kind, answer) = if late {
        ("slow_body", GatewayError::RequestTimeout)
    } else {
        let cut = GatewayError::InvalidRequest("The request body was cut off before its end");
        ("body_cut_off", cut)
    };
    metrics::counter!("gateway_client_failures_total", "kind" => kind).increment(1);
    answer
}

/// A request kept so that it can be sent again after a failure that may
/// have reached the instance: only a harmless one (idempotent method or
/// `Idempotency-Key`) with a small body.
struct Replay {
    parts: http::request::Parts,
    body: Bytes,
}

impl Replay {
    /// The first attempt's request and, when its body is small, a copy
    /// kept for retries (the body read whole); a bigger one streams.
    async fn prepare(
        parts: http::request::Parts,
        body: Body,
    ) -> Result<(http::Request<Body>, Option<Self>), GatewayError> {
        let length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
        if chunked || length.is_some_and(|l| l > REPLAYABLE_BODY) {
            return Ok((http::Request::from_parts(parts, body), None));
        }
        let bytes = if length.unwrap_or(0) == 0 {
            Bytes::new()
        } else {
            body.collect()
                .await
                .map_err(|err| client_body_failure(statecraft_http::is_body_timeout(&err)))?
                .to_bytes()
        };
        Ok(Self::keep(parts, bytes))
    }

    fn keep(parts: http::request::Parts, body: Bytes) -> (http::Request<Body>, Option<Self>) {
        let replay = Self { parts, body };
        (replay.request(), Some(replay))
    }

    /// A new copy of the request.
    fn request(&self) -> http::Request<Body> {
        let mut request = http::Request::new(Body::from(self.body.clone()));
        *request.method_mut() = self.parts.method.clone();
        *request.uri_mut() = self.parts.uri.clone();
        *request.headers_mut() = self.parts.headers.clone();
        request
    }
}

/// Whether a client's request ID may be passed on as it is.
fn sane_request_id(id: &HeaderValue) -> bool {
    (1..=128).contains(&id.len()) && id.as_bytes().iter().all(u8::is_ascii_graphic)
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

/// The answer with the request's ID (instances echo it; the gateway's own
/// answers get it here).
fn with_id(mut response: Response, id: &HeaderValue) -> Response {
    response
        .headers_mut()
        .entry(REQUEST_ID)
        .or_insert_with(|| id.clone());
    response
}

/// The headers an instance receives: no hop-by-hop ones, no client-made
/// affinity marker, the client's address appended to `X-Forwarded-For`, and
/// the request's ID: the client's when it is sane, else a new one. Returns
/// that ID. Each name is looked up once (a lookup hashes it).
fn prepare_headers(headers: &mut HeaderMap, peer: SocketAddr) -> HeaderValue {
    strip_hop_by_hop(headers);
    headers.remove(AFFINITY_LOST);
    // Room for the three added below: the map grows at most once. (`reserve`
    // panics past the map's limit, which hyper's header limit keeps far off;
    // the fallible form costs nothing more.)
    let _ = headers.try_reserve(3);
    match headers.entry(FORWARDED_FOR) {
        Entry::Occupied(mut earlier) => {
            let value = match earlier.get().to_str() {
                Ok(e) => HeaderValue::from_str(&format!("{e}, {}", peer.ip())).ok(),
                // Not text: replaced, as if absent.
                Err(_) => Some(address_value(peer.ip())),
            };
            if let Some(value) = value {
                earlier.insert(value);
            }
        }
        Entry::Vacant(none) => {
            none.insert(address_value(peer.ip()));
        }
    }
    headers.insert(FORWARDED_PROTO, HeaderValue::from_static("http"));
    match headers.entry(REQUEST_ID) {
        Entry::Occupied(id) if sane_request_id(id.get()) => id.get().clone(),
        Entry::Occupied(mut id) => {
            let new = new_request_id();
            id.insert(new.clone());
            new
        }
        Entry::Vacant(none) => none.insert(new_request_id()).clone(),
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::StatusCode;

    use super::*;
    use crate::testing::{self, Behaviour, Seen, exchange, gateway_over, request};
    use crate::{GatewayConfig, Policy, UpstreamSpec};

    /// Sends one request with `headers` through `gateway` from 192.0.2.10;
    /// the head the instance got and the answer's request ID.
    async fn through(gateway: &Gateway, seen: &Seen, headers: &[(&str, &str)]) -> (String, String) {
        let answer = gateway
            .handle(
                ([192, 0, 2, 10], 40_000).into(),
                request("GET", "/cart", headers),
            )
            .await;
        assert_eq!(answer.status(), http::StatusCode::OK);
        let id = answer
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (seen.last_head(), id)
    }

    #[tokio::test]
    async fn instances_get_the_forwarding_headers_and_never_the_hop_by_hop_ones() {
        let (addr, seen) = testing::start().await;
        let gateway = gateway_over(&[&addr], Duration::from_secs(5));

        // A client behind another proxy, with its own request ID, hop-by-hop
        // headers (one named by Connection) and a forged affinity marker.
        let (head, id) = through(
            &gateway,
            &seen,
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("x-request-id", "req-42"),
                ("connection", "keep-alive, x-secret-hop"),
                ("x-secret-hop", "1"),
                ("keep-alive", "timeout=5"),
                ("te", "trailers"),
                ("x-affinity-lost", "server-9"),
                ("cookie", "a=b"),
            ],
        )
        .await;
        assert!(
            head.contains("\r\nx-forwarded-for: 203.0.113.7, 192.0.2.10\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nx-forwarded-proto: http\r\n"), "{head}");
        assert!(head.contains("\r\nx-request-id: req-42\r\n"), "{head}");
        assert!(
            head.contains("\r\ncookie: a=b\r\n"),
            "end-to-end headers pass: {head}"
        );
        for gone in [
            "x-secret-hop:",
            "keep-alive:",
            "\r\nte:",
            "x-affinity-lost:",
        ] {
            assert!(!head.contains(gone), "{gone} was forwarded: {head}");
        }
        assert_eq!(id, "req-42", "the client's ID comes back");

        // No forwarding header, an ID that is not one token: a new ID, the
        // same in the request and the answer.
        let (head, id) = through(&gateway, &seen, &[("x-request-id", "two words")]).await;
        assert!(
            head.contains("\r\nx-forwarded-for: 192.0.2.10\r\n"),
            "{head}"
        );
        assert!(!id.is_empty() && id != "two words", "{id}");
        assert!(
            head.contains(&format!(
                "\r\nx-request-id: {}\r\n",
                id.to_ascii_lowercase()
            )),
            "{head}"
        );

        // No ID: a new one each time.
        let (_, first) = through(&gateway, &seen, &[]).await;
        let (_, second) = through(&gateway, &seen, &[]).await;
        assert!(!first.is_empty() && first != second, "{first} {second}");
    }

    #[tokio::test]
    async fn an_instance_too_slow_to_answer_gives_504_and_the_request_is_not_repeated() {
        let (slow, seen) = testing::start_as(Behaviour::Silent).await;
        let (fine, other) = testing::start().await;
        let gateway = gateway_over(&[&slow, &fine], Duration::from_millis(300));
        let started = Instant::now();
        let (status, code, body) = exchange(&gateway, "GET", "/counter", &[]).await;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::GATEWAY_TIMEOUT, Some("UPSTREAM_TIMEOUT")),
            "{body}"
        );
        assert!(body.contains("server-1"), "names the instance: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // It may still be working on it: even a GET goes nowhere else.
        assert_eq!((seen.requests(), other.requests()), (1, 0));
    }

    #[tokio::test]
    async fn a_request_that_may_have_arrived_is_retried_only_when_repeating_it_is_harmless() {
        // The first instance takes each request and hangs up without an
        // answer; the second answers. Each case on a new gateway, so that
        // the first is tried first (and not yet ejected).
        // (method, headers, whether it goes to the second instance)
        type Case = (&'static str, &'static [(&'static str, &'static str)], bool);
        let cases: [Case; 4] = [
            ("POST", &[], false),
            ("POST", &[("idempotency-key", "order-7")], true),
            ("GET", &[], true),
            ("PUT", &[], true),
        ];
        for (method, headers, retried) in cases {
            let (hangs_up, first) = testing::start_as(Behaviour::HangUp).await;
            let (fine, second) = testing::start().await;
            let gateway = gateway_over(&[&hangs_up, &fine], Duration::from_secs(5));
            let (status, code, body) = exchange(&gateway, method, "/cart/items", headers).await;
            assert_eq!(first.requests(), 1, "{method} {headers:?}");
            if retried {
                assert_eq!(status, StatusCode::OK, "{method} {headers:?}: {body}");
                assert_eq!(second.requests(), 1, "{method} {headers:?}");
            } else {
                assert_eq!(
                    (status, code.as_deref()),
                    (StatusCode::BAD_GATEWAY, Some("UPSTREAM_FAILED")),
                    "{method} {headers:?}: {body}"
                );
                assert_eq!(second.requests(), 0, "{method} was sent twice");
            }
        }
    }

    #[tokio::test]
    async fn a_request_never_sent_goes_to_another_instance_whatever_its_method() {
        // Nothing listens on port 9: the connection is refused.
        let (fine, seen) = testing::start().await;
        let gateway = gateway_over(&["127.0.0.1:9", &fine], Duration::from_secs(5));
        let (status, _, body) = exchange(&gateway, "POST", "/increment", &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(seen.requests(), 1);
        assert!(
            seen.last_head().starts_with("post /increment "),
            "{}",
            seen.last_head()
        );
    }

    #[tokio::test]
    async fn with_every_instance_out_of_rotation_the_answer_is_503_no_healthy_upstream() {
        let gateway = gateway_over(&["127.0.0.1:9"], Duration::from_secs(5));
        // Failures never eject the last instance in rotation: each request
        // is tried, and fails.
        for _ in 0..10 {
            let (status, code, _) = exchange(&gateway, "GET", "/counter", &[]).await;
            assert_eq!(
                (status, code.as_deref()),
                (StatusCode::BAD_GATEWAY, Some("UPSTREAM_FAILED"))
            );
        }
        // A health check's verdict does take it out.
        gateway.upstreams()[0].set_healthy(false);
        let (status, code, body) = exchange(&gateway, "GET", "/counter", &[]).await;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("NO_HEALTHY_UPSTREAM")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn metrics_count_answers_and_failures_per_instance() {
        let (fine, _) = testing::start().await;
        // Names no other test uses: the recorder is one per process.
        let upstreams = vec![
            UpstreamSpec::parse(&format!("metered-ok=http://{fine}"), 1)
                .unwrap_or_else(|e| panic!("{e}")),
            UpstreamSpec::parse("metered-dead=http://127.0.0.1:9", 2)
                .unwrap_or_else(|e| panic!("{e}")),
        ];
        let mut config = GatewayConfig::new(upstreams, Policy::RoundRobin);
        config.outlier.consecutive_failures = 1;
        let gateway = Gateway::new(config, None);
        for _ in 0..3 {
            let (status, _, body) = exchange(&gateway, "GET", "/healthz", &[]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (status, _, text) = exchange(&gateway, "GET", "/metrics", &[]).await;
        assert_eq!(status, StatusCode::OK);
        let value = |series: &str| {
            text.lines()
                .find(|l| l.starts_with(series))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        assert_eq!(
            value(r#"gateway_upstream_answers_total{upstream="metered-ok",class="2xx"}"#),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            value(r#"gateway_upstream_failures_total{upstream="metered-dead"}"#),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(r#"gateway_upstream_healthy{upstream="metered-dead"}"#),
            Some(0.0),
            "{text}"
        );
        assert!(
            text.contains(r#"gateway_upstream_seconds_count{upstream="metered-ok"} 3"#),
            "{text}"
        );
        // A histogram with the app's buckets (they add up across gateways).
        assert!(
            text.contains(r#"gateway_upstream_seconds_bucket{upstream="metered-ok",le="5"} 3"#),
            "{text}"
        );
    }
}
