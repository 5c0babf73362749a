//! The canonical form of a JSON value: the exact bytes an event's hash covers, reproducible
//! by anyone from the value alone, whatever key order or whitespace the store kept (PostgreSQL's
//! jsonb keeps neither). `docs/audit.md` states the same rules for outside verifiers.
//!
//! - `null`, `true`, `false` as themselves;
//! - integers in decimal (`-` for negatives, no `+`, no leading zeros); any number with a
//!   fraction or an exponent (a float, including `-0`) is refused: our events hold none, and
//!   floats have no single textual form that every language agrees on;
//! - strings in double quotes, escaping `"` and `\` with a backslash, U+0008, U+0009,
//!   U+000A, U+000C, U+000D as `\b \t \n \f \r`, every other character below U+0020 as
//!   `\u00xx` (lowercase hex), and everything else as its UTF-8 bytes (no `\/`, no `\uXXXX`
//!   for non-ASCII): exactly what `serde_json` and Python's `json.dumps(ensure_ascii=False)`
//!   write;
//! - arrays as `[a,b]`; objects as `{"k":v,...}` with members sorted by the UTF-8 bytes of
//!   their keys (the same as sorting by code point); no whitespace anywhere.
//!
//! Pure: no I/O. The writer streams into any [`Sink`], so that hashing needs no buffer.

use serde_json::{Map, Number, Value};

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A number with a fraction or an exponent.
    #[error("non-integer number {0} (the canonical form has integers only)")]
    NotAnInteger(String),
    /// Event metadata that is not a JSON object.
    #[error("metadata is not a JSON object")]
    MetadataNotAnObject,
}

/// Where canonical bytes go: a buffer, or a hasher directly.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for sha2::Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        sha2::Digest::update(self, bytes);
    }
}

/// The canonical bytes of `value`.
///
/// # Errors
/// [`CanonicalError::NotAnInteger`] if the value holds a float anywhere.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

/// Writes the canonical bytes of `value` to `out`. On error, `out` holds a prefix.
///
/// # Errors
/// [`CanonicalError::NotAnInteger`] if the value holds a float anywhere.
pub fn write_value<S: Sink + ?Sized>(out: &mut S, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.put(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_value(out, item)?;
            }
            out.put(b"]");
        }
        Value::Object(map) => write_object(out, map, |_| true)?,
    }
    Ok(())
}

/// Writes an object's canonical bytes, leaving out the members whose key `keep` refuses.
///
/// # Errors
/// As [`write_value`].
pub fn write_object<S: Sink + ?Sized>(
    out: &mut S,
    map: &Map<String, Value>,
    keep: impl Fn(&str) -> bool,
) -> Result<(), CanonicalError> {
    if keys_sorted(map) {
        write_members(out, map.iter(), keep)
    } else {
        // Reached only if serde_json keeps insertion order (its `preserve_order` feature).
        let mut members: Vec<_> = map.iter().collect();
        sort_members(&mut members);
        write_members(out, members.into_iter(), keep)
    }
}

/// Sorts members by the UTF-8 bytes of their keys.
fn sort_members(members: &mut [(&String, &Value)]) {
    members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
}

/// Writes `{...}` from members already in canonical order.
fn write_members<'a, S: Sink + ?Sized>(
    out: &mut S,
    members: impl Iterator<Item = (&'a String, &'a Value)>,
    keep: impl Fn(&str) -> bool,
) -> Result<(), CanonicalError> {
    out.put(b"{");
    let mut first = true;
    for (key, value) in members {
        if !keep(key) {
            continue;
        }
        if !first {
            out.put(b",");
        }
        first = false;
        write_str(out, key);
        out.put(b":");
        write_value(out, value)?;
    }
    out.put(b"}");
    Ok(())
}

/// Whether the map iterates in strictly ascending byte order of its keys.
fn keys_sorted(map: &Map<String, Value>) -> bool {
    let mut keys = map.keys();
    let Some(mut previous) = keys.next() else {
        return true;
    };
    for key in keys {
        if previous.as_bytes() >= key.as_bytes() {
            return false;
        }
        previous = key;
    }
    true
}

