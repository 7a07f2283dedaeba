//! Logouts that reach every instance of a cluster before they are answered.
//!
//! With sessions and the denylist in each instance's memory, a logout used to
//! hold only on the instance that took it: a bearer token logged out on
//! server-2 still worked on server-1 and server-3, and "log out everywhere"
//! left the user's sessions on the others alive. Now the instance that
//! revokes tells its cluster's gateway (`--cluster-url`, with the cluster
//! token), which records the revocation, gives it to every instance in
//! rotation and answers only when each has applied it — an instance that
//! does not is taken out of rotation, and every instance gets the whole
//! record before it returns (a restarted one included). Why the gateway:
//! it already knows every instance and when each comes back, so no instance
//! needs to know its peers, and none can serve before it is up to date.
//!
//! Instances that share their store (Redis, an SQLite file) share
//! revocations already and announce nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use statecraft_state::{SessionId, StoreKind};

use crate::Identity;
use crate::error::ApiError;
use crate::extract::{AppJson, JsonOk};
use crate::state::AppState;

/// One revocation, as instances and the gateway pass it on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revocation {
    /// Public IDs of sessions that end.
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Users whose every session ends (log out everywhere).
    #[serde(default)]
    pub users: Vec<String>,
    /// Denylist entries: access tokens (or whole logins) refused.
    #[serde(default)]
    pub denied: Vec<Denied>,
    /// When it stops mattering (ms since the epoch): its tokens have expired
    /// and its sessions would have expired idle.
    pub expires_ms: u64,
}

impl Revocation {
    /// Denylist entries alone, mattering until the last one lapses.
    pub(crate) fn of_denied(denied: Vec<Denied>) -> Self {
        Self {
            expires_ms: latest(&denied),
            denied,
            ..Self::default()
        }
    }
}

/// When the last of `denied` lapses (0 for none).
pub(crate) fn latest(denied: &[Denied]) -> u64 {
    denied.iter().map(|d| d.until_ms).max().unwrap_or(0)
}

/// One denylist entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Denied {
    /// The entry (a token's or a login's key).
    pub key: String,
    /// Until when (ms since the epoch).
    pub until_ms: u64,
}

/// What the gateway sends an instance: the revocations it must apply.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Batch {
    revocations: Vec<Revocation>,
}

/// How long the gateway may take to have every instance apply one.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(5);

/// An instance's way to its cluster's gateway.
#[derive(Debug, Clone)]
pub struct ClusterLink {
    url: reqwest::Url,
    token: String,
    client: reqwest::Client,
}

impl ClusterLink {
    /// The gateway at `url` (`http://HOST:PORT`), shown `token`.
    ///
    /// # Errors
    /// A sentence naming what is wrong with `url`.
    pub fn new(url: &str, token: String) -> Result<Self, String> {
        let bad = || format!("--cluster-url {url:?} must be http://HOST:PORT");
        let mut url = reqwest::Url::parse(url).map_err(|_| bad())?;
        if url.scheme() != "http" || url.host_str().is_none() || url.cannot_be_a_base() {
            return Err(bad());
        }
        url.set_path("/_cluster/revocations");
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .timeout(ANNOUNCE_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client for the cluster: {e}"))?;
        Ok(Self { url, token, client })
    }

    /// Hands `revocation` to the gateway and waits until every instance in
    /// rotation has it.
    async fn announce(&self, revocation: &Revocation) -> Result<(), ApiError> {
        let unconfirmed = |why: String| {
            tracing::warn!(%why, "revocation not confirmed by the cluster");
            ApiError::RevocationUnconfirmed
        };
        let answer = self
            .client
            .post(self.url.clone())
            .bearer_auth(&self.token)
            .json(revocation)
            .send()
            .await
            .map_err(|e| unconfirmed(e.to_string()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(unconfirmed(format!(
                "the gateway answered {}",
                answer.status()
            )))
        }
    }
}

/// Milliseconds since the epoch, `after` from now.
pub(crate) fn unix_ms_after(after: Duration) -> u64 {
    (SystemTime::now() + after)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Identity {
    /// Tells the rest of the cluster of a revocation already applied here,
    /// when this instance keeps its state to itself (its denylist, and so
    /// its sessions, in its own memory).
    pub(crate) async fn announce(&self, revocation: Revocation) -> Result<(), ApiError> {
        let Some(link) = &self.cluster else {
            return Ok(());
        };
        if self.denylist.kind() != StoreKind::Memory {
            return Ok(());
        }
        link.announce(&revocation).await
    }
}

impl AppState {
    /// Applies revocations made elsewhere in the cluster.
    async fn apply(&self, revocations: &[Revocation]) -> Result<(), ApiError> {
        let store = &self.sessions;
        for revocation in revocations {
            for id in &revocation.sessions {
                // An ID that does not parse names no session here.
                if let Some(id) = SessionId::parse(id) {
                    store
                        .delete(&id)
                        .await
                        .map_err(ApiError::store(store.kind()))?;
                }
            }
            for user in &revocation.users {
                store
                    .delete_user_sessions(user)
                    .await
                    .map_err(ApiError::store(store.kind()))?;
            }
            let denylist = &self.identity.denylist;
            for entry in &revocation.denied {
                denylist
                    .deny(&entry.key, entry.until_ms)
                    .await
                    .map_err(ApiError::store(denylist.kind()))?;
            }
        }
        Ok(())
    }
}

/// `POST /_internal/revocations` from the gateway, with the cluster token.
pub(crate) async fn receive(
    State(state): State<AppState>,
    parts: Parts,
    AppJson(batch): AppJson<Batch>,
) -> Result<Response, ApiError> {
    crate::routes::handover::authorize(&state, &parts)?;
    state.apply(&batch.revocations).await?;
    Ok(JsonOk(serde_json::json!({ "applied": batch.revocations.len() })).into_response())
}
