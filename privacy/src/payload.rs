//! The personal fields of a stored event payload, sealed and opened in place. Which fields
//! those are, and from which version on, is the domain's ([`personal`]); each is sealed as
//! its JSON text under the person's data key, bound to the case, the event's sequence and
//! the field's path, so that a sealed field copied into another event or member does not
//! open.

use prconfirm_domain::case::personal;
use serde_json::Value;

use crate::envelope::{Binding, DataKey, EnvelopeError, Sealed};
use crate::keys::{Access, Opened};

/// One stored event, as far as sealing needs it. The payload is externally tagged:
/// `{"<event type>": {body}}`.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    pub case_id: &'a str,
    pub sequence: u64,
    pub event_type: &'a str,
    pub event_version: &'a str,
}

impl StoredEvent<'_> {
    /// The paths sealed in this event's payload.
    pub fn sealed_paths(&self) -> &'static [&'static str] {
        personal::sealed_in(self.event_type, self.event_version)
    }

    /// Whether this event has a personal field to seal or open.
    pub fn is_personal(&self) -> bool {
        !self.sealed_paths().is_empty()
    }
}

/// What a reader takes for a field whose person's data was disposed of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposed {
    /// A value of the field's type that names nobody, for readers that decode the event
    /// into the domain's types (the aggregate, the read models): see
    /// [`personal::disposed_value`].
    Placeholder,
    /// The text `[disposed]`, for readers of the log as stored (auditors' history, replays).
    Marker,
}

/// Why a payload could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// A member the version says is sealed holds something that is not a sealed field.
    #[error("{event_type} {sequence}: member {path} is not sealed")]
    NotSealed {
        event_type: String,
        sequence: u64,
        path: &'static str,
    },
    #[error("{event_type} {sequence}: member {path}: {source}")]
    Envelope {
        event_type: String,
        sequence: u64,
        path: &'static str,
        source: EnvelopeError,
    },
    /// An opened field is not the JSON it was sealed as.
    #[error("{event_type} {sequence}: member {path} opened to something that is not JSON")]
    NotJson {
        event_type: String,
        sequence: u64,
        path: &'static str,
    },
}

