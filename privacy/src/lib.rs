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

/// What an instance holds to protect personal data: the person keys (over its KEK ring) and
/// the blind-index key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrivacyKeys {
    pub persons: PersonKeys,
    pub blind_index: BlindIndexKey,
}
