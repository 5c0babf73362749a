//! The staff second factor: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps).
//!
//! Each staff account has a random 160-bit secret, shown once as an `otpauth://` URI when
//! the account is made or its factor reset. The database holds the secret only sealed with
//! XChaCha20-Poly1305 under a key file outside it ([`MfaKey`], by default
//! `<data dir>/keys/mfa-totp.key`), bound to its username as associated data, so that a
//! copy of the database alone yields no secret and a sealed secret moved to another account
//! does not open. A code is accepted for the current step or the one before it (a phone's
//! clock a little behind, a code typed as it turned), and each step once at most: the
//! account keeps the last step it accepted and a code of that step or an earlier one is
//! refused.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::keyfile::{self, KeyBytes, KeyError};

/// The key file's name inside `<data dir>/keys/`.
pub const KEY_FILE: &str = "mfa-totp.key";
/// The issuer named in the enrolment URI (and shown by authenticator apps).
pub const ISSUER: &str = "prconfirm";
/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of a secret (RFC 4226 recommends 160 bits).
const SECRET_BYTES: usize = 20;
const NONCE_BYTES: usize = 24;
/// Associated data of a sealed secret: what it is and whose.
const CONTEXT: &[u8] = b"prconfirm staff totp secret v1\0";

/// Where the sealing key lives by default.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join(KEY_FILE)
}

/// The key that seals second-factor secrets in the database.
#[derive(Clone)]
pub struct MfaKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey([secret])")
    }
}

impl MfaKey {
    /// Reads the key at `path`, creating it first if there is none.
    ///
    /// # Errors
    /// [`KeyError`] if the file cannot be read or created, is malformed or open to others.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let key = keyfile::load_or_create(path, |_| {
            tracing::info!(path = %path.display(), "created the key that seals staff second-factor secrets");
            Ok(())
        })?;
        Ok(Self::from_key(&key))
    }

    /// A key from known bytes (tests and fixtures).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::from_key(&KeyBytes::from_array(bytes))
    }

    fn from_key(key: &KeyBytes) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.as_array().into()),
        }
    }

    fn aad(username: &str) -> Vec<u8> {
        [CONTEXT, username.as_bytes()].concat()
    }

    /// Seals `secret` for `username`: nonce, then ciphertext and tag.
    fn seal(&self, username: &str, secret: &[u8]) -> Result<Vec<u8>, MfaError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce).map_err(|e| MfaError::Random(e.to_string()))?;
        let aad = Self::aad(username);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| MfaError::Sealing)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Opens what [`Self::seal`] made for `username`; `None` if it was not sealed by this key
    /// for this account.
    fn open(&self, username: &str, sealed: &[u8]) -> Option<Secret> {
        if sealed.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let aad = Self::aad(username);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .ok()
            .map(Secret)
    }
}

/// Why a second-factor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("no randomness for a second-factor secret: {0}")]
    Random(String),
    #[error("the second-factor secret could not be sealed")]
    Sealing,
    #[error("a second-factor secret could not be made: {0}")]
    Totp(String),
}

/// A secret in the clear, zeroed when dropped.
struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

fn totp(username: &str, secret: &Secret) -> Result<TOTP, MfaError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        secret.0.clone(),
        Some(ISSUER.to_owned()),
        username.to_owned(),
    )
    .map_err(|e| MfaError::Totp(e.to_string()))
}

/// A new secret for `username`: the enrolment to show once, and the secret sealed for the
/// database.
///
/// # Errors
/// [`MfaError`] if there is no randomness or the secret cannot be sealed.
pub fn enrol(key: &MfaKey, username: &str) -> Result<(Enrolment, Vec<u8>), MfaError> {
    let mut secret = Secret(vec![0; SECRET_BYTES]);
    getrandom::getrandom(&mut secret.0).map_err(|e| MfaError::Random(e.to_string()))?;
    let uri = totp(username, &secret)?.get_url();
    let sealed = key.seal(username, &secret.0)?;
    Ok((Enrolment { uri }, sealed))
}

