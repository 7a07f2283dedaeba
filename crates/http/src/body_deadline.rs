//! Every request body has a deadline: a client that sends a whole head and
//! then trickles its body (or stops, keeping the connection open) held a
//! connection and a task for ever — the header timeout ends only slow
//! heads. A body that has not arrived whole within [`body_timeout`] of its
//! head ends with [`BodyTimedOut`], which the servers answer `408
//! REQUEST_TIMEOUT`. The whole body counts, not the gap between reads: a
//! byte every few seconds must not keep it alive.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// How long a client may take to send a request's body when none is given
/// (`--body-timeout`): nginx's `client_body_timeout` is 60 s between reads.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

static BODY_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets this process's [`body_timeout`] (the first call wins).
pub fn set_body_timeout(limit: Duration) {
    let _ = BODY_TIMEOUT.set(limit);
}

/// How long a client may take to send a request's whole body, from the
/// moment its head arrived.
pub fn body_timeout() -> Duration {
    BODY_TIMEOUT.get().copied().unwrap_or(DEFAULT_BODY_TIMEOUT)
}

/// A request body's deadline passed before its end.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
pub struct BodyTimedOut;

/// Whether `err`, or an error it wraps, is [`BodyTimedOut`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<BodyTimedOut>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// `body` with the process's deadline; a body already complete (none) is
/// passed on as it is, with no timer.
pub(crate) fn with_deadline(body: Incoming) -> Body {
    if http_body::Body::is_end_stream(&body) {
        return Body::new(body);
    }
    Body::new(Deadlined {
        body,
        deadline: Instant::now() + body_timeout(),
        timer: None,
    })
}

/// A body that fails once its deadline passes. The timer is made only when
/// the body has to be waited for.
struct Deadlined {
    body: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for Deadlined {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = self.deadline;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut.into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
