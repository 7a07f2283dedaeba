//! A client's request body on its way to an instance, watched: whether the
//! client delivered all of it. A body the client cuts off, or sends too
//! slowly for the request's deadline, is the client's failure; the instance
//! that was waiting for it must not be charged with it (a few cut-off bodies
//! used to take every instance out of rotation).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};

/// Still being sent; the last read found data (or none was tried yet).
const STREAMING: u8 = 0;
const DELIVERED: u8 = 1;
const BROKEN: u8 = 2;
/// Its deadline passed (`statecraft_http::BodyTimedOut`).
const LATE: u8 = 3;
/// Still being sent, and the last read found nothing: waiting for the
/// client (as opposed to an instance that has stopped reading).
const AWAITING_CLIENT: u8 = 4;

/// What became of a watched body.
#[derive(Debug, Default)]
pub(crate) struct BodyWatch(Option<Arc<AtomicU8>>);

impl BodyWatch {
    /// Watches `body`; a body that is already complete (none, or held whole)
    /// is passed on as it is, unwatched and counted as delivered.
    pub(crate) fn watch(body: Body) -> (Body, Self) {
        if http_body::Body::is_end_stream(&body) {
            return (body, Self(None));
        }
        let state = Arc::new(AtomicU8::new(STREAMING));
        let watched = Watched {
            body,
            state: Arc::clone(&state),
        };
        (Body::new(watched), Self(Some(state)))
    }

    /// The client broke off its body (an error reading it, or its deadline).
    pub(crate) fn broken_by_client(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| matches!(s.load(Ordering::Relaxed), BROKEN | LATE))
    }

    /// The client did not send its body before the body timeout.
    pub(crate) fn too_slow(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed) == LATE)
    }

    /// The body's last read is waiting for the client: a stall now is the
    /// client's.
    pub(crate) fn awaiting_client(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed) == AWAITING_CLIENT)
    }

    /// The whole body has been passed on.
    pub(crate) fn delivered(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|s| s.load(Ordering::Relaxed) == DELIVERED)
    }
}

/// A body that records how it ended.
struct Watched {
    body: Body,
    state: Arc<AtomicU8>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.state.store(DELIVERED, Ordering::Relaxed),
            Poll::Ready(Some(Err(err))) => {
                let late = statecraft_http::is_body_timeout(err);
                self.state
                    .store(if late { LATE } else { BROKEN }, Ordering::Relaxed);
            }
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => {
                self.state.store(DELIVERED, Ordering::Relaxed);
            }
            Poll::Ready(Some(Ok(_))) => self.state.store(STREAMING, Ordering::Relaxed),
            Poll::Pending => self.state.store(AWAITING_CLIENT, Ordering::Relaxed),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt as _;

    use super::BodyWatch;
    use crate::testing::{self, Behaviour};
    use crate::{Gateway, GatewayConfig, Policy, UpstreamSpec};
    use axum::body::{Body, Bytes};

    /// `POST /increment` announcing 100 bytes, of which the client sends 6
    /// and then goes away.
    fn cut_off_request() -> http::Request<Body> {
        // The six bytes, then a pause (the head and they reach the
        // instance), then the connection's end.
        let chunks = futures_util::stream::unfold(0, |step| async move {
            match step {
                0 => Some((Ok(Bytes::from_static(b"{\"a\":1")), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((Err(std::io::Error::other("client went away")), 2))
                }
                _ => None,
            }
        });
        http::Request::post("/increment")
            .header("content-type", "application/json")
            .header("content-length", "100")
            .body(Body::from_stream(chunks))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn bodies_cut_off_by_clients_never_take_an_instance_out_of_rotation() {
        // Instances that wait for the whole body, under a rule that ejects
        // at the first failure charged to them.
        let (first, seen_first) = testing::start_as(Behaviour::Silent).await;
        let (second, seen_second) = testing::start_as(Behaviour::Silent).await;
        let upstreams = [first, second]
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                UpstreamSpec::parse(&format!("cut-{}=http://{addr}", i + 1), i + 1)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let mut config = GatewayConfig::new(upstreams, Policy::RoundRobin);
        config.outlier.consecutive_failures = 1;
        config.outlier.max_ejection_percent = 100;
        config.request_timeout = Duration::from_secs(5);
        let gateway = Gateway::new(config, None);
        for _ in 0..10 {
            let answer = gateway
                .handle(([127, 0, 0, 1], 40_000).into(), cut_off_request())
                .await;
            assert_eq!(answer.status(), http::StatusCode::BAD_REQUEST);
        }
        assert_eq!(seen_first.requests() + seen_second.requests(), 10);
        let rotation: Vec<bool> = gateway.upstreams().iter().map(|u| u.is_healthy()).collect();
        assert_eq!(rotation, [true, true], "a client's failure was charged");
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_is_delivered_and_one_cut_off_is_the_clients() {
        let (empty, watch) = BodyWatch::watch(Body::empty());
        assert!(watch.delivered() && !watch.broken_by_client());
        drop(empty);

        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"{\"a\""))];
        let (body, watch) = BodyWatch::watch(Body::from_stream(futures_util::stream::iter(chunks)));
        assert!(!watch.delivered(), "nothing read yet");
        let _ = body.collect().await;
        assert!(watch.delivered() && !watch.broken_by_client());

        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"{\"a\"")),
            Err(std::io::Error::other("client went away")),
        ];
        let (body, watch) = BodyWatch::watch(Body::from_stream(futures_util::stream::iter(chunks)));
        assert!(body.collect().await.is_err());
        assert!(watch.broken_by_client() && !watch.delivered());
    }
}
