//! The users service's data: accounts and refresh-token families.

mod attempts;
mod refresh;

use std::sync::LazyLock;

use sqlx::Row as _;
use statecraft_auth::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use statecraft_auth::{Passwords, RefreshSecret};

use crate::db::{DataSpec, Database, DbError, Migrations, now_ms};

pub use refresh::{RefreshFootprint, RefreshOutcome};

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        (
            1,
            "users",
            include_str!("../../migrations/users/sqlite/0001_users.sql"),
        ),
        (
            2,
            "secrets",
            include_str!("../../migrations/users/sqlite/0002_secrets.sql"),
        ),
        (
            3,
            "attempts",
            include_str!("../../migrations/users/sqlite/0003_attempts.sql"),
        ),
    ],
    postgres: &[
        (
            1,
            "users",
            include_str!("../../migrations/users/postgres/0001_users.sql"),
        ),
        (
            2,
            "secrets",
            include_str!("../../migrations/users/postgres/0002_secrets.sql"),
        ),
        (
            3,
            "attempts",
            include_str!("../../migrations/users/postgres/0003_attempts.sql"),
        ),
    ],
};

/// The seeded accounts (API.md, "Authentication"): `(n, username, name, role)`,
/// all with the password `correct-password`.
const SEEDS: [(i64, &str, &str, &str); 2] =
    [(1, "alice", "Alice", "admin"), (2, "bob", "Bob", "user")];
const SEED_PASSWORD: &str = "correct-password";

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `user-<n>`.
    pub id: String,
    /// What the user logs in with.
    pub username: String,
    /// Display name.
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
}

/// A registration (`POST /users`).
#[derive(Debug, Clone)]
pub struct NewUser {
    /// 3-32 characters of `a-z 0-9 _ . -` (stored lowercase).
    pub username: String,
    /// 12-256 characters.
    pub password: String,
    /// 1-64 printable characters; the username when absent.
    pub name: Option<String>,
}

/// Why a registration or lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The username is already registered.
    #[error("User {0} already exists")]
    Taken(String),
    /// A field breaks its rule; the message names it.
    #[error("{message}")]
    Invalid {
        /// The field (`user`, `password`, `name`).
        field: &'static str,
        /// A sentence for a person.
        message: String,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn user_id(n: i64) -> String {
    format!("user-{n}")
}

fn parse_user_id(id: &str) -> Option<i64> {
    id.strip_prefix("user-")?.parse().ok()
}

/// Checks a username, returning its stored (lowercase) form.
fn valid_username(name: &str) -> Result<String, UsersError> {
    let lower = name.to_ascii_lowercase();
    let ok = (3..=32).contains(&lower.len())
        && lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(lower)
    } else {
        Err(UsersError::Invalid {
            field: "user",
            message: "user must be 3-32 characters of a-z, 0-9, '_', '.' or '-'".to_owned(),
        })
    }
}

/// The users service's database.
#[derive(Debug, Clone)]
pub struct UsersDb {
    db: Database,
    passwords: Passwords,
}

/// Argon2's own threads, one per core, for the life of the process. Each hash
/// takes 19 MiB; on tokio's blocking pool a burst of logins took that much per
/// login in flight, on threads that come and go, and the allocator kept it in
/// each thread's arena (the soak saw the server's RSS step up by ~100 MB when
/// logins piled up on a busy machine; a semaphore of one hash per core still
/// let it grow 60 MB, as new blocking threads took new arenas). On a fixed set
/// of threads at most one hash per core runs, the rest queue, and the memory
/// is that of one hash per thread. `None` if the threads cannot be started
/// (then tokio's blocking pool does the work).
static HASHERS: LazyLock<Option<tokio::runtime::Runtime>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("argon2")
        .build()
        .ok()
});

impl UsersDb {
    /// Opens (creating and migrating) the users database under `spec`, in
    /// `schema` on PostgreSQL (`users` unless a test gives its own), and seeds
    /// `alice` and `bob` when absent.
    ///
    /// # Errors
    /// [`DbError`] when the database cannot be reached or migrated.
    pub async fn open(
        spec: &DataSpec,
        schema: Option<&str>,
        passwords: Passwords,
    ) -> Result<Self, DbError> {
        let db = Database::open(spec, "users", schema.unwrap_or("users"), &MIGRATIONS).await?;
        let users = Self { db, passwords };
        users.seed().await?;
        Ok(users)
    }

