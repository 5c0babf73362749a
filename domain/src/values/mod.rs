//! Value types of the case. Each has a validating `parse` (or `new`): a value that breaks the
//! rules cannot be constructed, so code that holds one never checks it again.
//!
//! Values are serialized as their canonical text (or plain JSON numbers), and deserializing goes
//! through the same validation, so an event or a request body cannot smuggle in a bad value.

mod address;
mod ids;
mod person;
mod photo;

pub use address::{Address, MailingAddress, PostalCode, Province};
pub use ids::{ActorId, ApplicationNumber, DocumentNumber, Uci};
pub use person::{DateOfBirth, Email, Language, PersonName, Text};
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

/// Checks a free-text field: trimmed, not empty, at most `max` characters, no control characters.
pub(crate) fn clean_text(field: &'static str, raw: &str, max: usize) -> Result<String, ValueError> {
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
    Ok(value.to_owned())
}
