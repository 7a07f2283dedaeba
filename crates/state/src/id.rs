//! Session credentials: the secret the cookie carries and the public ID derived from it.
//!
//! An ID opens with a placement tag: three bytes copied from the secret, random
//! for an anonymous session and derived from the user for a login (see
//! [`SessionSecret::generate_for_user`]). A sharded store (Redis Cluster) places
//! a session by its tag, so a user's logins and the index that lists them sit on
//! one shard and can change together atomically.

use std::fmt;
use std::hash::{Hash, Hasher};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Bytes in a session secret: 192 bits; all random for an anonymous session,
/// and for a login 168 random bits after the user's tag, both above ASVS 5.0's
/// 128-bit minimum.
const SECRET_BYTES: usize = 24;
/// Bytes of the placement tag that opens a secret and its public ID.
pub const TAG_BYTES: usize = 3;
/// Length of the tag's text form: exactly the first 4 characters of an ID's
/// text (3 bytes are 4 base64url characters).
pub const TAG_CHARS: usize = 4;
/// Length of the secret's cookie form (base64url, no padding).
const SECRET_CHARS: usize = 32;
/// Bytes of the public ID: the tag, then 104 bits of SHA-256 of the secret (IDs
/// of one tag collide with negligible odds, 2^-52 at 2^26 live sessions).
const ID_BYTES: usize = 16;
/// Length of the public ID's text form (base64url, no padding).
const ID_CHARS: usize = 22;

/// The session's bearer credential, carried only in the `session_id` cookie.
///
/// Its `Debug` form is redacted, and it has no `Display`, so it cannot reach a log
/// line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret([u8; SECRET_BYTES]);

impl SessionSecret {
    /// A new secret from the thread-local CSPRNG (ChaCha, seeded from the OS).
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A new secret for a login of `user_id`: random but for its opening
    /// [`user_tag`], so the session shares its user's shard.
    pub fn generate_for_user(user_id: &str) -> Self {
        let mut secret = Self::generate();
        secret.0[..TAG_BYTES].copy_from_slice(&user_tag(user_id));
        secret
    }

    /// Parses a cookie value; anything but exactly the encoded form of a secret is
    /// refused, so odd cookies never reach a store.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() != SECRET_CHARS {
            return None;
        }
        let mut bytes = [0u8; SECRET_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(value, &mut bytes) {
            Ok(SECRET_BYTES) => Some(Self(bytes)),
            _ => None,
        }
    }

    /// The cookie form of the secret (32 URL-safe characters).
    pub fn expose(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The public ID of the session this secret opens.
    pub fn public_id(&self) -> SessionId {
        let digest = Sha256::digest(self.0);
        let mut id = [0u8; ID_BYTES];
        id[..TAG_BYTES].copy_from_slice(&self.0[..TAG_BYTES]);
        id[TAG_BYTES..].copy_from_slice(&digest[..ID_BYTES - TAG_BYTES]);
        SessionId(id)
    }
}

/// The placement tag of `user_id`'s logins: the first bytes of its SHA-256.
pub fn user_tag(user_id: &str) -> [u8; TAG_BYTES] {
    let digest = Sha256::digest(user_id.as_bytes());
    let mut tag = [0u8; TAG_BYTES];
    tag.copy_from_slice(&digest[..TAG_BYTES]);
    tag
}

/// The text form of a tag (4 base64url characters), as it opens an ID's text.
pub fn tag_text(tag: [u8; TAG_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(tag)
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

/// A session's public ID: how stores key it and what bodies and logs show.
/// Knowing it grants nothing: the cookie's secret cannot be derived from it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionId([u8; ID_BYTES]);

impl SessionId {
    /// The ID whose raw bytes these are (as a store keeps them).
    pub fn from_bytes(bytes: [u8; ID_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw bytes (for binary keys).
    pub fn as_bytes(&self) -> &[u8; ID_BYTES] {
        &self.0
    }

    /// Parses the 22-character text form.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != ID_CHARS {
            return None;
        }
        let mut bytes = [0u8; ID_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(ID_BYTES) => Some(Self(bytes)),
            _ => None,
        }
    }

    /// The placement tag the ID opens with.
    pub fn tag(&self) -> [u8; TAG_BYTES] {
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(&self.0[..TAG_BYTES]);
        tag
    }

    /// A uniformly distributed 64-bit value of the ID, for sharding and hashing:
    /// the ID is already a cryptographic hash, so no further hashing is needed.
    pub fn spread(&self) -> u64 {
        let mut half = [0u8; 8];
        half.copy_from_slice(&self.0[8..]);
        u64::from_le_bytes(half)
    }
}

impl Hash for SessionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hashed bytes after the tag (one user's logins share their tag), whose
        // low bytes, those a table indexes by, are not those of `spread`.
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[TAG_BYTES..TAG_BYTES + 8]);
        state.write_u64(u64::from_le_bytes(word));
    }
}

impl SessionId {
    /// The 22-character text form, without a formatter or an allocation.
    pub fn encode(&self) -> SessionIdText {
        let mut buf = [0u8; ID_CHARS];
        // 16 bytes always encode to exactly 22 base64url characters.
        let _ = URL_SAFE_NO_PAD.encode_slice(self.0, &mut buf);
        SessionIdText(buf)
    }
}

/// A session ID's text form on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionIdText([u8; ID_CHARS]);

impl SessionIdText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // base64url output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for SessionIdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for SessionIdText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode().as_str())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn secret_round_trips_through_its_cookie_form() {
        let secret = SessionSecret::generate();
        let text = secret.expose();
        assert_eq!(text.len(), SECRET_CHARS);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(SessionSecret::parse(&text), Some(secret));
    }

    #[test]
    fn odd_cookie_values_are_refused() {
        for bad in [
            "",
            "abc",
            &"a".repeat(31),
            &"a".repeat(33),
            &"+".repeat(32),
            "ééééééééééééééé",
        ] {
            assert!(SessionSecret::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn public_id_is_stable_unique_and_not_the_secret() {
        let secret = SessionSecret::generate();
        let id = secret.public_id();
        assert_eq!(id, secret.public_id());
        assert_ne!(id.to_string(), secret.expose());
        assert_eq!(id.to_string().len(), ID_CHARS);
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        let ids: HashSet<_> = (0..10_000)
            .map(|_| SessionSecret::generate().public_id())
            .collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn a_login_id_opens_with_its_user_tag_and_stays_unique() {
        let tag = tag_text(user_tag("user-7"));
        let ids: HashSet<_> = (0..1000)
            .map(|_| SessionSecret::generate_for_user("user-7").public_id())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.tag(), user_tag("user-7"));
            assert!(id.to_string().starts_with(&tag));
        }
        assert_ne!(user_tag("user-7"), user_tag("user-8"));
        let anonymous = SessionSecret::generate();
        assert_eq!(
            tag_text(anonymous.public_id().tag()),
            anonymous.expose()[..TAG_CHARS]
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SessionSecret::generate();
        assert!(!format!("{secret:?}").contains(&secret.expose()));
    }
}
