//! Value types of the case. Each has a validating `parse` (or `new`): a value that breaks the
//! rules cannot be constructed, so code that holds one never checks it again.
//!
//! Values are serialized as their canonical text (or plain JSON numbers), and deserializing goes
//! through the same validation, so an event or a request body cannot smuggle in a bad value.

mod address;
mod ids;
mod person;
mod photo;
#[cfg(feature = "openapi")]
mod schema;

pub use address::{Address, MailingAddress, PostalCode, Province};
pub use ids::{ActorId, ApplicationNumber, DocumentNumber, Uci};
pub use person::{DateOfBirth, Email, Language, PersonName, Text, ADULT_AGE};
pub use photo::{
    ImageFormat, PhotoRef, Sha256Hex, PHOTO_MAX_BYTES, PHOTO_MAX_SIZE, PHOTO_MIN_SIZE,
};

/// A value that was refused, naming the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("UCI must be 8 or 10 digits")]
    Uci,
    #[error("application number must be one or two capital letters followed by 9 digits")]
    ApplicationNumber,
    #[error("document number must be two capital letters followed by 10 digits")]
    DocumentNumber,
    #[error("actor id must be 1 to 64 characters of a-z, 0-9, '.', '_', '-' or '@'")]
    ActorId,
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must not contain control characters")]
    ControlCharacter { field: &'static str },
    #[error(
        "{field} must not contain invisible, formatting (such as bidirectional overrides), \
         private-use, unassigned or line-separator characters"
    )]
    InvisibleCharacter { field: &'static str },
    #[error("{field} must contain something visible")]
    NothingVisible { field: &'static str },
    #[error("{field} must contain a letter")]
    NoLetter { field: &'static str },
    #[error("e-mail address is not valid")]
    Email,
    #[error("language must be \"en\" or \"fr\"")]
    Language,
    #[error("date of birth must not be in the future")]
    BirthInFuture,
    #[error("date of birth must be on or after 1900-01-01")]
    BirthTooEarly,
    #[error("province must be one of the 13 two-letter codes of a Canadian province or territory")]
    Province,
    #[error("postal code must look like A1A 1A1")]
    PostalCode,
    #[error("postal code {postal_code} does not belong to {province}")]
    PostalCodeProvince {
        postal_code: String,
        province: &'static str,
    },
    #[error("the residential address cannot be a post-office box")]
    ResidentialPoBox,
    #[error("SHA-256 must be 64 lowercase hex digits")]
    Sha256,
    #[error("photo must be between 715x1000 and 2000x2800 pixels, got {width}x{height}")]
    PhotoDimensions { width: u32, height: u32 },
    #[error("photo must be at most {max} bytes, got {bytes}")]
    PhotoTooLarge { bytes: u64, max: u64 },
    #[error("photo must not be empty")]
    PhotoEmpty,
}

/// Implements `Serialize` as the canonical string and `Deserialize` through `parse`.
macro_rules! string_value {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str> as serde::Deserialize<'de>>::deserialize(d)?;
                <$ty>::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_value;

/// Which rule a text value is checked under: as given now, or as read back from the log under
/// the rule in force when it was recorded (control characters only), so that a value stored
/// before a rule was tightened still loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    New,
    Stored,
}

/// Checks a free-text field as given now: trimmed, not empty, at most `max` characters, and
/// only characters a reader can see or that lay out visible ones (see [`refused`]), at
/// least one of them visible.
pub(crate) fn clean_text(field: &'static str, raw: &str, max: usize) -> Result<String, ValueError> {
    clean_text_under(Rule::New, field, raw, max)
}

pub(crate) fn clean_text_under(
    rule: Rule,
    field: &'static str,
    raw: &str,
    max: usize,
) -> Result<String, ValueError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValueError::Empty { field });
    }
    if value.chars().count() > max {
        return Err(ValueError::TooLong { field, max });
    }
    if value.chars().any(char::is_control) {
        return Err(ValueError::ControlCharacter { field });
    }
    if rule == Rule::New {
        let chars: Vec<char> = value.chars().collect();
        if (0..chars.len()).any(|i| refused(&chars, i)) {
            return Err(ValueError::InvisibleCharacter { field });
        }
        if !chars.iter().any(|&c| visible(c)) {
            return Err(ValueError::NothingVisible { field });
        }
    }
    Ok(value.to_owned())
}

/// Whether `chars[i]` is refused in names and free text, by its Unicode general category:
/// controls (Cc), format characters (Cf: bidirectional embeddings, overrides, isolates and
/// marks, zero-width spaces, the byte-order mark, soft hyphens...), surrogates (Cs),
/// private-use (Co) and unassigned code points or noncharacters (Cn), and the line and
/// paragraph separators (Zl, Zp). One exception: the zero-width non-joiner and joiner
/// (U+200C, U+200D) between two letters or combining marks (a virama), where Persian, Indic and other scripts need them
/// to spell a word.
fn refused(chars: &[char], i: usize) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    let c = chars[i];
    match c.general_category() {
        G::Control
        | G::Surrogate
        | G::PrivateUse
        | G::Unassigned
        | G::LineSeparator
        | G::ParagraphSeparator => true,
        G::Format => {
            use unicode_properties::GeneralCategoryGroup as Group;
            let letter = |j: Option<usize>| {
                j.and_then(|j| chars.get(j)).is_some_and(|c| {
                    matches!(c.general_category_group(), Group::Letter | Group::Mark)
                        && !matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
                })
            };
            !(matches!(c, '\u{200C}' | '\u{200D}')
                && letter(i.checked_sub(1))
                && letter(Some(i + 1)))
        }
        _ => false,
    }
}

/// Whether `c` shows as something on the page: not white space, not a format character or
/// combining mark on its own, and not one of the letters and symbols that are drawn blank
/// (the Hangul fillers, the blank Braille pattern).
pub(crate) fn visible(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup as Group, UnicodeGeneralCategory};
    !c.is_whitespace()
        && !matches!(
            c,
            '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}'
        )
        && matches!(
            c.general_category_group(),
            Group::Letter | Group::Number | Group::Punctuation | Group::Symbol
        )
}

/// Serde's `deserialize_with` for text values read back from the log or a snapshot: the
/// rule in force when they were recorded ([`Rule::Stored`]). What is given now goes through
/// the types' own `Deserialize`, under the rule of today.
pub mod stored {
    use serde::{Deserialize, Deserializer};

    use super::{Address, MailingAddress, PersonName, Text};

    /// # Errors
    /// The deserializer's error, or the value's.
    pub fn name<'de, D: Deserializer<'de>>(d: D) -> Result<PersonName, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        PersonName::parse_stored(&raw).map_err(serde::de::Error::custom)
    }

    /// # Errors
    /// The deserializer's error, or the value's.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Text::parse_stored(&raw).map_err(serde::de::Error::custom)
    }

    /// # Errors
    /// The deserializer's error, or the value's.
    pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text>, D::Error> {
        let raw = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        raw.map(|r| Text::parse_stored(&r))
            .transpose()
            .map_err(serde::de::Error::custom)
    }

    /// # Errors
    /// The deserializer's error, or the value's.
    pub fn address<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        Address::deserialize_stored(d)
    }

    /// # Errors
    /// The deserializer's error, or the value's.
    pub fn opt_mailing<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<MailingAddress>, D::Error> {
        #[derive(Deserialize)]
        #[serde(transparent)]
        struct Stored(
            #[serde(deserialize_with = "MailingAddress::deserialize_stored")] MailingAddress,
        );
        Ok(<Option<Stored>>::deserialize(d)?.map(|s| s.0))
    }
}
