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
//!   their keys (the same as sorting by code point); if a key repeats, the last member wins (as
//!   in `serde_json` and Python); no whitespace anywhere.
//!
//! One implementation, two sources: the canonical writer is a serde visitor, fed either by a
//! `serde_json::Value` (what the event store hands the chain decorator) or straight by JSON text
//! (what verification reads from the database), without building a tree. Pure: no I/O.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A number with a fraction or an exponent.
    #[error("non-integer number {0} (the canonical form has integers only)")]
    NotAnInteger(String),
    /// Event metadata that is not a JSON object.
    #[error("metadata is not a JSON object")]
    MetadataNotAnObject,
    /// Text that is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
}

/// Where a JSON value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Json<'a> {
    Value(&'a Value),
    /// JSON text, as a database column holds it.
    Text(&'a str),
}

/// Buffers the writer reuses from one value to the next (see [`write_with`]): a verification
/// of a million events should not allocate for every object it reorders.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Member lists, one per object being written (objects nest).
    members: Vec<Vec<Member>>,
    /// The members of an object while they are put in order.
    bytes: Vec<u8>,
}

/// Where one member `"key":value` of an object lies in the output: the key's escaped text
/// is `key_start..key_end` (inside its quotes), the member ends at `end`.
#[derive(Debug, Clone, Copy)]
struct Member {
    key_start: usize,
    key_end: usize,
    end: usize,
}

/// The canonical bytes of `value`.
///
/// # Errors
/// [`CanonicalError::NotAnInteger`] if the value holds a float anywhere.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, Json::Value(value))?;
    Ok(out)
}

/// Appends the canonical bytes of `json` to `out`. On error, `out` holds a prefix.
///
/// # Errors
/// [`CanonicalError::NotAnInteger`] for a float anywhere; [`CanonicalError::NotJson`] for
/// text that does not parse.
pub fn write(out: &mut Vec<u8>, json: Json<'_>) -> Result<(), CanonicalError> {
    write_with(&mut Scratch::default(), out, json)
}

/// [`write`], reusing `scratch`.
///
/// # Errors
/// As [`write`].
pub fn write_with(
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    json: Json<'_>,
) -> Result<(), CanonicalError> {
    let mut w = Writer::new(out, scratch);
    run(&mut w, json, |w, d| Canon { w }.deserialize(d))
}

/// Appends the canonical bytes of the JSON object `json`, leaving out the members named
/// `skip[i]` and returning their values instead (`None` where absent).
///
/// # Errors
/// As [`write`], and [`CanonicalError::MetadataNotAnObject`] if `json` is not an object.
pub fn write_object_without<const N: usize>(
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    json: Json<'_>,
    skip: [&str; N],
) -> Result<[Option<Value>; N], CanonicalError> {
    let mut w = Writer::new(out, scratch);
    let mut taken: [Option<Value>; N] = std::array::from_fn(|_| None);
    run(&mut w, json, |w, d| {
        d.deserialize_any(TopObject {
            w,
            skip: &skip,
            taken: &mut taken,
        })
    })?;
    Ok(taken)
}

/// Feeds `json` to `visit` through the right deserializer and types its error.
fn run<'a>(
    w: &mut Writer<'_>,
    json: Json<'a>,
    visit: impl for<'w, 'd> FnOnce(&mut Writer<'w>, Source<'a, 'd>) -> Result<(), serde_json::Error>,
) -> Result<(), CanonicalError> {
    let outcome = match json {
        Json::Value(value) => visit(w, Source::Value(value)),
        Json::Text(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            visit(w, Source::Text(&mut de)).and_then(|()| de.end())
        }
    };
    outcome.map_err(|e| {
        if let Some(number) = w.float.take() {
            CanonicalError::NotAnInteger(number)
        } else if w.not_object {
            CanonicalError::MetadataNotAnObject
        } else {
            CanonicalError::NotJson(e.to_string())
        }
    })
}

/// The two deserializers, behind one type.
enum Source<'a, 'd> {
    Value(&'a Value),
    Text(&'d mut serde_json::Deserializer<serde_json::de::StrRead<'a>>),
}

impl<'de> Deserializer<'de> for Source<'de, '_> {
    type Error = serde_json::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Self::Value(v) => v.deserialize_any(visitor),
            Self::Text(d) => d.deserialize_any(visitor),
        }
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// The output and what went wrong, shared by every level of one value.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    scratch: &'o mut Scratch,
    /// The float met, if any (serde's error carries only text).
    float: Option<String>,
    not_object: bool,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut Vec<u8>, scratch: &'o mut Scratch) -> Self {
        Self {
            out,
            scratch,
            float: None,
            not_object: false,
        }
    }
}

