//! The statecraft API server: one axum application whose state lives in the
//! configured stores (memory, SQLite, Redis) or with the client (signed tokens).
//!
//! `main` builds an [`AppConfig`] and the stores, then calls [`serve`] with a bound
//! listener and a shutdown future; tests do the same on port 0.

mod auth;
mod cache;
mod config;
mod cookies;
mod error;
mod extract;
mod links;
mod metrics;
mod middleware;
mod routes;
mod service;
mod session;
mod source;
mod state;
mod state_token;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

pub use auth::{AuthMode, AuthSettings, Identity};
pub use config::{AppConfig, InvalidStateKey, StateKey};
pub use error::ApiError;
pub use links::{BadServiceUrl, Link, RemoteService, ServiceLinks};
pub use routes::{app, openapi};
pub use service::{ServiceData, ServiceState, service_app};
pub use state::AppState;

/// Serves `state`'s application on `listener` until `shutdown` completes, then
/// stops accepting and lets requests in flight finish.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_service(listener, app(state), shutdown).await
}

/// Serves any of our services (the app, or one service alone) on `listener`
/// until `shutdown`, as [`serve`] does.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve_service<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let graceful = GracefulShutdown::new();
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
        let service = service.clone();
        let per_request = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            // The peer address feeds the login rate limit.
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            service.clone().oneshot(request)
        });
        // hyper's HTTP/1 server directly (axum::serve offers no settings): an
        // answer's head and body are copied into one buffer and written with
        // one write(2), cheaper than writev(2) of two pieces for answers of a
        // few hundred bytes (measured: ~4% of a proxied request's CPU).
        let connection = http1::Builder::new()
            .writev(false)
            .serve_connection(TokioIo::new(stream), per_request);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "client connection ended");
            }
        });
    }
    drop(listener);
    // As axum::serve did: requests in flight finish, idle connections close.
    graceful.shutdown().await;
    Ok(())
}
