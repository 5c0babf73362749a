//! The person on the case: names, e-mail, language, date of birth, and free text.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{clean_text, clean_text_under, string_value, visible, Rule, ValueError};

/// A given or family name: trimmed, 1 to 100 characters, at least one visible letter, no
/// control, format, private-use or unassigned characters (see `clean_text`). Any script
/// and accents are kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX: usize = 100;
    /// # Errors
    /// [`ValueError::Empty`], [`ValueError::TooLong`], [`ValueError::ControlCharacter`],
    /// [`ValueError::InvisibleCharacter`], [`ValueError::NothingVisible`] or
    /// [`ValueError::NoLetter`].
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let name = clean_text("name", raw, Self::MAX)?;
        if !name.chars().any(|c| c.is_alphabetic() && visible(c)) {
            return Err(ValueError::NoLetter { field: "name" });
        }
        Ok(Self(name))
    }

    /// A name as stored in an event, under the rule in force when it was recorded (no
    /// control characters). For reading the log only.
    ///
    /// # Errors
    /// [`ValueError::Empty`], [`ValueError::TooLong`] or [`ValueError::ControlCharacter`].
    pub fn parse_stored(raw: &str) -> Result<Self, ValueError> {
        clean_text_under(Rule::Stored, "name", raw, Self::MAX).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(PersonName);

/// Free text an actor writes: a reason, a note, the details of an amendment request.
/// Trimmed, 1 to 2,000 characters, something visible, no control characters but line breaks
/// and tabs, no format, private-use or unassigned characters nor line or paragraph
/// separators (see `clean_text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    pub const MAX: usize = 2_000;
    /// # Errors
    /// [`ValueError::Empty`], [`ValueError::TooLong`], [`ValueError::ControlCharacter`],
    /// [`ValueError::InvisibleCharacter`] or [`ValueError::NothingVisible`].
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        Self::parse_under(Rule::New, raw)
    }

    /// Text as stored in an event, under the rule in force when it was recorded. For reading
    /// the log only.
    ///
    /// # Errors
    /// [`ValueError::Empty`], [`ValueError::TooLong`] or [`ValueError::ControlCharacter`].
    pub fn parse_stored(raw: &str) -> Result<Self, ValueError> {
        Self::parse_under(Rule::Stored, raw)
    }

    fn parse_under(rule: Rule, raw: &str) -> Result<Self, ValueError> {
        let flat: String = raw
            .chars()
            .map(|c| {
                if matches!(c, '\n' | '\r' | '\t') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        clean_text_under(rule, "text", &flat, Self::MAX)?;
        Ok(Self(raw.trim().to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Text);

/// An e-mail address the portal can send to: a dot-atom local part of letters and digits (of
/// any script, RFC 6531) and ``!#$%&'*+-/=?^_`{|}~`` (at most 64 bytes), `@`, and an ASCII
/// domain name of two or more labels of letters, digits and hyphens (each 1 to 63, no hyphen
/// at either end; a top-level label of letters, or an IDNA `xn--` label: an internationalised
/// domain is written in its `xn--` form); at most 254 bytes in all, stored as given but with
/// the domain lowercased.
///
/// Narrower than RFC 5322 on purpose: quoted local parts, comments and IP-literal domains
/// are valid there but not every mail builder or relay takes them,
/// and an address that cannot be sent to is refused when it is given (422), not found out
/// when the mail is due. Addresses stored in events before this rule, under the wider one of
/// the `email_address` crate, still load ([`Email::parse_stored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const ATEXT: &[u8] = b"!#$%&'*+-/=?^_`{|}~";

fn dot_atom(local: &str) -> bool {
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || (c.is_ascii() && ATEXT.contains(&(c as u8)))
                    || (!c.is_ascii() && c.is_alphanumeric())
            })
    })
}

fn host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let top = labels.last().is_some_and(|t| {
        t.len() >= 2
            && (t.bytes().all(|b| b.is_ascii_alphabetic())
                || t.to_ascii_lowercase().starts_with("xn--"))
    });
    domain.len() <= 253 && labels.len() >= 2 && labels.iter().all(label) && top
}

impl Email {
    /// Longest address, in characters.
    pub const MAX: usize = 254;

