//! Refresh tokens: opaque random strings, stored only as their SHA-256, and
//! rotated on every use.
//!
//! A rotation's successor is not random but derived, HMAC-SHA256 under a
//! server secret of the token it replaces. The server can then answer a replay
//! of the just-retired token within the grace window with the very same
//! successor (two browser tabs refreshing at once both end up holding it)
//! without ever storing a usable token: only hashes are kept.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

/// Length of a refresh token: 32 bytes in base64url.
const TOKEN_CHARS: usize = 43;

/// A refresh token as the client holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// The stored form of a refresh token: its SHA-256, hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

impl RefreshToken {
    /// A new token from the CSPRNG (the first of a family).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Parses what a client sent; anything not shaped like a token is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == TOKEN_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(text.to_owned()))
    }

    /// The token text, to send to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn hash(&self) -> TokenHash {
        let digest = Sha256::digest(self.0.as_bytes());
        TokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token that replaces this one when it is used.
    pub fn successor(&self, secret: &RefreshSecret) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"statecraft refresh successor\0");
        mac.update(self.0.as_bytes());
        Self(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

/// The server secret successors are derived under; shared by every instance
/// that shares the refresh store.
#[derive(Clone)]
pub struct RefreshSecret([u8; 32]);

impl std::fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshSecret(<redacted>)")
    }
}

impl RefreshSecret {
    /// A secret from the given bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut bytes);
        Self(bytes)
    }

    /// The bytes, to persist.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_hash_stably() {
        let t = RefreshToken::generate();
        assert_eq!(t.expose().len(), TOKEN_CHARS);
        assert_eq!(RefreshToken::parse(t.expose()), Some(t.clone()));
        assert_eq!(t.hash(), t.clone().hash());
        assert_eq!(t.hash().0.len(), 64);
        assert!(!format!("{t:?}").contains(t.expose()));
        for bad in ["", "short", &"a".repeat(44), &"+".repeat(43)] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_successor_is_stable_per_secret_and_well_formed() {
        let (a, b) = (RefreshSecret::generate(), RefreshSecret::generate());
        let t = RefreshToken::generate();
        assert_eq!(t.successor(&a), t.successor(&a));
        assert_ne!(t.successor(&a), t.successor(&b));
        assert_ne!(t.successor(&a), t);
        assert!(RefreshToken::parse(t.successor(&a).expose()).is_some());
    }
}
