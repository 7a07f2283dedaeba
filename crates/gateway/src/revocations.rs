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
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::error::GatewayError;
use crate::{Gateway, Upstream};

/// Revocations kept at most; past it the oldest go (an instance out of
/// rotation longer than that many logouts comes back without them).
const MAX_KEPT: usize = 100_000;
/// How long an instance may take to apply a batch.
const APPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Revocations per request when an instance catches up: well under an
/// instance's 64 KiB body limit.
const BATCH: usize = 100;

/// What the gateway reads of a revocation: when it stops mattering. The
/// rest is the instances' business and passed on as it came.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lifetime {
    expires_ms: u64,
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

    /// Gives the whole record to each of `returning` (instances about to
    /// come back into rotation), then calls `then` with those that did not
    /// take it (they must stay out), still under the gate: a health check
    /// puts the others in rotation there.
    pub(crate) async fn catch_up_then(
        &self,
        returning: &[Arc<Upstream>],
        token: Option<&str>,
        then: impl FnOnce(&[Arc<Upstream>]),
    ) {
        let _gate = self.gate.write().await;
        let record = self.all();
        let mut failed = Vec::new();
        if let (false, Some(token)) = (record.is_empty(), token) {
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
        then(&failed);
    }
}

/// Gives `revocations` to `upstream` in batches.
async fn deliver(
    upstream: &Upstream,
    token: &str,
    revocations: &[serde_json::Value],
) -> Result<(), String> {
    for batch in revocations.chunks(BATCH) {
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

/// `POST /_cluster/revocations` from an instance: kept, delivered to every
/// instance in rotation, answered when each has it.
pub(crate) async fn receive(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    Json(revocation): Json<serde_json::Value>,
) -> Response {
    let Some(token) = gateway.config.handover_token.as_deref() else {
        return GatewayError::NotFound("This gateway keeps no revocations".to_owned())
            .into_response();
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        return GatewayError::Forbidden("Revocations come from the cluster's instances")
            .into_response();
    }
    let Ok(Lifetime { expires_ms }) = serde_json::from_value::<Lifetime>(revocation.clone()) else {
        return GatewayError::InvalidRequest("A revocation needs expiresMs").into_response();
    };
    let revocations = &gateway.revocations;
    let _gate = revocations.gate.read().await;
    revocations.keep(expires_ms, revocation.clone());
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
