//! State stores for statecraft.
//!
//! One narrow abstraction for where session state and shared counters live, with
//! backends that pass one contract test suite (`tests/contract`). The request path
//! sees only the object-safe traits [`SessionStore`] and [`CounterStore`]; the
//! backend is chosen once at start-up from a [`StoreSpec`].
//!
//! Rules every backend keeps (ARCHITECTURE.md, "Stores"):
//! - updates are atomic per session: a [`Mutation`] is applied inside the store,
//!   never as read-whole/write-whole in the caller;
//! - sessions expire after an idle (sliding) and an absolute timeout, and expired
//!   sessions are removed by the store itself, without a request touching them;
//! - sessions are keyed by their public [`SessionId`], a hash of the cookie's
//!   [`SessionSecret`], so the store never holds a usable credential.

pub mod capacity;
mod clock;
mod codec;
mod data;
mod error;
mod id;
pub mod memory;
mod name;
mod patience;
pub mod redis;
mod spec;
pub mod sqlite;
mod store;
mod sweep;

pub use clock::{Clock, ManualClock, SystemClock, UnixClock};
pub use data::{
    Address, CartLine, CheckoutStep, MAX_ADDRESS_FIELD, MAX_CART_LINES, MAX_COUNTER,
    MAX_PAYMENT_TOKEN, MAX_QUANTITY, Mutation, RuleViolation, SessionData,
};
pub use error::StoreError;
pub use id::{SessionId, SessionIdText, SessionSecret, TAG_BYTES, TAG_CHARS, tag_text, user_tag};
pub use name::{CounterName, InvalidName, ProductId};
pub use patience::one_wait;
pub use spec::{InvalidStoreSpec, StoreSpec};
pub use store::{
    CounterStore, Denylist, LoginInfo, MAX_USER_AGENT, SessionStore, SessionTimeouts,
    SessionTransfer, StoreKind, Update,
};
