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

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

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
    // The peer address feeds the login rate limit.
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        std::net::SocketAddr,
    >(service);
    // Answers are small and written whole: send them at once, without waiting
    // for the peer's ACK of the previous segment.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
