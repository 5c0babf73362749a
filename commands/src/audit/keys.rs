//! The Ed25519 key that signs checkpoints. It lives in a file outside the database (by default
//! `<data dir>/keys/audit-ed25519.key`, mode 0600), so that whoever can rewrite the database
//! cannot also sign a rewritten history. Its public half is written beside it (`.pub`) for
//! auditors.
//!
//! File format: the 32-byte Ed25519 secret seed as 64 lowercase hex digits and a newline; the
//! `.pub` file likewise holds the 32-byte public key.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// The key file's name inside `<data dir>/keys/`.
pub const KEY_FILE: &str = "audit-ed25519.key";

/// Where the signing key lives by default.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join(KEY_FILE)
}

/// The public key file written beside a key file (`<key>.pub`).
pub fn public_key_path(key_path: &Path) -> PathBuf {
    let mut name = key_path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The checkpoint signing key. Its secret half never leaves this value (it is zeroed on
/// drop) and is never printed.
pub struct AuditKey {
    signing: SigningKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A key from a known seed (tests and fixtures).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// A fresh random key.
    ///
    /// # Errors
    /// [`KeyError::Random`] if the system has no randomness to give.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(KeyError::Random)?;
        let key = Self::from_seed(seed);
        seed.fill(0);
        Ok(key)
    }

    /// Reads the key at `path`, creating it (and its `.pub`) first if there is none.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read or created, is malformed or open to others.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match Self::load(path) {
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                match Self::create(path) {
                    // Another process created it first: use theirs.
                    Err(KeyError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        Self::load(path)
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    /// Reads the key at `path`.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read, is malformed or open to others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        check_private(path)?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim_end(), &mut seed)
            .map_err(|_| KeyError::Malformed(path.to_owned()))?;
        let key = Self::from_seed(seed);
        seed.fill(0);
        Ok(key)
    }

    /// Creates a new key at `path` (mode 0600, in a directory of mode 0700) and its `.pub`.
    fn create(path: &Path) -> Result<Self, KeyError> {
        if let Some(dir) = path.parent() {
            prconfirm_migrations::private::create_dir(dir).map_err(io(dir))?;
        }
        let key = Self::generate()?;
        let mut secret = hex::encode(key.signing.to_bytes());
        secret.push('\n');
        let written = write_new(path, secret.as_bytes(), 0o600);
        // Best effort: the String's buffer is not zeroed by drop.
        secret.clear();
        written?;
        let public = public_key_path(path);
        prconfirm_migrations::private::create_file(&public)
            .and_then(|mut f| f.write_all(format!("{}\n", key.public_key_hex()).as_bytes()))
            .map_err(io(&public))?;
        tracing::info!(path = %path.display(), public_key = %key.public_key_hex(), "created the audit signing key");
        Ok(key)
    }

    /// The public half, which verifies this key's checkpoints.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as 64 lowercase hex digits.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.verifying_key().as_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }
}

/// Parses a public key from 64 hex digits.
///
/// # Errors
/// [`KeyError::BadPublicKey`] if it is not a valid Ed25519 public key.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bad = || KeyError::BadPublicKey(text.to_owned());
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| bad())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad())
}

/// The public key that verifies the key at `key_path`: read from `<key>.pub` if present,
/// else derived from the key itself; `None` if neither file exists (no key was ever made).
///
/// # Errors
/// [`KeyError`] if a file exists but cannot be read or parsed.
pub fn public_key_for(key_path: &Path) -> Result<Option<VerifyingKey>, KeyError> {
    let public = public_key_path(key_path);
    match std::fs::read_to_string(&public) {
        Ok(text) => return parse_public_key(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&public)(e)),
    }
    match AuditKey::load(key_path) {
        Ok(key) => Ok(Some(key.verifying_key())),
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
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
    use ed25519_dalek::Verifier;

    #[test]
    fn a_key_is_created_once_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_key_path(dir.path());
        let created = AuditKey::load_or_create(&path).unwrap();
        let again = AuditKey::load_or_create(&path).unwrap();
        assert_eq!(created.public_key_hex(), again.public_key_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let public = public_key_for(&path).unwrap().unwrap();
        assert_eq!(public, created.verifying_key());
        let signature = created.sign(b"checkpoint");
        assert!(public.verify(b"checkpoint", &signature).is_ok());
    }

    #[test]
    fn a_missing_key_has_no_public_key_and_is_not_created_by_asking() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_key_path(dir.path());
        assert!(public_key_for(&path).unwrap().is_none());
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "11".repeat(32)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            AuditKey::load(&path),
            Err(KeyError::TooOpen { mode: 0o644, .. })
        ));
    }

    #[test]
    fn the_debug_form_shows_only_the_public_key() {
        let key = AuditKey::from_seed([9; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.public_key_hex()));
        assert!(!shown.contains(&"09".repeat(32)));
    }
}
