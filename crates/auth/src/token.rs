//! EdDSA access tokens (JWT): issued with the current key and its `kid`,
//! verified with the key the `kid` names, the algorithm pinned to EdDSA, and
//! `iss`, `aud`, `exp` checked.

use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::KeyRing;

/// `iss` of statecraft's access tokens.
pub const ISSUER: &str = "statecraft";
/// `aud` of statecraft's access tokens.
pub const AUDIENCE: &str = "statecraft-api";

/// The claims of an access token (API.md, "Authentication").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's ID (`user-1`).
    pub sub: String,
    /// The user's display name.
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// The token's unique ID, the key of the logout denylist.
    pub jti: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The refresh family the token was issued with (OIDC's `sid`): a bearer
    /// logout revokes it. Absent for tokens issued without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// A fresh token ID (`jti`): 16 random bytes, base64url without padding.
#[must_use]
pub fn new_jti() -> String {
    let mut jti = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut jti);
    URL_SAFE_NO_PAD.encode(jti)
}

/// Who a token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user's ID.
    pub id: String,
    /// The user's display name.
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    /// The refresh family, carried as the `sid` claim.
    pub session: Option<String>,
}

/// Why a token was refused. The message never says which check failed in
/// more detail than the API's codes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, unknown key, wrong algorithm, issuer or audience, or
    /// not a JWT at all.
    #[error("The token is invalid")]
    Invalid,
    /// Past `exp`.
    #[error("The token has expired")]
    Expired,
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Issues and verifies access tokens for one issuer and audience.
#[derive(Debug)]
pub struct TokenIssuer {
    ring: RwLock<KeyRing>,
    issuer: String,
    audience: String,
    ttl: Duration,
    validation: Validation,
    /// When the key directory was last read because of an unknown `kid`.
    last_reload: RwLock<Option<Instant>>,
}

/// How often an unknown `kid` may make the issuer read its key directory again
/// (a key rotated by another instance); a flood of forged `kid`s costs no more.
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

impl TokenIssuer {
    /// Access tokens lasting `ttl`, signed by `ring`.
    pub fn new(ring: KeyRing, issuer: &str, audience: &str, ttl: Duration) -> Self {
        crate::provider::install();
        // Only EdDSA is accepted, whatever the header says (no `none`, no HS256
        // made with the public key as its secret).
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is exact: a logout's denylist entry lasts as long as the token.
        validation.leeway = 0;
        Self {
            ring: RwLock::new(ring),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            validation,
            last_reload: RwLock::new(None),
        }
    }

    /// How long an access token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed access token for `who`, and its claims.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] if there is no key to sign with (an empty key
    /// directory that could not be filled).
    pub fn issue(&self, who: &TokenSubject) -> Result<(String, Claims), TokenError> {
        self.issue_lasting(who, self.ttl)
    }

