//! What happened to a case. Past tense; a released type name and shape never change: a new
//! shape gets a new `event_version` and an upcaster from the old one (see [`upcast`]).

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::stage_name::StageName;
use crate::photo_quality::{QualityFlag, QualityMeasurements};
use crate::values::{
    ActorId, Address, ApplicationNumber, DateOfBirth, DocumentNumber, Email, Language,
    MailingAddress, PersonName, PhotoRef, Text, Uci,
};

/// The person on the case and how to reach them. Personal fields, kept together so that a
/// later step can encrypt them per person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFile {
    pub application_number: ApplicationNumber,
    pub uci: Uci,
    /// Read back under the rule in force when it was recorded, like every text value of an
    /// event ([`crate::values::stored`]).
    #[serde(deserialize_with = "crate::values::stored::name")]
    pub given_name: PersonName,
    #[serde(deserialize_with = "crate::values::stored::name")]
    pub family_name: PersonName,
    pub date_of_birth: DateOfBirth,
    /// Read back under the rule in force when it was recorded.
    #[serde(deserialize_with = "Email::deserialize_stored")]
    pub email: Email,
    pub language: Language,
}

/// Why an officer returned a photo: the published reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    TooDark,
    BackgroundNotWhite,
    FeaturesNotVisible,
    Glare,
    WrongDimensions,
    FileTooLarge,
    /// Needs a note saying what is wrong.
    Other,
}

impl ReturnReason {
    pub const ALL: [Self; 7] = [
        Self::TooDark,
        Self::BackgroundNotWhite,
        Self::FeaturesNotVisible,
        Self::Glare,
        Self::WrongDimensions,
        Self::FileTooLarge,
        Self::Other,
    ];

    /// The published reason's code, as it is serialized and the applicant's portal shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooDark => "too_dark",
            Self::BackgroundNotWhite => "background_not_white",
            Self::FeaturesNotVisible => "features_not_visible",
            Self::Glare => "glare",
            Self::WrongDimensions => "wrong_dimensions",
            Self::FileTooLarge => "file_too_large",
            Self::Other => "other",
        }
    }
}

