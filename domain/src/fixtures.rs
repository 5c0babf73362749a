//! Valid sample values for tests and benchmarks in every crate (feature `fixtures`), so that
//! each test builds a case file, an address or a photo the same way.

#![allow(clippy::expect_used)]

use chrono::NaiveDate;

use crate::case::CaseFile;
use crate::photo_quality::{QualityFlag, QualityMeasurements, QualityReport};
use crate::values::*;

/// A case file for person `n` of application `application`; names keep their accents.
pub fn case_file(application: &str, uci: &str, given_name: &str) -> CaseFile {
    CaseFile {
        application_number: ApplicationNumber::parse(application).expect("application number"),
        uci: Uci::parse(uci).expect("UCI"),
        given_name: PersonName::parse(given_name).expect("given name"),
        family_name: PersonName::parse("Tremblay-Côté").expect("family name"),
        date_of_birth: DateOfBirth::parse(
            NaiveDate::from_ymd_opt(1988, 8, 8).expect("date"),
            NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        )
        .expect("date of birth"),
        email: Email::parse("family@example.ca").expect("e-mail"),
        language: Language::Fr,
    }
}

/// A residential address in Québec City.
pub fn address() -> Address {
    Address::residential(
        "55 Rue Saint-Jean",
        Some("App. 3"),
        "Québec",
        Province::QC,
        PostalCode::parse("G1R 1N4").expect("postal code"),
    )
    .expect("address")
}

/// A photo reference within the rules whose digest is `seed` repeated.
pub fn photo(seed: u8) -> PhotoRef {
    PhotoRef::new(
        Sha256Hex::parse(&format!("{seed:02x}").repeat(32)).expect("digest"),
        ImageFormat::Jpeg,
        1200,
        1680,
        812_345,
    )
    .expect("photo")
}

/// What the pre-check would say of a good photo of 1200 x 1680 pixels (see [`photo`]).
pub fn good_quality() -> QualityReport {
    let measurements = QualityMeasurements {
        width: 1200,
        height: 1680,
        brightness: 170,
        face_brightness: 130,
        face_highlights_permille: 0,
        face_contrast: 30,
        sharpness: 400,
        background_brightness: 240,
        background_spread: 2,
    };
    QualityReport {
        flags: crate::photo_quality::flags(&measurements),
        measurements,
    }
}

/// The same photo, flagged `flags` by the pre-check.
pub fn flagged_quality(flags: &[QualityFlag]) -> QualityReport {
    QualityReport {
        flags: flags.to_vec(),
        ..good_quality()
    }
}

/// Free text that is known to be valid.
pub fn text(s: &str) -> Text {
    Text::parse(s).expect("text")
}

/// An actor id that is known to be valid.
pub fn actor(s: &str) -> ActorId {
    ActorId::parse(s).expect("actor id")
}
