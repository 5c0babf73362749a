//! The global, gap-safe feed of events: every event of every case, in an order a reader can
//! resume from a cursor without ever skipping one committed late.
//!
//! PostgreSQL hands out `position` at INSERT time but transactions commit in any order, so a
//! reader that simply took `position > last` could pass over a row whose transaction was still
//! open and commit it later, behind its cursor. Instead the feed takes only rows whose writing
//! transaction `tx` is below the xmin of the reader's snapshot (every transaction below xmin
//! has ended, so no such row can still appear) and orders by `(tx, position)`. SQLite has one
//! writer at a time, so position order is commit order.

use chrono::{DateTime, Utc};
use prconfirm_domain::case::upcast;
use prconfirm_migrations::Database;
use prconfirm_privacy::payload::{self, Disposed, OpenError, PayloadError, StoredEvent};
use prconfirm_privacy::{PersonKeys, PrivacyError};

use crate::store::Conn;
use serde_json::Value;
use sqlx::Row;

pub use prconfirm_migrations::{BadCursor, FeedCursor};

/// One event as the feed delivers it, its payload upcast to the current shape.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    pub cursor: FeedCursor,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

/// A failure to read the feed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("event at {cursor} has unreadable {what}: {source}")]
    Corrupt {
        cursor: FeedCursor,
        what: &'static str,
        source: serde_json::Error,
    },
    /// The person key of an event's case could not be had (storage, or a KEK not held).
    #[error("event at {cursor}: {source}")]
    Keys {
        cursor: FeedCursor,
        source: PrivacyError,
    },
    /// An event's personal fields do not open.
    #[error("event at {cursor}: {source}")]
    Sealed {
        cursor: FeedCursor,
        source: PayloadError,
    },
}

// Ordered by `events.tx`, not `tx`: the bare name would mean the output column
// `tx::text::bigint`, which no index holds, and every page would sort all rows after the
// cursor instead of walking `events_feed`. One text for both selections, so that the
// gap-safe condition is written once.
macro_rules! pg_feed {
    ($payload:literal, $metadata:literal) => {
        concat!(
            "SELECT position, tx::text::bigint AS tx, aggregate_type, aggregate_id, sequence, \
                    event_type, event_version, ",
            $payload,
            " AS payload, ",
            $metadata,
            " AS metadata, recorded_at
               FROM events
              WHERE (tx, position) > ($1::text::xid8, $2)
                AND tx < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY events.tx, events.position
              LIMIT $3"
        )
    };
}

macro_rules! sqlite_feed {
    ($metadata:literal) => {
        concat!(
            "SELECT position, 0 AS tx, aggregate_type, aggregate_id, sequence, \
                    event_type, event_version, payload, ",
            $metadata,
            " AS metadata, recorded_at
               FROM events
              WHERE position > ?1
              ORDER BY position
              LIMIT ?2"
        )
    };
}

const PG_FEED: &str = pg_feed!("payload", "metadata");
/// [`PG_FEED`] for the read models: no metadata, which they never use (it is as large as the
/// payload, and reading it is wasted work for them), and the payload as text, which they
/// decode straight into the event.
const PG_FEED_RAW: &str = pg_feed!("payload::text", "NULL::text");
const SQLITE_FEED: &str = sqlite_feed!("metadata");
const SQLITE_FEED_RAW: &str = sqlite_feed!("NULL");

/// Up to `limit` events after `after`, in feed order. An empty answer means the reader is
/// up to date (for now).
///
/// # Errors
/// [`FeedError::Database`] if the query fails, [`FeedError::Corrupt`] if a stored row does
/// not parse.
pub async fn read_feed(
    db: &Database,
    after: FeedCursor,
    limit: u32,
) -> Result<Vec<FeedEvent>, FeedError> {
    match db {
        Database::Postgres(pool) => {
            let mut c = pool.acquire().await?;
            read_feed_on(&mut Conn::Pg(&mut c), after, limit).await
        }
        Database::Sqlite(pool) => {
            let mut c = pool.acquire().await?;
            read_feed_on(&mut Conn::Sqlite(&mut c), after, limit).await
        }
    }
}

/// [`read_feed`] on a given connection, so that a reader can read and record what it read
/// in one transaction.
///
/// # Errors
/// As [`read_feed`].
pub async fn read_feed_on(
    conn: &mut Conn<'_>,
    after: FeedCursor,
    limit: u32,
) -> Result<Vec<FeedEvent>, FeedError> {
    read_on(conn, after, limit).await
}

