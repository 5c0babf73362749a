//! The value types as OpenAPI schemas (feature `openapi`), written beside the parsers they
//! describe, so that a client generated from the document can check a value before it
//! sends it.
//!
//! A pattern here is read by two engines: ECMA-262's in Unicode mode (JSON Schema 2020-12,
//! the dialect of OpenAPI 3.1) and Python's (the fuzzers'), so it is written as code point
//! ranges of the Basic Multilingual Plane, not as Unicode categories (which Python cannot
//! name). Names and free text are checked by category (no control, format, private-use or
//! unassigned characters): the pattern excludes every control, private-use and
//! noncharacter and each refused format character by name, and the description states the
//! whole rule. Where the two differ the pattern allows a little more (an unassigned code
//! point, a name whose only letter is a sign) and, in one respect, less: characters beyond
//! the Basic Multilingual Plane (a rare CJK ideograph, an emoji), which the server takes.

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

/// A character a name or free text may hold, as code point ranges both ECMA-262 (in Unicode
/// mode) and Python's engine read: not a control character (C0, DEL, C1), a surrogate, a
/// private-use character or a noncharacter, nor one of the format characters and separators
/// the parser refuses (the soft hyphen, the Arabic number signs and letter mark, zero-width
/// spaces and marks, bidirectional embeddings, overrides and isolates, the line and paragraph
/// separators, invisible operators, the byte-order mark, interlinear annotations). The
/// zero-width non-joiner and joiner stay: between two letters they spell words.
const ALLOWED: &str = r"[\x20-\x7E\u00A0-\u00AC\u00AE-\u05FF\u0606-\u061B\u061D-\u06DC\u06DE-\u070E\u0710-\u180D\u180F-\u200A\u200C\u200D\u2010-\u2027\u202F-\u205F\u2070-\uD7FF\uF900-\uFEFE\uFF00-\uFFF8\uFFFC\uFFFD]";
/// The same without white space: something visible.
const VISIBLE: &str = r"[\x21-\x7E\u00A1-\u00AC\u00AE-\u05FF\u0606-\u061B\u061D-\u06DC\u06DE-\u070E\u0710-\u167F\u1681-\u180D\u180F-\u1FFF\u2010-\u2027\u2030-\u205E\u2070-\u2FFF\u3001-\uD7FF\uF900-\uFEFE\uFF00-\uFFF8\uFFFC\uFFFD]";
/// A letter, or at least no ASCII or Latin-1 character that is not one.
const LETTER: &str = r"[A-Za-z\u00AA\u00B5\u00BA\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u1FFF\u2C00-\u2DFF\u3040-\uD7FF\uF900-\uFDFF\uFE70-\uFEFE\uFF21-\uFF3A\uFF41-\uFF5A\uFF66-\uFFDC]";
/// Free text's characters: those of a name, and line breaks and tabs.
const TEXT: &str = r"[\t\n\r\x20-\x7E\u00A0-\u00AC\u00AE-\u05FF\u0606-\u061B\u061D-\u06DC\u06DE-\u070E\u0710-\u180D\u180F-\u200A\u200C\u200D\u2010-\u2027\u202F-\u205F\u2070-\uD7FF\uF900-\uFEFE\uFF00-\uFFF8\uFFFC\uFFFD]";

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
         letters, are dropped (the pattern allows two of them in a row).",
        r"^[ -]{0,2}([0-9][ -]{0,2}){8}(([0-9][ -]{0,2}){2})?$",
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
         unassigned or line-separator characters. The pattern lists the Basic Multilingual \
         Plane only; characters beyond it are taken too.",
        &format!("^{ALLOWED}*{LETTER}{ALLOWED}*$"),
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
         line-separator characters. The pattern lists the Basic Multilingual Plane only; \
         characters beyond it (an emoji) are taken too.",
        &format!("^{TEXT}*{VISIBLE}{TEXT}*$"),
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
         and digits of any script, of which the pattern lists the common blocks), `@`, an ASCII domain of two or more labels (an internationalised \
         domain in its `xn--` form); at most 254 bytes. No quoted local parts, comments or \
         IP literals.",
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02AF\u0370-\u03FF\u0400-\u04FF\u05D0-\u05EA\u0620-\u064A\u0900-\u0939\u3040-\u30FF\u4E00-\u9FFF\uAC00-\uD7A3-]{1,64}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02AF\u0370-\u03FF\u0400-\u04FF\u05D0-\u05EA\u0620-\u064A\u0900-\u0939\u3040-\u30FF\u4E00-\u9FFF\uAC00-\uD7A3-]{1,63}){0,31}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}([A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{1,59})$",
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
            .pattern(Some(format!("^{ALLOWED}*{VISIBLE}{ALLOWED}*$")))
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
