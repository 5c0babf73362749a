//! Canadian addresses: province or territory, postal code, and the address itself.

use serde::{Deserialize, Serialize};

use super::{clean_text_under, string_value, Rule, ValueError};

/// A Canadian province or territory, by its two-letter postal abbreviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Province {
    AB,
    BC,
    MB,
    NB,
    NL,
    NS,
    NT,
    NU,
    ON,
    PE,
    QC,
    SK,
    YT,
}

impl Province {
    pub const ALL: [Self; 13] = [
        Self::AB,
        Self::BC,
        Self::MB,
        Self::NB,
        Self::NL,
        Self::NS,
        Self::NT,
        Self::NU,
        Self::ON,
        Self::PE,
        Self::QC,
        Self::SK,
        Self::YT,
    ];

    /// # Errors
    /// [`ValueError::Province`] unless one of the 13 codes (any case).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let upper = raw.trim().to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|p| p.code() == upper)
            .ok_or(ValueError::Province)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::AB => "AB",
            Self::BC => "BC",
            Self::MB => "MB",
            Self::NB => "NB",
            Self::NL => "NL",
            Self::NS => "NS",
            Self::NT => "NT",
            Self::NU => "NU",
            Self::ON => "ON",
            Self::PE => "PE",
            Self::QC => "QC",
            Self::SK => "SK",
            Self::YT => "YT",
        }
    }

    /// The first letters of the postal codes (forward sortation areas) of this province.
    pub(super) fn postal_districts(self) -> &'static [u8] {
        match self {
            Self::NL => b"A",
            Self::NS => b"B",
            Self::PE => b"C",
            Self::NB => b"E",
            Self::QC => b"GHJ",
            Self::ON => b"KLMNP",
            Self::MB => b"R",
            Self::SK => b"S",
            Self::AB => b"T",
            Self::BC => b"V",
            Self::NT | Self::NU => b"X",
            Self::YT => b"Y",
        }
    }
}

/// A Canadian postal code, stored as `A1A 1A1`. Letters D, F, I, O, Q, U never appear, and W
/// and Z never start one (Canada Post's rules).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostalCode(String);

impl PostalCode {
    /// # Errors
    /// [`ValueError::PostalCode`] if the text is not a possible postal code.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let compact: Vec<u8> = raw
            .trim()
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| b.to_ascii_uppercase())
            .collect();
        if compact.len() != 6 {
            return Err(ValueError::PostalCode);
        }
        let letter = |b: u8| b.is_ascii_uppercase() && !b"DFIOQU".contains(&b);
        let ok = compact.iter().enumerate().all(|(i, &b)| {
            if i % 2 == 0 {
                letter(b)
            } else {
                b.is_ascii_digit()
            }
        }) && !b"WZ".contains(&compact[0]);
        if !ok {
            return Err(ValueError::PostalCode);
        }
        let text = String::from_utf8_lossy(&compact);
        Ok(Self(format!("{} {}", &text[..3], &text[3..])))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    fn district(&self) -> u8 {
        self.0.as_bytes()[0]
    }
}
string_value!(PostalCode);

/// Where the applicant lives in Canada. Cards are mailed only to Canadian addresses, and the
/// postal code must belong to the province given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line2: Option<String>,
    city: String,
    province: Province,
    postal_code: PostalCode,
}

/// The raw shape of an address, before its rules are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddress {
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    province: Province,
    postal_code: PostalCode,
}

impl Address {
    pub const MAX_LINE: usize = 100;

    /// A street address. A post-office box is allowed only for mail ([`MailingAddress`]).
    ///
    /// # Errors
    /// Empty or overlong lines, a postal code of another province, or a PO box.
    pub fn residential(
        line1: &str,
        line2: Option<&str>,
        city: &str,
        province: Province,
        postal_code: PostalCode,
    ) -> Result<Self, ValueError> {
        Self::residential_under(Rule::New, line1, line2, city, province, postal_code)
    }

    fn residential_under(
        rule: Rule,
        line1: &str,
        line2: Option<&str>,
        city: &str,
        province: Province,
        postal_code: PostalCode,
    ) -> Result<Self, ValueError> {
        let address = Self::build(rule, line1, line2, city, province, postal_code)?;
        if address.is_po_box() {
            return Err(ValueError::ResidentialPoBox);
        }
        Ok(address)
    }

    fn build(
        rule: Rule,
        line1: &str,
        line2: Option<&str>,
        city: &str,
        province: Province,
        postal_code: PostalCode,
    ) -> Result<Self, ValueError> {
        let line2 = match line2.map(str::trim) {
            None | Some("") => None,
            Some(l) => Some(clean_text_under(rule, "line2", l, Self::MAX_LINE)?),
        };
        if !province
            .postal_districts()
            .contains(&postal_code.district())
        {
            return Err(ValueError::PostalCodeProvince {
                postal_code: postal_code.0,
                province: province.code(),
            });
        }
        Ok(Self {
            line1: clean_text_under(rule, "line1", line1, Self::MAX_LINE)?,
            line2,
            city: clean_text_under(rule, "city", city, Self::MAX_LINE)?,
            province,
            postal_code,
        })
    }

