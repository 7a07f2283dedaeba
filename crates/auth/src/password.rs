//! Password hashing with Argon2id.
//!
//! One verification costs tens of milliseconds (OWASP's Argon2id minimum:
//! 19 MiB, 2 passes, 1 lane), so callers run it on a blocking thread. A login
//! for a user that does not exist verifies against a dummy hash made with the
//! same parameters, so it takes as long as a wrong password and the two cannot
//! be told apart by timing.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    /// A hash of a random password, verified when the user is unknown.
    dummy: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

/// The shortest password `POST /users` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest: Argon2 takes any length, but a megabyte password would be a
/// cheap way to make the server work.
pub const MAX_PASSWORD_CHARS: usize = 256;

impl Passwords {
    /// Argon2id with OWASP's recommended minimum cost (m = 19 MiB, t = 2, p = 1).
    pub fn new() -> Self {
        Self::with_params(19 * 1024, 2)
    }

    /// Argon2id with `memory_kib` KiB and `passes` passes, one lane.
    pub fn with_params(memory_kib: u32, passes: u32) -> Self {
        let params = Params::new(memory_kib, passes, 1, None).unwrap_or_default();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut random = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut random);
        let dummy = argon2
            .hash_password(&random)
            .map(|h| h.to_string())
            .unwrap_or_default();
        Self { argon2, dummy }
    }

    /// A PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh salt.
    ///
    /// # Errors
    /// Only if the random source fails, which Argon2 reports as an error.
    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        self.argon2
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    }

    /// Whether `password` matches `stored` (a PHC string), in constant time.
    /// With `stored` = `None` (no such user) the dummy hash is verified instead,
    /// and the answer is always `false`.
    pub fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        let hash = stored.unwrap_or(&self.dummy);
        let ok = self
            .argon2
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        ok && stored.is_some()
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn cheap() -> Passwords {
        Passwords::with_params(1024, 1)
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let p = cheap();
        let hash = p.hash("correct-password").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert!(p.verify(Some(&hash), "correct-password"));
        assert!(!p.verify(Some(&hash), "correct-passworD"));
        assert!(!p.verify(Some("not a hash"), "correct-password"));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, p.hash("correct-password").unwrap());
    }

    #[test]
    fn an_unknown_user_never_verifies() {
        let p = cheap();
        assert!(!p.verify(None, ""));
        assert!(!p.verify(None, "correct-password"));
    }

    #[test]
    fn unknown_user_and_wrong_password_cost_the_same() {
        // Production parameters: tens of milliseconds each, and the two paths
        // within a factor that timing could not exploit (medians of 5).
        let p = Passwords::new();
        let hash = p.hash("correct-password").unwrap();
        let median = |f: &dyn Fn() -> bool| {
            let mut t: Vec<_> = (0..5)
                .map(|_| {
                    let start = Instant::now();
                    assert!(!f());
                    start.elapsed()
                })
                .collect();
            t.sort();
            t[2]
        };
        let wrong = median(&|| p.verify(Some(&hash), "wrong-password!"));
        let unknown = median(&|| p.verify(None, "wrong-password!"));
        let ratio = wrong.as_secs_f64() / unknown.as_secs_f64();
        assert!(
            (0.5..2.0).contains(&ratio),
            "wrong {wrong:?} unknown {unknown:?}"
        );
    }
}
