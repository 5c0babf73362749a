//! The envelope of one personal field: XChaCha20-Poly1305 under the person's data key, with
//! the case id, the event sequence and the field's name as associated data, so that a
//! ciphertext copied to another case, another event or another field does not open.
//!
//! Text form, short enough to sit in a JSON event payload in place of the value:
//! `pd1:` then unpadded base64url of `key id (8) || nonce (24) || ciphertext || tag (16)`.
//! `pd1` is the format version; the key id names the data key that sealed it (random,
//! stored with the key), so that a field sealed under another key is told apart from a
//! forged one. The version and the key id are covered by the tag as well.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The text every envelope of this format begins with.
pub const PREFIX: &str = "pd1:";
/// Bytes of a data key's id.
pub const KEY_ID_BYTES: usize = 8;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
/// Associated data of a field: what it is, then the version of the format.
const CONTEXT: &[u8] = b"prconfirm personal field\0v1\0";

/// What a field's ciphertext is bound to: the case (the person), the event that carries it
/// and the field's name in that event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    pub case_id: &'a str,
    pub sequence: u64,
    pub field: &'a str,
}

impl<'a> Binding<'a> {
    pub fn new(case_id: &'a str, sequence: u64, field: &'a str) -> Self {
        Self {
            case_id,
            sequence,
            field,
        }
    }

    /// The associated data: each variable part preceded by its length, so that no two
    /// bindings give the same bytes.
    fn aad(&self, key_id: &KeyId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            CONTEXT.len() + KEY_ID_BYTES + 16 + self.case_id.len() + self.field.len(),
        );
        aad.extend_from_slice(CONTEXT);
        aad.extend_from_slice(&key_id.0);
        put_len_prefixed(&mut aad, self.case_id.as_bytes());
        aad.extend_from_slice(&self.sequence.to_be_bytes());
        put_len_prefixed(&mut aad, self.field.as_bytes());
        aad
    }
}

pub(crate) fn put_len_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    // A field name or case id of 4 GiB is not a thing; saturate rather than wrap.
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

/// The id of a person's data key: random, not secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; KEY_ID_BYTES]);

impl KeyId {
    /// A key id from the bytes stored with the key; `None` if they are not 8.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A sealed personal field, as stored: see the module's documentation for its form.
/// `Serialize`/`Deserialize` as its text form, so that an event can hold it as a string.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Key id, nonce, ciphertext and tag.
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed({} bytes, key {})",
            self.bytes.len(),
            self.key_id()
        )
    }
}

impl Sealed {
    /// The data key that sealed it.
    pub fn key_id(&self) -> KeyId {
        let mut id = [0; KEY_ID_BYTES];
        id.copy_from_slice(&self.bytes[..KEY_ID_BYTES]);
        KeyId(id)
    }

    /// Whether `text` is in this format (begins with [`PREFIX`]): for upcasters telling a
    /// sealed value from a plain one. Says nothing of whether it opens.
    pub fn looks_sealed(text: &str) -> bool {
        text.starts_with(PREFIX)
    }

    /// Parses the text form.
    ///
    /// # Errors
    /// [`EnvelopeError::Malformed`] if it is not `pd1:` and base64url of at least a key id,
    /// a nonce and a tag.
    pub fn parse(text: &str) -> Result<Self, EnvelopeError> {
        let body = text.strip_prefix(PREFIX).ok_or(EnvelopeError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| EnvelopeError::Malformed)?;
        if bytes.len() < KEY_ID_BYTES + NONCE_BYTES + TAG_BYTES {
            return Err(EnvelopeError::Malformed);
        }
        Ok(Self { bytes })
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(PREFIX.len() + self.bytes.len().div_ceil(3) * 4);
        text.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(&self.bytes, &mut text);
        text
    }
}

impl std::fmt::Display for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for Sealed {
    type Err = EnvelopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Sealed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> serde::Deserialize<'de> for Sealed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str> as serde::Deserialize<'de>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Why a field could not be sealed or opened. Opening a field of a disposed person is not
/// one of these: see [`crate::Opened::Disposed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a sealed personal field")]
    Malformed,
    /// Sealed under another data key than the person's (another case's, or an older one).
    #[error("sealed under data key {found}, not the person's key {expected}")]
    OtherKey { expected: KeyId, found: KeyId },
    /// The tag does not hold: altered, or bound to another case, event or field.
    #[error("the sealed field does not open for this case, event and field")]
    DoesNotOpen,
    /// A key of one case asked to seal a field of another: a programming error.
    #[error("the data key of case {key_case} cannot seal a field of case {field_case}")]
    WrongCase {
        key_case: String,
        field_case: String,
    },
    #[error("no randomness for a nonce: {0}")]
    Random(String),
    #[error("the field could not be sealed")]
    Sealing,
}

/// A person's data key, unwrapped, with the case it belongs to. The key is zeroed when
/// dropped (the cipher does so) and never printed.
pub struct DataKey {
    case_id: String,
    id: KeyId,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("case_id", &self.case_id)
            .field("id", &self.id.to_string())
            .finish_non_exhaustive()
    }
}