    async fn seed(&self) -> Result<(), DbError> {
        for (n, username, name, role) in SEEDS {
            let present = sqlx::query("SELECT 1 FROM users WHERE n = $1")
                .bind(n)
                .fetch_optional(self.db.pool())
                .await
                .map_err(|e| self.db.error(&e))?
                .is_some();
            if present {
                continue;
            }
            let hash = self.hash(SEED_PASSWORD.to_owned()).await?;
            sqlx::query(
                "INSERT INTO users (n, username, name, role, password_hash, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(n)
            .bind(username)
            .bind(name)
            .bind(role)
            .bind(hash)
            .bind(now_ms())
            .execute(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?;
        }
        if self.db.postgres {
            // Explicit numbers do not advance an identity; new users must
            // continue after the seeds.
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('users', 'n'), \
                 GREATEST((SELECT MAX(n) FROM users), 1))",
            )
            .execute(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?;
        }
        Ok(())
    }

    /// Runs `work` with the Argon2 hasher on one of [`HASHERS`] (it takes
    /// tens of milliseconds of CPU); `None` if it panicked.
    async fn argon2<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Passwords) -> T + Send + 'static,
    ) -> Option<T> {
        let passwords = self.passwords.clone();
        let job = move || work(&passwords);
        match HASHERS.as_ref() {
            // Blocking one of its workers is what those threads are for.
            Some(hashers) => hashers.spawn(async move { job() }).await.ok(),
            None => tokio::task::spawn_blocking(job).await.ok(),
        }
    }

    /// A password's hash (Argon2id, a fresh salt).
    async fn hash(&self, password: String) -> Result<String, DbError> {
        self.argon2(move |p| p.hash(&password))
            .await
            .and_then(Result::ok)
            .ok_or_else(|| DbError::Unavailable {
                service: "users",
                spec: String::new(),
                reason: "password hashing failed".to_owned(),
            })
    }

    /// Registers a user with role `user`.
    ///
    /// # Errors
    /// [`UsersError::Invalid`] for a bad field, [`UsersError::Taken`] for a
    /// duplicate username, [`UsersError::Db`] when the database fails.
    pub async fn register(&self, new: NewUser) -> Result<User, UsersError> {
        let username = valid_username(&new.username)?;
        let chars = new.password.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            return Err(UsersError::Invalid {
                field: "password",
                message: format!(
                    "password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
                ),
            });
        }
        let name = new.name.unwrap_or_else(|| username.clone());
        let name_chars = name.chars().count();
        if !(1..=64).contains(&name_chars) || name.chars().any(char::is_control) {
            return Err(UsersError::Invalid {
                field: "name",
                message: "name must be 1-64 printable characters".to_owned(),
            });
        }
        // A taken name is known without hashing: a probe for who exists
        // costs no Argon2 time. (The insert below still settles a race.)
        let taken = sqlx::query("SELECT 1 FROM users WHERE username = $1")
            .bind(&username)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?;
        if taken.is_some() {
            return Err(UsersError::Taken(username));
        }
        let hash = self.hash(new.password).await?;
        let inserted = sqlx::query(
            "INSERT INTO users (username, name, role, password_hash, created_ms) \
             VALUES ($1, $2, 'user', $3, $4) ON CONFLICT (username) DO NOTHING RETURNING n",
        )
        .bind(&username)
        .bind(&name)
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        let Some(row) = inserted else {
            return Err(UsersError::Taken(username));
        };
        let n: i64 = row.try_get("n").map_err(|e| self.db.error(&e))?;
        Ok(User {
            id: user_id(n),
            username,
            name,
            role: "user".to_owned(),
        })
    }

    /// The user whose username and password these are, or `None`. An unknown
    /// user costs the same Argon2 verification as a wrong password.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, DbError> {
        let lower = username.to_ascii_lowercase();
        let row = sqlx::query(
            "SELECT n, username, name, role, password_hash FROM users WHERE username = $1",
        )
        .bind(&lower)
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        let (user, hash) = match row {
            Some(row) => {
                let hash: String = row
                    .try_get("password_hash")
                    .map_err(|e| self.db.error(&e))?;
                (Some(self.user_from(&row)?), Some(hash))
            }
            None => (None, None),
        };
        let password = password.to_owned();
        let ok = self
            .argon2(move |p| p.verify(hash.as_deref(), &password))
            .await
            .unwrap_or(false);
        Ok(if ok { user } else { None })
    }

    /// The user with this ID.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn get(&self, id: &str) -> Result<Option<User>, DbError> {
        let Some(n) = parse_user_id(id) else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT n, username, name, role FROM users WHERE n = $1")
            .bind(n)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?;
        row.map(|r| self.user_from(&r)).transpose()
    }

    fn user_from(&self, row: &sqlx::any::AnyRow) -> Result<User, DbError> {
        let get = |col: &str| row.try_get::<String, _>(col).map_err(|e| self.db.error(&e));
        let n: i64 = row.try_get("n").map_err(|e| self.db.error(&e))?;
        Ok(User {
            id: user_id(n),
            username: get("username")?,
            name: get("name")?,
            role: get("role")?,
        })
    }

    /// The secret refresh-token successors are derived under, the same for
    /// every instance on this database: made from the CSPRNG by whichever
    /// instance starts first.
    ///
    /// # Errors
    /// [`DbError`] when the database fails.
    pub async fn refresh_secret(&self) -> Result<RefreshSecret, DbError> {
        let fresh: String = RefreshSecret::generate()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES ('refresh', $1) ON CONFLICT DO NOTHING",
        )
        .bind(fresh)
        .execute(self.db.pool())
        .await
        .map_err(|e| self.db.error(&e))?;
        let row = sqlx::query("SELECT value FROM secrets WHERE name = 'refresh'")
            .fetch_one(self.db.pool())
            .await
            .map_err(|e| self.db.error(&e))?;
        let hex: String = row.try_get("value").map_err(|e| self.db.error(&e))?;
        let mut bytes = [0u8; 32];
        let ok = hex.len() == 64
            && bytes.iter_mut().enumerate().all(|(i, b)| {
                u8::from_str_radix(hex.get(i * 2..i * 2 + 2).unwrap_or("zz"), 16)
                    .map(|v| *b = v)
                    .is_ok()
            });
        if !ok {
            return Err(DbError::Unavailable {
                service: "users",
                spec: String::new(),
                reason: "the stored refresh secret is malformed".to_owned(),
            });
        }
        Ok(RefreshSecret::from_bytes(bytes))
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// [`DbError`] when it does not.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.db.ping().await
    }

    /// Closes the connection pool.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        assert_eq!(valid_username("Alice_2").unwrap(), "alice_2");
        for bad in ["ab", &"a".repeat(33), "al ice", "alice!", "ålice", ""] {
            assert!(valid_username(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_user_id("user-12"), Some(12));
        assert_eq!(parse_user_id("user-x"), None);
        assert_eq!(parse_user_id("12"), None);
    }
}