fn write_number<S: Sink + ?Sized>(out: &mut S, n: &Number) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64() {
        write_decimal(out, false, u);
    } else if let Some(i) = n.as_i64() {
        write_decimal(out, i < 0, i.unsigned_abs());
    } else {
        return Err(CanonicalError::NotAnInteger(n.to_string()));
    }
    Ok(())
}

/// Writes an integer in decimal (no allocation).
pub fn write_decimal<S: Sink + ?Sized>(out: &mut S, negative: bool, mut magnitude: u64) {
    let mut digits = [0u8; 21];
    let mut at = digits.len();
    loop {
        at -= 1;
        // The remainder is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        digits[at] = b'-';
    }
    out.put(&digits[at..]);
}

/// Writes a string in double quotes with the escapes `serde_json` uses.
pub fn write_str<S: Sink + ?Sized>(out: &mut S, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put(b"\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ],
            _ => continue,
        };
        out.put(&bytes[start..i]);
        out.put(escape);
        start = i + 1;
    }
    out.put(&bytes[start..]);
    out.put(b"\"");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn canonical(v: &Value) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn serde_json_objects_iterate_in_sorted_key_order_in_this_workspace() {
        // Inserted out of order; without `preserve_order` the map is a BTreeMap.
        let mut map = Map::new();
        for key in ["zeta", "alpha", "Beta", "é", "a", "aa", "_"] {
            map.insert(key.to_owned(), Value::Null);
        }
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, ["Beta", "_", "a", "aa", "alpha", "zeta", "é"]);
        assert!(keys_sorted(&map));
    }

    #[test]
    fn objects_are_sorted_by_key_bytes_without_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": 1, "a": [true, null, {"y": "x", "x": -2}], "A": {} }"#)
                .unwrap();
        assert_eq!(
            canonical(&v),
            r#"{"A":{},"a":[true,null,{"x":-2,"y":"x"}],"b":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let tricky: String =
            (0u8..0x20).map(char::from).collect::<String>() + "\"\\/ \u{7f} é 漢 🦀 \u{2028}";
        let mut map = Map::new();
        map.insert("s".to_owned(), json!(tricky));
        map.insert(tricky.clone(), json!([tricky]));
        let v = Value::Object(map);
        assert_eq!(canonical(&v), serde_json::to_string(&v).unwrap());
        assert_eq!(
            canonical(&json!("a\u{1}\u{1f}\n\"")),
            r#""a\u0001\u001f\n\"""#
        );
    }

    #[test]
    fn integers_are_written_in_decimal_across_their_whole_range() {
        for n in [0i64, 1, -1, 9, 10, -10, 1234567890, i64::MIN, i64::MAX] {
            assert_eq!(canonical(&json!(n)), n.to_string());
        }
        assert_eq!(canonical(&json!(u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn floats_are_refused_anywhere_in_a_value() {
        for text in ["1.5", "1.0", "1e3", "-0", "[1, {\"a\": 2.25}]"] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert!(
                matches!(to_vec(&v), Err(CanonicalError::NotAnInteger(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn members_the_filter_refuses_are_left_out() {
        let v = json!({"b": 1, "hash": "x", "a": 2});
        let Value::Object(map) = &v else {
            unreachable!()
        };
        let mut out = Vec::new();
        write_object(&mut out, map, |k| k != "hash").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn members_in_insertion_order_are_sorted_before_writing() {
        let (b, a, upper) = ("b".to_owned(), "a".to_owned(), "A".to_owned());
        let one = json!(1);
        let mut members = vec![(&b, &one), (&a, &one), (&upper, &one)];
        sort_members(&mut members);
        let mut out = Vec::new();
        write_members(&mut out, members.into_iter(), |_| true).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"A":1,"a":1,"b":1}"#);
    }
}
