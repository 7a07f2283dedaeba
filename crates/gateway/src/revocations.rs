//! The cluster's record of revocations (logouts), and their delivery to
//! every instance.
//!
//! An instance that keeps sessions and its token denylist in its own memory
//! posts each revocation it makes here (`POST /_cluster/revocations`, with
//! the cluster token). The gateway keeps it until it stops mattering, gives
//! it to every instance in rotation and answers once each has applied it;
//! an instance that does not is taken out of rotation. An instance comes
//! back into rotation only after it has taken the whole record (a restarted
//! one has forgotten everything). The two steps exclude each other (a
//! read-write gate), so no revocation can slip between an instance's
//! catch-up and its return.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http_body_util::BodyExt as _;
use serde::{Deserialize, Serialize};

use crate::error::GatewayError;
use crate::{Gateway, Upstream};

/// Revocations kept at most; past it the oldest go (an instance out of
/// rotation longer than that many logouts comes back without them).
const MAX_KEPT: usize = 100_000;
/// How long an instance may take to apply a batch.
const APPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest revocation taken (instances split theirs far below it).
pub(crate) const MAX_REVOCATION_BYTES: usize = 16 * 1024;
/// Bytes of revocations per request to an instance: under its 64 KiB
/// body limit whatever they hold.
const BATCH_BYTES: usize = 48 * 1024;
/// Entries of one revocation, and bytes of one entry, at most.
const MAX_ENTRIES: usize = 300;
const MAX_ENTRY_BYTES: usize = 256;

/// A revocation as the gateway checks it before keeping it: a bad one must
/// never enter the record, where every instance would refuse it and be
/// kept out of rotation for it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Checked {
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    denied: Vec<CheckedDenied>,
    #[serde(default)]
    at_ms: u64,
    expires_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CheckedDenied {
    key: String,
    until_ms: u64,
}

impl Checked {
    fn within_limits(&self) -> bool {
        let strings = (self.sessions.iter())
            .chain(&self.users)
            .chain(self.denied.iter().map(|d| &d.key));
        self.sessions.len() + self.users.len() + self.denied.len() <= MAX_ENTRIES
            && strings
                .into_iter()
                .all(|s| !s.is_empty() && s.len() <= MAX_ENTRY_BYTES)
    }
}

/// The record, and the gate between deliveries and returns to rotation.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    kept: Mutex<VecDeque<(u64, serde_json::Value)>>,
    gate: tokio::sync::RwLock<()>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Revocations {
    /// Keeps `revocation` (until `expires_ms`), dropping what has lapsed.
    fn keep(&self, expires_ms: u64, revocation: serde_json::Value) {
        let now = now_ms();
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(expires, _)| *expires > now);
        while kept.len() >= MAX_KEPT {
            kept.pop_front();
        }
        kept.push_back((expires_ms, revocation));
    }

    /// Everything that still matters.
    fn all(&self) -> Vec<serde_json::Value> {
        let now = now_ms();
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        (kept.iter())
            .filter(|(expires, _)| *expires > now)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The gate, exclusively: no revocation is being delivered while it is
    /// held, so which instances are in rotation cannot change under the
    /// holder (a health check holds it to decide, catch up and settle).
    pub(crate) async fn exclusive(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.gate.write().await
    }

    /// Gives the whole record to each of `returning` (instances about to
    /// come back into rotation); those that did not take it, which must
    /// stay out. Called under [`Revocations::exclusive`].
    pub(crate) async fn catch_up(
        &self,
        returning: &[Arc<Upstream>],
        token: Option<&str>,
    ) -> Vec<Arc<Upstream>> {
        let record = self.all();
        let mut failed = Vec::new();
        if let (false, Some(token)) = (record.is_empty(), token) {
            // One after another: a returning instance is rare, and logouts
            // wait for the gate meanwhile.
            for upstream in returning {
                if let Err(why) = deliver(upstream, token, &record).await {
                    tracing::warn!(
                        upstream = %upstream.id, %why,
                        "instance kept out of rotation: it has not taken the cluster's revocations"
                    );
                    failed.push(Arc::clone(upstream));
                }
            }
        }
        failed
    }
}