/// One event as the read models take it from the feed: no metadata, the payload as stored
/// (text, not yet upcast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub cursor: FeedCursor,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub recorded_at: DateTime<Utc>,
}

impl RawEvent {
    /// The payload in its event type's current shape: the stored text when no upcaster
    /// applies (the usual case, decoded with no `Value` step), else the upcast value.
    ///
    /// # Errors
    /// The payload is not JSON.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        if upcast::is_current(&self.event_type, &self.event_version) {
            serde_json::from_str(&self.payload)
        } else {
            let value: Value = serde_json::from_str(&self.payload)?;
            let (_, current) = upcast::to_current(&self.event_type, &self.event_version, value);
            serde_json::from_value(current)
        }
    }
}

/// Opens the personal fields of `events` in place (the domain's list, by stored version) with
/// the keys of their cases; a disposed person's fields read as placeholders that name nobody
/// ([`Disposed::Placeholder`]), so that the read models and reactors still decode the event.
///
/// # Errors
/// [`FeedError::Keys`] if a case's key cannot be had, [`FeedError::Sealed`] or
/// [`FeedError::Corrupt`] if its fields do not open.
pub async fn open_raw(keys: &PersonKeys, events: &mut [RawEvent]) -> Result<(), FeedError> {
    for event in events.iter_mut() {
        let stored = StoredEvent {
            case_id: &event.aggregate_id,
            sequence: event.sequence.unsigned_abs(),
            event_type: &event.event_type,
            event_version: &event.event_version,
        };
        if !stored.is_personal() {
            continue;
        }
        let cursor = event.cursor;
        let mut value: Value =
            serde_json::from_str(&event.payload).map_err(|source| FeedError::Corrupt {
                cursor,
                what: "payload",
                source,
            })?;
        payload::open_with(keys, &stored, &mut value, Disposed::Placeholder)
            .await
            .map_err(|e| match e {
                OpenError::Keys(source) => FeedError::Keys { cursor, source },
                OpenError::Sealed(source) => FeedError::Sealed { cursor, source },
            })?;
        event.payload = value.to_string();
    }
    Ok(())
}

/// A [`RawEvent`] from a row of the feed's raw selection.
fn raw_row<R: Row>(
    row: &R,
    (cursor, recorded_at): (FeedCursor, DateTime<Utc>),
) -> Result<RawEvent, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RawEvent {
        cursor,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        recorded_at,
    })
}

/// [`read_feed_on`] for the read models and reactors: [`RawEvent`]s, without the metadata,
/// at a fraction of the cost, their personal fields opened with `keys` ([`open_raw`]).
///
/// # Errors
/// As [`read_feed_on`] and [`open_raw`].
pub async fn read_raw_on(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    after: FeedCursor,
    limit: u32,
) -> Result<Vec<RawEvent>, FeedError> {
    let mut events = match fetch(conn, (PG_FEED_RAW, SQLITE_FEED_RAW), after, limit).await? {
        Page::Pg(rows) => rows
            .iter()
            .map(|row| raw_row(row, pg_place(row)?))
            .collect::<Result<Vec<_>, _>>()?,
        Page::Sqlite(rows) => rows
            .iter()
            .map(|row| raw_row(row, sqlite_place(row)?))
            .collect::<Result<Vec<_>, _>>()?,
    };
    open_raw(keys, &mut events).await?;
    Ok(events)
}

/// One event of a case as the read models take it ([`RawEvent`], opened), by its sequence:
/// for a reactor trying a parked event again.
///
/// # Errors
/// Storage errors, and as [`open_raw`].
pub async fn read_event_on(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    case_id: &str,
    sequence: i64,
) -> Result<Option<RawEvent>, FeedError> {
    const PG: &str = "SELECT position, tx::text::bigint AS tx, aggregate_type, aggregate_id, \
                      sequence, event_type, event_version, payload::text AS payload, recorded_at \
                      FROM events WHERE aggregate_type = 'case' AND aggregate_id = $1 \
                      AND sequence = $2";
    const SQLITE: &str = "SELECT position, 0 AS tx, aggregate_type, aggregate_id, sequence, \
                          event_type, event_version, payload, recorded_at FROM events \
                          WHERE aggregate_type = 'case' AND aggregate_id = $1 AND sequence = $2";
    let event = match conn {
        Conn::Pg(c) => {
            let row = sqlx::query(PG)
                .bind(case_id)
                .bind(sequence)
                .fetch_optional(&mut **c)
                .await?;
            row.map(|row| raw_row(&row, pg_place(&row)?)).transpose()?
        }
        Conn::Sqlite(c) => {
            let row = sqlx::query(SQLITE)
                .bind(case_id)
                .bind(sequence)
                .fetch_optional(&mut **c)
                .await?;
            row.map(|row| raw_row(&row, sqlite_place(&row)?))
                .transpose()?
        }
    };
    let Some(mut event) = event else {
        return Ok(None);
    };
    open_raw(keys, std::slice::from_mut(&mut event)).await?;
    Ok(Some(event))
}

