//! Personal data at rest: the pieces that let an append-only, hash-chained log hold personal
//! data that can still be disposed of (DESIGN.md, "Personal data"). This is crypto-shredding:
//! each person's fields are sealed under a data key of that person, and destroying the key
//! disposes of every copy of the fields at once (the log, snapshots, backups) without
//! editing a byte the hash chain covers.
//!
//! - [`envelope`]: a field sealed with XChaCha20-Poly1305 under the person's data key,
//!   bound to its case, event sequence and field name; a short, versioned text form
//!   ([`Sealed`]) that sits in a JSON payload.
//! - [`kek`]: the key-encryption key, a file outside the database that wraps every data key,
//!   and the ring of KEKs an instance holds during a rotation.
//! - [`keys`]: the `person_keys` table: a data key made on first use, unwrapped into a
//!   bounded cache ([`cache`]), destroyed on disposal, after which its fields open as
//!   [`Opened::Disposed`], not as an error.
//! - [`rotate`]: re-wrapping every data key under a new KEK, in resumable batches.
//! - [`blind`]: the keyed blind index (HMAC-SHA-256, its own key file) for look-ups by UCI
//!   and application number.
//!
//! Keys are files: none of them ever enters the database, so that a copy of the database
//! alone holds no personal data.

pub mod blind;
pub mod cache;
pub mod envelope;
mod error;
pub mod kek;
pub mod keyfile;
pub mod keys;
pub mod payload;
pub mod rotate;

pub use blind::{BlindIndex, BlindIndexKey};
pub use cache::CacheSettings;
pub use envelope::{Binding, DataKey, EnvelopeError, KeyId, Plaintext, Sealed};
pub use error::{PrivacyError, UnwrapError};
pub use kek::{Kek, KekId, KekRing};
pub use keys::{check_ring, status, Access, Destroyed, KeyStatus, Opened, PersonKeys};
pub use rotate::{rotate, Rotation};

use keyfile::KeyError;

/// What an instance holds to protect personal data: the person keys (over its KEK ring) and
/// the blind-index key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrivacyKeys {
    pub persons: PersonKeys,
    pub blind_index: BlindIndexKey,
}

impl PrivacyKeys {
    /// The keys at their default paths under `data_dir` (`keys/kek.key`,
    /// `keys/blind-index.key`), made if missing, with the default cache: what `serve` takes
    /// when no path is configured, for tools and tests that write a database a server may
    /// open later. Checks nothing against the database (`serve` does).
    ///
    /// # Errors
    /// [`KeyError`] if a key file cannot be read or made.
    pub fn in_data_dir(
        db: &prconfirm_migrations::Database,
        data_dir: &std::path::Path,
    ) -> Result<Self, KeyError> {
        let kek = Kek::load_or_create(&kek::default_key_path(data_dir))?;
        Ok(Self {
            persons: PersonKeys::new(
                db.clone(),
                KekRing::new(kek, Vec::new()),
                CacheSettings::default(),
            ),
            blind_index: BlindIndexKey::load_or_create(&blind::default_key_path(data_dir))?,
        })
    }

    /// Fresh keys held in memory only, for tests and benchmarks whose database no other
    /// process opens: once they are dropped nothing sealed with them opens again.
    ///
    /// # Errors
    /// [`KeyError::Random`] if the system has no randomness to give.
    pub fn ephemeral(db: &prconfirm_migrations::Database) -> Result<Self, KeyError> {
        let kek = Kek::from_bytes(*keyfile::KeyBytes::random()?.as_array());
        let blind = BlindIndexKey::from_bytes(*keyfile::KeyBytes::random()?.as_array());
        Ok(Self {
            persons: PersonKeys::new(
                db.clone(),
                KekRing::new(kek, Vec::new()),
                CacheSettings::default(),
            ),
            blind_index: blind,
        })
    }
}
