//! The accept loop every server of the binary shares (the app, each service
//! alone, the gateway): hyper's HTTP/1 server on each connection, directly.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;

use crate::body_deadline::with_deadline;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// How long a client may take to send a request's head when none is given
/// (`--header-timeout`); hyper's own default, nginx's `client_header_timeout`
/// is 60 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

static HEADER_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets this process's [`header_timeout`] (the first call wins): one setting
/// for every server the process runs.
pub fn set_header_timeout(limit: Duration) {
    let _ = HEADER_TIMEOUT.set(limit);
}

/// How long a client may take to send a request's head, counted from when
/// the server starts waiting for one: on a kept-alive connection that is as
/// soon as the previous answer is written, so this is also how long an idle
/// connection stays open. Without it a client that sends nothing, or trickles
/// a head a byte at a time (Slowloris), holds a connection and its buffers
/// for ever, and a few thousand of them exhaust the file descriptors.
pub fn header_timeout() -> Duration {
    HEADER_TIMEOUT
        .get()
        .copied()
        .unwrap_or(DEFAULT_HEADER_TIMEOUT)
}

/// Serves the connections accepted on `listener` until `shutdown`, each with
/// the service `per_connection` makes for its peer; then stops accepting and
/// lets requests in flight finish (idle connections close), waiting at most
/// `drain` when given. A connection whose client takes longer than
/// [`header_timeout`] to send a request's head is closed; a request body
/// that takes longer than [`body_timeout`] fails with
/// [`crate::BodyTimedOut`].
///
/// hyper's server rather than `axum::serve`, which offers no settings: an
/// answer's head and body are copied into one buffer and written with one
/// `write(2)`, cheaper than `writev(2)` of two pieces for answers of a few
/// hundred bytes (measured: ~4% of a proxied request's CPU).
///
/// # Errors
/// None yet: a failed accept (out of file descriptors, say) is logged and
/// retried; the `Result` leaves room for listener errors that end serving.
pub async fn serve_http1<F, S>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain: Option<Duration>,
    mut per_connection: F,
) -> std::io::Result<()>
where
    F: FnMut(SocketAddr) -> S,
    S: hyper::service::Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    // The connections, to cut those still open when the drain's limit
    // passes: their requests must not go on using the pools the process is
    // closing. Owned by this loop alone, reaped as it accepts (no lock, no
    // cost on a request).
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written whole: send them at once, without
        // waiting for the peer's ACK of the previous segment.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
        let connection = http1::Builder::new()
            .writev(false)
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout())
            .serve_connection(TokioIo::new(stream), Deadlines(per_connection(peer)));
        let connection = graceful.watch(connection);
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "client connection ended");
            }
        });
    }
    drop(listener);
    match drain {
        None => graceful.shutdown().await,
        Some(limit) => {
            if tokio::time::timeout(limit, graceful.shutdown())
                .await
                .is_err()
            {
                connections.abort_all();
                tracing::warn!("requests still in flight after {limit:?}: connections closed");
            }
        }
    }
    Ok(())
}

/// A connection's service with a deadline on each request's body.
struct Deadlines<S>(S);

impl<S> hyper::service::Service<http::Request<Incoming>> for Deadlines<S>
where
    S: hyper::service::Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.0.call(request.map(with_deadline))
    }
}
