//! The one error type of the stores.

/// Why a store could not do what was asked. Domain rule violations (a full cart)
/// are not errors of the store; they come back as [`crate::Update::Rejected`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or did not answer within its timeout.
    /// The text is for logs only and never carries a credential.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A session with this ID already exists (a 128-bit collision, or a bug).
    #[error("a session with this id already exists")]
    Conflict,
    /// A configured capacity limit of the store was reached.
    #[error("store limit reached: {0}")]
    LimitReached(&'static str),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The backend does not do this (a shared store has no sessions of its
    /// own to hand over).
    #[error("not supported by this store: {0}")]
    Unsupported(&'static str),
    /// The store cannot work as configured (a replicated durability with no
    /// replica to wait for); said at start.
    #[error("the store cannot work as configured: {0}")]
    Misconfigured(String),
}
