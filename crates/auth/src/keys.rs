//! Ed25519 signing keys: one current key that signs, earlier ones that still
//! verify until every token they signed has expired, and the JWKS document.
//!
//! With a key directory, each key is a PKCS#8 PEM file `key-NNNNNN.pem` (what
//! `openssl genpkey -algorithm ed25519` writes, so operators can bring their
//! own); the highest number signs. The first start creates `key-000001.pem`
//! with an exclusive create, so instances starting together agree on one key.
//! Rotation writes the next number; a key stops verifying `token_ttl` (plus a
//! minute of clock leeway) after the file of its successor was written.
//! Without a directory the ring lives in memory (tests, throwaway runs).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest as _, Sha256};

/// Clock difference between instances tolerated when retiring a key.
const LEEWAY: Duration = Duration::from_secs(60);

/// A key directory that cannot be read or written, or a key file that is not
/// an Ed25519 PKCS#8 key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the directory failed.
    #[error("key directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A `key-*.pem` file holds no Ed25519 private key.
    #[error("{0}: not an Ed25519 PKCS#8 private key")]
    BadKey(PathBuf),
    /// A JWKS document holds no Ed25519 public key.
    #[error("the JWKS document holds no Ed25519 key")]
    BadJwks,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One key as tokens use it.
pub(crate) struct Key {
    /// RFC 7638 thumbprint of its public JWK: stable, and names no secret.
    pub(crate) kid: String,
    public: [u8; 32],
    /// The private half; `None` for a key known only from a JWKS document.
    pub(crate) encoding: Option<EncodingKey>,
    pub(crate) decoding: DecodingKey,
    /// When it stops verifying (`None` while it is the current key).
    pub(crate) retires: Option<SystemTime>,
}

impl Key {
    fn new(signing: &SigningKey) -> Self {
        let public = signing.verifying_key().to_bytes();
        let x = URL_SAFE_NO_PAD.encode(public);
        // The members in lexicographic order, no spaces (RFC 7638 section 3).
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self {
            kid,
            public,
            // Raw bytes, as the provider (provider.rs) reads them.
            encoding: Some(EncodingKey::from_ed_der(signing.as_bytes())),
            decoding: DecodingKey::from_ed_der(&public),
            retires: None,
        }
    }

    fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("retires", &self.retires)
            .finish_non_exhaustive()
    }
}

/// The current signing key and the earlier keys still verifying.
#[derive(Debug)]
pub struct KeyRing {
    /// Newest first; `keys[0]` signs.
    pub(crate) keys: Vec<Key>,
    dir: Option<PathBuf>,
    token_ttl: Duration,
}

fn generate() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut seed);
    SigningKey::from_bytes(&seed)
}

fn file_number(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("key-")?
        .strip_suffix(".pem")?
        .parse()
        .ok()
}

impl KeyRing {
    /// A ring of one fresh key, kept in memory only.
    pub fn ephemeral(token_ttl: Duration) -> Self {
        Self {
            keys: vec![Key::new(&generate())],
            dir: None,
            token_ttl,
        }
    }

    /// The keys in `dir`, creating the directory and a first key when there is
    /// none.
    ///
    /// # Errors
    /// [`KeyError`] when the directory cannot be read or written, or a key file
    /// is not an Ed25519 key.
    pub fn open(dir: &Path, token_ttl: Duration) -> Result<Self, KeyError> {
        // Private keys will live here: nobody but the owner lists or enters
        // it. A directory given ready-made (a mounted secret) is left as is.
        crate::files::private_dir(dir).map_err(io(dir))?;
        let mut ring = Self {
            keys: Vec::new(),
            dir: Some(dir.to_owned()),
            token_ttl,
        };
        ring.reload()?;
        if ring.keys.is_empty() {
            // Whoever creates key 1 first wins; the others load it.
            write_key(dir, 1)?;
            ring.reload()?;
        }
        Ok(ring)
    }

