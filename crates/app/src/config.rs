//! Settings of one app instance.

use std::fmt;
use std::time::Duration;

use rand::RngCore as _;
use statecraft_state::SessionTimeouts;

/// Default largest request body: 64 KiB.
const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Bytes of a state-token key.
const STATE_KEY_BYTES: usize = 32;

/// Everything an app instance needs besides its stores.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The name in `X-Served-By` and `/whoami`.
    pub instance_id: String,
    /// Whether cookies carry `Secure` (turned off only for plain-HTTP use).
    pub secure_cookies: bool,
    /// Session idle and absolute timeouts (the cookie's `Max-Age` is the absolute one).
    pub timeouts: SessionTimeouts,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Key that signs client-held state tokens.
    pub state_key: StateKey,
    /// Proxies (the gateway) whose `X-Forwarded-For` names the client: a
    /// request from one of them is counted against the address it forwards,
    /// so that clients behind one gateway do not share a login limit.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The token the gateway shows to take and give sessions when it drains
    /// an instance (`/_internal/sessions`); without one those routes are off.
    pub handover_token: Option<String>,
}

impl AppConfig {
    /// Defaults for an instance named `instance_id`: secure cookies, 30 min idle /
    /// 24 h absolute sessions, 64 KiB bodies, a fresh random state key.
    pub fn new(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            secure_cookies: true,
            timeouts: SessionTimeouts::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            state_key: StateKey::generate(),
            trusted_proxies: Vec::new(),
            handover_token: None,
        }
    }

    /// The session cookie's `Max-Age`.
    pub(crate) fn cookie_max_age(&self) -> Duration {
        self.timeouts.absolute
    }
}

/// The MAC key of client-held state tokens; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct StateKey(pub(crate) [u8; STATE_KEY_BYTES]);

/// A state key given as text was not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state key must be 64 hex digits (32 bytes)")]
pub struct InvalidStateKey;

impl StateKey {
    /// A random key from the CSPRNG: tokens verify only on this instance.
    pub fn generate() -> Self {
        let mut key = [0u8; STATE_KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Parses 64 hex digits, so that several instances can share one key.
    ///
    /// # Errors
    /// [`InvalidStateKey`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, InvalidStateKey> {
        let text = text.trim();
        if text.len() != STATE_KEY_BYTES * 2 || !text.is_ascii() {
            return Err(InvalidStateKey);
        }
        let mut key = [0u8; STATE_KEY_BYTES];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).map_err(|_| InvalidStateKey)?;
        }
        Ok(Self(key))
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_key_parses_64_hex_digits_only() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(StateKey::from_hex(&hex).unwrap().0[31], 0xff);
        for bad in ["", "zz", &"0".repeat(63), &"g".repeat(64), &"é".repeat(32)] {
            assert_eq!(StateKey::from_hex(bad), Err(InvalidStateKey), "{bad:?}");
        }
        assert!(!format!("{:?}", StateKey::from_hex(&hex).unwrap()).contains("ff"));
    }
}
