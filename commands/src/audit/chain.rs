//! The hash chain, as pure functions: what an event's hash covers, how it links to the
//! previous event of its case, and the running root over the global feed that checkpoints sign.
//!
//! ```text
//! hash_1     = SHA-256(32 zero bytes || canonical(event_1))
//! hash_n     = SHA-256(hash_{n-1}    || canonical(event_n))        (per case, by sequence)
//! root_0     = 32 zero bytes
//! root_k     = SHA-256(root_{k-1} || hash of the k-th event in feed order)
//! ```
//!
//! `canonical(event)` is the canonical JSON ([`super::canonical`]) of the object
//! `{aggregate_id, aggregate_type, event_type, event_version, metadata, payload, sequence}`,
//! where `metadata` leaves out the two members the chain itself adds, `hash` and `prev_hash`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical::{self, CanonicalError, Json, Scratch};

/// Metadata member holding the event's own hash (lowercase hex).
pub const HASH_KEY: &str = "hash";
/// Metadata member holding the hash of the case's previous event (lowercase hex).
pub const PREV_HASH_KEY: &str = "prev_hash";

/// A SHA-256 digest: an event's hash, the link to its predecessor, or a checkpoint's root.
/// Printed, stored and serialized as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The predecessor of every case's first event, and the root of the empty feed.
    pub const ZERO: Self = Self([0; 32]);

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

/// Text that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a hash is 64 lowercase hex digits")]
pub struct BadHash;

impl FromStr for ChainHash {
    type Err = BadHash;
    fn from_str(s: &str) -> Result<Self, BadHash> {
        // Lowercase only: uppercase would decode to the same bytes, but the stored form has
        // one spelling per value.
        fn nibble(c: u8) -> Result<u8, BadHash> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(BadHash),
            }
        }
        let text: &[u8; 64] = s.as_bytes().try_into().map_err(|_| BadHash)?;
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Ok(Self(bytes))
    }
}

impl Serialize for ChainHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The fields of one stored event that its hash covers, borrowed from wherever they are.
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    /// As stored: never upcast.
    pub payload: &'a Value,
    /// As stored; `hash` and `prev_hash`, if present, are left out of the canonical form.
    pub metadata: &'a Value,
}

/// An event's fields with its payload and metadata from any JSON source: values (the store
/// decorator) or stored text (verification).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventSource<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: Json<'a>,
    pub metadata: Json<'a>,
}

impl<'a> From<&EventFields<'a>> for EventSource<'a> {
    fn from(e: &EventFields<'a>) -> Self {
        Self {
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            payload: Json::Value(e.payload),
            metadata: Json::Value(e.metadata),
        }
    }
}

/// The canonical bytes of an event (what follows the predecessor's hash in the hash input).
///
/// # Errors
/// [`CanonicalError`] if the payload or metadata holds a float, or the metadata is not an
/// object.
pub fn canonical_event(event: &EventFields<'_>) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(512);
    write_canonical_event(&mut Scratch::default(), &mut out, &event.into())?;
    Ok(out)
}

/// Appends an event's canonical bytes to `out` and returns what its metadata holds under
/// `hash` and `prev_hash` (left out of the canonical form).
pub(crate) fn write_canonical_event(
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    event: &EventSource<'_>,
) -> Result<[Option<Value>; 2], CanonicalError> {
    // Members in sorted key order, written by hand to avoid building an object.
    out.extend_from_slice(b"{\"aggregate_id\":");
    canonical::write_str(out, event.aggregate_id);
    out.extend_from_slice(b",\"aggregate_type\":");
    canonical::write_str(out, event.aggregate_type);
    out.extend_from_slice(b",\"event_type\":");
    canonical::write_str(out, event.event_type);
    out.extend_from_slice(b",\"event_version\":");
    canonical::write_str(out, event.event_version);
    out.extend_from_slice(b",\"metadata\":");
    let taken =
        canonical::write_object_without(scratch, out, event.metadata, [HASH_KEY, PREV_HASH_KEY])?;
    out.extend_from_slice(b",\"payload\":");
    canonical::write_with(scratch, out, event.payload)?;
    out.extend_from_slice(b",\"sequence\":");
    canonical::write_decimal(out, event.sequence < 0, event.sequence.unsigned_abs());
    out.push(b'}');
    Ok(taken)
}