    /// Reads the directory again (a rotation by another instance, a key placed
    /// by an operator). Without a directory, nothing changes.
    ///
    /// # Errors
    /// As [`KeyRing::open`].
    pub fn reload(&mut self) -> Result<(), KeyError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let mut files: Vec<(u32, PathBuf, SystemTime)> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if let Some(n) = file_number(&path) {
                let written = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .map_err(io(&path))?;
                files.push((n, path, written));
            }
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        let now = SystemTime::now();
        let mut keys = Vec::with_capacity(files.len());
        let mut successor_written: Option<SystemTime> = None;
        for (_, path, written) in files {
            let retires = successor_written.map(|t| t + self.token_ttl + LEEWAY);
            successor_written = Some(written);
            if retires.is_some_and(|r| r <= now) {
                // Every token it signed has expired: it verifies nothing more.
                break;
            }
            let pem = fs::read_to_string(&path).map_err(io(&path))?;
            let signing =
                SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyError::BadKey(path.clone()))?;
            let mut key = Key::new(&signing);
            key.retires = retires;
            keys.push(key);
        }
        self.keys = keys;
        Ok(())
    }

    /// Makes a new key current; the previous one keeps verifying until its
    /// tokens have expired.
    ///
    /// # Errors
    /// As [`KeyRing::open`].
    pub fn rotate(&mut self) -> Result<(), KeyError> {
        match self.dir.clone() {
            Some(dir) => {
                let next = fs::read_dir(&dir)
                    .map_err(io(&dir))?
                    .filter_map(|e| e.ok().and_then(|e| file_number(&e.path())))
                    .max()
                    .unwrap_or(0)
                    + 1;
                write_key(&dir, next)?;
                self.reload()
            }
            None => {
                let retires = SystemTime::now() + self.token_ttl + LEEWAY;
                if let Some(previous) = self.keys.first_mut() {
                    previous.retires = Some(retires);
                }
                self.keys.insert(0, Key::new(&generate()));
                Ok(())
            }
        }
    }

    /// The signing key (none in a verify-only ring).
    pub(crate) fn current(&self) -> Option<&Key> {
        self.keys.first().filter(|k| k.encoding.is_some())
    }

    /// A verify-only ring of the Ed25519 keys of a JWKS document (what a
    /// service that does not sign learns from the users service). Keys of
    /// other types are skipped.
    ///
    /// # Errors
    /// [`KeyError::BadJwks`] when the document holds no usable key.
    pub fn from_jwks(jwks: &serde_json::Value, token_ttl: Duration) -> Result<Self, KeyError> {
        let keys: Vec<Key> = jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519")
            .filter_map(|k| {
                let kid = k["kid"].as_str()?.to_owned();
                let x = URL_SAFE_NO_PAD.decode(k["x"].as_str()?).ok()?;
                let public: [u8; 32] = x.try_into().ok()?;
                Some(Key {
                    kid,
                    public,
                    encoding: None,
                    decoding: DecodingKey::from_ed_der(&public),
                    retires: None,
                })
            })
            .collect();
        if keys.is_empty() {
            return Err(KeyError::BadJwks);
        }
        Ok(Self {
            keys,
            dir: None,
            token_ttl,
        })
    }

    /// The key named `kid`, if it still verifies.
    pub(crate) fn find(&self, kid: &str) -> Option<&Key> {
        let now = SystemTime::now();
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.retires.is_none_or(|r| r > now))
    }

    /// The `kid` of the signing key.
    pub fn current_kid(&self) -> Option<&str> {
        self.current().map(|k| k.kid.as_str())
    }

    /// The JWKS document (`GET /.well-known/jwks.json`): every key that verifies.
    pub fn jwks(&self) -> serde_json::Value {
        let now = SystemTime::now();
        let keys: Vec<_> = self
            .keys
            .iter()
            .filter(|k| k.retires.is_none_or(|r| r > now))
            .map(Key::jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Writes a fresh key as `key-{n:06}.pem`, readable by the owner only; an
/// existing file of that name is left alone (another instance wrote it). The
/// key is written whole to a temporary file and then linked into place, so a
/// process starting at the same moment never reads half a key.
fn write_key(dir: &Path, n: u32) -> Result<(), KeyError> {
    let path = dir.join(format!("key-{n:06}.pem"));
    let pem = generate()
        .to_pkcs8_pem(Default::default())
        .map_err(|_| KeyError::BadKey(path.clone()))?;
    let tmp = dir.join(format!(".key-{n:06}.{:016x}.tmp", rand::random::<u64>()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(pem.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| fs::hard_link(&tmp, &path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(&path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(900);

    #[test]
    fn a_directory_gets_one_key_that_later_starts_reuse() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("keys");
        let dir = &dir;
        let first = KeyRing::open(dir, TTL).unwrap();
        let again = KeyRing::open(dir, TTL).unwrap();
        assert_eq!(first.current_kid(), again.current_kid());
        let pem = fs::read_to_string(dir.join("key-000001.pem")).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.join("key-000001.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = fs::metadata(dir).unwrap().permissions().mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
    }

    #[test]
    fn rotation_keeps_the_previous_key_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::open(dir.path(), TTL).unwrap();
        let old = ring.current_kid().unwrap().to_owned();
        ring.rotate().unwrap();
        let new = ring.current_kid().unwrap().to_owned();
        assert_ne!(old, new);
        assert!(ring.find(&old).is_some());
        let jwks = ring.jwks();
        let kids: Vec<_> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kids, [new.clone(), old.clone()]);
        // Another instance sees the same ring.
        let other = KeyRing::open(dir.path(), TTL).unwrap();
        assert_eq!(other.current_kid(), Some(new.as_str()));
        assert!(other.find(&old).is_some());
    }

    #[test]
    fn a_key_retires_once_its_tokens_have_expired() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::open(dir.path(), Duration::ZERO).unwrap();
        let old = ring.current_kid().unwrap().to_owned();
        ring.rotate().unwrap();
        // With a zero token lifetime only the leeway keeps it.
        let retires = ring.keys[1].retires.unwrap();
        let left = retires.duration_since(SystemTime::now()).unwrap();
        assert!(left <= LEEWAY && left > LEEWAY - Duration::from_secs(5));
        assert!(ring.find(&old).is_some());
        let mut ephemeral = KeyRing::ephemeral(TTL);
        let first = ephemeral.current_kid().unwrap().to_owned();
        ephemeral.rotate().unwrap();
        assert!(ephemeral.find(&first).is_some());
        ephemeral.keys[1].retires = Some(SystemTime::now() - Duration::from_secs(1));
        assert!(ephemeral.find(&first).is_none());
        assert_eq!(ephemeral.jwks()["keys"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn instances_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let kids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        KeyRing::open(dir.path(), TTL)
                            .unwrap()
                            .current_kid()
                            .unwrap()
                            .to_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
        let files = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "no temporary file left behind");
    }

    #[test]
    fn a_jwks_document_gives_a_ring_that_verifies_but_cannot_sign() {
        let signing = KeyRing::ephemeral(TTL);
        let ring = KeyRing::from_jwks(&signing.jwks(), TTL).unwrap();
        assert!(ring.current().is_none());
        let kid = signing.current_kid().unwrap();
        assert_eq!(
            ring.find(kid).unwrap().public,
            signing.find(kid).unwrap().public
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"keys": [{"kty": "RSA"}]}),
        ] {
            assert!(KeyRing::from_jwks(&bad, TTL).is_err());
        }
    }

    #[test]
    fn a_foreign_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("key-000001.pem"), "not a key").unwrap();
        let err = KeyRing::open(dir.path(), TTL).unwrap_err();
        assert!(err.to_string().contains("key-000001.pem"), "{err}");
    }
}
