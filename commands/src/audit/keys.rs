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

pub use crate::keyfile::KeyError;
use crate::keyfile::{self, io, KeyBytes};

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
        Ok(Self::from_key(&KeyBytes::random()?))
    }

    fn from_key(key: &KeyBytes) -> Self {
        Self::from_seed(*key.as_array())
    }

    /// Reads the key at `path`, creating it (and its `.pub`) first if there is none.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read or created, is malformed or open to others.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let seed = keyfile::load_or_create(path, |seed| {
            let key = Self::from_key(seed);
            let public = public_key_path(path);
            prconfirm_migrations::private::create_file(&public)
                .and_then(|mut f| f.write_all(format!("{}\n", key.public_key_hex()).as_bytes()))
                .map_err(io(&public))?;
            tracing::info!(path = %path.display(), public_key = %key.public_key_hex(), "created the audit signing key");
            Ok(())
        })?;
        Ok(Self::from_key(&seed))
    }

    /// Reads the key at `path`.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read, is malformed or open to others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Ok(Self::from_key(&keyfile::load(path)?))
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
        Err(e) if e.is_missing() => Ok(None),
        Err(e) => Err(e),
    }
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