    /// A signed access token for `who` lasting `ttl` instead of the usual
    /// lifetime: the short-lived tokens an instance sends to a remote service
    /// on behalf of a caller it has already authenticated.
    ///
    /// # Errors
    /// As [`TokenIssuer::issue`].
    pub fn issue_lasting(
        &self,
        who: &TokenSubject,
        ttl: Duration,
    ) -> Result<(String, Claims), TokenError> {
        let iat = unix_now();
        let claims = Claims {
            sub: who.id.clone(),
            name: who.name.clone(),
            role: who.role.clone(),
            iat,
            exp: iat + ttl.as_secs(),
            jti: new_jti(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sid: who.session.clone(),
        };
        let ring = self.ring.read().map_err(|_| TokenError::Invalid)?;
        let key = ring.current().ok_or(TokenError::Invalid)?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let encoding = key.encoding.as_ref().ok_or(TokenError::Invalid)?;
        let token =
            jsonwebtoken::encode(&header, &claims, encoding).map_err(|_| TokenError::Invalid)?;
        Ok((token, claims))
    }

    /// The claims of `token` if it verifies.
    ///
    /// # Errors
    /// [`TokenError::Expired`] past `exp`; [`TokenError::Invalid`] for anything
    /// else that is wrong with it.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        match self.verify_with(&kid, token) {
            Err(TokenError::Invalid) if self.reload_for_unknown_kid(&kid) => {
                self.verify_with(&kid, token)
            }
            other => other,
        }
    }

    fn verify_with(&self, kid: &str, token: &str) -> Result<Claims, TokenError> {
        let ring = self.ring.read().map_err(|_| TokenError::Invalid)?;
        let key = ring.find(kid).ok_or(TokenError::Invalid)?;
        match jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                Err(TokenError::Expired)
            }
            Err(_) => Err(TokenError::Invalid),
        }
    }

    /// Reads the key directory again if `kid` is unknown and the last reload
    /// is over a second old; true if it did.
    fn reload_for_unknown_kid(&self, kid: &str) -> bool {
        let known = self
            .ring
            .read()
            .map(|r| r.find(kid).is_some())
            .unwrap_or(true);
        if known {
            return false;
        }
        {
            let Ok(mut last) = self.last_reload.write() else {
                return false;
            };
            if last.is_some_and(|t| t.elapsed() < RELOAD_AT_MOST_EVERY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        self.reload().is_ok()
    }

    /// Reads the key directory again, to sign with a key another instance
    /// rotated in and to verify its tokens.
    ///
    /// # Errors
    /// [`crate::KeyError`] when the directory cannot be read.
    pub fn reload(&self) -> Result<(), crate::KeyError> {
        let Ok(mut ring) = self.ring.write() else {
            return Ok(());
        };
        ring.reload()
    }

    /// Replaces the keys (a verifier that refreshed its JWKS).
    pub fn replace_keys(&self, ring: KeyRing) {
        if let Ok(mut current) = self.ring.write() {
            *current = ring;
        }
    }

    /// Makes a new signing key current (see [`KeyRing::rotate`]).
    ///
    /// # Errors
    /// [`crate::KeyError`] when the key cannot be written.
    pub fn rotate(&self) -> Result<(), crate::KeyError> {
        let Ok(mut ring) = self.ring.write() else {
            return Ok(());
        };
        ring.rotate()
    }

    /// The JWKS document of every key that verifies.
    pub fn jwks(&self) -> serde_json::Value {
        self.ring
            .read()
            .map(|r| r.jwks())
            .unwrap_or_else(|_| serde_json::json!({ "keys": [] }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const TTL: Duration = Duration::from_secs(900);

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(KeyRing::ephemeral(TTL), "statecraft", "statecraft-api", TTL)
    }

    fn alice() -> TokenSubject {
        TokenSubject {
            id: "user-1".into(),
            name: "Alice".into(),
            role: "admin".into(),
            session: None,
        }
    }

    fn parts(token: &str) -> (serde_json::Value, serde_json::Value, String) {
        let p: Vec<_> = token.split('.').collect();
        let header = serde_json::from_slice(&B64.decode(p[0]).unwrap()).unwrap();
        let claims = serde_json::from_slice(&B64.decode(p[1]).unwrap()).unwrap();
        (header, claims, p[2].to_owned())
    }

    fn assemble(header: &serde_json::Value, claims: &serde_json::Value, sig: &str) -> String {
        format!(
            "{}.{}.{sig}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        )
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let i = issuer();
        let (token, claims) = i.issue(&alice()).unwrap();
        assert_eq!(i.verify(&token).unwrap(), claims);
        assert_eq!(claims.exp - claims.iat, 900);
        let (header, raw, _) = parts(&token);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"].as_str(), i.ring.read().unwrap().current_kid());
        for claim in ["sub", "name", "role", "iat", "exp", "jti", "iss", "aud"] {
            assert!(raw.get(claim).is_some(), "{claim} missing");
        }
        // Every token has its own jti.
        assert_ne!(i.issue(&alice()).unwrap().1.jti, claims.jti);
    }

    #[test]
    fn alg_none_and_hs256_with_the_public_key_are_refused() {
        let i = issuer();
        let (token, _) = i.issue(&alice()).unwrap();
        let (mut header, claims, sig) = parts(&token);
        header["alg"] = "none".into();
        assert_eq!(
            i.verify(&assemble(&header, &claims, "")),
            Err(TokenError::Invalid)
        );
        header["alg"] = "HS256".into();
        // Algorithm confusion: an HMAC made with the public key as the secret.
        let jwk = i.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(jwk.as_bytes()).unwrap();
        hmac::Mac::update(&mut mac, signing_input.as_bytes());
        let forged = B64.encode(hmac::Mac::finalize(mac).into_bytes());
        assert_eq!(
            i.verify(&format!("{signing_input}.{forged}")),
            Err(TokenError::Invalid)
        );
        // The genuine signature under the forged header does not pass either.
        assert_eq!(
            i.verify(&assemble(&header, &claims, &sig)),
            Err(TokenError::Invalid)
        );
        assert!(i.verify(&token).is_ok());
    }

    #[test]
    fn forged_claims_break_the_signature() {
        let i = issuer();
        let (token, _) = i
            .issue(&TokenSubject {
                role: "user".into(),
                ..alice()
            })
            .unwrap();
        let (header, mut claims, sig) = parts(&token);
        claims["role"] = "admin".into();
        assert_eq!(
            i.verify(&assemble(&header, &claims, &sig)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn wrong_issuer_audience_kid_or_key_are_refused() {
        let i = issuer();
        let other_aud = TokenIssuer::new(KeyRing::ephemeral(TTL), "statecraft", "elsewhere", TTL);
        let (token, _) = other_aud.issue(&alice()).unwrap();
        // Unknown kid (another ring's key).
        assert_eq!(i.verify(&token), Err(TokenError::Invalid));
        // Same key, other audience / issuer.
        let ring = std::mem::replace(&mut *i.ring.write().unwrap(), KeyRing::ephemeral(TTL));
        let shared_key_aud = TokenIssuer::new(ring, "statecraft", "elsewhere", TTL);
        let (token, _) = shared_key_aud.issue(&alice()).unwrap();
        let ring = std::mem::replace(
            &mut *shared_key_aud.ring.write().unwrap(),
            KeyRing::ephemeral(TTL),
        );
        let i = TokenIssuer::new(ring, "statecraft", "statecraft-api", TTL);
        assert_eq!(i.verify(&token), Err(TokenError::Invalid));
        let ring = std::mem::replace(&mut *i.ring.write().unwrap(), KeyRing::ephemeral(TTL));
        let other_iss = TokenIssuer::new(ring, "mallory", "statecraft-api", TTL);
        let (token, _) = other_iss.issue(&alice()).unwrap();
        let ring = std::mem::replace(
            &mut *other_iss.ring.write().unwrap(),
            KeyRing::ephemeral(TTL),
        );
        let i = TokenIssuer::new(ring, "statecraft", "statecraft-api", TTL);
        assert_eq!(i.verify(&token), Err(TokenError::Invalid));
        assert!(i.verify(&i.issue(&alice()).unwrap().0).is_ok());
        for junk in [
            "",
            "a.b.c",
            "eyJhbGciOiJFZERTQSJ9..",
            "....",
            &"x".repeat(10_000),
        ] {
            assert_eq!(i.verify(junk), Err(TokenError::Invalid), "{junk:.20}");
        }
    }

    #[test]
    fn an_expired_token_says_so() {
        let i = TokenIssuer::new(
            KeyRing::ephemeral(TTL),
            "statecraft",
            "statecraft-api",
            Duration::ZERO,
        );
        let (token, _) = i.issue(&alice()).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(i.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn tokens_of_the_previous_key_verify_after_rotation() {
        let i = issuer();
        let (before, _) = i.issue(&alice()).unwrap();
        i.rotate().unwrap();
        let (after, _) = i.issue(&alice()).unwrap();
        assert_ne!(parts(&before).0["kid"], parts(&after).0["kid"]);
        assert!(i.verify(&before).is_ok());
        assert!(i.verify(&after).is_ok());
        assert_eq!(i.jwks()["keys"].as_array().unwrap().len(), 2);
    }
}
