//! Identity primitives for statecraft: password hashing, access tokens and
//! refresh tokens. Nothing here does I/O on a request path except the key
//! directory read at start; storage of users, refresh families and the denylist
//! lives with the services and the session stores.
//!
//! - [`password`]: Argon2id hashes in PHC strings, with a dummy verification for
//!   unknown users so that both failures cost the same time.
//! - [`keys`]: Ed25519 signing keys, loaded from a directory of PKCS#8 PEM files
//!   or generated and persisted at first start; rotation keeps the previous
//!   public key verifying until its tokens have expired; the JWKS document.
//! - [`token`]: EdDSA JWTs with pinned algorithm, `kid`, `iss` and `aud` checks.
//! - [`files`]: the data directory and databases private to their owner.
//! - [`refresh`]: opaque refresh tokens, their stored hashes, and the successor
//!   derivation that lets a rotation be replayed within its grace window.

pub mod files;
pub mod keys;
pub mod password;
mod provider;
pub mod refresh;
pub mod token;

pub use keys::{KeyError, KeyRing};
pub use password::Passwords;
pub use refresh::{RefreshSecret, RefreshToken, TokenHash};
pub use token::{AUDIENCE, Claims, ISSUER, TokenError, TokenIssuer, TokenSubject, new_jti};
