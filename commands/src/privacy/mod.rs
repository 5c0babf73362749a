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
pub mod kek;
pub mod keys;
pub mod rotate;

pub use blind::{BlindIndex, BlindIndexKey};
pub use cache::CacheSettings;
pub use envelope::{Binding, DataKey, EnvelopeError, KeyId, Plaintext, Sealed};
pub use kek::{Kek, KekId, KekRing, UnwrapError};
pub use keys::{check_ring, status, Access, Destroyed, KeyStatus, Opened, PersonKeys};
pub use rotate::{rotate, Rotation};

use std::collections::BTreeMap;

use crate::keyfile::KeyError;

/// Why a personal-data operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// A field of a person whose data was disposed of cannot be sealed: no key is ever made
    /// again for them.
    #[error("the personal data of case {0} was disposed of")]
    Disposed(String),
    /// The case never had a data key, so none of its fields was ever sealed.
    #[error("case {0} has no data key")]
    NoKey(String),
    /// The case's data key cannot be unwrapped here.
    #[error("the data key of case {case_id} cannot be unwrapped: {source}")]
    Unwrap {
        case_id: String,
        source: UnwrapError,
    },
    /// Data keys are wrapped by KEKs this instance does not hold (KEK id: keys).
    #[error(
        "data keys are wrapped by key-encryption keys this instance does not hold: {}",
        describe(.0)
    )]
    KeksNotHeld(BTreeMap<String, u64>),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("no randomness for a key: {0}")]
    Random(String),
    #[error("a data key could not be wrapped")]
    Wrapping,
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

fn describe(not_held: &BTreeMap<String, u64>) -> String {
    not_held
        .iter()
        .map(|(kek, n)| format!("KEK {kek} wraps {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an instance holds to protect personal data: the person keys (over its KEK ring) and
/// the blind-index key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrivacyKeys {
    pub persons: PersonKeys,
    pub blind_index: BlindIndexKey,
}
