//! Tamper evidence for the event log (`docs/audit.md`).
//!
//! - [`canonical`] and [`chain`]: pure functions, the exact bytes each event's hash covers
//!   and how hashes link per case and fold into a running root over the feed;
//! - [`ChainedRepository`]: the event-store decorator that stamps each event with its hash in
//!   the transaction that appends it;
//! - [`checkpoint`]: signed checkpoints `{count, cursor, root}` over the global feed, with the
//!   Ed25519 key of [`keys`] kept outside the database;
//! - [`verify()`]: recomputes every chain and checkpoint from the raw rows and names the first
//!   bad event; [`export`]: raw events with their hashes, for outside verifiers;
//! - [`read`]: events as stored, with their hashes, for auditors' reads through the API, and
//!   [`reads`]: the append-only record of those reads; [`replay`]: a case as it stood at a
//!   past version or time.
//!
//! Everything here reads the rows as stored, never upcast: the hash covers what was written.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
mod error;
pub mod export;
mod hashes;
pub mod keys;
pub mod read;
pub mod reads;
pub mod replay;
mod repository;
mod rows;
pub mod verify;

pub use chain::ChainHash;
pub use checkpoint::{take_checkpoint, Checkpoint};
pub use error::AuditError;
pub use keys::{AuditKey, KeyError};
pub use repository::{ChainError, ChainedRepository};
pub use verify::{verify, Finding, Progress, Reason, Report};

pub use prconfirm_migrations::{BadCursor, FeedCursor as Cursor};

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
