//! Files only the service's own user may read: the data directory (0700) and everything the
//! service writes under it (0600): the SQLite database with its WAL and shared-memory files
//! (SQLite gives those the database file's mode), blobs, the mail spool, keys.
//!
//! Modes are set at creation, never widened-then-narrowed, and a directory or file found
//! more open than that (made by an older version, or by hand) is narrowed at start with a
//! warning. On other platforms than Unix these are plain creations.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of a directory the service creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of a file the service creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode 0700; narrows `dir` itself to 0700 if it
/// already exists with group or other bits.
///
/// # Errors
/// I/O errors.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    narrow(dir, DIR_MODE)
}

/// Opens `path` for writing, created with mode 0600 if missing (truncated if present).
///
/// # Errors
/// I/O errors.
pub fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options.open(path)
}

/// Makes sure `path` exists as a file of mode 0600 without touching its contents: an empty
/// file is created if missing, an existing one is narrowed.
///
/// # Errors
/// I/O errors.
pub fn ensure_file(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    drop(options.open(path)?);
    narrow(path, FILE_MODE)
}

/// Removes every group and other bit from `path`'s mode if any is set, with a warning.
///
/// # Errors
/// I/O errors.
#[cfg(unix)]
pub fn narrow(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let found = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if found & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        tracing::warn!(path = %path.display(), found = format!("{found:o}"), now = format!("{mode:o}"),
            "narrowed the mode of a file or directory others could read");
    }
    Ok(())
}

/// Nothing to narrow off Unix.
///
/// # Errors
/// Never.
#[cfg(not(unix))]
pub fn narrow(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_is_created_or_found_open_ends_private() {
        let root = std::env::temp_dir().join(format!("prconfirm-private-{}", std::process::id()));
        let dir = root.join("a").join("b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.join("a")), 0o700);

        let file = dir.join("f");
        std::io::Write::write_all(&mut create_file(&file).unwrap(), b"x").unwrap();
        assert_eq!(mode(&file), 0o600);

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_file(&file).unwrap();
        create_dir(&dir).unwrap();
        assert_eq!((mode(&file), mode(&dir)), (0o600, 0o700));
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"x",
            "ensure_file keeps the contents"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