impl DataKey {
    pub(crate) fn new(case_id: &str, id: KeyId, key: &[u8; 32]) -> Self {
        Self {
            case_id: case_id.to_owned(),
            id,
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    pub fn case_id(&self) -> &str {
        &self.case_id
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Seals `plaintext` as the field `binding` names. The binding's case must be this key's.
    ///
    /// # Errors
    /// [`EnvelopeError::WrongCase`] for another case's field; [`EnvelopeError::Random`] if the
    /// system has no randomness for the nonce.
    pub fn seal(&self, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Sealed, EnvelopeError> {
        if binding.case_id != self.case_id {
            return Err(EnvelopeError::WrongCase {
                key_case: self.case_id.clone(),
                field_case: binding.case_id.to_owned(),
            });
        }
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce).map_err(|e| EnvelopeError::Random(e.to_string()))?;
        let aad = binding.aad(&self.id);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| EnvelopeError::Sealing)?;
        let mut bytes = Vec::with_capacity(KEY_ID_BYTES + NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&self.id.0);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(Sealed { bytes })
    }

    /// Opens what [`Self::seal`] made for `binding`.
    ///
    /// # Errors
    /// [`EnvelopeError::OtherKey`] if another data key sealed it, [`EnvelopeError::DoesNotOpen`]
    /// if it was altered or sealed for another case, event or field.
    pub fn open(&self, binding: &Binding<'_>, sealed: &Sealed) -> Result<Plaintext, EnvelopeError> {
        let found = sealed.key_id();
        if found != self.id {
            return Err(EnvelopeError::OtherKey {
                expected: self.id,
                found,
            });
        }
        if binding.case_id != self.case_id {
            return Err(EnvelopeError::DoesNotOpen);
        }
        let (nonce, body) = sealed.bytes[KEY_ID_BYTES..].split_at(NONCE_BYTES);
        let aad = binding.aad(&self.id);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map(Plaintext)
            .map_err(|_| EnvelopeError::DoesNotOpen)
    }
}

/// An opened field, zeroed when dropped. Its `Debug` shows no content.
pub struct Plaintext(Vec<u8>);

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plaintext([{} bytes])", self.0.len())
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

impl Plaintext {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The field as text; `None` if it is not UTF-8 (it was sealed from bytes).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(case: &str, id: u8) -> DataKey {
        DataKey::new(case, KeyId([id; 8]), &[id; 32])
    }

    #[test]
    fn a_field_opens_only_where_it_was_sealed() {
        let key = key("case-1", 1);
        let here = Binding::new("case-1", 3, "given_name");
        let sealed = key.seal(&here, "Zoë".as_bytes()).unwrap();
        assert_eq!(key.open(&here, &sealed).unwrap().as_str(), Some("Zoë"));
        for elsewhere in [
            Binding::new("case-1", 4, "given_name"),
            Binding::new("case-1", 3, "family_name"),
            Binding::new("case-2", 3, "given_name"),
        ] {
            assert!(key.open(&elsewhere, &sealed).is_err(), "{elsewhere:?}");
        }
    }

    #[test]
    fn the_text_form_reads_back_and_hides_the_value() {
        let key = key("case-1", 1);
        let here = Binding::new("case-1", 1, "email");
        let sealed = key.seal(&here, b"zoe@example.org").unwrap();
        let text = sealed.to_text();
        assert!(text.starts_with("pd1:") && Sealed::looks_sealed(&text));
        assert!(!text.contains("zoe"));
        let json = serde_json::to_string(&sealed).unwrap();
        let back: Sealed = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sealed);
        assert_eq!(
            key.open(&here, &back).unwrap().as_bytes(),
            b"zoe@example.org"
        );
        // The same value sealed twice gives two envelopes (a fresh nonce each time).
        assert_ne!(key.seal(&here, b"zoe@example.org").unwrap(), sealed);
    }

    #[test]
    fn an_altered_or_foreign_envelope_is_refused() {
        let key = key("case-1", 1);
        let here = Binding::new("case-1", 1, "uci");
        let sealed = key.seal(&here, b"12345678").unwrap();
        let mut altered = sealed.clone();
        let last = altered.bytes.len() - 1;
        altered.bytes[last] ^= 1;
        assert_eq!(
            key.open(&here, &altered).unwrap_err(),
            EnvelopeError::DoesNotOpen
        );
        let other = DataKey::new("case-1", KeyId([2; 8]), &[2; 32]);
        assert!(matches!(
            other.open(&here, &sealed),
            Err(EnvelopeError::OtherKey { .. })
        ));
        // The key id in the head is covered by the tag: rewriting it does not help.
        let mut relabelled = other.seal(&here, b"x").unwrap();
        relabelled.bytes[..KEY_ID_BYTES].copy_from_slice(&[1; 8]);
        assert_eq!(
            key.open(&here, &relabelled).unwrap_err(),
            EnvelopeError::DoesNotOpen
        );
        for bad in ["", "pd1:", "pd1:!!", "pd2:AAAA", "hello"] {
            assert_eq!(Sealed::parse(bad), Err(EnvelopeError::Malformed), "{bad}");
        }
        assert!(matches!(
            key.seal(&Binding::new("case-2", 1, "uci"), b"1"),
            Err(EnvelopeError::WrongCase { .. })
        ));
    }
}
