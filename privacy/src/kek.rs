//! The key-encryption key (KEK): a key file outside the database (by default
//! `<data dir>/keys/kek.key`, mode 0600) that wraps every person's data key. Whoever holds a
//! copy of the database but not the KEK holds no personal data; once a KEK is destroyed,
//! every copy of the database whose keys it wrapped (a backup, a stolen disk) is noise.
//!
//! A KEK is named by its id, the first 8 bytes of SHA-256 over a label and the key, in hex:
//! each wrapped key records the id of the KEK that wrapped it, so that a rotation can tell
//! what is done from what is left, and an instance given the wrong KEK can say so. The id
//! gives nothing away about the key.
//!
//! A [`KekRing`] is the current KEK (which wraps new keys) and the previous ones it may
//! still unwrap with, during a rotation.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::envelope::{put_len_prefixed, KeyId};
use crate::error::{PrivacyError, UnwrapError};
use crate::keyfile::{self, KeyBytes, KeyError};

/// The key file's name inside `<data dir>/keys/`.
pub const KEY_FILE: &str = "kek.key";
const NONCE_BYTES: usize = 24;
/// Bytes of a wrapped data key: nonce, the 32 key bytes, the tag.
pub(crate) const WRAPPED_BYTES: usize = NONCE_BYTES + 32 + 16;
/// Associated data of a wrapped data key: what it is, then whose it is and who wrapped it.
const CONTEXT: &[u8] = b"prconfirm person data key\0v1\0";

/// Where the KEK lives by default.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join(KEY_FILE)
}

/// The id of a KEK: 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KekId(String);

impl KekId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KekId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key-encryption key. The key is zeroed when dropped (the cipher does so) and never
/// printed; its `Debug` shows its id.
pub struct Kek {
    id: KekId,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id.0)
            .finish_non_exhaustive()
    }
}

impl Kek {
    /// Reads the KEK at `path`, creating it first if there is none.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read or created, is malformed or open to others.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let key = keyfile::load_or_create(path, |_| Ok(()))?;
        let kek = Self::from_key(&key);
        // Logged here, not in the callback, so the id is known; a file another process made
        // at the same moment is logged by that process only if it got there first.
        tracing::debug!(path = %path.display(), kek_id = %kek.id, "key-encryption key ready");
        Ok(kek)
    }

    /// Reads the KEK at `path`.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read, is malformed or open to others; see
    /// [`KeyError::is_missing`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Ok(Self::from_key(&keyfile::load(path)?))
    }

    /// A KEK from known bytes (tests and fixtures).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::from_key(&KeyBytes(bytes))
    }

    fn from_key(key: &KeyBytes) -> Self {
        let digest = Sha256::new()
            .chain_update(b"prconfirm kek id\0v1\0")
            .chain_update(key.as_array())
            .finalize();
        Self {
            id: KekId(hex::encode(&digest[..8])),
            cipher: XChaCha20Poly1305::new(key.as_array().into()),
        }
    }

    pub fn id(&self) -> &KekId {
        &self.id
    }

    fn aad(&self, case_id: &str, key_id: &KeyId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(CONTEXT.len() + 40 + case_id.len());
        aad.extend_from_slice(CONTEXT);
        put_len_prefixed(&mut aad, case_id.as_bytes());
        aad.extend_from_slice(&key_id.0);
        put_len_prefixed(&mut aad, self.id.0.as_bytes());
        aad
    }

    /// Wraps the data key `key` of `case_id`: nonce, then ciphertext and tag.
    pub(crate) fn wrap(
        &self,
        case_id: &str,
        key_id: &KeyId,
        key: &KeyBytes,
    ) -> Result<Vec<u8>, PrivacyError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce).map_err(|e| PrivacyError::Random(e.to_string()))?;
        let aad = self.aad(case_id, key_id);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: key.as_array(),
                    aad: &aad,
                },
            )
            .map_err(|_| PrivacyError::Wrapping)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Unwraps what [`Self::wrap`] made for `case_id` and `key_id`.
    fn unwrap_key(
        &self,
        case_id: &str,
        key_id: &KeyId,
        wrapped: &[u8],
    ) -> Result<KeyBytes, UnwrapError> {
        if wrapped.len() != WRAPPED_BYTES {
            return Err(UnwrapError::DoesNotOpen);
        }
        let (nonce, body) = wrapped.split_at(NONCE_BYTES);
        let aad = self.aad(case_id, key_id);
        let mut opened = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| UnwrapError::DoesNotOpen)?;
        let mut key = KeyBytes([0; 32]);
        key.0.copy_from_slice(&opened);
        opened.fill(0);
        Ok(key)
    }
}

