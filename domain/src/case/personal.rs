//! Which fields of a case's events are personal data (DESIGN.md, "Personal data"), from which
//! stored version of each event type they are sealed under the person's data key, and what a
//! reader takes in their place once the person's data was disposed of.
//!
//! The event store seals these fields on append and opens them on load; the types here never
//! see a sealed value. A path names a member of the event's body (the object under the
//! variant's name), dots separating nested members: `file.uci`. A `null` member (an absent
//! mailing address, a return without a note) is left as it is: that a field is empty is not
//! personal data.

use serde_json::{json, Value};

/// The personal fields of one event type.
#[derive(Debug, Clone, Copy)]
pub struct PersonalFields {
    pub event_type: &'static str,
    /// Payloads stored at this version or later carry [`Self::paths`] sealed; older ones
    /// (written before the fields were sealed) carry them in the clear.
    pub sealed_from: &'static str,
    pub paths: &'static [&'static str],
}

/// Every event type that carries personal data. Free text an officer or applicant wrote about
/// the person counts: a note, a reason, the details of an amendment request.
pub const ALL: &[PersonalFields] = &[
    PersonalFields {
        event_type: "Invited",
        sealed_from: "2.0",
        paths: &[
            "file.application_number",
            "file.uci",
            "file.given_name",
            "file.family_name",
            "file.date_of_birth",
            "file.email",
        ],
    },
    PersonalFields {
        event_type: "AddressConfirmed",
        sealed_from: "3.0",
        paths: &["residential", "mailing"],
    },
    PersonalFields {
        event_type: "PhotoUploaded",
        sealed_from: "2.0",
        paths: &["photo"],
    },
    PersonalFields {
        event_type: "PhotoReturned",
        sealed_from: "2.0",
        paths: &["note"],
    },
    PersonalFields {
        event_type: "AmendmentRequested",
        sealed_from: "2.0",
        paths: &["details"],
    },
    PersonalFields {
        event_type: "EcoprAmended",
        sealed_from: "2.0",
        paths: &["correction"],
    },
    PersonalFields {
        event_type: "ReferredToInPersonLanding",
        sealed_from: "2.0",
        paths: &["reason"],
    },
    PersonalFields {
        event_type: "CaseWithdrawn",
        sealed_from: "2.0",
        paths: &["reason"],
    },
    PersonalFields {
        event_type: "NoteAdded",
        sealed_from: "2.0",
        paths: &["text"],
    },
];

/// The personal fields of `event_type`, if it has any.
pub fn of(event_type: &str) -> Option<&'static PersonalFields> {
    ALL.iter().find(|f| f.event_type == event_type)
}

/// The paths sealed in a payload of `event_type` stored at `version`: none for an event type
/// without personal data or a version from before sealing.
pub fn sealed_in(event_type: &str, version: &str) -> &'static [&'static str] {
    match of(event_type) {
        Some(fields) if !super::upcast::older(version, fields.sealed_from) => fields.paths,
        _ => &[],
    }
}

/// The marker every reader of the log as stored (auditors' history, replays, exports) shows
/// for a personal field whose person's data was disposed of.
pub const DISPOSED: &str = "[disposed]";

/// What the aggregate and the read models take for the field at `path` of `event_type` once
/// the person's data was disposed of: a value of the field's type that names nobody, so that
/// a disposed case still loads (and refuses what it must) without its data. Never shown as
/// data: a disposed case's views say `personal_data: "disposed"` instead.
pub fn disposed_value(path: &str) -> Value {
    match path {
        "file.application_number" => json!("XX000000000"),
        "file.uci" => json!("00000000"),
        "file.given_name" | "file.family_name" => json!(DISPOSED),
        "file.date_of_birth" => json!("1900-01-01"),
        "file.email" => json!("disposed@disposed.invalid"),
        "residential" => json!({
            "line1": DISPOSED,
            "city": DISPOSED,
            "province": "ON",
            "postal_code": "K0A 0A0",
        }),
        "mailing" => Value::Null,
        "photo" => json!({
            "sha256": "0".repeat(64),
            "format": "jpeg",
            "width": crate::values::PHOTO_MIN_SIZE.0,
            "height": crate::values::PHOTO_MIN_SIZE.1,
            "bytes": 1,
        }),
        _ => json!(DISPOSED),
    }
}

