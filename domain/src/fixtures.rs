//! Valid sample values for tests and benchmarks in every crate (feature `fixtures`), so that
//! each test builds a case file, an address or a photo the same way.

#![allow(clippy::expect_used)]

use chrono::NaiveDate;

use crate::case::CaseFile;
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

/// Free text that is known to be valid.
pub fn text(s: &str) -> Text {
    Text::parse(s).expect("text")
}

/// An actor id that is known to be valid.
pub fn actor(s: &str) -> ActorId {
    ActorId::parse(s).expect("actor id")
}
