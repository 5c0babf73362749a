//! What a consumer of the log is to the runtime: its kind, one round's outcome, and the
//! trait the runtime runs.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::feed::FeedCursor;
use crate::store::Conn;

/// How often a consumer looks again when nothing woke it, and how often an instance without
/// a consumer's lease asks for it again.
pub const IDLE: Duration = Duration::from_secs(1);

/// What a consumer is, and so what it does with an event it cannot handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Applies events in order; stops at one it cannot apply and never skips it.
    #[default]
    ReadModel,
    /// Acts on events one by one; parks an item that keeps failing and goes on.
    Reactor,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadModel => "read_model",
            Self::Reactor => "reactor",
        }
    }
}

/// Where a consumer stands in the feed after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub cursor: FeedCursor,
    /// A read model's live generation.
    pub generation: Option<i64>,
    /// A read model's count of events applied.
    pub events_applied: Option<i64>,
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Events (or items) it got past.
    pub passed: usize,
    /// There is more to do at once (the round stopped at its batch's end).
    pub more: bool,
    pub position: Option<Position>,
}

/// Why a round failed. Nothing of it was kept.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Feed(#[from] crate::feed::FeedError),
    #[error("{0}")]
    Failed(String),
}

/// One consumer of the log, as the runtime runs it.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// The consumer's name: its lease, checkpoint, metrics and parked items go by it.
    fn name(&self) -> &'static str;

    fn kind(&self) -> Kind;

    /// Once on each new connection, before the lease is asked for: make what it needs to
    /// exist (a projection's tables and views).
    ///
    /// # Errors
    /// [`RoundError`]; the runtime tries again after [`IDLE`].
    async fn start(&self, _conn: &mut Conn<'_>) -> Result<(), RoundError> {
        Ok(())
    }

    /// One step on the lease's connection. `failures` counts the rounds failed in a row
    /// before this one.
    ///
    /// # Errors
    /// [`RoundError`]: nothing of the round was kept; the runtime backs off and retries.
    async fn round(&self, conn: &mut Conn<'_>, failures: u32) -> Result<Round, RoundError>;

    /// Records that the consumer is stalled (`Some(error)`), or no longer (`None`), where
    /// operators read it (`prconfirm consumers status`).
    ///
    /// # Errors
    /// Storage errors.
    async fn mark_stalled(
        &self,
        conn: &mut Conn<'_>,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error>;

    /// The lease was lost or the connection closed: forget what was kept in memory.
    fn reset(&self) {}

    /// The longest it may go without a round when nothing wakes it.
    fn interval(&self) -> Duration {
        IDLE
    }
}
