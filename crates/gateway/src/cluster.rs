//! The gateway's own routes: `/_cluster` (instances and their health),
//! `/_cluster/counters/{name}` (one counter asked of every instance), control
//! of instances (drain, stop, start) and `/metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::HeaderMap;
use http_body_util::BodyExt as _;
use serde::Serialize;

use crate::error::GatewayError;
use crate::{Gateway, Upstream};

/// Starts and stops instances' processes (`statecraft cluster` has them).
pub trait InstanceControl: Send + Sync + std::fmt::Debug {
    /// Kills instance `id`'s process at once (SIGKILL: a crash, not a drain).
    ///
    /// # Errors
    /// A sentence for the caller.
    fn stop(&self, id: &str) -> Result<(), String>;

    /// Starts instance `id`'s process again.
    ///
    /// # Errors
    /// A sentence for the caller.
    fn start(&self, id: &str) -> Result<(), String>;

    /// Whether instance `id`'s process is starting or running (`false` once
    /// a start has failed or the process has exited).
    fn is_up(&self, id: &str) -> bool;

    /// The address instance `id`'s process listens on, which the gateway
    /// may reach through a link (so its own URL says nothing of whether the
    /// process is there).
    fn address(&self, id: &str) -> Option<std::net::SocketAddr>;
}

/// How long one instance may take to report a counter.
const COUNTER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Instance<'a> {
    id: &'a str,
    url: String,
    healthy: bool,
    /// Its last check found it ready; an instance can be healthy (in
    /// rotation) without, when no instance is ready (panic routing).
    ready: bool,
    draining: bool,
    in_flight: usize,
    /// The instance its sessions were handed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    moved_to: Option<String>,
}

#[derive(Serialize)]
struct ClusterView<'a> {
    policy: &'static str,
    instances: Vec<Instance<'a>>,
    /// Services by path prefix (added).
    services: Vec<ServiceView<'a>>,
}

#[derive(Serialize)]
struct ServiceView<'a> {
    prefix: &'a str,
    #[serde(flatten)]
    instance: Instance<'a>,
}

fn instance_view(u: &Upstream) -> Instance<'_> {
    Instance {
        id: &u.id,
        url: u.url.to_string().trim_end_matches('/').to_owned(),
        healthy: u.is_healthy(),
        ready: u.is_ready(),
        draining: u.is_draining(),
        in_flight: u.in_flight(),
        moved_to: u.moved_to(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CounterView {
    per_server: BTreeMap<String, i64>,
    /// Instances that did not answer.
    unreachable: Vec<String>,
    consistent: bool,
}

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/_cluster", get(cluster))
        .route("/_cluster/counters/{name}", get(counters))
        .route("/_cluster/instances/{id}/{action}", post(control))
        .route("/_cluster/links", get(crate::links::list))
        .route(
            "/_cluster/links/{id}",
            axum::routing::put(crate::links::set)
                .layer(axum::extract::DefaultBodyLimit::max(4 * 1024)),
        )
        .route("/_cluster/links/{id}/reset", post(crate::links::reset))
        .route(
            "/_cluster/revocations",
            post(crate::revocations::receive)
                .get(crate::revocations::record)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::revocations::MAX_REVOCATION_BYTES,
                )),
        )
        .route("/metrics", get(metrics))
        // The gateway's own paths answer in the API's error shape too.
        .fallback(|| async { GatewayError::NotFound("Route not found".to_owned()) })
        .method_not_allowed_fallback(|| async { GatewayError::MethodNotAllowed })
}

async fn cluster(State(gateway): State<Gateway>) -> Json<serde_json::Value> {
    let view = ClusterView {
        policy: gateway.balancer.policy().as_str(),
        instances: gateway.upstreams.iter().map(|u| instance_view(u)).collect(),
        services: gateway
            .services
            .iter()
            .map(|s| ServiceView {
                prefix: &s.route.prefix,
                instance: instance_view(&s.upstream[0]),
            })
            .collect(),
    };
    Json(serde_json::to_value(view).unwrap_or_default())
}

/// `GET /counters/{name}` of every instance, side by side: per-instance
/// stores drift apart, a shared one never does.
async fn counters(State(gateway): State<Gateway>, Path(name): Path<String>) -> Response {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return GatewayError::InvalidRequest("A counter name is 1-64 of A-Z a-z 0-9 _ - .")
            .into_response();
    }
    let asks = gateway.upstreams.iter().map(|u| counter_of(u, &name));
    let answers = futures_util::future::join_all(asks).await;
    let mut view = CounterView {
        per_server: BTreeMap::new(),
        unreachable: Vec::new(),
        consistent: true,
    };
    for (upstream, answer) in gateway.upstreams.iter().zip(answers) {
        match answer {
            Some(value) => {
                view.per_server.insert(upstream.id.clone(), value);
            }
            None => view.unreachable.push(upstream.id.clone()),
        }
    }
    let mut values = view.per_server.values();
    if let Some(first) = values.next() {
        view.consistent = values.all(|v| v == first);
    }
    Json(view).into_response()
}

async fn counter_of(upstream: &Upstream, name: &str) -> Option<i64> {
    let request = upstream.get(&format!("/counters/{name}"))?;
    let answer = match tokio::time::timeout(COUNTER_TIMEOUT, upstream.pool.send(request)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) => {
            tracing::warn!(instance = %upstream.id, ?err, "counter not read");
            return None;
        }
        Err(_) => {
            tracing::warn!(instance = %upstream.id, "counter not read: no answer in time");
            return None;
        }
    };
    if !answer.status().is_success() {
        tracing::warn!(instance = %upstream.id, status = %answer.status(), "counter not read");
        return None;
    }
    let body = tokio::time::timeout(COUNTER_TIMEOUT, answer.into_body().collect())
        .await
        .ok()?
        .ok()?
        .to_bytes();
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()?
        .get("counter")?
        .as_i64()
}

