//! Keep-alive connections to one instance, on hyper's connection API.
//!
//! One pool per instance, so no map keyed by host is consulted per request
//! (the generic client's pool hashed its key several times per request: a
//! tenth of the gateway's instructions, measured). And hyper's
//! `try_send_request` hands a request back when it was never written, so
//! "not sent" is known exactly: such a request may go to another instance
//! whatever its method, body included.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Idle connections kept per instance: enough for the load driver's
/// concurrency without reconnecting.
const MAX_IDLE: usize = 256;

/// Connections to one instance.
#[derive(Debug)]
pub(crate) struct ConnPool {
    /// `HOST:PORT`.
    authority: String,
    connect_timeout: Duration,
    /// Idle connections, the last used on top, each with when it went idle.
    idle: Mutex<Vec<(SendRequest<Body>, Instant)>>,
    /// How long a connection may stay idle here: less than the instance's
    /// own limit, so that the gateway never writes a request on a connection
    /// the instance is closing that moment (a request it would then have to
    /// call failed, not "never sent").
    max_idle_for: Duration,
}

/// Why a request got no answer.
#[derive(Debug)]
pub(crate) enum SendError {
    /// It was never written (no connection could be made, or the connection
    /// closed first): here it is back, body unread.
    NotSent(Box<Request<Body>>, String),
    /// It may have reached the instance.
    Failed(hyper::Error),
}

impl ConnPool {
    pub(crate) fn new(authority: String, connect_timeout: Duration) -> Self {
        // Instances close a connection idle for their header timeout, the
        // same setting as ours when `cluster` starts them.
        let max_idle_for = statecraft_http::header_timeout() * 2 / 3;
        Self::with_idle_limit(authority, connect_timeout, max_idle_for)
    }

    fn with_idle_limit(
        authority: String,
        connect_timeout: Duration,
        max_idle_for: Duration,
    ) -> Self {
        Self {
            authority,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            max_idle_for,
        }
    }

    /// Sends `request` (origin-form URI, a `Host` header) on an idle
    /// connection, or a new one.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        while let Some(mut sender) = self.take_idle() {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(answer) => return Ok(self.pooled(answer, sender)),
                Err(mut err) => match err.take_message() {
                    // The connection was gone before the request was written.
                    Some(back) => request = back,
                    None => return Err(SendError::Failed(err.into_error())),
                },
            }
        }
        let mut sender = match self.connect().await {
            Ok(sender) => sender,
            Err(why) => return Err(SendError::NotSent(Box::new(request), why)),
        };
        match sender.try_send_request(request).await {
            Ok(answer) => Ok(self.pooled(answer, sender)),
            Err(mut err) => match err.take_message() {
                Some(back) => Err(SendError::NotSent(
                    Box::new(back),
                    err.into_error().to_string(),
                )),
                None => Err(SendError::Failed(err.into_error())),
            },
        }
    }

    /// Drops every idle connection: they led to a process that is gone (a
    /// killed or restarted instance), and the first request on one would
    /// fail after being written.
    pub(crate) fn forget_idle(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn take_idle(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((sender, since)) = idle.pop() {
            if since.elapsed() >= self.max_idle_for {
                // The rest went idle earlier still.
                idle.clear();
                return None;
            }
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn check_in(&self, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push((sender, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, String> {
        let stream =
            tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.authority))
                .await
                .map_err(|_| format!("connect to {} timed out", self.authority))?
                .map_err(|e| format!("connect to {}: {e}", self.authority))?;
        // Requests and answers are small and written whole: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {}: {e}", self.authority))?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// The answer, its connection back in the pool once its body is done.
    fn pooled(
        self: &Arc<Self>,
        answer: Response<Incoming>,
        sender: SendRequest<Body>,
    ) -> Response<Body> {
        let pool = Arc::clone(self);
        answer.map(|body| {
            Body::new(PooledBody {
                body,
                sender: Some(sender),
                pool,
            })
        })
    }
}

/// An answer's body; dropping it returns its connection to the pool (a
/// connection whose body was not read to the end closes, and is skipped).
struct PooledBody {
    body: Incoming,
    sender: Option<SendRequest<Body>>,
    pool: Arc<ConnPool>,
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.check_in(sender);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use http_body_util::BodyExt as _;

    use super::*;
    use crate::testing;

    /// One request, its answer read to the end (which checks its connection
    /// back in).
    async fn get(pool: &Arc<ConnPool>) {
        let request = testing::request("GET", "/", &[("host", "instance")]);
        let answer = pool.send(request).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(answer.status(), 200);
        answer
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn an_idle_connection_is_reused_until_it_has_been_idle_too_long() {
        let (addr, seen) = testing::start().await;
        let accepted = &seen.connections;
        // Generous against a loaded machine: the first two requests must
        // fall within it.
        let limit = Duration::from_secs(1);
        let pool = Arc::new(ConnPool::with_idle_limit(
            addr,
            Duration::from_secs(1),
            limit,
        ));
        get(&pool).await;
        get(&pool).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "kept alive and reused");
        tokio::time::sleep(limit + Duration::from_millis(200)).await;
        get(&pool).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "a connection idle past the limit is not written on"
        );
        get(&pool).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "the new one is kept");
    }
}
