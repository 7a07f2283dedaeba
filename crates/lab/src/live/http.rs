//! `/lab/…`: the presets, the runs (list, start, read, cancel or delete),
//! a run's live events (Server-Sent Events) and its files (JSON, CSV, the
//! report). Starting and cancelling are control actions: the same rules as
//! `/_cluster`'s ([`statecraft_http::ControlGuard`]). Every error is
//! `{"error", "code"}` as in API.md.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::LiveError;
use super::files;
use super::history::{self, RunSummary};
use super::process::{Running, StartError};
use super::{LiveLab, MAX_READERS, MAX_SPEC_BYTES};
use crate::spec::{Preset, RunSpec};

impl LiveLab {
    /// Refuses a request whose `Host` names another server (a DNS-rebound
    /// page reads nothing either).
    pub(super) fn check_host(&self, headers: &HeaderMap) -> Result<(), LiveError> {
        (self.0.guard)
            .check_host(headers, self.0.listening.get().copied())
            .map_err(|refused| LiveError::Forbidden(refused.0))
    }

    /// Refuses a control action `peer` may not take.
    fn authorize(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<(), LiveError> {
        (self.0.guard)
            .authorize(self.0.listening.get().copied(), peer, headers)
            .map_err(|refused| LiveError::Forbidden(refused.0))
    }

    pub(super) fn run_dir(&self, id: &str) -> Result<PathBuf, LiveError> {
        history::dir_of(&self.0.history, id).ok_or_else(|| {
            LiveError::NotFound(format!("No lab run {id} (GET /lab/runs lists them)"))
        })
    }

    fn summary(&self, id: &str, dir: &std::path::Path) -> RunSummary {
        let live = self.live(id).map(|run| run.end());
        history::summary(dir, id, live)
    }
}

/// The routes, their OpenAPI document beside them.
pub fn router(lab: LiveLab) -> (axum::Router, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::new()
        .routes(routes!(presets))
        .routes(routes!(list, start))
        .routes(routes!(one, cancel_or_delete))
        .routes(routes!(events))
        .routes(routes!(files::results_json))
        .routes(routes!(files::results_csv))
        .routes(routes!(files::report))
        .routes(routes!(files::latest_results))
        .routes(routes!(files::latest_report))
        .split_for_parts();
    let router = router
        .layer(DefaultBodyLimit::max(MAX_SPEC_BYTES))
        .fallback(|| async { LiveError::NotFound("Route not found".to_owned()) })
        .method_not_allowed_fallback(|| async { LiveError::MethodNotAllowed })
        .with_state(lab);
    (router, doc)
}

/// The presets a run can start from, each with the plan it makes.
#[utoipa::path(get, operation_id = "lab_presets", path = "/lab/presets", tag = "lab",
    responses((status = 200, content_type = "application/json", body = Object)))]
async fn presets(State(lab): State<LiveLab>, headers: HeaderMap) -> Result<Response, LiveError> {
    lab.check_host(&headers)?;
    let all: Vec<Value> = Preset::ALL
        .iter()
        .map(|p| {
            let plan = RunSpec::preset(p.id).plan().ok();
            json!({"id": p.id, "title": p.title, "description": p.description, "plan": plan})
        })
        .collect();
    Ok(Json(json!({"presets": all})).into_response())
}

/// Every run kept, newest first, and the one going on.
#[utoipa::path(get, operation_id = "lab_list_runs", path = "/lab/runs", tag = "lab",
    responses((status = 200, content_type = "application/json", body = Object)))]
async fn list(State(lab): State<LiveLab>, headers: HeaderMap) -> Result<Response, LiveError> {
    lab.check_host(&headers)?;
    let history = lab.0.history.clone();
    let scan = lab.clone();
    let runs = tokio::task::spawn_blocking(move || {
        history::ids(&history)
            .into_iter()
            .map(|id| scan.summary(&id, &history.join(&id)))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| LiveError::Internal(format!("listing the runs failed: {e}")))?;
    let running = lab.running().map(|run| run.id.clone());
    Ok(Json(json!({"running": running, "runs": runs})).into_response())
}

/// Starts a run of the spec in the body (docs/lab.md): `201` with its id,
/// `409 RUN_IN_PROGRESS` with the running run's id while one goes on.
#[utoipa::path(post, operation_id = "lab_start_run", path = "/lab/runs", tag = "lab",
    request_body(content = Object, content_type = "application/json",
        description = "A run spec: preset, strategies, users, durationSeconds, instances, faults, storeRttMs, cartItems, store, failover, full"),
    responses(
        (status = 201, content_type = "application/json", body = Object),
        (status = 400, description = "INVALID_REQUEST: a field out of range"),
        (status = 403, description = "FORBIDDEN: cross-site, foreign Host, or not loopback without the admin token"),
        (status = 409, description = "RUN_IN_PROGRESS: one run at a time; runningId names it"),
    ))]