/// Everything that can happen to a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseEvent {
    /// Version 1.1; version 1.0 had no `guardian_case` (no minors were invited).
    Invited {
        file: CaseFile,
        respond_by: DateTime<Utc>,
        /// A minor's case: the case of the guardian whose session acts for them. A case id,
        /// not personal data.
        #[serde(default)]
        guardian_case: Option<String>,
        at: DateTime<Utc>,
    },
    InvitationAccepted {
        at: DateTime<Utc>,
    },
    /// A minor's invitation, accepted by their guardian (`by`, the guardian's username): no
    /// account is made for the minor; the case goes straight to the confirmations, which the
    /// guardian makes from their own session.
    InvitationAcceptedByGuardian {
        by: ActorId,
        at: DateTime<Utc>,
    },
    /// The applicant declined; the case leaves the portal for an in-person landing.
    InvitationDeclined {
        at: DateTime<Utc>,
    },
    /// The applicant was reminded that the answer date is near (at most once).
    InvitationReminded {
        at: DateTime<Utc>,
    },
    /// No answer by the deadline; the case leaves the portal for an in-person landing.
    InvitationExpired {
        at: DateTime<Utc>,
    },
    /// The department created the portal account; the temporary password is never here.
    AccountCreated {
        username: ActorId,
        temporary_password_expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    TemporaryPasswordExpired {
        at: DateTime<Utc>,
    },
    PasswordChanged {
        at: DateTime<Utc>,
    },
    /// The applicant declared being physically in Canada.
    PresenceDeclared {
        at: DateTime<Utc>,
    },
    /// The applicant is abroad: the case is on hold until they return.
    LeftCanada {
        at: DateTime<Utc>,
    },
    ReturnedToCanada {
        at: DateTime<Utc>,
    },
    /// Version 2.0; version 1.0 had a single `address` and no mailing address.
    AddressConfirmed {
        #[serde(deserialize_with = "crate::values::stored::address")]
        residential: Address,
        #[serde(default, deserialize_with = "crate::values::stored::opt_mailing")]
        mailing: Option<MailingAddress>,
        at: DateTime<Utc>,
    },
    /// Version 1.1; version 1.0 had no pre-check, so it upcasts to no flags and no
    /// measurements.
    PhotoUploaded {
        photo: PhotoRef,
        /// What the machine pre-check flagged: advice to the applicant and the officer, never
        /// a refusal.
        quality_flags: Vec<QualityFlag>,
        /// The measurements behind the flags, kept so that the thresholds can be tuned against
        /// officers' decisions and the upload's answer can be given again; `None` before 1.1.
        quality_measurements: Option<QualityMeasurements>,
        at: DateTime<Utc>,
    },
    PhotoAccepted {
        by: ActorId,
        at: DateTime<Utc>,
    },
    PhotoReturned {
        by: ActorId,
        reason: ReturnReason,
        #[serde(default, deserialize_with = "crate::values::stored::opt_text")]
        note: Option<Text>,
        at: DateTime<Utc>,
    },
    PermanentResidenceGranted {
        by: ActorId,
        on: NaiveDate,
        at: DateTime<Utc>,
    },
    EcoprIssued {
        document_number: DocumentNumber,
        issued_on: NaiveDate,
        by: ActorId,
        at: DateTime<Utc>,
    },
    PrCardOrdered {
        at: DateTime<Utc>,
    },
    PrCardMailed {
        at: DateTime<Utc>,
    },
    AmendmentRequested {
        #[serde(deserialize_with = "crate::values::stored::text")]
        details: Text,
        at: DateTime<Utc>,
    },
    /// A corrected eCoPR replaces the previous one, which stays in the history.
    EcoprAmended {
        replaces: DocumentNumber,
        document_number: DocumentNumber,
        #[serde(deserialize_with = "crate::values::stored::text")]
        correction: Text,
        issued_on: NaiveDate,
        by: ActorId,
        at: DateTime<Utc>,
    },
    CaseClaimed {
        by: ActorId,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    ClaimReleased {
        by: ActorId,
        at: DateTime<Utc>,
    },
    ClaimExpired {
        holder: ActorId,
        at: DateTime<Utc>,
    },
    ReferredToInPersonLanding {
        by: ActorId,
        #[serde(deserialize_with = "crate::values::stored::text")]
        reason: Text,
        at: DateTime<Utc>,
    },
    CaseWithdrawn {
        by: ActorId,
        #[serde(deserialize_with = "crate::values::stored::text")]
        reason: Text,
        at: DateTime<Utc>,
    },
    /// An officer re-sent the invitation with a fresh code; the old code stopped working in
    /// the same transaction. The code is never here.
    InvitationResent {
        by: ActorId,
        at: DateTime<Utc>,
    },
    /// An officer asked for new temporary credentials (lost, or lapsed unused): the old
    /// account and its temporary password ended in the same transaction, and the case
    /// waits for the department to make the new ones.
    CredentialsReissued {
        by: ActorId,
        at: DateTime<Utc>,
    },
    /// An officer wrote a note on the case: for officers only, never in analysts' figures.
    NoteAdded {
        by: ActorId,
        #[serde(deserialize_with = "crate::values::stored::text")]
        text: Text,
        at: DateTime<Utc>,
    },
}

impl CaseEvent {
    /// The event's type name, as stored in the log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Invited { .. } => "Invited",
            Self::InvitationAccepted { .. } => "InvitationAccepted",
            Self::InvitationAcceptedByGuardian { .. } => "InvitationAcceptedByGuardian",
            Self::InvitationDeclined { .. } => "InvitationDeclined",
            Self::InvitationReminded { .. } => "InvitationReminded",
            Self::InvitationExpired { .. } => "InvitationExpired",
            Self::AccountCreated { .. } => "AccountCreated",
            Self::TemporaryPasswordExpired { .. } => "TemporaryPasswordExpired",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::PresenceDeclared { .. } => "PresenceDeclared",
            Self::LeftCanada { .. } => "LeftCanada",
            Self::ReturnedToCanada { .. } => "ReturnedToCanada",
            Self::AddressConfirmed { .. } => "AddressConfirmed",
            Self::PhotoUploaded { .. } => "PhotoUploaded",
            Self::PhotoAccepted { .. } => "PhotoAccepted",
            Self::PhotoReturned { .. } => "PhotoReturned",
            Self::PermanentResidenceGranted { .. } => "PermanentResidenceGranted",
            Self::EcoprIssued { .. } => "EcoprIssued",
            Self::PrCardOrdered { .. } => "PrCardOrdered",
            Self::PrCardMailed { .. } => "PrCardMailed",
            Self::AmendmentRequested { .. } => "AmendmentRequested",
            Self::EcoprAmended { .. } => "EcoprAmended",
            Self::CaseClaimed { .. } => "CaseClaimed",
            Self::ClaimReleased { .. } => "ClaimReleased",
            Self::ClaimExpired { .. } => "ClaimExpired",
            Self::ReferredToInPersonLanding { .. } => "ReferredToInPersonLanding",
            Self::CaseWithdrawn { .. } => "CaseWithdrawn",
            Self::NoteAdded { .. } => "NoteAdded",
            Self::InvitationResent { .. } => "InvitationResent",
            Self::CredentialsReissued { .. } => "CredentialsReissued",
        }
    }

    /// When it happened (the time the command ran).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Invited { at, .. }
            | Self::InvitationAccepted { at }
            | Self::InvitationAcceptedByGuardian { at, .. }
            | Self::InvitationDeclined { at }
            | Self::InvitationReminded { at }
            | Self::InvitationExpired { at }
            | Self::AccountCreated { at, .. }
            | Self::TemporaryPasswordExpired { at }
            | Self::PasswordChanged { at }
            | Self::PresenceDeclared { at }
            | Self::LeftCanada { at }
            | Self::ReturnedToCanada { at }
            | Self::AddressConfirmed { at, .. }
            | Self::PhotoUploaded { at, .. }
            | Self::PhotoAccepted { at, .. }
            | Self::PhotoReturned { at, .. }
            | Self::PermanentResidenceGranted { at, .. }
            | Self::EcoprIssued { at, .. }
            | Self::PrCardOrdered { at }
            | Self::PrCardMailed { at }
            | Self::AmendmentRequested { at, .. }
            | Self::EcoprAmended { at, .. }
            | Self::CaseClaimed { at, .. }
            | Self::ClaimReleased { at, .. }
            | Self::ClaimExpired { at, .. }
            | Self::ReferredToInPersonLanding { at, .. }
            | Self::CaseWithdrawn { at, .. }
            | Self::NoteAdded { at, .. }
            | Self::InvitationResent { at, .. }
            | Self::CredentialsReissued { at, .. } => *at,
        }
    }

    /// The stage a case in stage `before` is in after this event: the stage part of
    /// [`Case::apply`](crate::case::Case) alone, for readers that keep no more of the case
    /// than its stage (the analysts' figures, which may hold no personal data). The model
    /// test checks it against the aggregate on every generated history.
    pub fn stage_after(&self, before: StageName) -> StageName {
        use StageName as S;
        match (before, self) {
            (_, Self::Invited { .. }) => S::Invited,
            (
                _,
                Self::InvitationAccepted { .. }
                | Self::TemporaryPasswordExpired { .. }
                | Self::CredentialsReissued { .. },
            ) => S::AwaitingAccount,
            (
                _,
                Self::InvitationDeclined { .. }
                | Self::InvitationExpired { .. }
                | Self::ReferredToInPersonLanding { .. },
            ) => S::Referred,
            (_, Self::AccountCreated { .. }) => S::AwaitingPasswordChange,
            (_, Self::PasswordChanged { .. } | Self::InvitationAcceptedByGuardian { .. }) => {
                S::Confirming
            }
            (S::Confirming, Self::LeftCanada { .. }) => S::OnHold,
            (S::OnHold, Self::ReturnedToCanada { .. }) => S::Confirming,
            (S::Confirming, Self::PermanentResidenceGranted { .. }) => S::PrGranted,
            (S::PrGranted, Self::PrCardOrdered { .. }) => S::CardOrdered,
            (S::CardOrdered, Self::PrCardMailed { .. }) => S::CardMailed,
            (_, Self::CaseWithdrawn { .. }) => S::Withdrawn,
            (stage, _) => stage,
        }
    }

    /// The version of this event type's current shape.
    pub fn version(&self) -> &'static str {
        match self {
            Self::AddressConfirmed { .. } => upcast::ADDRESS_CONFIRMED_VERSION,
            Self::PhotoUploaded { .. } => upcast::PHOTO_UPLOADED_VERSION,
            Self::Invited { .. } => upcast::INVITED_VERSION,
            Self::PhotoReturned { .. }
            | Self::AmendmentRequested { .. }
            | Self::EcoprAmended { .. }
            | Self::ReferredToInPersonLanding { .. }
            | Self::CaseWithdrawn { .. }
            | Self::NoteAdded { .. } => upcast::SEALED_TEXT_VERSION,
            _ => "1.0",
        }
    }
}

