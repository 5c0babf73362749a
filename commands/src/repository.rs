//! The event repository: postgres-es or sqlite-es behind one type, so that one
//! `CqrsFramework<Case>` serves both backends.

use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use prconfirm_migrations::{sqlite_write_gate, Database};
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use tokio::sync::Mutex;

/// SQLite's extended result code for a UNIQUE constraint failure.
const SQLITE_CONSTRAINT_UNIQUE: &str = "2067";
/// SQLite's extended result code for `RAISE(ABORT)` in a trigger: the idempotency-key trigger
/// refusing a second command with the same key, which is the same lost race.
const SQLITE_CONSTRAINT_TRIGGER: &str = "1811";

/// The backend's repository. [`crate::audit::ChainedRepository`] wraps it with the hash chain.
pub enum EventRepository {
    Postgres(PostgresEventRepository),
    /// SQLite takes one writer at a time; the gate (the file's, shared with the read models'
    /// batches: [`prconfirm_migrations::gate`]) queues this process's writers in order
    /// instead of letting them sleep in SQLite's busy handler, whose back-off (1 ms to
    /// 100 ms a try) would set the throughput and the tail latency.
    Sqlite(SqliteEventRepository, Arc<Mutex<()>>),
}

impl std::fmt::Debug for EventRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgres(_) => "EventRepository::Postgres",
            Self::Sqlite(..) => "EventRepository::Sqlite",
        })
    }
}

impl EventRepository {
    pub fn new(db: &Database) -> Self {
        match db {
            Database::Postgres(pool) => Self::Postgres(PostgresEventRepository::new(pool.clone())),
            Database::Sqlite(pool) => Self::Sqlite(
                SqliteEventRepository::new(pool.clone()),
                sqlite_write_gate(pool),
            ),
        }
    }
}

/// The append waited [`prconfirm_migrations::gate::LONGEST_WAIT`] for SQLite's one writer.
#[derive(Debug, thiserror::Error)]
#[error("the database file's writer was busy for too long")]
struct TurnTimedOut;

/// sqlite-es recognises only a PRIMARY KEY clash as a lost race; our table keeps the rowid
/// as its primary key (the feed's position) and the per-case sequence as a UNIQUE key, whose
/// clash is the same race and must read as one.
fn sqlite_race_as_conflict(err: PersistenceError) -> PersistenceError {
    if let PersistenceError::UnknownError(source) = &err {
        if let Some(sqlx::Error::Database(db)) = source.downcast_ref::<sqlx::Error>() {
            let code = db.code();
            if matches!(
                code.as_deref(),
                Some(SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_TRIGGER)
            ) {
                return PersistenceError::OptimisticLockError;
            }
        }
    }
    err
}

/// Runs the same call on whichever repository this is.
macro_rules! on_backend {
    ($self:ident, $repo:ident => $call:expr) => {
        match $self {
            EventRepository::Postgres($repo) => $call.await,
            EventRepository::Sqlite($repo, _) => $call.await.map_err(sqlite_race_as_conflict),
        }
    };
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        on_backend!(self, r => r.get_events::<A>(aggregate_id))
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        on_backend!(self, r => r.get_last_events::<A>(aggregate_id, last_sequence))
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        on_backend!(self, r => r.get_snapshot::<A>(aggregate_id))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if let Self::Sqlite(_, gate) = self {
            // No longer than SQLite itself would wait for the lock: a turn held by a read
            // model that waits on another process's writer must not hold the command longer
            // than that writer would; the command answers unavailable instead.
            let _turn = tokio::time::timeout(prconfirm_migrations::gate::LONGEST_WAIT, gate.lock())
                .await
                .map_err(|_| PersistenceError::ConnectionError(Box::new(TurnTimedOut)))?;
            return on_backend!(self, r => r.persist::<A>(events, snapshot_update));
        }
        on_backend!(self, r => r.persist::<A>(events, snapshot_update))
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        on_backend!(self, r => r.stream_events::<A>(aggregate_id))
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        on_backend!(self, r => r.stream_all_events::<A>())
    }
}
