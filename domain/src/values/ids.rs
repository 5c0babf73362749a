//! Identifiers: UCI, application number, eCoPR document number, actor.

use super::{string_value, ValueError};

/// Unique client identifier of a person: 8 or 10 digits. Hyphens and spaces, as printed on
/// letters (`0000-0000`, `00-0000-0000`), are accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uci(String);

impl Uci {
    /// # Errors
    /// [`ValueError::Uci`] unless the digits, once separators are dropped, number 8 or 10.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let digits: String = raw
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .collect();
        let ok = matches!(digits.len(), 8 | 10) && digits.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(digits))
        } else {
            Err(ValueError::Uci)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Uci);

/// The application file a family shares: one or two capital letters then 9 digits
/// (`E001234567`). The public record shows this shape; the project enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApplicationNumber(String);

impl ApplicationNumber {
    /// # Errors
    /// [`ValueError::ApplicationNumber`] if the text is not of that shape.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let value = raw.trim().to_ascii_uppercase();
        let letters = value.bytes().take_while(u8::is_ascii_uppercase).count();
        let rest = &value.as_bytes()[letters..];
        if (1..=2).contains(&letters) && rest.len() == 9 && rest.iter().all(u8::is_ascii_digit) {
            Ok(Self(value))
        } else {
            Err(ValueError::ApplicationNumber)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(ApplicationNumber);

/// Number of an issued eCoPR: two capital letters then 10 digits (`PR0000123456`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// # Errors
    /// [`ValueError::DocumentNumber`] if the text is not of that shape.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let b = raw.as_bytes();
        let ok = b.len() == 12
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..].iter().all(u8::is_ascii_digit);
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValueError::DocumentNumber)
        }
    }
    /// The document number built from a serial (the command layer keeps the serial).
    pub fn from_serial(serial: u64) -> Self {
        Self(format!("PR{:010}", serial % 10_000_000_000))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(DocumentNumber);

/// Who did something: a staff username, an applicant's username, or `system`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActorId(String);

impl ActorId {
    /// # Errors
    /// [`ValueError::ActorId`] unless 1 to 64 characters of `a-z 0-9 . _ - @`.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValueError::ActorId)
        }
    }
    /// The actor that timers and reactors act as.
    pub fn system() -> Self {
        Self("system".to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(ActorId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uci_takes_eight_or_ten_digits_with_printed_separators() {
        assert_eq!(Uci::parse("1234-5678").map(|u| u.0), Ok("12345678".into()));
        assert_eq!(
            Uci::parse("12-3456-7890").map(|u| u.0),
            Ok("1234567890".into())
        );
        for bad in ["1234567", "123456789", "12345678901", "1234567a", ""] {
            assert_eq!(Uci::parse(bad), Err(ValueError::Uci), "{bad}");
        }
    }

    #[test]
    fn application_number_is_letters_then_nine_digits() {
        assert_eq!(
            ApplicationNumber::parse("e001234567").map(|a| a.0),
            Ok("E001234567".into())
        );
        assert!(ApplicationNumber::parse("WP123456789").is_ok());
        for bad in [
            "001234567",
            "ABC123456789",
            "E00123456",
            "E0012345678",
            "E00123456x",
        ] {
            assert_eq!(
                ApplicationNumber::parse(bad),
                Err(ValueError::ApplicationNumber)
            );
        }
    }

    #[test]
    fn document_number_round_trips_its_serial() {
        let n = DocumentNumber::from_serial(42);
        assert_eq!(n.as_str(), "PR0000000042");
        assert_eq!(DocumentNumber::parse(n.as_str()), Ok(n));
        assert!(DocumentNumber::parse("PR000000004").is_err());
    }

    #[test]
    fn actor_ids_are_lowercase_usernames() {
        assert!(ActorId::parse("officer.jane-2").is_ok());
        assert!(ActorId::parse("Officer").is_err());
        assert!(ActorId::parse("").is_err());
        assert!(ActorId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn deserializing_validates() {
        let bad: Result<Uci, _> = serde_json::from_str("\"12\"");
        assert!(bad.is_err());
        let good: Uci = serde_json::from_str("\"12345678\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::to_string(&good).ok(),
            Some("\"12345678\"".into())
        );
    }
}
