//! The `--session-store` / `--counter-store` value: which backend, where.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A store named on the command line: `memory`, `sqlite:PATH` or `redis://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// The process's memory.
    Memory,
    /// An SQLite file at this path.
    Sqlite(PathBuf),
    /// A Redis URL (`redis://` or `rediss://`), a Redis Cluster's
    /// (`redis+cluster://HOST:PORT,HOST:PORT…`), or a primary's found through
    /// its sentinels (`redis+sentinel://HOST:PORT,HOST:PORT…/MASTER[/DB]`);
    /// shown with its password redacted.
    Redis(String),
}

/// A store spec that names no known backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected memory, sqlite:PATH, redis://HOST[:PORT][/DB], redis+cluster://HOST:PORT[,HOST:PORT…] or redis+sentinel://HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB] (rediss… for TLS), got {0:?}{1}"
)]
pub struct InvalidStoreSpec(String, String);

impl FromStr for StoreSpec {
    type Err = InvalidStoreSpec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" {
            return Ok(Self::Memory);
        }
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if !path.is_empty() {
                return Ok(Self::Sqlite(PathBuf::from(path)));
            }
        }
        if let Some(rest) = [
            "redis://",
            "rediss://",
            "redis+cluster://",
            "rediss+cluster://",
            "redis+sentinel://",
            "rediss+sentinel://",
        ]
        .iter()
        .find_map(|scheme| s.strip_prefix(scheme))
            && !rest.is_empty()
            && !rest.starts_with('/')
        {
            // The parser's reason names a part (a port, the primary's
            // name), never the credentials.
            return match crate::redis::sentinel::url_problem(s) {
                None => Ok(Self::Redis(s.to_owned())),
                Some(why) => Err(InvalidStoreSpec(redact(s), format!(": {why}"))),
            };
        }
        // Never echo a URL that may hold a password.
        Err(InvalidStoreSpec(redact(s), String::new()))
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`; other text unchanged.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The last `@`, as the parsers split it: a password may hold one.
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Redis(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreSpec({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_backends() {
        assert_eq!("memory".parse(), Ok(StoreSpec::Memory));
        assert_eq!(
            "sqlite:./s.db".parse(),
            Ok(StoreSpec::Sqlite(PathBuf::from("./s.db")))
        );
        assert_eq!(
            "redis://127.0.0.1:6379/2".parse(),
            Ok(StoreSpec::Redis("redis://127.0.0.1:6379/2".into()))
        );
        let cluster = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001";
        assert_eq!(cluster.parse(), Ok(StoreSpec::Redis(cluster.into())));
    }

    #[test]
    fn refuses_unknown_and_empty_specs() {
        for bad in [
            "",
            "mem",
            "sqlite:",
            "redis://",
            "http://x",
            "postgres://h/db",
        ] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_never_shown() {
        let spec: StoreSpec = "rediss://app:hunter2@cache:6380/0".parse().unwrap();
        assert_eq!(spec.to_string(), "rediss://app:***@cache:6380/0");
        assert!(!format!("{spec:?}").contains("hunter2"));
        let err = "redis+x://app:hunter2@h".parse::<StoreSpec>().unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        // A password may hold `@` (the parsers split at the last one).
        let sentinel: StoreSpec = "redis+sentinel://app:p@ss@s1:1,s2:2/main".parse().unwrap();
        assert_eq!(
            sentinel.to_string(),
            "redis+sentinel://app:***@s1:1,s2:2/main"
        );
    }
}