/// The enrolment of a second factor, shown once: an `otpauth://totp/...` URI for an
/// authenticator app. Its `Debug` shows no secret.
pub struct Enrolment {
    uri: String,
}

impl Enrolment {
    /// `otpauth://totp/prconfirm:<username>?secret=<BASE32>&issuer=prconfirm`.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment([otpauth uri])")
    }
}

/// The code an authenticator app enrolled with `uri` shows at `at`; `None` if `uri` is not
/// a TOTP enrolment. For the black-box tests, the benchmarks and the load generator, which
/// sign staff in as a person with a phone would.
pub fn code_for(uri: &str, at: DateTime<Utc>) -> Option<String> {
    let time = u64::try_from(at.timestamp()).ok()?;
    TOTP::from_url(uri).ok().map(|totp| totp.generate(time))
}

/// The step of `at`.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS as i64)
}

/// The step `code` belongs to if it is the code of `username`'s sealed secret for the step
/// of `now` or the one before, and that step is later than `last_used`; `None` otherwise
/// (a wrong code, a replayed one, a secret this key did not seal for this account). Both
/// steps are always computed, and compared in constant time.
pub fn accepted_step(
    key: &MfaKey,
    username: &str,
    sealed: &[u8],
    code: &str,
    now: DateTime<Utc>,
    last_used: Option<i64>,
) -> Option<i64> {
    let secret = key.open(username, sealed)?;
    let totp = totp(username, &secret).ok()?;
    let current = step_of(now);
    let mut found = None;
    for step in [current - 1, current] {
        let Ok(time) = u64::try_from(step * STEP_SECS as i64) else {
            continue;
        };
        let matches: bool = totp.generate(time).as_bytes().ct_eq(code.as_bytes()).into();
        if matches && last_used.is_none_or(|used| step > used) {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn code_at(uri: &str, time: i64) -> String {
        code_for(uri, DateTime::from_timestamp(time, 0).unwrap()).unwrap()
    }

    #[test]
    fn a_code_is_accepted_for_its_step_and_the_next_and_once() {
        let key = MfaKey::from_bytes([7; 32]);
        let (enrolment, sealed) = enrol(&key, "officer.a").unwrap();
        assert!(
            enrolment
                .uri()
                .starts_with("otpauth://totp/prconfirm:officer.a?secret="),
            "{}",
            enrolment.uri()
        );
        assert!(enrolment.uri().ends_with("&issuer=prconfirm"));
        let at = DateTime::from_timestamp(1_800_000_015, 0).unwrap();
        let step = step_of(at);
        let code = code_at(enrolment.uri(), at.timestamp());
        let accept =
            |now: DateTime<Utc>, used| accepted_step(&key, "officer.a", &sealed, &code, now, used);
        assert_eq!(accept(at, None), Some(step));
        // Typed as the step turned: still good for one more step, not two.
        assert_eq!(accept(at + chrono::Duration::seconds(30), None), Some(step));
        assert_eq!(accept(at + chrono::Duration::seconds(60), None), None);
        // Used once: never again, nor any code of an earlier step.
        assert_eq!(accept(at, Some(step)), None);
        assert_eq!(accept(at - chrono::Duration::seconds(30), Some(step)), None);
        assert_eq!(
            accepted_step(&key, "officer.a", &sealed, "000000x", at, None),
            None
        );
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_key_and_holds_no_plaintext() {
        let key = MfaKey::from_bytes([7; 32]);
        let (enrolment, sealed) = enrol(&key, "officer.a").unwrap();
        let at = DateTime::from_timestamp(1_800_000_015, 0).unwrap();
        let code = code_at(enrolment.uri(), at.timestamp());
        assert!(accepted_step(&key, "officer.b", &sealed, &code, at, None).is_none());
        let other = MfaKey::from_bytes([8; 32]);
        assert!(accepted_step(&other, "officer.a", &sealed, &code, at, None).is_none());
        let raw = TOTP::from_url(enrolment.uri()).unwrap().secret;
        assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
        assert!(!format!("{enrolment:?}{key:?}").contains("secret="));
    }
}