    /// # Errors
    /// [`ValueError::Email`] if the address is not one the portal can send to (see the
    /// type's documentation).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim();
        if raw.len() > Self::MAX {
            return Err(ValueError::Email);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(ValueError::Email)?;
        if local.len() > 64 || !dot_atom(local) || !host_name(domain) {
            return Err(ValueError::Email);
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// An address as stored in an event, under the rule in force when it was recorded: the
    /// `email_address` crate's RFC 5322 check, a dotted domain, at most 254 characters. For
    /// reading the log only; what is given now goes through [`Email::parse`].
    ///
    /// # Errors
    /// [`ValueError::Email`] if it was never a valid address.
    pub fn parse_stored(raw: &str) -> Result<Self, ValueError> {
        if let Ok(email) = Self::parse(raw) {
            return Ok(email);
        }
        let raw = raw.trim();
        if raw.len() > Self::MAX || raw.chars().any(char::is_control) {
            return Err(ValueError::Email);
        }
        let parsed: email_address::EmailAddress = raw.parse().map_err(|_| ValueError::Email)?;
        // A bare `user@localhost` is valid RFC 5322 but cannot be reached from the portal.
        if !parsed.domain().contains('.') {
            return Err(ValueError::Email);
        }
        Ok(Self(format!(
            "{}@{}",
            parsed.local_part(),
            parsed.domain().to_ascii_lowercase()
        )))
    }

    /// Serde's `deserialize_with` for addresses read back from the log.
    ///
    /// # Errors
    /// The deserializer's error, or [`ValueError::Email`].
    pub fn deserialize_stored<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str> as serde::Deserialize<'de>>::deserialize(d)?;
        Self::parse_stored(&raw).map_err(serde::de::Error::custom)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Email);

/// The applicant's preferred official language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Fr,
}

impl Language {
    /// # Errors
    /// [`ValueError::Language`] unless `en` or `fr`.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        match raw {
            "en" => Ok(Self::En),
            "fr" => Ok(Self::Fr),
            _ => Err(ValueError::Language),
        }
    }
}

/// A date of birth: on or after 1900-01-01 and not after the day it is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DateOfBirth(NaiveDate);

/// The age of majority for the portal: under it, a guardian acts for the applicant.
pub const ADULT_AGE: i32 = 18;

impl DateOfBirth {
    /// # Errors
    /// [`ValueError::BirthInFuture`] or [`ValueError::BirthTooEarly`].
    pub fn parse(date: NaiveDate, today: NaiveDate) -> Result<Self, ValueError> {
        if date > today {
            Err(ValueError::BirthInFuture)
        } else if date < Self::earliest() {
            Err(ValueError::BirthTooEarly)
        } else {
            Ok(Self(date))
        }
    }
    /// Whether the person is under `ADULT_AGE` years old on `on` (born on 29 February: of age
    /// on 1 March of a year that has no 29 February).
    pub fn is_minor_on(&self, on: NaiveDate) -> bool {
        use chrono::Datelike;
        let born = self.0;
        let years = on.year() - born.year();
        let birthday_passed = (on.month(), on.day()) >= (born.month(), born.day());
        let age = if birthday_passed { years } else { years - 1 };
        age < ADULT_AGE
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }
    fn earliest() -> NaiveDate {
        NaiveDate::MIN.max(NaiveDate::from_yo_opt(1900, 1).unwrap_or(NaiveDate::MIN))
    }
}