/// `POST /_cluster/instances/{id}/drain|undrain|stop|start`.
async fn control(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let listening = gateway.listening.get().copied();
    if let Err(err) = gateway.guard.authorize(listening, peer, &headers) {
        return GatewayError::from(err).into_response();
    }
    let Some(upstream) = gateway.upstreams.iter().find(|u| u.id == id) else {
        return GatewayError::NotFound(format!("No instance {id}")).into_response();
    };
    let outcome = match action.as_str() {
        "drain" => {
            upstream.set_draining(true);
            Ok(())
        }
        "undrain" => {
            upstream.set_draining(false);
            upstream.set_moved_to(None);
            Ok(())
        }
        "handover" => {
            return match crate::handover::handover(&gateway, upstream).await {
                Ok(report) => {
                    tracing::info!(instance = %id, %report, "sessions handed over");
                    Json(report).into_response()
                }
                Err(why) => GatewayError::ControlFailed(why).into_response(),
            };
        }
        "stop" | "start" => {
            let Some(control) = &gateway.control else {
                return GatewayError::NotFound(
                    "This gateway does not run its instances (statecraft cluster does)".to_owned(),
                )
                .into_response();
            };
            // The process's own address: a link in front of it listens
            // whether the process does or not.
            let process = match control.address(&id) {
                Some(addr) => addr.to_string(),
                None => upstream
                    .url
                    .authority()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default(),
            };
            if action == "stop" {
                let stopped = control.stop(&id);
                if stopped.is_ok() {
                    // Out of rotation now, not at the next health check;
                    // its pooled connections died with it.
                    upstream.set_healthy(false);
                    // Answered once its port is closed: a start right after
                    // must not find the dying process still listening there
                    // (and take it for the new one).
                    let closed = port_reaches(&process, STOP_WAIT, || true, Expect::Closed).await;
                    upstream.pool.forget_idle();
                    if !closed {
                        tracing::warn!(instance = %id, "still listening after SIGKILL");
                    }
                }
                stopped
            } else {
                let started = control.start(&id);
                if started.is_ok() {
                    // A new process: no sessions handed anywhere, open to all.
                    upstream.set_draining(false);
                    upstream.set_moved_to(None);
                    upstream.pool.forget_idle();
                    // Answered once it listens, so that what the caller asks
                    // next (its counters, say) finds it there; rotation
                    // still waits for the health check to find it ready.
                    let listening = port_reaches(
                        &process,
                        START_WAIT,
                        || control.is_up(&id),
                        Expect::Listening,
                    )
                    .await;
                    tracing::info!(instance = %id, listening, "cluster control: start");
                    if !listening {
                        return GatewayError::ControlFailed(format!(
                            "Instance {id} did not come up listening (its log, beside the cluster's, says why)"
                        ))
                        .into_response();
                    }
                    return Json(
                        serde_json::json!({"id": id, "action": action, "listening": true}),
                    )
                    .into_response();
                }
                started
            }
        }
        _ => return GatewayError::NotFound(format!("No action {action}")).into_response(),
    };
    match outcome {
        Ok(()) => {
            tracing::info!(instance = %id, %action, "cluster control");
            Json(serde_json::json!({"id": id, "action": action})).into_response()
        }
        Err(why) => GatewayError::ControlFailed(why).into_response(),
    }
}

/// How long `start` waits for the new process to listen before answering.
const START_WAIT: Duration = Duration::from_secs(30);

/// How long `stop` waits for the killed process's port to close.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What [`port_reaches`] waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Connections accepted: the new process listens.
    Listening,
    /// Connections refused: the killed process is gone.
    Closed,
}

/// Whether the process at `authority` reaches `expect` within `wait` (tried
/// every 50 ms), giving up as soon as `coming` says that will not happen.
async fn port_reaches(
    authority: &str,
    wait: Duration,
    coming: impl Fn() -> bool,
    expect: Expect,
) -> bool {
    if authority.is_empty() {
        return false;
    }
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline && coming() {
        let attempt = tokio::net::TcpStream::connect(authority);
        let listening = matches!(
            tokio::time::timeout(Duration::from_secs(1), attempt).await,
            Ok(Ok(_))
        );
        if listening == (expect == Expect::Listening) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn metrics(State(gateway): State<Gateway>) -> Response {
    let text = gateway
        .metrics
        .as_ref()
        .map(metrics_exporter_prometheus::PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use crate::testing::{exchange, gateway_over};
    use std::time::Duration;

    /// Found by the gateway fuzz target: `/_clusteren` went to the gateway's
    /// own router, whose unknown routes answered without a JSON body.
    #[tokio::test]
    async fn the_gateways_own_paths_are_whole_segments_and_answer_json_errors() {
        // Nothing listens on port 9: a proxied request fails to connect.
        let gateway = gateway_over(&["127.0.0.1:9"], Duration::from_secs(5));
        let (status, code, _) = exchange(&gateway, "GET", "/_cluster/nowhere", &[]).await;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
        );
        let (status, code, _) = exchange(&gateway, "DELETE", "/_cluster", &[]).await;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED"))
        );
        // Not the gateway's: proxied, and the dead instance says so.
        let (status, code, body) = exchange(&gateway, "POST", "/_clusteren", &[]).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(code.as_deref(), Some("UPSTREAM_FAILED"));
    }
}