/// The rows of one page of the feed, as the backend returned them.
enum Page {
    Pg(Vec<sqlx::postgres::PgRow>),
    Sqlite(Vec<sqlx::sqlite::SqliteRow>),
}

/// Runs the feed query for the connection's backend (`sql`: PostgreSQL's, SQLite's) after
/// `after`, at most `limit` rows.
async fn fetch(
    conn: &mut Conn<'_>,
    (pg, sqlite): (&str, &str),
    after: FeedCursor,
    limit: u32,
) -> Result<Page, sqlx::Error> {
    Ok(match conn {
        Conn::Pg(c) => Page::Pg(
            sqlx::query(pg)
                .bind(after.tx.to_string())
                .bind(after.position)
                .bind(i64::from(limit))
                .fetch_all(&mut **c)
                .await?,
        ),
        Conn::Sqlite(c) => Page::Sqlite(
            sqlx::query(sqlite)
                .bind(after.position)
                .bind(i64::from(limit))
                .fetch_all(&mut **c)
                .await?,
        ),
    })
}

/// A PostgreSQL feed row's cursor and time.
fn pg_place(row: &sqlx::postgres::PgRow) -> Result<(FeedCursor, DateTime<Utc>), sqlx::Error> {
    let tx: i64 = row.try_get("tx")?;
    let cursor = FeedCursor {
        tx: tx.unsigned_abs(),
        position: row.try_get("position")?,
    };
    Ok((cursor, row.try_get("recorded_at")?))
}

/// A SQLite feed row's cursor and time (stored as RFC 3339 text).
fn sqlite_place(row: &sqlx::sqlite::SqliteRow) -> Result<(FeedCursor, DateTime<Utc>), sqlx::Error> {
    let cursor = FeedCursor {
        tx: 0,
        position: row.try_get("position")?,
    };
    let text: String = row.try_get("recorded_at")?;
    let recorded_at = DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok((cursor, recorded_at))
}

async fn read_on(
    conn: &mut Conn<'_>,
    after: FeedCursor,
    limit: u32,
) -> Result<Vec<FeedEvent>, FeedError> {
    match fetch(conn, (PG_FEED, SQLITE_FEED), after, limit).await? {
        Page::Pg(rows) => rows
            .iter()
            .map(|row| {
                let (cursor, recorded_at) = pg_place(row)?;
                let payload: Value = row.try_get("payload")?;
                let metadata: Value = row.try_get("metadata")?;
                build(cursor, row, payload, metadata, recorded_at)
            })
            .collect(),
        Page::Sqlite(rows) => rows
            .iter()
            .map(|row| {
                let (cursor, recorded_at) = sqlite_place(row)?;
                let json = |col: &'static str| -> Result<Value, FeedError> {
                    let text: String = row.try_get(col)?;
                    serde_json::from_str(&text).map_err(|source| FeedError::Corrupt {
                        cursor,
                        what: col,
                        source,
                    })
                };
                build(
                    cursor,
                    row,
                    json("payload")?,
                    json("metadata")?,
                    recorded_at,
                )
            })
            .collect(),
    }
}

fn build<R: Row>(
    cursor: FeedCursor,
    row: &R,
    payload: Value,
    metadata: Value,
    recorded_at: DateTime<Utc>,
) -> Result<FeedEvent, FeedError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let event_type: String = row.try_get("event_type")?;
    let stored_version: String = row.try_get("event_version")?;
    let (event_version, payload) = upcast::to_current(&event_type, &stored_version, payload);
    Ok(FeedEvent {
        cursor,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type,
        event_version,
        payload,
        metadata,
        recorded_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_print_and_parse_as_tx_dot_position() {
        let c = FeedCursor {
            tx: 7_000_000_001,
            position: 42,
        };
        assert_eq!(c.to_string(), "7000000001.42");
        assert_eq!("7000000001.42".parse::<FeedCursor>(), Ok(c));
        for bad in ["", "1", "a.b", "1.-2", "-1.2", "1.2.3"] {
            assert_eq!(bad.parse::<FeedCursor>(), Err(BadCursor), "{bad}");
        }
    }
}
