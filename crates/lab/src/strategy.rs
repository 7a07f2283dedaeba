//! The strategies of ARCHITECTURE.md's table: where state lives and how the
//! gateway balances, as the flags of one `statecraft cluster`.

use serde::{Deserialize, Serialize};

/// One way of holding state, run as a three-instance cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Sessions in each instance's memory, requests spread round-robin.
    MemoryRoundRobin,
    /// Sessions in each instance's memory, clients pinned by a cookie.
    MemorySticky,
    /// Sessions in one shared store (Redis, or a SQLite file), round-robin.
    SharedStore,
    /// No server-side session: JWT access tokens and client-held signed
    /// state; the revocation denylist lives in the shared store.
    StatelessTokens,
}

impl Strategy {
    /// Every strategy, in the order they run and are reported.
    pub const ALL: [Self; 4] = [
        Self::MemoryRoundRobin,
        Self::MemorySticky,
        Self::SharedStore,
        Self::StatelessTokens,
    ];

    /// Its machine name (in `results.json` and file names).
    pub fn id(self) -> &'static str {
        match self {
            Self::MemoryRoundRobin => "memory-round-robin",
            Self::MemorySticky => "memory-sticky",
            Self::SharedStore => "shared-store",
            Self::StatelessTokens => "stateless-tokens",
        }
    }

    /// Its name for a person.
    pub fn title(self) -> &'static str {
        match self {
            Self::MemoryRoundRobin => "in-memory, round-robin",
            Self::MemorySticky => "in-memory, sticky",
            Self::SharedStore => "shared store",
            Self::StatelessTokens => "stateless tokens",
        }
    }

    /// The gateway's balancing policy.
    pub(crate) fn balance(self) -> &'static str {
        match self {
            Self::MemorySticky => "sticky",
            _ => "round-robin",
        }
    }

    /// Clients authenticate with bearer tokens and hold their own state.
    pub(crate) fn uses_tokens(self) -> bool {
        self == Self::StatelessTokens
    }

    /// Whether it runs in the distance phase: the strategies that reach the
    /// store on their requests, and the sticky one as the reference that
    /// reaches none.
    pub(crate) fn in_distance_phase(self) -> bool {
        self != Self::MemoryRoundRobin
    }

    /// Whether the instances' state (sessions or the denylist) is in the
    /// shared store, which the store fault then stops.
    pub(crate) fn uses_shared_store(self) -> bool {
        matches!(self, Self::SharedStore | Self::StatelessTokens)
    }
}