/// `SHA-256(prev || canonical)`.
pub(crate) fn hash_of(prev: &ChainHash, canonical: &[u8]) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(prev.0);
    hasher.update(canonical);
    ChainHash(hasher.finalize().into())
}

/// `SHA-256(prev || canonical(event))`.
///
/// # Errors
/// As [`canonical_event`].
pub fn event_hash(prev: &ChainHash, event: &EventFields<'_>) -> Result<ChainHash, CanonicalError> {
    Ok(hash_of(prev, &canonical_event(event)?))
}

/// One step of the running root over the feed: `SHA-256(root || hash)`.
pub fn root_step(root: &ChainHash, hash: &ChainHash) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(root.0);
    hasher.update(hash.0);
    ChainHash(hasher.finalize().into())
}

/// The link an event carries in its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLink {
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// Why an event's metadata carries no usable link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("metadata has no {0}")]
    Missing(&'static str),
    #[error("metadata {0} is not 64 lowercase hex digits")]
    Malformed(&'static str),
}

/// Reads `prev_hash` and `hash` from an event's metadata.
///
/// # Errors
/// [`LinkError`] if either is missing or not 64 lowercase hex digits.
pub fn stored_link(metadata: &Value) -> Result<StoredLink, LinkError> {
    link_from(metadata.get(HASH_KEY), metadata.get(PREV_HASH_KEY))
}

/// The link made of the values found under `hash` and `prev_hash`.
pub(crate) fn link_from(
    hash: Option<&Value>,
    prev_hash: Option<&Value>,
) -> Result<StoredLink, LinkError> {
    let read = |key: &'static str, value: Option<&Value>| -> Result<ChainHash, LinkError> {
        value
            .ok_or(LinkError::Missing(key))?
            .as_str()
            .ok_or(LinkError::Malformed(key))?
            .parse()
            .map_err(|_| LinkError::Malformed(key))
    };
    Ok(StoredLink {
        prev_hash: read(PREV_HASH_KEY, prev_hash)?,
        hash: read(HASH_KEY, hash)?,
    })
}

/// Writes an event's link (its predecessor's hash and its own) into its metadata.
///
/// # Errors
/// [`CanonicalError::MetadataNotAnObject`] if the metadata is not an object.
pub fn stamp(metadata: &mut Value, link: &StoredLink) -> Result<(), CanonicalError> {
    let Value::Object(map) = metadata else {
        return Err(CanonicalError::MetadataNotAnObject);
    };
    insert_link(map, link);
    Ok(())
}

