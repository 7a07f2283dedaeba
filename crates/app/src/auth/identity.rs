//! What authentication needs, as data: modes and lifetimes, the identity
//! services, and the per-instance caches. Kept apart from the extractor so that
//! the app state can hold it without depending on the code that uses the state.

use std::sync::Arc;
use std::time::Duration;

use statecraft_auth::{Claims, RefreshSecret, TokenIssuer};
use statecraft_services::{User, UsersDb};
use statecraft_state::Denylist;

use crate::cache::ExpiringCache;

/// How `POST /login` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// A session cookie (the default).
    #[default]
    Session,
    /// Access and refresh tokens, as `POST /token`.
    Token,
}

/// Lifetimes and modes of logins.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// What `POST /login` issues.
    pub mode: AuthMode,
    /// How long a refresh token lives (each rotation starts its successor anew).
    pub refresh_ttl: Duration,
    /// How long after a rotation the retired refresh token still returns the
    /// same successor (two tabs refreshing at once).
    pub refresh_grace: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::Session,
            refresh_ttl: Duration::from_secs(14 * 86_400),
            refresh_grace: Duration::from_secs(10),
        }
    }
}

/// The identity services an instance needs.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The users service's database.
    pub users: UsersDb,
    /// Access-token issuer and verifier.
    pub tokens: Arc<TokenIssuer>,
    /// Revoked access tokens, in the sessions backend.
    pub denylist: Arc<dyn Denylist>,
    /// The key refresh successors are derived under.
    pub refresh_secret: RefreshSecret,
    /// Modes and lifetimes.
    pub settings: AuthSettings,
    /// The cluster's gateway, which passes this instance's revocations to
    /// the others (`None`: alone, or sharing a store).
    pub cluster: Option<crate::ClusterLink>,
}

/// Entries the verified-token cache holds at most.
const TOKEN_CACHE: usize = 10_000;
/// Entries the user cache holds at most, and how long a profile is trusted:
/// a renamed or demoted user is seen within this time.
const USER_CACHE: usize = 10_000;
pub(crate) const USER_TTL: Duration = Duration::from_secs(30);

/// Per-instance helpers of authentication.
#[derive(Debug)]
pub(crate) struct AuthRuntime {
    /// Verified tokens by SHA-256: a signature check is tens of microseconds,
    /// a lookup well under one. Revocation is checked on every request anyway.
    pub(crate) verified: ExpiringCache<[u8; 32], Arc<Claims>>,
    /// Users by ID, for requests authenticated by session.
    pub(crate) users: ExpiringCache<String, User>,
}

impl Default for AuthRuntime {
    fn default() -> Self {
        Self {
            verified: ExpiringCache::new(TOKEN_CACHE),
            users: ExpiringCache::new(USER_CACHE),
        }
    }
}
