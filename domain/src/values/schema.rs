//! The value types as OpenAPI schemas (feature `openapi`), written beside the parsers they
//! describe, so that a client generated from the document can check a value before it
//! sends it.
//!
//! A JSON Schema pattern is a regular expression that ECMA-262 and Python (the fuzzers')
//! engines must both read, so it cannot name Unicode categories. Where a rule is one of
//! categories (names and free text: no control, format, private-use or unassigned
//! characters) the pattern says the part it can (no control characters, something visible,
//! a letter in a name) and the description says the whole rule; for ASCII text the pattern
//! and the parser agree exactly.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::{
    Address, ApplicationNumber, DocumentNumber, Email, MailingAddress, PersonName, PostalCode,
    Province, Text, Uci,
};

/// No control character (C0, DEL, C1) anywhere.
const NO_CONTROL: &str = r"[^\x00-\x1F\x7F-\x9F]";
/// Something visible: not white space, not a control character.
const VISIBLE: &str = r"[^\s\x00-\x1F\x7F-\x9F]";
/// A letter: any character but ASCII's non-letters, the C1 controls and Latin-1's signs.
const LETTER: &str = r"[^\x00-\x40\x5B-\x60\x7B-\xBF\xD7\xF7]";

fn string(description: &str, pattern: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .examples([json!(example)])
}

/// Implements `ToSchema` with the schema `$schema` (an expression) under the type's name.
macro_rules! schema {
    ($ty:ty, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                RefOr::T($schema)
            }
        }
        impl ToSchema for $ty {}
    };
}

schema!(
    Uci,
    string(
        "Unique client identifier: 8 or 10 digits; hyphens and spaces, as printed on \
         letters, are dropped.",
        r"^[ -]*([0-9][ -]*){8}(([0-9][ -]*){2})?$",
        "0000-0000",
    )
    .max_length(Some(32))
    .into()
);

schema!(
    ApplicationNumber,
    string(
        "The family's application file: one or two letters then 9 digits (letters taken in \
         either case, stored in capitals).",
        r"^[A-Za-z]{1,2}[0-9]{9}$",
        "E001234567",
    )
    .into()
);

schema!(
    DocumentNumber,
    string(
        "An eCoPR's number: two capital letters then 10 digits.",
        r"^[A-Z]{2}[0-9]{10}$",
        "PR0000000042",
    )
    .into()
);

schema!(
    PersonName,
    string(
        "A given or family name in any script, trimmed: 1 to 100 characters with a visible \
         letter; no control, format (such as bidirectional overrides), private-use, \
         unassigned or line-separator characters.",
        &format!("^{NO_CONTROL}*{LETTER}{NO_CONTROL}*$"),
        "Marie-Ève",
    )
    .min_length(Some(1))
    .max_length(Some(PersonName::MAX))
    .into()
);

schema!(
    Text,
    string(
        "Free text, trimmed: 1 to 2,000 characters with something visible; line breaks and \
         tabs allowed, no other control character, nor format, private-use, unassigned or \
         line-separator characters.",
        r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        "The photo is of another person.",
    )
    .min_length(Some(1))
    .max_length(Some(Text::MAX))
    .into()
);

schema!(
    Email,
    string(
        "An address the portal can send to: a dot-atom local part (at most 64 bytes; letters \
         of any script), `@`, an ASCII domain of two or more labels (an internationalised \
         domain in its `xn--` form); at most 254 bytes. No quoted local parts, comments or \
         IP literals.",
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00A0-\uFFFF-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00A0-\uFFFF-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{1,59})$",
        "ana@example.ca",
    )
    .max_length(Some(Email::MAX))
    .into()
);

schema!(
    PostalCode,
    string(
        "A Canadian postal code, `A1A 1A1` (the space optional); D, F, I, O, Q and U never \
         appear, W and Z never start one.",
        &postal_code_pattern("ABCEGHJKLMNPRSTVXY"),
        "K1A 0B1",
    )
    .into()
);

/// The pattern of a postal code whose first letter is one of `first`.
fn postal_code_pattern(first: &str) -> String {
    const LATER: &str = "ABCEGHJ-NPRSTV-Z";
    format!("^[{first}][0-9][{LATER}] ?[0-9][{LATER}][0-9]$")
}

/// An address's schema: one shape per province, each naming the postal codes that belong
/// to it (the parser's rule that the code's first letter is the province's).
fn address(description: &str) -> Schema {
    let line = |what: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "{what}: trimmed, 1 to {} characters with something visible, no control \
                 characters",
                Address::MAX_LINE
            )))
            .pattern(Some(format!("^{NO_CONTROL}*{VISIBLE}{NO_CONTROL}*$")))
            .min_length(Some(1))
            .max_length(Some(Address::MAX_LINE))
    };
    let mut shapes = AnyOfBuilder::new().description(Some(description));
    let mut seen: Vec<&'static [u8]> = Vec::new();
    for province in Province::ALL {
        let first = province.postal_districts();
        let codes: Vec<&str> = Province::ALL
            .into_iter()
            .filter(|p| p.postal_districts() == first)
            .map(Province::code)
            .collect();
        if seen.contains(&first) {
            continue;
        }
        seen.push(first);
        let first = String::from_utf8_lossy(first);
        shapes = shapes.item(
            ObjectBuilder::new()
                .property("line1", line("Street address"))
                .required("line1")
                .property(
                    "line2",
                    line("Unit, floor or the like")
                        .schema_type(SchemaType::from_iter([Type::String, Type::Null])),
                )
                .property("city", line("City"))
                .required("city")
                .property(
                    "province",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(codes)),
                )
                .required("province")
                .property(
                    "postal_code",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(postal_code_pattern(&first))),
                )
                .required("postal_code")
                .additional_properties(Some(AdditionalProperties::FreeForm(false))),
        );
    }
    shapes.into()
}

impl PartialSchema for Address {
    fn schema() -> RefOr<Schema> {
        RefOr::T(address(
            "Where the applicant lives in Canada: not a post-office box; the postal code \
             belongs to the province.",
        ))
    }
}

impl ToSchema for Address {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Address")
    }
}

impl PartialSchema for MailingAddress {
    fn schema() -> RefOr<Schema> {
        RefOr::T(address(
            "Where mail goes, when not to the residence: a Canadian address, post-office \
             boxes allowed; the postal code belongs to the province.",
        ))
    }
}

impl ToSchema for MailingAddress {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MailingAddress")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The postal-code shapes, one per set of first letters: NT and NU share theirs.
    #[test]
    fn an_address_has_one_shape_per_set_of_postal_districts() {
        let RefOr::T(Schema::AnyOf(shapes)) = Address::schema() else {
            panic!("an address is a choice of shapes");
        };
        assert_eq!(shapes.items.len(), 12);
        let text = serde_json::to_string(&shapes).unwrap_or_default();
        assert!(text.contains(r#"["NT","NU"]"#), "{text}");
        assert!(text.contains("^[KLMNP][0-9]"), "{text}");
    }
}