/// Writes one value canonically.
struct Canon<'w, 'o> {
    w: &'w mut Writer<'o>,
}

impl<'de> DeserializeSeed<'de> for Canon<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canon<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.w.out.extend_from_slice(b"null");
        Ok(())
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.w
            .out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        write_decimal(self.w.out, false, v);
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        write_decimal(self.w.out, v < 0, v.unsigned_abs());
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        let text = serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string());
        self.w.float = Some(text);
        Err(E::custom("non-integer number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        write_str(self.w.out, v);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let w = self.w;
        w.out.push(b'[');
        let mut first = true;
        loop {
            let mark = w.out.len();
            if !first {
                w.out.push(b',');
            }
            if seq.next_element_seed(Canon { w: &mut *w })?.is_none() {
                w.out.truncate(mark);
                break;
            }
            first = false;
        }
        w.out.push(b']');
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        write_members(self.w, map, &[], &mut [])
    }
}

/// The top level of an object whose chain members are taken out.
struct TopObject<'w, 'o, 's, 't, const N: usize> {
    w: &'w mut Writer<'o>,
    skip: &'s [&'s str; N],
    taken: &'t mut [Option<Value>; N],
}

impl<'de, const N: usize> Visitor<'de> for TopObject<'_, '_, '_, '_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        write_members(self.w, map, self.skip, self.taken)
    }
    // Anything but an object.
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.w.not_object = true;
        Err(E::custom("not an object"))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.w.not_object = true;
        Err(A::Error::custom("not an object"))
    }
}

/// An object key, borrowed from the input where it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Writes an object's members in the order they come, then puts them in canonical order if
/// they were not (PostgreSQL's jsonb orders keys by length first). Members named in `skip` are
/// not written; their values land in `taken`.
fn write_members<'de, A: MapAccess<'de>>(
    w: &mut Writer<'_>,
    mut map: A,
    skip: &[&str],
    taken: &mut [Option<Value>],
) -> Result<(), A::Error> {
    w.out.push(b'{');
    let body = w.out.len();
    let mut members = w.scratch.members.pop().unwrap_or_default();
    members.clear();
    let mut in_order = true;
    // Whether a key needed escapes: then its written form no longer sorts like the key.
    let mut escaped = false;
    while let Some(key) = map.next_key_seed(Key)? {
        if let Some(i) = skip.iter().position(|s| *s == key) {
            taken[i] = Some(map.next_value()?);
            continue;
        }
        if !members.is_empty() {
            w.out.push(b',');
        }
        let key_start = w.out.len() + 1;
        escaped |= write_str_escaping(w.out, &key);
        let key_end = w.out.len() - 1;
        w.out.push(b':');
        map.next_value_seed(Canon { w: &mut *w })?;
        if let Some(last) = members.last() {
            in_order &= w.out[last.key_start..last.key_end] < w.out[key_start..key_end];
        }
        members.push(Member {
            key_start,
            key_end,
            end: w.out.len(),
        });
    }
    if escaped || !in_order {
        reorder(w, body, &mut members, escaped);
    }
    w.out.push(b'}');
    w.scratch.members.push(members);
    Ok(())
}

/// Rewrites the members after `body` in sorted key order; of repeated keys, the last wins.
fn reorder(w: &mut Writer<'_>, body: usize, members: &mut [Member], escaped: bool) {
    let bytes = &mut w.scratch.bytes;
    bytes.clear();
    bytes.extend_from_slice(&w.out[body..]);
    w.out.truncate(body);
    // Positions in `bytes`.
    for m in members.iter_mut() {
        m.key_start -= body;
        m.key_end -= body;
        m.end -= body;
    }
    let bytes = &*bytes;
    let keys: Vec<String> = if escaped {
        // Rare: a key with a quote, a backslash or a control character sorts by its
        // characters, not by its escaped form. Read the keys back.
        members
            .iter()
            .map(|m| {
                serde_json::from_slice(&bytes[m.key_start - 1..m.key_end + 1]).unwrap_or_default()
            })
            .collect()
    } else {
        Vec::new()
    };
    let key_of = |i: usize, m: &Member| -> &[u8] {
        if escaped {
            keys[i].as_bytes()
        } else {
            &bytes[m.key_start..m.key_end]
        }
    };
    let mut order: Vec<usize> = (0..members.len()).collect();
    // Stable, so that of repeated keys the last one comes last.
    order.sort_by(|&a, &b| key_of(a, &members[a]).cmp(key_of(b, &members[b])));
    let mut first = true;
    for (n, &i) in order.iter().enumerate() {
        let repeated = order
            .get(n + 1)
            .is_some_and(|&next| key_of(next, &members[next]) == key_of(i, &members[i]));
        if repeated {
            continue;
        }
        if !first {
            w.out.push(b',');
        }
        first = false;
        let m = &members[i];
        w.out.extend_from_slice(&bytes[m.key_start - 1..m.end]);
    }
}