/// `revocations` in batches of at most [`BATCH_BYTES`] (each revocation is
/// far smaller).
fn batches(revocations: &[serde_json::Value]) -> Vec<&[serde_json::Value]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, revocation) in revocations.iter().enumerate() {
        let size = revocation.to_string().len() + 1;
        if i > start && bytes + size > BATCH_BYTES {
            batches.push(&revocations[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < revocations.len() || revocations.is_empty() {
        batches.push(&revocations[start..]);
    }
    batches
}

/// Gives `revocations` to `upstream` in batches.
async fn deliver(
    upstream: &Upstream,
    token: &str,
    revocations: &[serde_json::Value],
) -> Result<(), String> {
    for batch in batches(revocations) {
        let body = serde_json::to_vec(&serde_json::json!({ "revocations": batch }))
            .map_err(|e| e.to_string())?;
        let request = http::Request::post("/_internal/revocations")
            .header(HOST, upstream.authority())
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(APPLY_TIMEOUT, upstream.pool.send(request))
            .await
            .map_err(|_| "no answer in time".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        let status = answer.status();
        // Read to the end: the connection goes back to the pool.
        let _ = answer.into_body().collect().await;
        if !status.is_success() {
            return Err(format!("it answered {status}"));
        }
    }
    Ok(())
}

/// The cluster token, when `headers` carry it; otherwise the answer.
fn instance_only<'a>(gateway: &'a Gateway, headers: &HeaderMap) -> Result<&'a str, GatewayError> {
    let Some(token) = gateway.config.handover_token.as_deref() else {
        return Err(GatewayError::NotFound(
            "This gateway keeps no revocations".to_owned(),
        ));
    };
    if statecraft_http::carries_token(headers, token) {
        Ok(token)
    } else {
        Err(GatewayError::Forbidden(
            "Revocations come from the cluster's instances",
        ))
    }
}

/// `GET /_cluster/revocations`: every kept revocation, for an instance that
/// has just started.
pub(crate) async fn record(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    if let Err(refused) = instance_only(&gateway, &headers) {
        return refused.into_response();
    }
    Json(serde_json::json!({ "revocations": gateway.revocations.all() })).into_response()
}

/// `POST /_cluster/revocations` from an instance: checked, kept, delivered
/// to every instance in rotation, answered when each has it. The token is
/// checked before the body is parsed; the body is at most
/// [`MAX_REVOCATION_BYTES`] (the route's limit).
pub(crate) async fn receive(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let token = match instance_only(&gateway, &headers) {
        Ok(token) => token,
        Err(refused) => return refused.into_response(),
    };
    let body = match crate::error::whole_body(body, "A revocation is at most 16 KiB of JSON") {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let checked = match serde_json::from_slice::<Checked>(&body) {
        Ok(checked) if checked.within_limits() => checked,
        _ => {
            return GatewayError::InvalidRequest(
                "A revocation is {sessions, users, denied: [{key, untilMs}], atMs, expiresMs}, \
                 at most 300 entries of at most 256 bytes",
            )
            .into_response();
        }
    };
    let Ok(revocation) = serde_json::to_value(&checked) else {
        return GatewayError::InvalidRequest("A revocation that cannot be kept").into_response();
    };
    let revocations = &gateway.revocations;
    // Kept first: an instance catching up meanwhile takes it from the record.
    revocations.keep(checked.expires_ms, revocation.clone());
    let _gate = revocations.gate.read().await;
    let record = [revocation];
    let in_rotation: Vec<&Arc<Upstream>> = gateway
        .upstreams
        .iter()
        .filter(|u| u.is_healthy())
        .collect();
    let delivered =
        futures_util::future::join_all(in_rotation.iter().map(|u| deliver(u, token, &record)))
            .await;
    let mut missed = Vec::new();
    for (upstream, outcome) in in_rotation.into_iter().zip(delivered) {
        if let Err(why) = outcome {
            // Out until it has caught up: it must not serve a revoked
            // credential meanwhile.
            tracing::warn!(upstream = %upstream.id, %why, "revocation not delivered: out of rotation");
            upstream.set_healthy(false);
            missed.push(upstream.id.clone());
        }
    }
    Json(serde_json::json!({ "delivered": true, "outOfRotation": missed })).into_response()
}

#[cfg(test)]
mod tests {
    use super::{BATCH_BYTES, Checked, batches};

    #[test]
    fn revocations_are_checked_before_they_are_kept_and_delivered_in_batches_by_size() {
        let ok: Checked = serde_json::from_str(
            r#"{"sessions":["abc"],"denied":[{"key":"sid:{f}","untilMs":5}],"atMs":1,"expiresMs":9}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.within_limits());
        let too_many = format!(
            r#"{{"users":[{}],"expiresMs":9}}"#,
            vec![r#""u""#; 301].join(",")
        );
        let too_many: Checked = serde_json::from_str(&too_many).unwrap_or_else(|e| panic!("{e}"));
        assert!(!too_many.within_limits());
        let too_long = format!(r#"{{"users":["{}"],"expiresMs":9}}"#, "u".repeat(257));
        let too_long: Checked = serde_json::from_str(&too_long).unwrap_or_else(|e| panic!("{e}"));
        assert!(!too_long.within_limits());
        for refused in [r#"{"expiresMs":9,"extra":1}"#, r#"{"sessions":[]}"#, "[]"] {
            assert!(
                serde_json::from_str::<Checked>(refused).is_err(),
                "{refused}"
            );
        }

        // 300 revocations of ~1 KiB: batches under the limit, none lost.
        let one = serde_json::json!({"users": ["x".repeat(1000)], "expiresMs": 9});
        let record = vec![one; 300];
        let sent = batches(&record);
        assert!(sent.len() > 1);
        assert_eq!(sent.iter().map(|b| b.len()).sum::<usize>(), 300);
        for batch in &sent {
            let bytes = serde_json::to_vec(batch).unwrap_or_default().len();
            assert!(bytes <= BATCH_BYTES + 64, "{bytes}");
        }
        assert_eq!(batches(&[]).len(), 1, "an empty record is one empty batch");
    }
}