impl DomainEvent for CaseEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }
    fn event_version(&self) -> String {
        self.version().to_owned()
    }
}

/// Pure payload transforms from old event shapes to current ones. The command layer registers
/// them with the event store; they live here beside the events whose history they know.
pub mod upcast {
    use serde_json::{Map, Value};

    /// Current version of `AddressConfirmed`: 3.0 is 2.0 with its addresses sealed.
    pub const ADDRESS_CONFIRMED_VERSION: &str = "3.0";
    /// Current version of `PhotoUploaded`: 2.0 is 1.1 with the photo's reference sealed.
    pub const PHOTO_UPLOADED_VERSION: &str = "2.0";
    /// Current version of `Invited`: 2.0 is 1.1 with the person's file sealed.
    pub const INVITED_VERSION: &str = "2.0";
    /// Current version of the events whose only personal field is free text (a note, a
    /// reason, the details of an amendment): 2.0 is 1.0 with that text sealed.
    pub const SEALED_TEXT_VERSION: &str = "2.0";

    /// A step from an older shape of one event type to a newer one. Its `to_version` is the
    /// shape's version, which may be older than the version events are written at: a
    /// version that only seals personal fields (see [`crate::case::personal`]) keeps the
    /// shape, and the store opens the fields before any upcaster runs.
    #[derive(Debug, Clone, Copy)]
    pub struct Upcaster {
        pub event_type: &'static str,
        /// Payloads of lower versions are transformed and labelled with this one.
        pub to_version: &'static str,
        pub transform: fn(Value) -> Value,
    }

