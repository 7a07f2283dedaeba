//! The store traits: small, async, object-safe, with atomic updates as methods.

use std::time::Duration;

use async_trait::async_trait;

use crate::data::{Mutation, RuleViolation, SessionData};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::name::CounterName;

/// Which backend holds the state; its name is what `X-State-Source` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The process's own memory.
    Memory,
    /// An SQLite file.
    Sqlite,
    /// A Redis server.
    Redis,
}

impl StoreKind {
    /// The backend's name as `X-State-Source` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::Redis => "redis",
        }
    }
}

/// A logged-in session as `GET /sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginInfo {
    /// The session's public ID.
    pub id: SessionId,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
    /// When it was last used, ms since the epoch.
    pub last_seen_ms: u64,
    /// The `User-Agent` of the login request (at most 256 bytes).
    pub user_agent: String,
}

/// A session as one instance hands it to another when it is drained, so that
/// a rolling restart of instances holding sessions in memory loses none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionTransfer {
    /// The session's public ID, as text.
    pub id: String,
    /// Its state.
    pub data: SessionData,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Last used, ms since the epoch.
    pub seen_ms: u64,
}

/// Longest user agent kept with a login.
pub const MAX_USER_AGENT: usize = 256;

/// `user_agent` cut to [`MAX_USER_AGENT`] bytes at a character boundary.
pub(crate) fn clip(user_agent: &str) -> &str {
    let mut end = user_agent.len().min(MAX_USER_AGENT);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    &user_agent[..end]
}

/// Access tokens revoked before their expiry (logout with a bearer token): a
/// set of token IDs (`jti`), each kept until its token would have expired
/// anyway. It lives in the sessions backend, so instances that share sessions
/// share revocations.
#[async_trait]
pub trait Denylist: Send + Sync + std::fmt::Debug + 'static {
    /// The backend behind this denylist.
    fn kind(&self) -> StoreKind;

    /// Revokes `jti` until `expires_ms` (ms since the epoch).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot answer.
    async fn deny(&self, jti: &str, expires_ms: u64) -> Result<(), StoreError>;

    /// Whether `jti` is revoked.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot answer.
    async fn is_denied(&self, jti: &str) -> Result<bool, StoreError>;

    /// Whether any of `ids` is revoked (a token's `jti` and its login's
    /// family, say), in one round trip where the backend allows.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot answer.
    async fn any_denied(&self, ids: &[&str]) -> Result<bool, StoreError> {
        for id in ids {
            if self.is_denied(id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// How long a session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    /// Idle (sliding) timeout: a session unused this long expires.
    pub idle: Duration,
    /// Absolute timeout: a session expires this long after creation, however busy.
    pub absolute: Duration,
}

impl Default for SessionTimeouts {
    /// 30 minutes idle, 24 hours absolute.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// The outcome of [`SessionStore::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// The mutation was applied; the session as it now is.
    Applied(SessionData),
    /// A business rule refused the mutation; the session is unchanged.
    Rejected(RuleViolation),
    /// No live session has this ID.
    Missing,
}

/// Where sessions live. Every method that finds a session also refreshes its idle
/// deadline (sliding expiry), capped by its absolute deadline.
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug + 'static {
    /// The backend behind this store.
    fn kind(&self) -> StoreKind;

    /// Stores a new session.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the ID is taken; [`StoreError::Unavailable`]
    /// when the backend cannot be reached.
    async fn create(&self, id: &SessionId, data: &SessionData) -> Result<(), StoreError>;

    /// Reads a live session; `None` when it is unknown or expired.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot be reached.
    async fn load(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError>;

    /// Applies `mutation` atomically: concurrent updates of one session never lose
    /// one another's changes.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot be reached.
    async fn update(&self, id: &SessionId, mutation: &Mutation) -> Result<Update, StoreError>;

    /// Deletes a session at once; `true` when it existed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot be reached.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// The number of live sessions (expired ones not yet swept may be counted).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot be reached.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Creates the session of a user who just logged in (`data.user_id` is
    /// set) and records it in that user's index, with the client's user agent,
    /// for [`SessionStore::user_sessions`]. The index entry expires with the
    /// session, and goes with it on [`SessionStore::delete`]. `id` comes from
    /// [`crate::SessionSecret::generate_for_user`], so it carries the user's tag
    /// (a sharded store refuses another as [`StoreError::Corrupt`]).
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn create_login(
        &self,
        id: &SessionId,
        data: &SessionData,
        user_agent: &str,
    ) -> Result<(), StoreError>;

    /// The live sessions of `user_id`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot answer.
    async fn user_sessions(&self, user_id: &str) -> Result<Vec<LoginInfo>, StoreError>;

    /// Deletes every session of `user_id` at once (log out everywhere);
    /// returns how many there were.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot answer.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Checks that the backend answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Live sessions last used at or after `since_ms`, to hand to another
    /// instance. Only a store private to its process has any to hand over.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] for a shared store.
    async fn export(&self, since_ms: u64) -> Result<Vec<SessionTransfer>, StoreError> {
        let _ = since_ms;
        Err(StoreError::Unsupported("session hand-over"))
    }

    /// Takes sessions handed over; one already held is replaced only by a
    /// copy used more recently. Returns how many were taken.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] for a shared store.
    async fn import(&self, sessions: &[SessionTransfer]) -> Result<u64, StoreError> {
        let _ = sessions;
        Err(StoreError::Unsupported("session hand-over"))
    }
}

/// Where shared named counters live.
#[async_trait]
pub trait CounterStore: Send + Sync + std::fmt::Debug + 'static {
    /// The backend behind this store.
    fn kind(&self) -> StoreKind;

    /// Adds one to the counter (created at 0) and returns the new value, atomically.
    ///
    /// # Errors
    /// [`StoreError::LimitReached`] at the counter's maximum or the store's
    /// capacity; [`StoreError::Unavailable`] when the backend cannot be reached.
    async fn increment(&self, name: &CounterName) -> Result<u64, StoreError>;

    /// The counter's value; 0 for a counter never incremented.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot be reached.
    async fn get(&self, name: &CounterName) -> Result<u64, StoreError>;

    /// Checks that the backend answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn ping(&self) -> Result<(), StoreError>;
}
