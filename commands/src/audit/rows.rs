//! Raw event rows, as stored (never upcast), read in feed order `(tx, position)` inside one
//! read-only snapshot, and the hashes-only read that checkpoints fold.
//!
//! Feed order keeps each case's events in sequence order: an event's append starts after its
//! predecessor committed, so it gets a later transaction id and a later position. One pass in
//! this order therefore checks every chain and the running root together, reading the table
//! in (nearly) physical order.

use futures::TryStreamExt;
use prconfirm_migrations::Database;
use sqlx::Row;

use super::checkpoint::{self, Checkpoint};
use super::error::AuditError;
use super::hashes::tx_of;
use prconfirm_migrations::FeedCursor as Cursor;

/// One stored event, as written, borrowed from its row: payload and metadata are the JSON
/// text the database returns (PostgreSQL renders jsonb with its own key order and spacing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEvent<'r> {
    pub cursor: Cursor,
    /// Below the snapshot's xmin on PostgreSQL (always on SQLite): part of the stable feed
    /// prefix that checkpoints cover. Unsettled rows come after every settled one.
    pub settled: bool,
    pub aggregate_type: &'r str,
    pub aggregate_id: &'r str,
    pub sequence: i64,
    pub event_type: &'r str,
    pub event_version: &'r str,
    pub payload: &'r str,
    pub metadata: &'r str,
}

/// What a scan hands its visitor: first the stored checkpoints, then every event.
#[derive(Debug)]
pub(crate) enum Item<'r> {
    Checkpoints(Vec<Checkpoint>),
    Event(RawEvent<'r>),
}

const PG_XMIN: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

// Ordered by `events.tx`, not `tx`: the bare name would mean the output column
// `tx::text::bigint`, which no index holds, and PostgreSQL would sort the whole table.
const PG_EVENTS: &str = "
SELECT tx::text::bigint AS tx, position, aggregate_type, aggregate_id, sequence,
       event_type, event_version, payload::text AS payload, metadata::text AS metadata
  FROM events
 ORDER BY events.tx, events.position";

const PG_CASE_EVENTS: &str = "
SELECT tx::text::bigint AS tx, position, aggregate_type, aggregate_id, sequence,
       event_type, event_version, payload::text AS payload, metadata::text AS metadata
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2
 ORDER BY events.tx, events.position";

const SQLITE_EVENTS: &str = "
SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
       payload, metadata
  FROM events
 ORDER BY position";

const SQLITE_CASE_EVENTS: &str = "
SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
       payload, metadata
  FROM events
 WHERE aggregate_type = ?1 AND aggregate_id = ?2
 ORDER BY position";

/// Which events a scan reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    All,
    /// One aggregate's events: `(aggregate_type, aggregate_id)`.
    Aggregate(&'a str, &'a str),
}

impl Scope<'_> {
    fn query<'q, DB: sqlx::Database>(
        self,
        all: &'q str,
        one: &'q str,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        match self {
            Self::All => sqlx::query(all),
            Self::Aggregate(kind, id) => sqlx::query(one).bind(kind.to_owned()).bind(id.to_owned()),
        }
    }
}

/// Reads the stored checkpoints, then every event in `scope` in feed order,
/// all from one consistent snapshot, handing each to `visit` as it arrives.
///
/// # Errors
/// [`AuditError::Database`] if a query fails; whatever `visit` returns.
pub(crate) async fn scan<F>(db: &Database, scope: Scope<'_>, mut visit: F) -> Result<(), AuditError>
where
    F: for<'r> FnMut(Item<'r>) -> Result<(), AuditError> + Send,
{
    match db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            // A read-only snapshot takes no transaction id, so it holds back neither the feed
            // (whose horizon is the oldest running xid) nor any writer.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            let xmin: i64 = sqlx::query_scalar(PG_XMIN).fetch_one(&mut *tx).await?;
            let xmin = tx_of(xmin, 0)?;
            visit(Item::Checkpoints(checkpoint::stored_pg(&mut tx).await?))?;
            let mut rows = scope.query(PG_EVENTS, PG_CASE_EVENTS).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                // Columns by index, in the order of the SELECT: a name costs a lookup a row.
                let position: i64 = row.try_get(1)?;
                let tx_id = tx_of(row.try_get(0)?, position)?;
                visit(Item::Event(RawEvent {
                    cursor: Cursor {
                        tx: tx_id,
                        position,
                    },
                    settled: tx_id < xmin,
                    aggregate_type: row.try_get(2)?,
                    aggregate_id: row.try_get(3)?,
                    sequence: row.try_get(4)?,
                    event_type: row.try_get(5)?,
                    event_version: row.try_get(6)?,
                    payload: row.try_get(7)?,
                    metadata: row.try_get(8)?,
                }))?;
            }
            drop(rows);
            tx.commit().await?;
        }
        Database::Sqlite(pool) => {
            // A read transaction in WAL mode sees one snapshot across both queries.
            let mut tx = pool.begin().await?;
            visit(Item::Checkpoints(checkpoint::stored_sqlite(&mut tx).await?))?;
            let mut rows = scope
                .query(SQLITE_EVENTS, SQLITE_CASE_EVENTS)
                .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                visit(Item::Event(RawEvent {
                    cursor: Cursor {
                        tx: 0,
                        position: row.try_get(0)?,
                    },
                    settled: true,
                    aggregate_type: row.try_get(1)?,
                    aggregate_id: row.try_get(2)?,
                    sequence: row.try_get(3)?,
                    event_type: row.try_get(4)?,
                    event_version: row.try_get(5)?,
                    payload: row.try_get(6)?,
                    metadata: row.try_get(7)?,
                }))?;
            }
            drop(rows);
            tx.commit().await?;
        }
    }
    Ok(())
}