/// How many leading bytes need no escape, counted in whole words of eight and checked with
/// the usual bit tricks: a byte below 0x20, a `"` or a `\\` stops the count at its word.
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut done = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(word);
        let below_space = v.wrapping_sub(ONES * 0x20) & !v & HIGHS;
        let quote = has_zero(v ^ (ONES * u64::from(b'"')));
        let backslash = has_zero(v ^ (ONES * u64::from(b'\\')));
        if below_space | quote | backslash != 0 {
            break;
        }
        done += 8;
    }
    done
}

/// Writes an integer in decimal (no allocation).
pub fn write_decimal(out: &mut Vec<u8>, negative: bool, mut magnitude: u64) {
    const DIGITS: &[u8; 10] = b"0123456789";
    let mut digits = [0u8; 21];
    let mut at = digits.len();
    loop {
        at -= 1;
        // Indexing by the remainder, always below 10: no cast to truncate.
        digits[at] = DIGITS[usize::try_from(magnitude % 10).unwrap_or(0)];
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        digits[at] = b'-';
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes a string in double quotes with the escapes `serde_json` uses.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_escaping(out, s);
}

/// [`write_str`], answering whether anything needed an escape.
fn write_str_escaping(out: &mut Vec<u8>, s: &str) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape at all: skip them eight bytes at a time.
    let clean = clean_prefix(bytes);
    if clean == bytes.len() {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return false;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
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
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
    start > 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Map};

    fn canonical(v: &Value) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    fn from_text(text: &str) -> Result<String, CanonicalError> {
        let mut out = Vec::new();
        write(&mut out, Json::Text(text))?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn serde_json_objects_iterate_in_sorted_key_order_in_this_workspace() {
        // Inserted out of order; without `preserve_order` the map is a BTreeMap. The writer
        // does not rely on it (it sorts what comes unsorted), but serde_json's own output,
        // which the tests compare with, does.
        let mut map = Map::new();
        for key in ["zeta", "alpha", "Beta", "é", "a", "aa", "_"] {
            map.insert(key.to_owned(), Value::Null);
        }
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, ["Beta", "_", "a", "aa", "alpha", "zeta", "é"]);
    }

    #[test]
    fn objects_are_sorted_by_key_bytes_without_whitespace() {
        let text = r#"{ "b": 1, "a": [true, null, {"y": "x", "x": -2}], "A": {} }"#;
        let expected = r#"{"A":{},"a":[true,null,{"x":-2,"y":"x"}],"b":1}"#;
        assert_eq!(from_text(text).unwrap(), expected);
        assert_eq!(canonical(&serde_json::from_str(text).unwrap()), expected);
    }

    #[test]
    fn postgres_jsonb_text_canonicalizes_like_the_value_it_came_from() {
        // jsonb prints keys by length, then bytes, with a space after ':' and ','.
        let jsonb = r#"{"b": {"zz": 1, "aaa": [1, 2]}, "aa": "x\"y", "ab": null}"#;
        let value: Value = serde_json::from_str(jsonb).unwrap();
        assert_eq!(from_text(jsonb).unwrap(), canonical(&value));
        assert_eq!(
            from_text(jsonb).unwrap(),
            r#"{"aa":"x\"y","ab":null,"b":{"aaa":[1,2],"zz":1}}"#
        );
    }

    #[test]
    fn of_repeated_keys_the_last_wins_as_in_serde_json() {
        let text = r#"{"b": 1, "a": 1, "b": 2}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(from_text(text).unwrap(), r#"{"a":1,"b":2}"#);
        assert_eq!(canonical(&value), r#"{"a":1,"b":2}"#);
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
        // Escapes in the input text (including \/ and \u for non-ASCII) are decoded first.
        assert_eq!(
            from_text(r#"{"k\u00e9": "\/\u00e9\ud83e\udd80"}"#).unwrap(),
            "{\"ké\":\"/é🦀\"}"
        );
    }

    #[test]
    fn the_word_scan_stops_at_the_word_of_the_first_byte_to_escape() {
        assert_eq!(clean_prefix(b""), 0);
        assert_eq!(clean_prefix(b"abcdefgh"), 8);
        assert_eq!(
            clean_prefix(b"abcdefghijk"),
            8,
            "a partial word is left to the byte loop"
        );
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..16 {
                let mut text = [b'a'; 16];
                text[at] = special;
                assert_eq!(clean_prefix(&text), at / 8 * 8, "{special} at {at}");
            }
        }
        // Bytes that look close but need no escape: space, 0x7f, UTF-8 continuation bytes.
        assert_eq!(clean_prefix("  \u{7f}éé漢".as_bytes()), 8);
    }

    #[test]
    fn integers_are_written_in_decimal_across_their_whole_range() {
        for n in [0i64, 1, -1, 9, 10, -10, 1234567890, i64::MIN, i64::MAX] {
            assert_eq!(canonical(&json!(n)), n.to_string());
            assert_eq!(from_text(&n.to_string()).unwrap(), n.to_string());
        }
        assert_eq!(canonical(&json!(u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn floats_are_refused_anywhere_in_a_value() {
        for text in [
            "1.5",
            "1.0",
            "1e3",
            "-0",
            "[1, {\"a\": 2.25}]",
            "18446744073709551616",
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert!(
                matches!(to_vec(&v), Err(CanonicalError::NotAnInteger(_))),
                "{text}"
            );
            assert!(
                matches!(from_text(text), Err(CanonicalError::NotAnInteger(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn text_that_is_not_json_is_refused() {
        for text in ["", "{", "{\"a\":1} x", "{'a': 1}", "[1,]"] {
            assert!(
                matches!(from_text(text), Err(CanonicalError::NotJson(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn chain_members_are_taken_out_of_the_top_object_only() {
        let text = r#"{"hash": "h", "b": {"hash": 1}, "prev_hash": 5, "a": 2}"#;
        let mut out = Vec::new();
        let [hash, prev] = write_object_without(
            &mut Scratch::default(),
            &mut out,
            Json::Text(text),
            ["hash", "prev_hash"],
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":2,"b":{"hash":1}}"#);
        assert_eq!((hash, prev), (Some(json!("h")), Some(json!(5))));
        for not_object in ["[1]", "1", "\"x\"", "null"] {
            assert_eq!(
                write_object_without(
                    &mut Scratch::default(),
                    &mut Vec::new(),
                    Json::Text(not_object),
                    ["hash"]
                ),
                Err(CanonicalError::MetadataNotAnObject),
                "{not_object}"
            );
        }
    }

    /// JSON values without floats, keys included in any order.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Prints a value like PostgreSQL's jsonb: keys by length then bytes, spaces after ':' and
    /// ','; strings escaped with \u for every non-ASCII character (another valid spelling).
    fn jsonb_like(v: &Value) -> String {
        match v {
            Value::Array(items) => format!(
                "[{}]",
                items.iter().map(jsonb_like).collect::<Vec<_>>().join(", ")
            ),
            Value::Object(map) => {
                let mut members: Vec<_> = map.iter().collect();
                members.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
                let parts: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{}: {}", ascii_string(k), jsonb_like(v)))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Value::String(s) => ascii_string(s),
            other => other.to_string(),
        }
    }

    fn ascii_string(s: &str) -> String {
        let mut out = String::from("\"");
        for unit in s.encode_utf16() {
            match char::from_u32(u32::from(unit)) {
                Some(c) if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' => {
                    out.push(c)
                }
                _ => out.push_str(&format!("\\u{unit:04X}")),
            }
        }
        out.push('"');
        out
    }

    proptest! {
        #[test]
        fn the_canonical_form_of_a_value_and_of_any_text_of_it_are_the_same_bytes(v in json_value()) {
            let from_value = to_vec(&v).unwrap();
            // serde_json writes sorted, compact, with the same escapes: already canonical.
            prop_assert_eq!(&from_value, &serde_json::to_vec(&v).unwrap());
            let mut from_jsonb = Vec::new();
            write(&mut from_jsonb, Json::Text(&jsonb_like(&v))).unwrap();
            prop_assert_eq!(from_value, from_jsonb);
        }
    }
}
