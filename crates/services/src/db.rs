//! Where a service keeps its data: a SQLite file per service under a data
//! directory, or a schema per service in one PostgreSQL database. The SQL is
//! written once for both (sqlx's `Any` driver; `$1` placeholders work on both);
//! only the migrations' DDL differs.

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Executor as _};

/// How long a query may wait for a pooled connection: a dead database answers
/// fast instead of hanging the request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// `--data`: `sqlite:DIR` or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DataSpec {
    /// One SQLite file per service in this directory.
    Sqlite(PathBuf),
    /// One schema per service in this PostgreSQL database.
    Postgres(String),
}

impl std::fmt::Debug for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for DataSpec {
    /// The URL with any password replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(dir) => write!(f, "sqlite:{}", dir.display()),
            Self::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A `--data` value that is neither `sqlite:DIR` nor a PostgreSQL URL.
#[derive(Debug, thiserror::Error)]
#[error("expected sqlite:DIR or postgres://…, got {0:?}")]
pub struct InvalidDataSpec(String);

impl FromStr for DataSpec {
    type Err = InvalidDataSpec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(dir) = s.strip_prefix("sqlite:") {
            if dir.is_empty() {
                return Err(InvalidDataSpec(s.to_owned()));
            }
            return Ok(Self::Sqlite(PathBuf::from(dir)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_owned()));
        }
        Err(InvalidDataSpec(redact(s)))
    }
}

/// A database that cannot be opened, migrated or queried.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Unreachable, timed out, or refused the query.
    #[error("{service} database {spec}: {reason}")]
    Unavailable {
        /// The service.
        service: &'static str,
        /// Where (password redacted).
        spec: String,
        /// What went wrong, without SQL or credentials.
        reason: String,
    },
}

/// One service's connection pool.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    /// Which SQL dialect the migrations need.
    pub(crate) postgres: bool,
    service: &'static str,
    spec: String,
}

/// A service's migrations, one list per backend, embedded in the binary.
pub(crate) struct Migrations {
    pub(crate) sqlite: &'static [(i64, &'static str, &'static str)],
    pub(crate) postgres: &'static [(i64, &'static str, &'static str)],
}

impl Database {
    /// Opens `service`'s database under `spec`, in `schema` on PostgreSQL
    /// (tests pass their own), and runs its migrations.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when the database cannot be reached or migrated.
    pub(crate) async fn open(
        spec: &DataSpec,
        service: &'static str,
        schema: &str,
        migrations: &Migrations,
    ) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let shown = spec.to_string();
        let fail = |reason: String| DbError::Unavailable {
            service,
            spec: shown.clone(),
            reason,
        };
        let (url, postgres) = match spec {
            DataSpec::Sqlite(dir) => {
                statecraft_auth::files::private_dir(dir).map_err(|e| fail(e.to_string()))?;
                let file = dir.join(format!("{service}.db"));
                statecraft_auth::files::private_sqlite(&file).map_err(|e| fail(e.to_string()))?;
                (format!("sqlite://{}?mode=rwc", file.display()), false)
            }
            DataSpec::Postgres(url) => (url.clone(), true),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(|e| fail(describe(&e)))?;
        let schema = schema.to_owned();
        if postgres
            && !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(fail(format!("schema name {schema:?} is not [a-z0-9_]")));
        }
        let init = if postgres {
            format!("SET search_path TO {schema}")
        } else {
            // WAL: readers never wait for the writer; several processes may share
            // the file. A writer waits up to 2 s for another's lock.
            "PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL".to_owned()
        };
        if postgres {
            // The schema must exist before any connection can point at it.
            let setup = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(|e| fail(describe(&e)))?;
            setup
                // The name was checked to be [a-z0-9_] above.
                .execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .await
                .map_err(|e| fail(describe(&e)))?;
            setup.close().await;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if postgres { 8 } else { 4 })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                let init = init.clone();
                Box::pin(async move {
                    conn.execute(AssertSqlSafe(init)).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| fail(describe(&e)))?;
        let list = if postgres {
            migrations.postgres
        } else {
            migrations.sqlite
        };
        let migrator = Migrator {
            migrations: Cow::Owned(
                list.iter()
                    .map(|(version, description, sql)| {
                        Migration::new(
                            *version,
                            Cow::Borrowed(*description),
                            MigrationType::Simple,
                            sqlx::SqlStr::from_static(sql),
                            false,
                        )
                    })
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        // PostgreSQL serialises migrators with an advisory lock; SQLite has none,
        // so processes opening one new file together (a local cluster) take
        // turns on a lock file beside it.
        let _turn = match spec {
            DataSpec::Sqlite(dir) => Some(
                lock_file(&dir.join(format!("{service}.db.migrate-lock")))
                    .await
                    .map_err(|e| fail(e.to_string()))?,
            ),
            DataSpec::Postgres(_) => None,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| fail(format!("migration failed: {e}")))?;
        Ok(Self {
            pool,
            postgres,
            service,
            spec: shown,
        })
    }

    /// The pool, for the service's queries.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write: on SQLite `BEGIN IMMEDIATE`, so that one
    /// that reads first cannot fail to upgrade its lock under concurrency.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, DbError> {
        let tx = if self.postgres {
            self.pool.begin().await
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        };
        tx.map_err(|e| self.error(&e))
    }

    /// Maps a query error to [`DbError::Unavailable`], naming the service.
    pub(crate) fn error(&self, err: &sqlx::Error) -> DbError {
        DbError::Unavailable {
            service: self.service,
            spec: self.spec.clone(),
            reason: describe(err),
        }
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    /// Closes the pool (tests drop their schema after).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// An exclusive lock on `path` (created if absent), held until dropped.
async fn lock_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        statecraft_auth::files::private_file(&path)?;
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Now, in ms since the epoch: the services' timestamps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The kind of failure, never the SQL or the URL.
fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::PoolTimedOut => "no connection within the timeout".to_owned(),
        sqlx::Error::Io(e) => format!("I/O: {}", e.kind()),
        sqlx::Error::Database(e) => format!("database error {}", e.code().unwrap_or_default()),
        sqlx::Error::Tls(_) => "TLS failed".to_owned(),
        sqlx::Error::Configuration(_) => "bad connection settings".to_owned(),
        other => other.to_string().chars().take(120).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_hide_passwords() {
        assert_eq!(
            "sqlite:./data".parse::<DataSpec>().unwrap(),
            DataSpec::Sqlite(PathBuf::from("./data"))
        );
        let pg: DataSpec = "postgres://app:s3cret@127.0.0.1/test".parse().unwrap();
        assert_eq!(pg.to_string(), "postgres://app:***@127.0.0.1/test");
        assert!(!format!("{pg:?}").contains("s3cret"));
        for bad in ["", "sqlite:", "mysql://x", "redis://a:b@c"] {
            let err = bad.parse::<DataSpec>().unwrap_err().to_string();
            assert!(!err.contains(":b@"), "{err}");
        }
    }
}
