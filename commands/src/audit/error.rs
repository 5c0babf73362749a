//! What can go wrong in an audit operation.

use super::chain;
use super::keys::KeyError;
use prconfirm_migrations::FeedCursor as Cursor;

/// A failure of an audit operation (as opposed to a finding about the log, which
/// [`verify()`] reports in its [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The person key of a case could not be had (storage, or a KEK not held).
    #[error(transparent)]
    Keys(#[from] prconfirm_privacy::PrivacyError),
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
