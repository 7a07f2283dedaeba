//! Client-held state: a counter value with an HMAC-SHA256 tag, so a client can
//! carry its own state and the server can tell when it was forged.
//!
//! Form: `v1.<count>.<base64url tag>`, the tag over `statecraft-counter-v1.<count>`.
//! Like every client-held state it can be replayed (an old token is still
//! valid); that is the cost of holding nothing on the server.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use statecraft_state::MAX_COUNTER;

use crate::config::StateKey;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "v1.";
const DOMAIN: &[u8] = b"statecraft-counter-v1.";
/// Longest token accepted before any parsing (a 16-digit count and a 43-char tag).
const MAX_TOKEN_LEN: usize = 80;

/// Signs and verifies counter state tokens with the instance's state key.
#[derive(Clone)]
pub(crate) struct StateSigner {
    // A keyed MAC state, cloned per use, so the key schedule runs once at start.
    mac: HmacSha256,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSigner(<redacted>)")
    }
}

impl StateSigner {
    pub(crate) fn new(key: &StateKey) -> Self {
        // HMAC takes keys of any length, so this cannot fail for 32 bytes.
        let mac = <HmacSha256 as Mac>::new_from_slice(&key.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Self { mac }
    }

    fn tag(&self, count: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(count.as_bytes());
        mac
    }

    /// The token for `count`.
    pub(crate) fn sign(&self, count: u64) -> String {
        let digits = count.to_string();
        let tag = self.tag(&digits).finalize().into_bytes();
        format!("{PREFIX}{digits}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The count a genuine token carries; `None` for anything forged or malformed.
    /// The tag is compared in constant time.
    pub(crate) fn verify(&self, token: &str) -> Option<u64> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (digits, tag) = token.strip_prefix(PREFIX)?.split_once('.')?;
        // Canonical digits only, so one count has exactly one token.
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return None;
        }
        let count: u64 = digits.parse().ok()?;
        if count > MAX_COUNTER {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.tag(digits).verify_slice(&tag).ok()?;
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> StateSigner {
        StateSigner::new(&StateKey::generate())
    }

    #[test]
    fn a_signed_count_verifies() {
        let s = signer();
        for n in [0, 1, 5, MAX_COUNTER] {
            assert_eq!(s.verify(&s.sign(n)), Some(n));
        }
    }

    #[test]
    fn forged_or_foreign_tokens_fail() {
        let s = signer();
        let token = s.sign(5);
        let forged = token.replacen("v1.5.", "v1.6.", 1);
        assert_eq!(s.verify(&forged), None);
        assert_eq!(signer().verify(&token), None, "another key must not verify");
        for bad in [
            "",
            "v1.",
            "v1.5",
            "v1.05.x",
            "v2.5.abc",
            &"v1.1.".repeat(40),
            "v1.-1.abc",
        ] {
            assert_eq!(s.verify(bad), None, "{bad:?}");
        }
        let leading_zero = token.replacen("v1.5.", "v1.05.", 1);
        assert_eq!(s.verify(&leading_zero), None);
    }
}