    fn is_po_box(&self) -> bool {
        let words = |s: &str| -> String {
            s.to_uppercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ')
                .collect::<String>()
        };
        std::iter::once(&self.line1)
            .chain(self.line2.as_ref())
            .map(|l| words(l))
            .any(|l| {
                let l = format!(" {l} ");
                [
                    " PO BOX ",
                    " P O BOX ",
                    " POBOX ",
                    " CP ",
                    " C P ",
                    " CASE POSTALE ",
                ]
                .iter()
                .any(|p| l.contains(p))
            })
    }

    pub fn line1(&self) -> &str {
        &self.line1
    }
    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }
    pub fn city(&self) -> &str {
        &self.city
    }
    pub fn province(&self) -> Province {
        self.province
    }
    pub fn postal_code(&self) -> &PostalCode {
        &self.postal_code
    }
}

impl Address {
    /// An address as stored in an event or snapshot, its lines under the rule in force when
    /// it was recorded (see [`super::stored`]).
    ///
    /// # Errors
    /// The deserializer's error, or the address's.
    pub fn deserialize_stored<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawAddress::deserialize(d)?;
        Self::residential_under(
            Rule::Stored,
            &r.line1,
            r.line2.as_deref(),
            &r.city,
            r.province,
            r.postal_code,
        )
        .map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawAddress::deserialize(d)?;
        Self::residential(
            &r.line1,
            r.line2.as_deref(),
            &r.city,
            r.province,
            r.postal_code,
        )
        .map_err(serde::de::Error::custom)
    }
}

/// Where mail goes, when not to the residence: a Canadian address, PO boxes allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MailingAddress(Address);

impl MailingAddress {
    /// # Errors
    /// Empty or overlong lines, or a postal code of another province.
    pub fn new(
        line1: &str,
        line2: Option<&str>,
        city: &str,
        province: Province,
        postal_code: PostalCode,
    ) -> Result<Self, ValueError> {
        Address::build(Rule::New, line1, line2, city, province, postal_code).map(Self)
    }

    /// A mailing address as stored in an event or snapshot (see [`Address::deserialize_stored`]).
    ///
    /// # Errors
    /// The deserializer's error, or the address's.
    pub fn deserialize_stored<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawAddress::deserialize(d)?;
        Address::build(
            Rule::Stored,
            &r.line1,
            r.line2.as_deref(),
            &r.city,
            r.province,
            r.postal_code,
        )
        .map(Self)
        .map_err(serde::de::Error::custom)
    }
    pub fn address(&self) -> &Address {
        &self.0
    }
}

impl<'de> Deserialize<'de> for MailingAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawAddress::deserialize(d)?;
        Self::new(
            &r.line1,
            r.line2.as_deref(),
            &r.city,
            r.province,
            r.postal_code,
        )
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> PostalCode {
        PostalCode::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn postal_codes_are_normalized_and_checked() {
        assert_eq!(code("k1a0b1").as_str(), "K1A 0B1");
        assert_eq!(code(" H3Z 2Y7 ").as_str(), "H3Z 2Y7");
        for bad in [
            "K1A0B", "K1A 0B11", "D1A 0B1", "W1A 0B1", "K1O 0B1", "KKA 0B1", "123456",
        ] {
            assert_eq!(PostalCode::parse(bad), Err(ValueError::PostalCode), "{bad}");
        }
    }

    #[test]
    fn provinces_are_the_thirteen_codes() {
        assert_eq!(Province::parse("qc"), Ok(Province::QC));
        assert_eq!(Province::parse("XX"), Err(ValueError::Province));
    }

    #[test]
    fn a_postal_code_must_belong_to_the_province() {
        let wrong =
            Address::residential("1 Main St", None, "Ottawa", Province::QC, code("K1A 0B1"));
        assert!(matches!(wrong, Err(ValueError::PostalCodeProvince { .. })));
        let right =
            Address::residential("1 Main St", None, "Ottawa", Province::ON, code("K1A 0B1"));
        assert!(right.is_ok());
        assert!(
            Address::residential("1 Main", None, "Iqaluit", Province::NU, code("X0A 0H0")).is_ok()
        );
    }

    #[test]
    fn a_po_box_is_for_mail_only() {
        for line in ["PO Box 123", "P.O. Box 5", "C.P. 42", "Case postale 9"] {
            assert_eq!(
                Address::residential(line, None, "Laval", Province::QC, code("H7N 1A1")),
                Err(ValueError::ResidentialPoBox),
                "{line}"
            );
            assert!(
                MailingAddress::new(line, None, "Laval", Province::QC, code("H7N 1A1")).is_ok()
            );
        }
        assert!(
            Address::residential("12 Capo Road", None, "Laval", Province::QC, code("H7N 1A1"))
                .is_ok()
        );
    }

    #[test]
    fn deserializing_an_address_checks_every_rule() {
        let json = r#"{"line1":"PO Box 1","city":"Laval","province":"QC","postal_code":"h7n1a1"}"#;
        assert!(serde_json::from_str::<Address>(json).is_err());
        assert!(serde_json::from_str::<MailingAddress>(json).is_ok());
        let extra =
            r#"{"line1":"1 Rue","city":"Laval","province":"QC","postal_code":"H7N 1A1","x":1}"#;
        assert!(serde_json::from_str::<Address>(extra).is_err());
    }
}