    /// Every upcaster, oldest first. The event store applies them on load; the feed's
    /// readers apply them through [`to_current`].
    pub const ALL: &[Upcaster] = &[
        Upcaster {
            event_type: "AddressConfirmed",
            to_version: "2.0",
            transform: address_confirmed_v1_to_v2,
        },
        Upcaster {
            event_type: "PhotoUploaded",
            to_version: "1.1",
            transform: photo_uploaded_v1_0_to_v1_1,
        },
        Upcaster {
            event_type: "Invited",
            to_version: "1.1",
            transform: invited_v1_0_to_v1_1,
        },
    ];

    /// Brings a stored payload to its event type's current shape; returns the new version.
    pub fn to_current(event_type: &str, version: &str, payload: Value) -> (String, Value) {
        ALL.iter().filter(|u| u.event_type == event_type).fold(
            (version.to_owned(), payload),
            |(v, p), u| {
                if older(&v, u.to_version) {
                    (u.to_version.to_owned(), (u.transform)(p))
                } else {
                    (v, p)
                }
            },
        )
    }

    /// Whether a payload stored as `event_type` at `version` is already in its current shape,
    /// so a reader can decode its text straight into the event without the `Value` step.
    pub fn is_current(event_type: &str, version: &str) -> bool {
        !ALL.iter()
            .any(|u| u.event_type == event_type && older(version, u.to_version))
    }

