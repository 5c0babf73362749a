//! The keyed blind index: how a case is found by UCI or application number when neither is
//! stored in the clear. A plain hash would not do: there are only 10^8 (or 10^10) UCIs, and
//! whoever holds the database could hash them all in seconds and read every person's off
//! the index. HMAC-SHA-256 under a key of its own (a key file outside the database, by
//! default `<data dir>/keys/blind-index.key`, mode 0600) cannot be computed without that
//! key.
//!
//! The value is normalised before hashing (a UCI's separators dropped, an application
//! number upper-cased: what the domain's `parse` does), so that `0000-0000` and `00000000`
//! find the same case; each kind hashes under its own label, so a UCI and an application
//! number never share an entry. The index names the same person the same way for as long
//! as the key lives: the key is not rotated (a new key means recomputing every entry from
//! the plaintext).

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use prconfirm_domain::values::{ApplicationNumber, Uci};
use sha2::Sha256;

use crate::keyfile::{self, KeyBytes, KeyError};

/// The key file's name inside `<data dir>/keys/`.
pub const KEY_FILE: &str = "blind-index.key";

/// Where the blind-index key lives by default.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join(KEY_FILE)
}

/// The key of the blind index. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct BlindIndexKey {
    /// Keyed once; each entry starts from a clone of this state. Shared: the key is
    /// cloned into every reader of the index.
    mac: std::sync::Arc<Hmac<Sha256>>,
}

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey([secret])")
    }
}

/// One entry of the index: 32 bytes, stored and compared as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlindIndex([u8; 32]);

impl BlindIndex {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl BlindIndexKey {
    /// Reads the key at `path`, creating it first if there is none.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read or created, is malformed or open to others.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let key = keyfile::load_or_create(path, |_| {
            tracing::info!(path = %path.display(), "created the blind-index key");
            Ok(())
        })?;
        Ok(Self::from_key(&key))
    }

    /// Reads the key at `path`.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read, is malformed or open to others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Ok(Self::from_key(&keyfile::load(path)?))
    }

    /// A key from known bytes (tests and fixtures).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::from_key(&KeyBytes(bytes))
    }

    fn from_key(key: &KeyBytes) -> Self {
        Self {
            // HMAC takes a key of any length; 32 bytes cannot fail.
            mac: match <Hmac<Sha256> as Mac>::new_from_slice(key.as_array()) {
                Ok(mac) => std::sync::Arc::new(mac),
                Err(_) => unreachable!("HMAC accepts keys of every length"),
            },
        }
    }

    fn entry(&self, label: &[u8], value: &str) -> BlindIndex {
        let mut mac = (*self.mac).clone();
        mac.update(b"prconfirm blind index\0v1\0");
        mac.update(label);
        mac.update(b"\0");
        mac.update(value.as_bytes());
        BlindIndex(mac.finalize().into_bytes().into())
    }

    /// The entry of a UCI.
    pub fn uci(&self, uci: &Uci) -> BlindIndex {
        self.entry(b"uci", uci.as_str())
    }

    /// The entry of an application number.
    pub fn application_number(&self, number: &ApplicationNumber) -> BlindIndex {
        self.entry(b"application_number", number.as_str())
    }

    /// The entry of a UCI as typed (`00-0000-0000`, with spaces); `None` if it is not one.
    pub fn uci_text(&self, raw: &str) -> Option<BlindIndex> {
        Uci::parse(raw).ok().map(|uci| self.uci(&uci))
    }

    /// The entry of an application number as typed (any case, spaces around); `None` if it
    /// is not one.
    pub fn application_number_text(&self, raw: &str) -> Option<BlindIndex> {
        ApplicationNumber::parse(raw)
            .ok()
            .map(|n| self.application_number(&n))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_same_value_however_typed_has_one_entry_under_one_key() {
        let key = BlindIndexKey::from_bytes([3; 32]);
        let plain = key.uci_text("0012345678").unwrap();
        for typed in ["00-1234-5678", " 00 1234 5678 ", "00-1234 5678"] {
            assert_eq!(key.uci_text(typed), Some(plain), "{typed}");
        }
        assert_eq!(
            key.application_number_text(" e001234567"),
            key.application_number_text("E001234567")
        );
        assert_ne!(key.uci_text("0012345679"), Some(plain));
        assert_eq!(key.uci_text("12-34"), None);
        // Stable across restarts: the same key bytes give the same entry.
        assert_eq!(
            BlindIndexKey::from_bytes([3; 32]).uci_text("0012345678"),
            Some(plain)
        );
    }

    #[test]
    fn an_entry_is_neither_a_plain_hash_nor_the_same_under_another_key_or_kind() {
        use sha2::Digest;
        let key = BlindIndexKey::from_bytes([3; 32]);
        let entry = key.uci_text("12345678").unwrap();
        let plain: [u8; 32] = Sha256::digest(b"12345678").into();
        assert_ne!(entry.as_bytes(), &plain);
        assert_ne!(
            BlindIndexKey::from_bytes([4; 32]).uci_text("12345678"),
            Some(entry)
        );
        assert_eq!(entry.to_hex().len(), 64);
        assert!(!format!("{key:?}").contains("03"));
    }

    #[test]
    fn a_blind_index_key_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_key_path(dir.path());
        let made = BlindIndexKey::load_or_create(&path).unwrap();
        let again = BlindIndexKey::load(&path).unwrap();
        assert_eq!(made.uci_text("12345678"), again.uci_text("12345678"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