fn insert_link(map: &mut Map<String, Value>, link: &StoredLink) {
    map.insert(
        PREV_HASH_KEY.to_owned(),
        Value::String(link.prev_hash.to_hex()),
    );
    map.insert(HASH_KEY.to_owned(), Value::String(link.hash.to_hex()));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn fields<'a>(payload: &'a Value, metadata: &'a Value) -> EventFields<'a> {
        EventFields {
            aggregate_type: "case",
            aggregate_id: "c-1",
            sequence: 1,
            event_type: "InvitationAccepted",
            event_version: "1.0",
            payload,
            metadata,
        }
    }

    #[test]
    fn the_canonical_event_is_one_sorted_object_without_the_chain_members() {
        let payload = json!({"InvitationAccepted": {"at": "2026-06-01T14:00:00Z"}});
        let metadata = json!({"actor_id": "system", "hash": "x", "prev_hash": "y"});
        let bytes = canonical_event(&fields(&payload, &metadata)).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"aggregate_id":"c-1","aggregate_type":"case","event_type":"InvitationAccepted","event_version":"1.0","metadata":{"actor_id":"system"},"payload":{"InvitationAccepted":{"at":"2026-06-01T14:00:00Z"}},"sequence":1}"#
        );
    }

    #[test]
    fn the_hand_written_canonical_event_equals_the_canonical_form_of_the_same_object() {
        let payload = json!({"E": {"n": -3, "s": "ü\n"}});
        let metadata = json!({"z": "1", "a": "2"});
        let as_object = json!({
            "sequence": 7, "payload": payload, "metadata": metadata, "event_version": "2.0",
            "event_type": "E", "aggregate_type": "case", "aggregate_id": "c-7"
        });
        let event = EventFields {
            aggregate_id: "c-7",
            sequence: 7,
            event_type: "E",
            event_version: "2.0",
            ..fields(&payload, &metadata)
        };
        assert_eq!(
            canonical_event(&event).unwrap(),
            canonical::to_vec(&as_object).unwrap()
        );
    }

    #[test]
    fn a_known_event_has_a_known_hash() {
        // A fixed vector, computed outside Rust from the documented form (docs/audit.md).
        let payload = json!({"InvitationAccepted": {"at": "2026-06-01T14:00:00Z"}});
        let metadata = json!({"actor_id": "system"});
        let hash = event_hash(&ChainHash::ZERO, &fields(&payload, &metadata)).unwrap();
        assert_eq!(
            hash.to_hex(),
            "25ceeef8b94bb48f46d4e659f6be38bd28ac97983778d62def1db97288a902d5"
        );
    }

    #[test]
    fn any_change_to_a_covered_field_changes_the_hash() {
        let payload = json!({"E": {"n": 1}});
        let metadata = json!({"actor_id": "a"});
        let base = fields(&payload, &metadata);
        let h = |e: &EventFields<'_>| event_hash(&ChainHash::ZERO, e).unwrap();
        let original = h(&base);
        let other_payload = json!({"E": {"n": 2}});
        let other_metadata = json!({"actor_id": "b"});
        for changed in [
            EventFields {
                aggregate_type: "other",
                ..base
            },
            EventFields {
                aggregate_id: "c-2",
                ..base
            },
            EventFields {
                sequence: 2,
                ..base
            },
            EventFields {
                event_type: "F",
                ..base
            },
            EventFields {
                event_version: "2.0",
                ..base
            },
            EventFields {
                payload: &other_payload,
                ..base
            },
            EventFields {
                metadata: &other_metadata,
                ..base
            },
        ] {
            assert_ne!(h(&changed), original, "{changed:?}");
        }
        assert_ne!(
            event_hash(&ChainHash([1; 32]), &base).unwrap(),
            original,
            "the predecessor is covered too"
        );
    }

    #[test]
    fn a_stamped_link_reads_back_and_verifies() {
        let payload = json!({"E": {}});
        let mut metadata = json!({"actor_id": "a"});
        let prev = ChainHash([7; 32]);
        let hash = event_hash(&prev, &fields(&payload, &metadata)).unwrap();
        let link = StoredLink {
            prev_hash: prev,
            hash,
        };
        stamp(&mut metadata, &link).unwrap();
        assert_eq!(stored_link(&metadata).unwrap(), link);
        assert_eq!(metadata["prev_hash"], "07".repeat(32));
        // The stamped members are outside what the hash covers.
        assert_eq!(
            event_hash(&prev, &fields(&payload, &metadata)).unwrap(),
            hash
        );
    }

    #[test]
    fn links_must_be_present_and_lowercase_hex() {
        let good = "ab".repeat(32);
        assert_eq!(
            stored_link(&json!({"hash": good})),
            Err(LinkError::Missing("prev_hash"))
        );
        assert_eq!(
            stored_link(&json!({"hash": "AB".repeat(32), "prev_hash": good})),
            Err(LinkError::Malformed("hash"))
        );
        assert_eq!(
            stored_link(&json!({"hash": good, "prev_hash": 5})),
            Err(LinkError::Malformed("prev_hash"))
        );
        assert!("ab".repeat(31).parse::<ChainHash>().is_err());
        assert!("zz".repeat(32).parse::<ChainHash>().is_err());
        assert!(format!("{}g", "a".repeat(63)).parse::<ChainHash>().is_err());
        let all: String = (0u8..32).map(|b| format!("{:02x}", b * 8)).collect();
        assert_eq!(all.parse::<ChainHash>().unwrap().to_hex(), all);
    }

    #[test]
    fn the_root_folds_hashes_in_order() {
        let (a, b) = (ChainHash([1; 32]), ChainHash([2; 32]));
        let ab = root_step(&root_step(&ChainHash::ZERO, &a), &b);
        let ba = root_step(&root_step(&ChainHash::ZERO, &b), &a);
        assert_ne!(ab, ba);
    }
}