/// The KEKs an instance holds: the current one, which wraps every new data key, and the
/// previous ones, which only unwrap (while a rotation moves their keys to the current one).
#[derive(Debug)]
pub struct KekRing {
    current: Kek,
    previous: Vec<Kek>,
}

impl KekRing {
    /// A ring of `current` and `previous` (a previous KEK equal to the current one is
    /// dropped).
    pub fn new(current: Kek, previous: Vec<Kek>) -> Self {
        let previous = previous
            .into_iter()
            .filter(|k| k.id != current.id)
            .collect();
        Self { current, previous }
    }

    /// The KEK that wraps new keys.
    pub fn current(&self) -> &Kek {
        &self.current
    }

    /// Whether this ring holds the KEK named `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Every KEK id held, the current one first.
    pub fn ids(&self) -> Vec<KekId> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| k.id.clone())
            .collect()
    }

    fn get(&self, id: &str) -> Option<&Kek> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id.0 == id)
    }

    /// Unwraps a data key wrapped by the KEK named `kek_id`.
    ///
    /// # Errors
    /// [`UnwrapError::KekNotHeld`] if this ring has no such KEK, [`UnwrapError::DoesNotOpen`]
    /// if the bytes do not open for this case.
    pub(crate) fn unwrap_key(
        &self,
        kek_id: &str,
        case_id: &str,
        key_id: &KeyId,
        wrapped: &[u8],
    ) -> Result<KeyBytes, UnwrapError> {
        self.get(kek_id)
            .ok_or_else(|| UnwrapError::KekNotHeld(kek_id.to_owned()))?
            .unwrap_key(case_id, key_id, wrapped)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_for_its_case_and_under_its_kek() {
        let kek = Kek::from_bytes([1; 32]);
        let key = KeyBytes([9; 32]);
        let id = KeyId([5; 8]);
        let wrapped = kek.wrap("case-1", &id, &key).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_BYTES);
        assert!(!wrapped.windows(32).any(|w| w == [9; 32]));
        let ring = KekRing::new(Kek::from_bytes([1; 32]), vec![]);
        let back = ring.unwrap_key(kek.id().as_str(), "case-1", &id, &wrapped);
        assert_eq!(back.unwrap().0, [9; 32]);
        assert_eq!(
            ring.unwrap_key(kek.id().as_str(), "case-2", &id, &wrapped)
                .unwrap_err(),
            UnwrapError::DoesNotOpen
        );
        assert_eq!(
            ring.unwrap_key(kek.id().as_str(), "case-1", &KeyId([6; 8]), &wrapped)
                .unwrap_err(),
            UnwrapError::DoesNotOpen
        );
        let other = KekRing::new(Kek::from_bytes([2; 32]), vec![]);
        assert!(matches!(
            other.unwrap_key(kek.id().as_str(), "case-1", &id, &wrapped),
            Err(UnwrapError::KekNotHeld(_))
        ));
    }

    #[test]
    fn a_kek_id_is_stable_distinct_and_not_the_key() {
        let a = Kek::from_bytes([1; 32]);
        assert_eq!(a.id(), Kek::from_bytes([1; 32]).id());
        assert_ne!(a.id(), Kek::from_bytes([2; 32]).id());
        assert_eq!(a.id().as_str().len(), 16);
        assert!(!a.id().as_str().contains("0101"));
        assert!(!format!("{a:?}").contains("0101010101"));
    }

    #[test]
    fn a_kek_file_is_created_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_key_path(dir.path());
        let made = Kek::load_or_create(&path).unwrap();
        assert_eq!(Kek::load(&path).unwrap().id(), made.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
