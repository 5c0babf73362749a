//! Tamper evidence for the event log (`docs/audit.md`).
//!
//! - [`canonical`] and [`chain`]: pure functions, the exact bytes each event's hash covers
//!   and how hashes link per case and fold into a running root over the feed;
//! - [`ChainedRepository`]: the event-store decorator that stamps each event with its hash in
//!   the transaction that appends it;
//! - [`checkpoint`]: signed checkpoints `{count, cursor, root}` over the global feed, with the
//!   Ed25519 key of [`keys`] kept outside the database;
//! - [`verify()`]: recomputes every chain and checkpoint from the raw rows and names the first
//!   bad event; [`export`]: raw events with their hashes, for outside verifiers.
//!
//! Everything here reads the rows as stored, never upcast: the hash covers what was written.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod keys;
mod repository;
mod rows;
pub mod verify;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use chain::ChainHash;
pub use checkpoint::{take_checkpoint, Checkpoint};
pub use keys::{AuditKey, KeyError};
pub use repository::{ChainError, ChainedRepository};
pub use verify::{verify, Finding, Progress, Reason, Report};

/// A place in the global feed: after the event written by transaction `tx` at `position`
/// (`tx` is 0 on SQLite). The feed's order is `(tx, position)` and its prefix up to a cursor
/// never changes once the cursor was handed out (see `projections::feed`). Printed as
/// `tx.position`, like the feed's own cursor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub tx: u64,
    pub position: i64,
}

impl Cursor {
    /// Before the first event.
    pub const START: Self = Self { tx: 0, position: 0 };
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tx, self.position)
    }
}

/// A cursor that is not of the form `tx.position`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cursor looks like 0.0 (transaction.position)")]
pub struct BadCursor;

impl FromStr for Cursor {
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

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A failure of an audit operation (as opposed to a finding about the log, which
/// [`verify()`] reports in its [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot write: {0}")]
    Write(#[from] std::io::Error),
    /// A stored value cannot be read (a JSON column that does not parse, an xid that does not
    /// fit).
    #[error("event at {cursor} cannot be read: {detail}")]
    Unreadable { cursor: Cursor, detail: String },
    /// The feed holds an event without a usable hash: a checkpoint would sign over nothing.
    #[error("event at {cursor} carries no usable hash: {source}")]
    Unhashed {
        cursor: Cursor,
        source: chain::LinkError,
    },
    /// The newest stored checkpoint does not verify under this key: a new one would extend a
    /// root that this key never signed.
    #[error("the last checkpoint (count {count}) does not verify under this key")]
    ForeignCheckpoint { count: u64 },
    /// A line of a checkpoint export does not parse.
    #[error("checkpoint file line {line}: {source}")]
    BadCheckpointLine {
        line: usize,
        source: serde_json::Error,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cursors_print_and_parse_as_tx_dot_position() {
        let c = Cursor {
            tx: 7_000_000_001,
            position: 42,
        };
        assert_eq!(c.to_string(), "7000000001.42");
        assert_eq!("7000000001.42".parse::<Cursor>(), Ok(c));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"7000000001.42\"");
        for bad in [
            "", "1", "a.b", "1.-2", "-1.2", "1.2.3", "+1.2", "1.+2", "1.02",
        ] {
            assert_eq!(bad.parse::<Cursor>(), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn cursors_order_by_transaction_then_position() {
        let c = |tx, position| Cursor { tx, position };
        assert!(c(1, 9) < c(2, 1));
        assert!(c(2, 1) < c(2, 3));
    }
}