/// The member at `path` inside an event's body, for the store to seal, open or replace.
pub fn member_mut<'a>(body: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.')
        .try_fold(body, |value, name| value.as_object_mut()?.get_mut(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseEvent;

    /// One stored payload of every event type with personal fields, in its current shape.
    fn samples() -> Vec<CaseEvent> {
        use crate::fixtures;
        use crate::values::{ActorId, Text};
        let at = chrono::DateTime::UNIX_EPOCH;
        let text = Text::parse("about the person").unwrap_or_else(|e| panic!("{e}"));
        let by = ActorId::parse("officer-1").unwrap_or_else(|e| panic!("{e}"));
        let number = crate::values::DocumentNumber::from_serial(1);
        vec![
            CaseEvent::Invited {
                file: fixtures::case_file("E001234567", "12345678", "Zoë"),
                respond_by: at,
                guardian_case: None,
                at,
            },
            CaseEvent::AddressConfirmed {
                residential: fixtures::address(),
                mailing: None,
                at,
            },
            CaseEvent::PhotoUploaded {
                photo: fixtures::photo(7),
                quality_flags: vec![],
                quality_measurements: None,
                at,
            },
            CaseEvent::PhotoReturned {
                by: by.clone(),
                reason: crate::case::ReturnReason::Other,
                note: Some(text.clone()),
                at,
            },
            CaseEvent::AmendmentRequested {
                details: text.clone(),
                at,
            },
            CaseEvent::EcoprAmended {
                replaces: number.clone(),
                document_number: number,
                correction: text.clone(),
                issued_on: at.date_naive(),
                by: by.clone(),
                at,
            },
            CaseEvent::ReferredToInPersonLanding {
                by: by.clone(),
                reason: text.clone(),
                at,
            },
            CaseEvent::CaseWithdrawn {
                by: by.clone(),
                reason: text.clone(),
                at,
            },
            CaseEvent::NoteAdded { by, text, at },
        ]
    }

    #[test]
    fn every_event_type_with_personal_fields_is_listed_and_its_paths_exist() {
        let samples = samples();
        assert_eq!(samples.len(), ALL.len(), "a sample for each listed type");
        for event in samples {
            let fields = of(event.name()).unwrap_or_else(|| panic!("{} unlisted", event.name()));
            let mut payload = serde_json::to_value(&event).unwrap_or_else(|e| panic!("{e}"));
            let body = payload
                .get_mut(event.name())
                .unwrap_or_else(|| panic!("{}: no body", event.name()));
            for path in fields.paths {
                assert!(
                    member_mut(body, path).is_some(),
                    "{}: no member {path}",
                    event.name()
                );
            }
        }
    }

    #[test]
    fn a_disposed_event_still_loads_with_values_that_name_nobody() {
        for event in samples() {
            let name = event.name();
            let mut payload = serde_json::to_value(&event).unwrap_or_else(|e| panic!("{e}"));
            let body = payload.get_mut(name).unwrap_or_else(|| panic!("no body"));
            for path in of(name).map_or(&[][..], |f| f.paths) {
                let member = member_mut(body, path).unwrap_or_else(|| panic!("{path}"));
                *member = disposed_value(path);
            }
            let loaded: CaseEvent = serde_json::from_value(payload.clone())
                .unwrap_or_else(|e| panic!("{name} with placeholders: {e}: {payload}"));
            assert_ne!(loaded, event, "{name}: the placeholders replaced the data");
        }
    }

    #[test]
    fn every_personal_event_is_written_at_a_sealed_version() {
        for event in samples() {
            assert_eq!(
                sealed_in(event.name(), event.version()),
                of(event.name()).map_or(&[][..], |f| f.paths),
                "{} is written at {}, before its fields are sealed",
                event.name(),
                event.version()
            );
        }
    }

    #[test]
    fn fields_are_sealed_from_their_version_on_only() {
        assert!(sealed_in("Invited", "1.1").is_empty());
        assert_eq!(sealed_in("Invited", "2.0").len(), 6);
        assert_eq!(sealed_in("Invited", "2.1"), sealed_in("Invited", "2.0"));
        assert!(sealed_in("AddressConfirmed", "2.0").is_empty());
        assert_eq!(
            sealed_in("AddressConfirmed", "3.0"),
            ["residential", "mailing"]
        );
        assert!(sealed_in("PasswordChanged", "9.0").is_empty());
    }
}