    /// Compares dotted versions numerically (`1.0` < `2.0` < `10.0`).
    pub fn older(a: &str, b: &str) -> bool {
        let parse =
            |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap_or(0)).collect() };
        parse(a) < parse(b)
    }

    /// `AddressConfirmed` 1.0 `{address, at}` to 2.0 `{residential, mailing: null, at}`:
    /// the first release knew only one address, which was the residence.
    pub fn address_confirmed_v1_to_v2(payload: Value) -> Value {
        let Value::Object(mut outer) = payload else {
            return payload;
        };
        if let Some(Value::Object(body)) = outer.get_mut("AddressConfirmed") {
            if let Some(address) = body.remove("address") {
                body.insert("residential".to_owned(), address);
                body.entry("mailing").or_insert(Value::Null);
            }
        }
        Value::Object(std::mem::replace(&mut outer, Map::new()))
    }

    /// `Invited` 1.0 `{file, respond_by, at}` to 1.1 `{file, respond_by, guardian_case: null,
    /// at}`: before guardians existed every invited applicant acted for themselves.
    pub fn invited_v1_0_to_v1_1(payload: Value) -> Value {
        let Value::Object(mut outer) = payload else {
            return payload;
        };
        if let Some(Value::Object(body)) = outer.get_mut("Invited") {
            body.entry("guardian_case").or_insert(Value::Null);
        }
        Value::Object(std::mem::replace(&mut outer, Map::new()))
    }

    /// `PhotoUploaded` 1.0 `{photo, at}` to 1.1 `{photo, quality_flags: [],
    /// quality_measurements: null, at}`: photos uploaded before the pre-check existed were
    /// never measured, so they carry no flag and no measurement (not "measured and fine").
    pub fn photo_uploaded_v1_0_to_v1_1(payload: Value) -> Value {
        let Value::Object(mut outer) = payload else {
            return payload;
        };
        if let Some(Value::Object(body)) = outer.get_mut("PhotoUploaded") {
            body.entry("quality_flags")
                .or_insert_with(|| Value::Array(Vec::new()));
            body.entry("quality_measurements").or_insert(Value::Null);
        }
        Value::Object(std::mem::replace(&mut outer, Map::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn address_confirmed_version_one_reads_as_version_two() {
        let v1 = json!({"AddressConfirmed": {
            "address": {"line1": "1 Main St", "city": "Ottawa", "province": "ON", "postal_code": "K1A 0B1"},
            "at": "2026-01-02T03:04:05Z"
        }});
        let (version, upcast) = upcast::to_current("AddressConfirmed", "1.0", v1);
        assert_eq!(version, "2.0");
        let event: CaseEvent = serde_json::from_value(upcast).unwrap_or_else(|e| panic!("{e}"));
        match event {
            CaseEvent::AddressConfirmed {
                residential,
                mailing,
                ..
            } => {
                assert_eq!(residential.city(), "Ottawa");
                assert_eq!(mailing, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn photo_uploaded_version_one_reads_as_one_point_one_without_flags() {
        let v1 = json!({"PhotoUploaded": {
            "photo": {"sha256": "ab".repeat(32), "format": "jpeg", "width": 1200, "height": 1680, "bytes": 812345},
            "at": "2026-01-02T03:04:05Z"
        }});
        let (version, upcast) = upcast::to_current("PhotoUploaded", "1.0", v1);
        assert_eq!(version, "1.1");
        let event: CaseEvent = serde_json::from_value(upcast).unwrap_or_else(|e| panic!("{e}"));
        match event {
            CaseEvent::PhotoUploaded {
                photo,
                quality_flags,
                quality_measurements,
                ..
            } => {
                assert_eq!(photo.dimensions(), (1200, 1680));
                assert_eq!(quality_flags, vec![]);
                assert_eq!(quality_measurements, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn photo_uploaded_at_its_current_version_is_left_as_it_is() {
        let current = json!({"PhotoUploaded": {
            "photo": {"sha256": "ab".repeat(32), "format": "png", "width": 1000, "height": 1400, "bytes": 1},
            "quality_flags": ["glare"],
            "quality_measurements": null,
            "at": "2026-01-02T03:04:05Z"
        }});
        let (version, same) = upcast::to_current("PhotoUploaded", "1.1", current.clone());
        assert_eq!((version.as_str(), same), ("1.1", current));
        let event = CaseEvent::PhotoUploaded {
            photo: crate::fixtures::photo(1),
            quality_flags: vec![],
            quality_measurements: None,
            at: DateTime::<Utc>::UNIX_EPOCH,
        };
        // Written at 2.0: the 1.1 shape with the photo's reference sealed.
        assert_eq!(event.event_version(), "2.0");
    }

    #[test]
    fn events_recorded_before_names_and_text_were_narrowed_still_load() {
        let invited = json!({"Invited": {"file": {
            "application_number": "E001234567", "uci": "12345678",
            "given_name": "Ana\u{202E}", "family_name": "B\u{200B}",
            "date_of_birth": "1990-04-05", "email": "ana@example.ca", "language": "fr"},
            "respond_by": "2026-01-02T03:04:05Z", "at": "2026-01-02T03:04:05Z"}});
        assert!(serde_json::from_value::<CaseEvent>(invited).is_ok());
        let address = json!({"AddressConfirmed": {
            "residential": {"line1": "1 Main St\u{2066}", "city": "Ottawa", "province": "ON",
                            "postal_code": "K1A 0B1"},
            "mailing": {"line1": "PO Box 1\u{2028}", "city": "Ottawa", "province": "ON",
                        "postal_code": "K1A 0B1"},
            "at": "2026-01-02T03:04:05Z"}});
        assert!(serde_json::from_value::<CaseEvent>(address).is_ok());
        let returned = json!({"PhotoReturned": {"by": "officer.a", "reason": "other",
            "note": "see \u{200B}", "at": "2026-01-02T03:04:05Z"}});
        assert!(serde_json::from_value::<CaseEvent>(returned).is_ok());
        let bad = json!({"CaseWithdrawn": {"by": "officer.a", "reason": "a\u{0}",
            "at": "2026-01-02T03:04:05Z"}});
        assert!(
            serde_json::from_value::<CaseEvent>(bad).is_err(),
            "controls never were allowed"
        );
    }

    #[test]
    fn only_older_versions_of_upcast_types_need_the_value_step() {
        assert!(!upcast::is_current("PhotoUploaded", "1.0"));
        assert!(!upcast::is_current("AddressConfirmed", "1.0"));
        assert!(upcast::is_current("PhotoUploaded", "1.1"));
        assert!(upcast::is_current("AddressConfirmed", "2.0"));
        assert!(!upcast::is_current("Invited", "1.0"));
        assert!(upcast::is_current("Invited", "1.1"));
        assert!(upcast::is_current("CaseWithdrawn", "1.0"));
    }

    #[test]
    fn an_invitation_from_before_guardians_loads_as_one_without_a_guardian() {
        let stored = json!({"Invited": {"file": {"application_number": "E001234567",
            "uci": "12345678", "given_name": "Ana", "family_name": "Silva",
            "date_of_birth": "1990-04-05", "email": "ana@example.ca", "language": "en"},
            "respond_by": "2026-02-01T00:00:00Z", "at": "2026-01-02T03:04:05Z"}});
        let (version, payload) = upcast::to_current("Invited", "1.0", stored);
        assert_eq!(version, "1.1");
        assert_eq!(payload["Invited"]["guardian_case"], Value::Null);
        let event: CaseEvent = serde_json::from_value(payload).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            event,
            CaseEvent::Invited {
                guardian_case: None,
                ..
            }
        ));
        // Written at 2.0: the 1.1 shape with the file sealed.
        assert_eq!(event.event_version(), "2.0");
    }

    #[test]
    fn every_event_names_itself_as_its_serialized_tag() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let event = CaseEvent::PrCardMailed { at };
        let value = serde_json::to_value(&event).unwrap_or_else(|e| panic!("{e}"));
        assert!(value.get(event.name()).is_some());
        assert_eq!(event.event_version(), "1.0");
    }
}