async fn start(
    State(lab): State<LiveLab>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, LiveError> {
    // Who asks, before anything of the body is read.
    lab.authorize(peer, &headers)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(LiveError::NotJson);
    }
    let body = body.map_err(|_| LiveError::TooLarge)?;
    // An object: serde would also take a struct from an array.
    let spec: RunSpec = serde_json::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| match v {
            Value::Object(_) => serde_json::from_value(v).map_err(|e| e.to_string()),
            _ => Err("a spec is a JSON object".to_owned()),
        })
        .map_err(|e| LiveError::Invalid(format!("Not a run spec: {e} (docs/lab.md shows one)")))?;
    let run = Running::start(&lab, spec).map_err(|e| match e {
        StartError::Busy(id) => LiveError::Busy(id),
        StartError::Invalid(why) => LiveError::Invalid(why),
        StartError::Spawn(why) => LiveError::Internal(why),
    })?;
    tracing::info!(run = %run.id, %peer, "lab run started");
    let id = run.id.clone();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/lab/runs/{id}"))],
        Json(json!({"id": id, "status": "running", "events": format!("/lab/runs/{id}/events")})),
    )
        .into_response())
}

/// One run: its status, spec and plan, and its headline figures.
#[utoipa::path(get, operation_id = "lab_get_run", path = "/lab/runs/{id}", tag = "lab",
    params(("id" = String, Path, description = "e.g. 20261205-105213-3f9a")),
    responses((status = 200, content_type = "application/json", body = Object),
        (status = 404, description = "NOT_FOUND")))]
async fn one(
    State(lab): State<LiveLab>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, LiveError> {
    lab.check_host(&headers)?;
    let dir = lab.run_dir(&id)?;
    let read = |file: &str| {
        std::fs::read(dir.join(file))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let mut body = serde_json::to_value(lab.summary(&id, &dir)).unwrap_or_default();
    body["spec"] = read("spec.json").unwrap_or(Value::Null);
    body["plan"] = read("plan.json").unwrap_or(Value::Null);
    Ok(Json(body).into_response())
}

/// Cancels the run going on (everything it started is stopped before the
/// answer), or deletes an ended run and its files.
#[utoipa::path(delete, operation_id = "lab_cancel_or_delete_run", path = "/lab/runs/{id}", tag = "lab",
    params(("id" = String, Path, description = "e.g. 20261205-105213-3f9a")),
    responses((status = 200, content_type = "application/json", body = Object),
        (status = 403, description = "FORBIDDEN"), (status = 404, description = "NOT_FOUND")))]
async fn cancel_or_delete(
    State(lab): State<LiveLab>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, LiveError> {
    lab.authorize(peer, &headers)?;
    let dir = lab.run_dir(&id)?;
    if let Some(run) = lab.running().filter(|run| run.id == id) {
        let end = run.cancel().await;
        tracing::info!(run = %id, %peer, "lab run cancelled");
        return Ok(Json(json!({"id": id, "status": "cancelled", "end": end})).into_response());
    }
    if super::process::recorded_end(&dir).status == super::process::Status::Incomplete {
        return Err(LiveError::NotEnded(id));
    }
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir))
        .await
        .map_err(|e| LiveError::Internal(e.to_string()))?
        .map_err(|e| LiveError::Internal(format!("cannot delete run {id}: {e}")))?;
    Ok(Json(json!({"id": id, "status": "deleted"})).into_response())
}

/// The run's events as Server-Sent Events: those so far, then each as it
/// comes, until `ended` (docs/lab.md, "Live events").
#[utoipa::path(get, operation_id = "lab_run_events", path = "/lab/runs/{id}/events", tag = "lab",
    params(("id" = String, Path, description = "e.g. 20261205-105213-3f9a")),
    responses((status = 200, content_type = "text/event-stream", body = String),
        (status = 404, description = "NOT_FOUND: not the latest run started here")))]
async fn events(
    State(lab): State<LiveLab>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, LiveError> {
    lab.check_host(&headers)?;
    let run = lab.live(&id).ok_or_else(|| {
        LiveError::NotFound(format!(
            "Run {id} is not the latest started by this server: its results are at /lab/runs/{id}/results.json"
        ))
    })?;
    let reader = Reader::join(&lab).ok_or(LiveError::TooManyReaders)?;
    let (past, receiver) = run.subscribe();
    // The end is the last event published: either among those so far, or
    // still to come on the receiver.
    let ended = past.iter().any(|line| is_end(line));
    let upcoming = stream::unfold(Some((receiver, reader)), move |state| async move {
        let (mut receiver, reader) = state?;
        loop {
            match receiver.recv().await {
                Ok(line) => {
                    let last = is_end(&line);
                    return Some((line, (!last).then_some((receiver, reader))));
                }
                // A slow reader misses samples, not the run.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let upcoming = if ended {
        upcoming.take(0).boxed()
    } else {
        upcoming.boxed()
    };
    let all = stream::iter(past)
        .chain(upcoming)
        .map(|line| Ok(Event::default().data(line.as_ref())));
    Ok(Sse::new(all).keep_alive(KeepAlive::default()))
}

/// One reader of a run's events, counted while its stream lives.
struct Reader(LiveLab);

impl Reader {
    fn join(lab: &LiveLab) -> Option<Self> {
        let readers = &lab.0.readers;
        let joined = readers
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| (n < MAX_READERS).then_some(n + 1),
            )
            .is_ok();
        joined.then(|| Self(lab.clone()))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.0
            .0
            .readers
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether an event is the server's last of a run.
fn is_end(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|event| event["type"] == "ended")
}

#[cfg(test)]
mod tests;
