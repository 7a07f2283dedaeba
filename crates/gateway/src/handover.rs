//! Hand-over: drains an instance and moves its sessions to another, so a
//! rolling restart of in-memory instances loses none (`POST
//! /_cluster/instances/{id}/handover`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::header::AUTHORIZATION;
use http_body_util::BodyExt as _;

use crate::{Gateway, Upstream};

/// Sessions per hand-over request: each body stays well under an instance's
/// 64 KiB limit.
const HANDOVER_BATCH: usize = 100;
/// How long requests already at a handed-over instance may take to finish.
const HANDOVER_SETTLE: Duration = Duration::from_secs(2);

/// Drains `from` and hands its sessions to another instance: a first copy of
/// all, then its pinned clients are sent to the heir, then the sessions that
/// changed meanwhile (requests that were already there) follow; the heir
/// keeps whichever copy was used last.
pub(crate) async fn handover(
    gateway: &Gateway,
    from: &Arc<Upstream>,
) -> Result<serde_json::Value, String> {
    let token = gateway
        .config
        .handover_token
        .as_deref()
        .ok_or("this gateway has no hand-over token (statecraft cluster sets one)")?;
    let heir = gateway
        .upstreams
        .iter()
        .find(|u| !Arc::ptr_eq(u, from) && u.takes_new_clients())
        .ok_or("no other healthy instance to take the sessions")?;
    from.set_draining(true);
    let (since, sessions) = export_sessions(from, token, 0).await?;
    let handed = import_sessions(heir, token, &sessions).await?;
    from.set_moved_to(Some(heir.id.clone()));
    let settle = tokio::time::Instant::now() + HANDOVER_SETTLE;
    while from.in_flight() > 0 && tokio::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, changed) = export_sessions(from, token, since).await?;
    let updated = import_sessions(heir, token, &changed).await?;
    Ok(serde_json::json!({
        "id": from.id,
        "action": "handover",
        "to": heir.id,
        "sessions": sessions.len(),
        "handedOver": handed,
        "updatedAfter": updated,
    }))
}

/// An instance's sessions used since `since` (ms), and its clock then.
async fn export_sessions(
    from: &Upstream,
    token: &str,
    since: u64,
) -> Result<(u64, Vec<serde_json::Value>), String> {
    let path = format!("/_internal/sessions?since={since}");
    let body = exchange(from, http::Method::GET, &path, token, Body::empty()).await?;
    let mut export: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("{}: bad export: {e}", from.id))?;
    let now = export["nowMs"].as_u64().unwrap_or(since);
    let sessions = match export["sessions"].take() {
        serde_json::Value::Array(sessions) => sessions,
        _ => return Err(format!("{}: export without sessions", from.id)),
    };
    Ok((now, sessions))
}

/// Gives `sessions` to `to` in batches; returns how many it took.
async fn import_sessions(
    to: &Upstream,
    token: &str,
    sessions: &[serde_json::Value],
) -> Result<u64, String> {
    let mut taken = 0;
    for batch in sessions.chunks(HANDOVER_BATCH) {
        let body = serde_json::to_vec(&serde_json::json!({ "sessions": batch }))
            .map_err(|e| e.to_string())?;
        let answer = exchange(
            to,
            http::Method::POST,
            "/_internal/sessions",
            token,
            Body::from(body),
        )
        .await?;
        let answer: serde_json::Value =
            serde_json::from_slice(&answer).map_err(|e| format!("{}: {e}", to.id))?;
        taken += answer["imported"].as_u64().unwrap_or(0);
    }
    Ok(taken)
}

/// One authorized JSON exchange with an instance; its body when it succeeds.
async fn exchange(
    upstream: &Upstream,
    method: http::Method,
    path: &str,
    token: &str,
    body: Body,
) -> Result<axum::body::Bytes, String> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, upstream.authority())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(HANDOVER_SETTLE * 5, upstream.pool.send(request))
        .await
        .map_err(|_| format!("{} did not answer", upstream.id))?
        .map_err(|e| format!("{}: {e:?}", upstream.id))?;
    let status = answer.status();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{}: {e}", upstream.id))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{} answered {status}: {}",
            upstream.id,
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(body)
}