/// A stored date of birth was checked against the day it was recorded; reading it back checks
/// only the lower bound, since "today" has moved on.
impl<'de> Deserialize<'de> for DateOfBirth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let date = NaiveDate::deserialize(d)?;
        Self::parse(date, NaiveDate::MAX).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date"))
    }

    #[test]
    fn names_keep_accents_and_refuse_blank_or_control_text() {
        assert_eq!(
            PersonName::parse("  Zoë-Hélène ").map(|n| n.0),
            Ok("Zoë-Hélène".into())
        );
        assert_eq!(
            PersonName::parse("   "),
            Err(ValueError::Empty { field: "name" })
        );
        assert_eq!(
            PersonName::parse("a\u{0}b"),
            Err(ValueError::ControlCharacter { field: "name" })
        );
        assert_eq!(
            PersonName::parse(&"é".repeat(101)),
            Err(ValueError::TooLong {
                field: "name",
                max: 100
            })
        );
    }

    #[test]
    fn names_refuse_invisible_and_formatting_characters_by_category() {
        let invisible = |raw: &str| PersonName::parse(raw);
        for raw in [
            "Ana\u{202E}anilA",    // right-to-left override
            "\u{2066}Ana\u{2069}", // isolates
            "Ana\u{200E}",         // left-to-right mark
            "Bé\u{200B}langer",    // zero-width space
            "\u{FEFF}Ana",         // byte-order mark
            "An\u{00AD}a",         // soft hyphen
            "Ana\u{E000}",         // private use
            "Ana\u{F0000}",        // supplementary private use
            "Ana\u{0378}",         // unassigned
            "Ana\u{FDD0}",         // noncharacter
            "Ana\u{2028}Maria",    // line separator
            "Ana\u{2029}Maria",    // paragraph separator
            "\u{200D}Ana",         // a joiner not between letters
            "Ana \u{200C} Maria",
        ] {
            assert_eq!(
                invisible(raw),
                Err(ValueError::InvisibleCharacter { field: "name" }),
                "{raw:?}"
            );
        }
        assert_eq!(
            PersonName::parse("a\u{85}b"),
            Err(ValueError::ControlCharacter { field: "name" }),
            "C1 controls too"
        );
        for blank in [
            "\u{3164}",
            "\u{115F}\u{1160}",
            "\u{2800}\u{2800}",
            "\u{0301}",
        ] {
            assert!(
                matches!(
                    PersonName::parse(blank),
                    Err(ValueError::NothingVisible { .. })
                ),
                "{blank:?}"
            );
        }
        assert_eq!(
            PersonName::parse("--- ..."),
            Err(ValueError::NoLetter { field: "name" })
        );
        for good in [
            "علی\u{200C}رضا",
            "क्\u{200D}ष",
            "Nguyễn Thị",
            "O'Brien-Smith",
            "Łódź",
            "李小龍",
            "José\u{0301}",
        ] {
            assert!(PersonName::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn names_and_text_stored_under_the_older_rule_still_load() {
        let name = "\"Ana\u{202E}\"";
        assert!(
            serde_json::from_str::<PersonName>(name).is_err(),
            "given now"
        );
        let stored = crate::values::stored::name(&mut serde_json::Deserializer::from_str(name));
        assert_eq!(stored.ok().map(|n| n.0), Some("Ana\u{202E}".to_owned()));
        let text = "\"note\u{200B}\"";
        assert!(serde_json::from_str::<Text>(text).is_err());
        assert!(crate::values::stored::text(&mut serde_json::Deserializer::from_str(text)).is_ok());
        assert!(
            crate::values::stored::name(&mut serde_json::Deserializer::from_str("\"a\\u0000\""))
                .is_err(),
            "the older rule still refused controls"
        );
    }

    #[test]
    fn free_text_keeps_line_breaks() {
        assert_eq!(
            Text::parse("line one\nline two").map(|t| t.0),
            Ok("line one\nline two".into())
        );
        assert!(Text::parse("\n\t").is_err());
        assert_eq!(
            Text::parse("one\u{2028}two"),
            Err(ValueError::InvisibleCharacter { field: "text" })
        );
        assert_eq!(
            Text::parse("\u{200B}\u{3164}"),
            Err(ValueError::InvisibleCharacter { field: "text" })
        );
        assert_eq!(
            Text::parse("\u{3164} \u{2800}"),
            Err(ValueError::NothingVisible { field: "text" })
        );
        assert!(Text::parse("Merci ! 👍 → 42 %").is_ok());
    }

    #[test]
    fn email_must_be_a_reachable_address() {
        assert_eq!(
            Email::parse("Ana.Silva@Example.CA").map(|e| e.0),
            Ok("Ana.Silva@example.ca".into())
        );
        for good in [
            "o'brien+pr@mail.example.ca",
            "a.b-c_d@sub.domain.example.org",
            "x@xn--bcher-kva.example",
            "zoë@example.ca",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ana",
            "ana@",
            "@example.ca",
            "ana@localhost",
            "a b@example.ca",
            "\"a,b\"@example.ca",
            "ana@[192.0.2.1]",
            "ana@192.0.2.1",
            "jo\u{200b}sé@example.ca",
            "ana@exämple.ca",
            "ana..silva@example.ca",
            ".ana@example.ca",
            "ana@-example.ca",
            "ana@example.c",
            "ana(comment)@example.ca",
        ] {
            assert_eq!(Email::parse(bad), Err(ValueError::Email), "{bad}");
        }
        let long = format!("{}@example.ca", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(ValueError::Email));
        let local = format!("{}@example.ca", "a".repeat(65));
        assert_eq!(Email::parse(&local), Err(ValueError::Email));
    }

    #[test]
    fn addresses_stored_under_the_wider_rule_still_load() {
        assert_eq!(
            Email::parse_stored("\"a,b\"@Example.CA").map(|e| e.0),
            Ok("\"a,b\"@example.ca".into())
        );
        assert_eq!(Email::parse("\"a,b\"@example.ca"), Err(ValueError::Email));
        assert_eq!(Email::parse_stored("ana@localhost"), Err(ValueError::Email));
    }

    #[test]
    fn language_is_english_or_french() {
        assert_eq!(Language::parse("fr"), Ok(Language::Fr));
        assert_eq!(Language::parse("FR"), Err(ValueError::Language));
    }

    #[test]
    fn date_of_birth_is_not_in_the_future() {
        let today = day(2026, 11, 27);
        assert!(DateOfBirth::parse(today, today).is_ok());
        let born =
            |y, m, d| DateOfBirth::parse(day(y, m, d), today).unwrap_or_else(|e| panic!("{e}"));
        // 18 on the day: of age; the day before: a minor.
        assert!(!born(2008, 11, 27).is_minor_on(day(2026, 11, 27)));
        assert!(born(2008, 11, 28).is_minor_on(day(2026, 11, 27)));
        assert!(born(1980, 1, 1).is_minor_on(day(1980, 1, 1)));
        // Born on 29 February: of age on 1 March of a common year, not on 28 February.
        assert!(born(2008, 2, 29).is_minor_on(day(2026, 2, 28)));
        assert!(!born(2008, 2, 29).is_minor_on(day(2026, 3, 1)));
        assert_eq!(
            DateOfBirth::parse(day(2026, 11, 28), today),
            Err(ValueError::BirthInFuture)
        );
        assert_eq!(
            DateOfBirth::parse(day(1899, 12, 31), today),
            Err(ValueError::BirthTooEarly)
        );
    }
}
