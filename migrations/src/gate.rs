//! SQLite's one writer as an in-process queue.
//!
//! SQLite lets one connection write at a time. A writer that finds the file locked waits in
//! SQLite's busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries whatever the
//! holder does: under load an append that meets a projection's batch (held for a fraction
//! of a millisecond) sleeps a millisecond or more, and the log's one writer spends most of
//! its time asleep (BENCHMARKS.md, "Profile of the write path"). Writers of this process take
//! their turn here first instead, in arrival order, so a turn passes on the moment the last
//! one ends. Other processes (the CLI) still meet the busy handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sqlx::SqlitePool;
use tokio::sync::OwnedMutexGuard;

use crate::Database;

/// The longest a command waits for its turn: SQLite's own busy time-out, which is what it
/// would have waited for the file's lock without the gate.
pub const LONGEST_WAIT: std::time::Duration = crate::SQLITE_BUSY_TIMEOUT;

/// The turn of one writer; the next in line goes when it is dropped.
pub type WriteTurn = OwnedMutexGuard<()>;

/// The gate of `pool`'s database file, shared by every pool on that file in this process.
pub fn sqlite_write_gate(pool: &SqlitePool) -> Arc<tokio::sync::Mutex<()>> {
    static GATES: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let key = pool
        .connect_options()
        .get_filename()
        .to_string_lossy()
        .into_owned();
    let mut gates = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    gates.entry(key).or_default().clone()
}

impl Database {
    /// Waits for this process's turn to write (SQLite); `None` at once on PostgreSQL, where
    /// writers do not exclude each other. Hold it from the transaction's first statement to
    /// its end, and never while waiting for anything else that may want a turn.
    pub async fn write_turn(&self) -> Option<WriteTurn> {
        match self {
            Self::Postgres(_) => None,
            Self::Sqlite(pool) => Some(sqlite_write_gate(pool).lock_owned().await),
        }
    }
}