/// Why a stored event's personal fields could not be opened with the person keys.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The case's key could not be had (storage, or a KEK not held).
    #[error(transparent)]
    Keys(#[from] crate::PrivacyError),
    /// The fields do not open under it.
    #[error(transparent)]
    Sealed(#[from] PayloadError),
}

/// Opens the personal members of a stored event's `payload` in place with its case's key
/// from `keys` (see [`open`]); an event without personal fields is left as it is, without a
/// key look-up. Answers whether any member was disposed of.
///
/// # Errors
/// [`OpenError`].
pub async fn open_with(
    keys: &crate::PersonKeys,
    event: &StoredEvent<'_>,
    payload: &mut Value,
    disposed: Disposed,
) -> Result<bool, OpenError> {
    if !event.is_personal() {
        return Ok(false);
    }
    let access = keys.for_opening(event.case_id).await?;
    Ok(open(&access, event, payload, disposed)?)
}

fn body_of<'v>(payload: &'v mut Value, event: &StoredEvent<'_>) -> Option<&'v mut Value> {
    payload.get_mut(event.event_type)
}

/// Seals the personal members of `payload` under `key`, each bound to `event` and its path.
/// Absent and `null` members stay as they are.
///
/// # Errors
/// [`PayloadError::Envelope`] if the cipher refuses (no randomness for a nonce).
pub fn seal(
    key: &DataKey,
    event: &StoredEvent<'_>,
    payload: &mut Value,
) -> Result<(), PayloadError> {
    let Some(body) = body_of(payload, event) else {
        return Ok(());
    };
    for path in event.sealed_paths() {
        let Some(member) = personal::member_mut(body, path) else {
            continue;
        };
        if member.is_null() {
            continue;
        }
        let text = member.to_string();
        let sealed = key
            .seal(
                &Binding::new(event.case_id, event.sequence, path),
                text.as_bytes(),
            )
            .map_err(|source| PayloadError::Envelope {
                event_type: event.event_type.to_owned(),
                sequence: event.sequence,
                path,
                source,
            })?;
        *member = Value::String(sealed.to_text());
    }
    Ok(())
}

/// Opens the personal members of `payload` in place with `access`. Once the person's data was
/// disposed of, each takes what `disposed` says. Answers whether any member was disposed of.
///
/// # Errors
/// A member that should be sealed and is not, does not open under the key (altered, or
/// copied from another case, event or member), or is not JSON once opened.
pub fn open(
    access: &Access,
    event: &StoredEvent<'_>,
    payload: &mut Value,
    disposed: Disposed,
) -> Result<bool, PayloadError> {
    let Some(body) = body_of(payload, event) else {
        return Ok(false);
    };
    let mut any_disposed = false;
    for path in event.sealed_paths() {
        let Some(member) = personal::member_mut(body, path) else {
            continue;
        };
        if member.is_null() {
            continue;
        }
        let not_sealed = || PayloadError::NotSealed {
            event_type: event.event_type.to_owned(),
            sequence: event.sequence,
            path,
        };
        let sealed = member
            .as_str()
            .ok_or_else(not_sealed)
            .and_then(|text| Sealed::parse(text).map_err(|_| not_sealed()))?;
        let opened = access
            .open(&Binding::new(event.case_id, event.sequence, path), &sealed)
            .map_err(|source| PayloadError::Envelope {
                event_type: event.event_type.to_owned(),
                sequence: event.sequence,
                path,
                source,
            })?;
        *member = match opened {
            Opened::Plain(plain) => {
                serde_json::from_slice(plain.as_bytes()).map_err(|_| PayloadError::NotJson {
                    event_type: event.event_type.to_owned(),
                    sequence: event.sequence,
                    path,
                })?
            }
            Opened::Disposed => {
                any_disposed = true;
                match disposed {
                    Disposed::Placeholder => personal::disposed_value(path),
                    Disposed::Marker => Value::String(personal::DISPOSED.to_owned()),
                }
            }
        };
    }
    Ok(any_disposed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::envelope::KeyId;
    use crate::keyfile::KeyBytes;

    fn key(case: &str) -> Arc<DataKey> {
        let bytes = KeyBytes::random().unwrap_or_else(|e| panic!("{e}"));
        Arc::new(DataKey::new(case, KeyId([7; 8]), bytes.as_array()))
    }

    fn invited() -> Value {
        json!({"Invited": {
            "file": {
                "application_number": "E001234567",
                "uci": "12345678",
                "given_name": "Zoë",
                "family_name": "Tremblay",
                "date_of_birth": "1988-08-08",
                "email": "zoe@example.ca",
                "language": "fr"
            },
            "respond_by": "2026-12-31T00:00:00Z",
            "guardian_case": null,
            "at": "2026-12-01T00:00:00Z"
        }})
    }

    const EVENT: StoredEvent<'static> = StoredEvent {
        case_id: "case-1",
        sequence: 1,
        event_type: "Invited",
        event_version: "2.0",
    };

    #[test]
    fn sealed_fields_leave_no_plaintext_and_open_back_to_the_same_payload() {
        let key = key("case-1");
        let mut payload = invited();
        seal(&key, &EVENT, &mut payload).unwrap_or_else(|e| panic!("{e}"));
        let text = payload.to_string();
        for value in [
            "E001234567",
            "12345678",
            "Zoë",
            "Tremblay",
            "1988-08-08",
            "zoe@",
        ] {
            assert!(!text.contains(value), "{value} in {text}");
        }
        assert!(
            text.contains("\"language\":\"fr\""),
            "not personal, kept: {text}"
        );
        let disposed = open(&Access::Key(key), &EVENT, &mut payload, Disposed::Marker)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!disposed);
        assert_eq!(payload, invited());
    }

    #[test]
    fn a_field_opens_only_in_its_own_event_and_member() {
        let key = key("case-1");
        let mut payload = invited();
        seal(&key, &EVENT, &mut payload).unwrap_or_else(|e| panic!("{e}"));
        let other = StoredEvent {
            sequence: 2,
            ..EVENT
        };
        let mut moved = payload.clone();
        assert!(open(
            &Access::Key(key.clone()),
            &other,
            &mut moved,
            Disposed::Marker
        )
        .is_err());
        // The UCI's ciphertext put where the given name was.
        let mut swapped = payload.clone();
        let uci = swapped["Invited"]["file"]["uci"].clone();
        swapped["Invited"]["file"]["given_name"] = uci;
        assert!(open(&Access::Key(key), &EVENT, &mut swapped, Disposed::Marker).is_err());
    }

    #[test]
    fn a_plain_member_where_a_sealed_one_belongs_is_refused() {
        let mut payload = invited();
        let err = open(
            &Access::Key(key("case-1")),
            &EVENT,
            &mut payload,
            Disposed::Marker,
        );
        assert!(
            matches!(err, Err(PayloadError::NotSealed { .. })),
            "{err:?}"
        );
        // Stored before sealing: nothing to open.
        let old = StoredEvent {
            event_version: "1.1",
            ..EVENT
        };
        assert_eq!(
            open(&Access::Disposed, &old, &mut payload, Disposed::Marker).ok(),
            Some(false)
        );
        assert_eq!(payload, invited());
    }

    #[test]
    fn a_disposed_persons_fields_read_as_the_marker_or_a_placeholder() {
        let key = key("case-1");
        let mut sealed = invited();
        seal(&key, &EVENT, &mut sealed).unwrap_or_else(|e| panic!("{e}"));
        let mut marked = sealed.clone();
        assert_eq!(
            open(&Access::Disposed, &EVENT, &mut marked, Disposed::Marker).ok(),
            Some(true)
        );
        assert_eq!(marked["Invited"]["file"]["uci"], json!("[disposed]"));
        assert_eq!(marked["Invited"]["file"]["language"], json!("fr"));
        let mut placeholder = sealed;
        assert_eq!(
            open(
                &Access::Disposed,
                &EVENT,
                &mut placeholder,
                Disposed::Placeholder
            )
            .ok(),
            Some(true)
        );
        assert_eq!(placeholder["Invited"]["file"]["uci"], json!("00000000"));
    }
}
