//! jsonwebtoken's crypto for EdDSA alone.
//!
//! jsonwebtoken delegates signatures to a process-wide `CryptoProvider`. Its
//! built-in RustCrypto provider compiles RSA and both ECDSA curves as well, and
//! its other one builds aws-lc from C; statecraft signs and accepts nothing but
//! Ed25519, so this provider implements exactly that with ed25519-dalek and
//! refuses every other algorithm — a second wall behind the pinned `alg`.
//!
//! Keys travel inside jsonwebtoken's key types as raw bytes: the 32-byte seed
//! of the signing key (`EncodingKey::from_ed_der`, which stores its bytes
//! unparsed) and the 32-byte public key (`DecodingKey::from_ed_der`).

use std::sync::Once;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use signature::{Signer, Verifier};

struct EdSigner(SigningKey);

impl Signer<Vec<u8>> for EdSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}

impl JwtSigner for EdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct EdVerifier(VerifyingKey);

impl Verifier<Vec<u8>> for EdVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let signature = Signature::from_slice(signature)?;
        // Strict verification: rejects small-order keys and malleable signatures.
        self.0
            .verify_strict(msg, &signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for EdVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

fn unsupported() -> Error {
    ErrorKind::InvalidAlgorithm.into()
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(unsupported());
    }
    let seed: &[u8; 32] = key
        .as_bytes()
        .try_into()
        .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?;
    Ok(Box::new(EdSigner(SigningKey::from_bytes(seed))))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(unsupported());
    }
    let public: &[u8; 32] = key
        .try_get_as_bytes()?
        .try_into()
        .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?;
    let key = VerifyingKey::from_bytes(public).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(EdVerifier(key)))
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    // JWKs are built from the keys directly (keys.rs), never through these.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Installs the EdDSA-only provider, once per process. Another provider
/// installed first (by a library in the same process) is left in place.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if PROVIDER.install_default().is_err() {
            tracing::warn!("a jsonwebtoken crypto provider was already installed");
        }
    });
}
