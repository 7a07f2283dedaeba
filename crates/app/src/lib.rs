//! The statecraft API server: one axum application whose state lives in the
//! configured stores (memory, SQLite, Redis) or with the client (signed tokens).
//!
//! `main` builds an [`AppConfig`] and the stores, then calls [`serve`] with a bound
//! listener and a shutdown future; tests do the same on port 0.

mod auth;
mod build;
mod cache;
mod config;
mod cookies;
mod error;
mod extract;
mod links;
mod metrics;
mod middleware;
mod remote;
mod revocation;
mod routes;
mod service;
mod session;
mod source;
mod state;
mod state_token;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

pub use auth::{AuthMode, AuthSettings, Identity, family_key, token_key};
pub use build::{Application, Blueprint, BuildError, RemoteServices, build, build_identity};
pub use config::{AppConfig, InvalidStateKey, StateKey};
pub use error::ApiError;
pub use links::ServiceLinks;
pub use remote::{BadServiceUrl, RemoteService};
pub use revocation::{ClusterLink, Denied, Revocation};
pub use routes::introspect::Introspection;
pub use routes::{Extension, app, app_with, openapi};
pub use service::{LoneService, ServiceContext, service_app};
pub use state::AppState;

/// What our servers serve: a service that answers every request (failures
/// are answers), cloned for each connection.
pub trait HttpService:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

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
    serve_service(listener, app(state), shutdown, None).await
}

/// Serves `service` on `listener` until `shutdown`, then shuts down in
/// order within `limit`: stops accepting, lets requests in flight finish (at
/// most three quarters of `limit`: their connections are cut after it), and
/// stops `tasks` (a relay sends its last events) until seven eighths; the
/// time left, returned, is for closing the pools.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve_then_stop<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limit: std::time::Duration,
    tasks: &statecraft_events::Tasks,
) -> std::io::Result<std::time::Duration>
where
    S: HttpService,
{
    let began = std::sync::Arc::new(std::sync::OnceLock::new());
    let shutdown = {
        let began = std::sync::Arc::clone(&began);
        async move {
            shutdown.await;
            let _ = began.set(std::time::Instant::now());
        }
    };
    let served = serve_service(listener, service, shutdown, Some(limit * 3 / 4)).await;
    let spent = || {
        began
            .get()
            .map_or(std::time::Duration::ZERO, std::time::Instant::elapsed)
    };
    if !tasks.stop((limit * 7 / 8).saturating_sub(spent())).await {
        tracing::warn!(
            running = tasks.running(),
            "background tasks still running {limit:?} after the shutdown began: left to the process's end"
        );
    }
    served.map(|()| limit.saturating_sub(spent()))
}

/// Closes pools with `close` within `left` (a pool waits for its connections
/// to come back; one still in use is given up on, and the process ends).
pub async fn close_within(left: std::time::Duration, close: impl Future<Output = ()>) {
    if tokio::time::timeout(left, close).await.is_err() {
        tracing::warn!(
            "pools not closed within the shutdown's limit: a connection is still in use"
        );
    }
}

/// Serves any of our services (the app, or one service alone) on `listener`
/// until `shutdown`, as [`serve`] does, waiting at most `drain` for the
/// requests in flight when given.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve_service<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Option<std::time::Duration>,
) -> std::io::Result<()>
where
    S: HttpService,
{
    // Requests in flight finish (within `drain` when given).
    statecraft_http::serve_http1(listener, shutdown, drain, |peer| {
        let service = service.clone();
        hyper::service::service_fn(move |mut request: axum::extract::Request| {
            // The peer address feeds the login rate limit.
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            service.clone().oneshot(request)
        })
    })
    .await
}
