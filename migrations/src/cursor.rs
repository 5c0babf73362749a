//! The global feed's cursor, shared by its readers (projections, reactors) and the audit chain.

use std::fmt;
use std::str::FromStr;

/// A place in the global feed: after the event written by transaction `tx` at `position`
/// (`tx` is 0 on SQLite). The feed's order is `(tx, position)` and its prefix up to a cursor
/// never changes once the cursor was handed out (see `projections::feed`, which reads it, and the audit chain, which signs it). Printed as
/// `tx.position`, like the feed's own cursor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedCursor {
    pub tx: u64,
    pub position: i64,
}

impl FeedCursor {
    /// Before the first event.
    pub const START: Self = Self { tx: 0, position: 0 };
}

impl fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tx, self.position)
    }
}

/// A cursor that is not of the form `tx.position`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cursor looks like 0.0 (transaction.position)")]
pub struct BadCursor;

impl FromStr for FeedCursor {
    type Err = BadCursor;
    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let (tx, position) = s.split_once('.').ok_or(BadCursor)?;
        let cursor = Self {
            tx: tx.parse().map_err(|_| BadCursor)?,
            position: position.parse().map_err(|_| BadCursor)?,
        };
        // One spelling per cursor: no sign, no leading zeros, no negative position.
        if cursor.position < 0 || cursor.to_string() != s {
            return Err(BadCursor);
        }
        Ok(cursor)
    }
}

/// Serialized as its text, `tx.position`.
impl serde::Serialize for FeedCursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FeedCursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
