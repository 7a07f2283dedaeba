//! Liveness, readiness, metrics and the API description.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// How long `/readyz` waits for a store.
const READY_TIMEOUT: Duration = Duration::from_millis(500);

/// The answer to `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `"ok"`.
    status: &'static str,
}

/// What `/readyz` found of each store.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoreChecks {
    /// `"ok"` or `"unavailable"`.
    sessions: &'static str,
    /// `"ok"` or `"unavailable"`.
    counters: &'static str,
    /// The users service's database: `"ok"` or `"unavailable"`.
    users: &'static str,
    /// The orders, inventory and notifications databases: `"ok"` or `"unavailable"`.
    services: &'static str,
}

/// The answer to `/readyz`: `status` when ready, the error shape when not.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    stores: StoreChecks,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn check<E, F: Future<Output = Result<(), E>>>(ping: F) -> &'static str {
    match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(())) => "ok",
        _ => "unavailable",
    }
}

/// Readiness: every store answers within 500 ms.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "STORE_UNAVAILABLE", body = Readiness),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let (sessions, counters, users, services) = tokio::join!(
        check(state.sessions.ping()),
        check(state.counters.ping()),
        check(state.identity.users.ping()),
        check(state.services.ping()),
    );
    let stores = StoreChecks {
        sessions,
        counters,
        users,
        services,
    };
    if [sessions, counters, users, services]
        .iter()
        .all(|s| *s == "ok")
    {
        let body = Readiness {
            status: Some("ok"),
            error: None,
            code: None,
            stores,
        };
        return Json(body).into_response();
    }
    let body = Readiness {
        status: None,
        error: Some("A store is unavailable"),
        code: Some("STORE_UNAVAILABLE"),
        stores,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Prometheus metrics: `http_requests_total` and `http_request_duration_seconds`
/// by method, route and status; `statecraft_live_sessions`.
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let live = state.sessions.count().await.ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(live),
    )
        .into_response()
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "health",
    responses((status = 200, content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json(State(state): State<AppState>) -> Response {
    // With routes beside the application's, the document that has theirs.
    let doc = state
        .openapi_json
        .get()
        .map_or_else(|| super::OPENAPI_JSON.clone(), String::clone);
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}
