//! Files only their owner may read: the data directory and the databases in
//! it (the users database holds the refresh-token derivation secret, the
//! session database every session), whatever the process's umask.
//!
//! SQLite creates a database's `-wal`, `-shm` and `-journal` files with the
//! database file's own permissions, so a database created here private keeps
//! its companions private; ones left by an older version are narrowed too.

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` where absent, and each missing parent, `0700` (a umask
/// only takes bits away). A directory that already exists keeps its mode:
/// it may be the operator's own, shared with other things; the files in it
/// are private anyway. (Creating `data/keys` first used to leave `data`
/// 0755 for the databases that followed.)
///
/// # Errors
/// The I/O error of creating it.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` empty where absent, `0600`, and narrows it to `0600`
/// where present (keeping its content).
///
/// # Errors
/// The I/O error of creating or narrowing it.
pub fn private_file(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    drop(options.open(path)?);
    narrow(path)
}

/// Makes an SQLite database at `path` private before it is opened: the
/// file, and the companions SQLite may have left beside it.
///
/// # Errors
/// The I/O error of creating or narrowing one of them.
pub fn private_sqlite(path: &Path) -> io::Result<()> {
    private_file(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = Path::new(&companion);
        if companion.exists() {
            narrow(companion)?;
        }
    }
    Ok(())
}

fn narrow(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_new_directory_and_database_are_private_and_old_companions_are_narrowed() {
        let root = std::env::temp_dir().join(format!("statecraft-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let dir = root.join("data");
        // The key directory first, as a server opens it: its parent too.
        private_dir(&dir.join("keys")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((mode(&dir), mode(&dir.join("keys"))), (0o700, 0o700));
        let db = dir.join("users.db");
        // A companion an older version left world-readable.
        let wal = dir.join("users.db-wal");
        fs::write(&wal, b"").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        private_sqlite(&db).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        // Content is kept.
        fs::write(&db, b"data").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&db, fs::Permissions::from_mode(0o664))
            .unwrap_or_else(|e| panic!("{e}"));
        private_sqlite(&db).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fs::read(&db).unwrap_or_default(), b"data");
        assert_eq!(mode(&db), 0o600);
        let _ = fs::remove_dir_all(&root);
    }
}
