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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequest as _, State};
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
    /// Users whose every session made before `at_ms` ends (log out
    /// everywhere; a session made later, on an instance that gets this
    /// late, is not theirs to end).
    #[serde(default)]
    pub users: Vec<String>,
    /// Denylist entries: access tokens (or whole logins) refused.
    #[serde(default)]
    pub denied: Vec<Denied>,
    /// When it was made (ms since the epoch).
    #[serde(default)]
    pub at_ms: u64,
    /// When it stops mattering (ms since the epoch): its tokens have expired
    /// and its sessions would have expired idle.
    pub expires_ms: u64,
}

/// Denylist entries per revocation sent: each stays far under the gateway's
/// and the instances' body limits, whatever a user has accumulated (a log
/// out everywhere denies one entry per login).
const DENIED_PER_REVOCATION: usize = 100;

impl Revocation {
    /// Denylist entries alone, mattering until the last one lapses.
    pub(crate) fn of_denied(denied: Vec<Denied>) -> Self {
        Self {
            expires_ms: latest(&denied),
            denied,
            ..Self::default()
        }
    }

    /// This one in parts small enough to send, each stamped now.
    fn into_parts(mut self) -> Vec<Self> {
        self.at_ms = unix_ms_after(Duration::ZERO);
        let mut denied = std::mem::take(&mut self.denied);
        let mut parts = Vec::with_capacity(1 + denied.len() / DENIED_PER_REVOCATION);
        loop {
            let rest = denied.split_off(denied.len().min(DENIED_PER_REVOCATION));
            parts.push(Self {
                denied,
                ..self.clone()
            });
            // Sessions and users go with the first part only.
            self.sessions.clear();
            self.users.clear();
            if rest.is_empty() {
                return parts;
            }
            denied = rest;
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
    /// Whether this instance has taken every revocation the gateway kept
    /// before it started (a restarted instance has forgotten them).
    caught_up: Arc<AtomicBool>,
}

/// The gateway's record, as it gives it.
#[derive(Debug, Deserialize)]
struct Record {
    revocations: Vec<Revocation>,
}

/// How often an instance asks for the record until it has it.
const PULL_EVERY: Duration = Duration::from_millis(200);

impl ClusterLink {
    /// The gateway at `url` (`http://HOST:PORT`), shown `token`.
    ///
    /// # Errors
    /// A sentence naming what is wrong with `url`.
    pub fn new(url: &str, token: String) -> Result<Self, String> {
        let (url, client) = crate::remote::endpoint(
            url,
            "--cluster-url",
            "/_cluster/revocations",
            ANNOUNCE_TIMEOUT,
        )?;
        Ok(Self {
            url,
            token,
            client,
            caught_up: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether this instance has the revocations made before it started.
    pub(crate) fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// The revocations the gateway keeps.
    async fn pull(&self) -> Result<Vec<Revocation>, String> {
        let answer = self
            .client
            .get(self.url.clone())
            .bearer_auth(&self.token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        let record: Record = answer.json().await.map_err(|e| e.to_string())?;
        Ok(record.revocations)
    }

    /// Hands `revocation` to the gateway and waits until every instance in
    /// rotation has it.
    async fn announce(&self, revocation: Revocation) -> Result<(), ApiError> {
        let unconfirmed = |why: String| {
            tracing::warn!(%why, "revocation not confirmed by the cluster");
            ApiError::RevocationUnconfirmed
        };
        for part in revocation.into_parts() {
            let answer = self
                .client
                .post(self.url.clone())
                .bearer_auth(&self.token)
                .json(&part)
                .send()
                .await
                .map_err(|e| unconfirmed(e.to_string()))?;
            if !answer.status().is_success() {
                return Err(unconfirmed(format!(
                    "the gateway answered {}",
                    answer.status()
                )));
            }
        }
        Ok(())
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
        link.announce(revocation).await
    }

    /// `503` while this instance, restarted, has not yet taken the
    /// revocations made before it started: a bearer token is not checked
    /// against a denylist that may lack its logout.
    pub(crate) fn revocations_current(&self) -> Result<(), ApiError> {
        match &self.cluster {
            Some(link) if self.denylist.kind() == StoreKind::Memory && !link.caught_up() => {
                Err(ApiError::RevocationsPending)
            }
            _ => Ok(()),
        }
    }
}

impl AppState {
    /// Takes the revocations the gateway kept before this instance started
    /// (retrying until the gateway answers, which it does once it serves),
    /// then counts this instance as caught up. Until then bearer tokens are
    /// refused with `503 REVOCATIONS_PENDING` (sessions need nothing: a
    /// restarted instance holds none). `/readyz` does not wait for it: the
    /// gateway's first checks race the first pulls at a cluster's start.
    pub async fn catch_up_with_cluster(&self) {
        let Some(link) = &self.identity.cluster else {
            return;
        };
        if self.identity.denylist.kind() != StoreKind::Memory {
            link.caught_up.store(true, Ordering::Release);
            return;
        }
        loop {
            match link.pull().await {
                Ok(revocations) => match self.apply(&revocations).await {
                    Ok(()) => {
                        tracing::info!(
                            revocations = revocations.len(),
                            "caught up with the cluster's revocations"
                        );
                        link.caught_up.store(true, Ordering::Release);
                        return;
                    }
                    Err(err) => tracing::warn!(?err, "cannot apply the cluster's revocations"),
                },
                Err(why) => tracing::debug!(%why, "the cluster's revocations not yet available"),
            }
            tokio::time::sleep(PULL_EVERY).await;
        }
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
                // Only the sessions made before the log out everywhere.
                let live = store
                    .user_sessions(user)
                    .await
                    .map_err(ApiError::store(store.kind()))?;
                for login in live.iter().filter(|l| l.created_ms < revocation.at_ms) {
                    store
                        .delete(&login.id)
                        .await
                        .map_err(ApiError::store(store.kind()))?;
                }
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

/// `POST /_internal/revocations` from the gateway, with the cluster token
/// (checked before the body is read).
pub(crate) async fn receive(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    crate::routes::handover::authorize(&state, &parts)?;
    let request = axum::extract::Request::from_parts(parts, body);
    let AppJson(batch) = AppJson::<Batch>::from_request(request, &state).await?;
    state.apply(&batch.revocations).await?;
    Ok(JsonOk(serde_json::json!({ "applied": batch.revocations.len() })).into_response())
}

#[cfg(test)]
mod tests {
    use super::{Denied, Revocation};

    #[test]
    fn a_large_revocation_is_sent_in_parts_each_far_under_the_body_limits() {
        let revocation = Revocation {
            sessions: vec!["s".repeat(32)],
            users: vec!["user-7".to_owned()],
            denied: (0..250)
                .map(|i| Denied {
                    key: format!("sid:{{{}}}", "f".repeat(40) + &i.to_string()),
                    until_ms: 1_000 + i,
                })
                .collect(),
            expires_ms: 9_999,
            ..Revocation::default()
        };
        let parts = revocation.into_parts();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.iter().map(|p| p.denied.len()).sum::<usize>(), 250);
        assert_eq!((parts[0].sessions.len(), parts[0].users.len()), (1, 1));
        assert!(
            parts[1..]
                .iter()
                .all(|p| p.sessions.is_empty() && p.users.is_empty())
        );
        for part in &parts {
            assert!(part.at_ms > 0 && part.expires_ms == 9_999);
            let bytes = serde_json::to_vec(part).unwrap_or_default().len();
            assert!(bytes < 16 * 1024, "{bytes}");
        }
    }
}
