//! Key files: 32 random bytes kept outside the database (by default under `<data dir>/keys/`),
//! so that whoever can read or rewrite the database still holds no key. The audit signing
//! key, the key that seals staff second-factor secrets, the key-encryption key of personal
//! data and the blind-index key are such files.
//!
//! Format: the 32 bytes as 64 lowercase hex digits and a newline; mode 0600 from creation in
//! a directory of mode 0700. A key file others may read is refused, not used.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A failure to read, create or use a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {0} does not hold 64 hex digits")]
    Malformed(PathBuf),
    #[error("public key {0:?} is not 64 hex digits of a valid Ed25519 key")]
    BadPublicKey(String),
    /// Others than the owner may read or write the key file.
    #[error("key file {path} is open to others (mode {mode:o}); chmod 600 it")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("no randomness for a new key: {0}")]
    Random(getrandom::Error),
}

impl KeyError {
    /// Whether the key file does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The [`KeyError::Io`] of an operation on the key file at `path`.
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// 32 key bytes, zeroed when dropped.
pub struct KeyBytes(pub(crate) [u8; 32]);

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBytes([secret])")
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

impl KeyBytes {
    /// 32 fresh random bytes.
    ///
    /// # Errors
    /// [`KeyError::Random`] if the system has no randomness to give.
    pub fn random() -> Result<Self, KeyError> {
        let mut bytes = Self([0; 32]);
        getrandom::getrandom(&mut bytes.0).map_err(KeyError::Random)?;
        Ok(bytes)
    }

    /// Key bytes taken over from elsewhere (a key derived or read by the caller).
    pub fn from_array(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, for the cipher or signer it keys.
    pub fn as_array(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Reads the key at `path`.
///
/// # Errors
/// [`KeyError`] if the file cannot be read, is malformed or open to others.
pub fn load(path: &Path) -> Result<KeyBytes, KeyError> {
    let mut text = std::fs::read_to_string(path).map_err(io(path))?;
    check_private(path)?;
    let mut key = KeyBytes([0; 32]);
    let parsed = hex::decode_to_slice(text.trim_end(), &mut key.0);
    text.clear();
    parsed.map_err(|_| KeyError::Malformed(path.to_owned()))?;
    Ok(key)
}

/// Reads the key at `path`, creating it first if there is none; `created` runs once on a
/// key this call made (to write its public half, to log it). When another process creates
/// the file at the same moment, theirs is read and used.
///
/// # Errors
/// [`KeyError`] if the file cannot be read or created, is malformed or open to others.
pub fn load_or_create(
    path: &Path,
    created: impl FnOnce(&KeyBytes) -> Result<(), KeyError>,
) -> Result<KeyBytes, KeyError> {
    match load(path) {
        Err(e) if e.is_missing() => match create(path) {
            Err(KeyError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                load(path)
            }
            Ok(key) => created(&key).map(|()| key),
            Err(e) => Err(e),
        },
        other => other,
    }
}

/// Writes a new random key at `path` (mode 0600, in a directory of mode 0700).
fn create(path: &Path) -> Result<KeyBytes, KeyError> {
    if let Some(dir) = path.parent() {
        prconfirm_migrations::private::create_dir(dir).map_err(io(dir))?;
    }
    let key = KeyBytes::random()?;
    let mut text = hex::encode(key.0);
    text.push('\n');
    let written = write_new(path, text.as_bytes(), 0o600);
    // Best effort: the String's buffer is not zeroed by drop.
    text.clear();
    written.map(|()| key)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(io(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), KeyError> {
    Ok(())
}

/// Writes a file that must not exist yet, with `mode` from its creation on, and syncs it.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(contents).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_key_file_is_made_once_and_a_readable_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("k.key");
        let mut made = 0;
        let first = load_or_create(&path, |_| {
            made += 1;
            Ok(())
        })
        .unwrap();
        let again = load_or_create(&path, |_| panic!("made twice")).unwrap();
        assert_eq!((made, first.0), (1, again.0));
        assert_ne!(first.0, [0; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(load(&path), Err(KeyError::TooOpen { .. })));
        }
    }
}
