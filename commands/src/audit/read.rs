//! What auditors read: events exactly as stored, with their chain hashes lifted out of the
//! metadata, for one case (in sequence order) or from the global feed (in feed order, from a
//! cursor, optionally only one actor's events between two times).
//!
//! Payloads are never upcast here, and the event version is the stored one: what an auditor
//! sees is what the hash covers, so any answer can be re-verified from `docs/audit.md` alone
//! (the metadata shown is the metadata the hash covers; `hash` and `prev_hash` sit beside it).
//!
//! The feed follows the rule of `projections::feed` (and of the checkpoints): on PostgreSQL
//! only rows whose transaction is below the snapshot's xmin, in `(tx, position)` order, so a
//! reader paging with the cursor never skips an event committed late; on SQLite, position
//! order. Times are the `occurred_at` of the metadata (the command's time, covered by the
//! hash), compared as text: it is always RFC 3339 UTC with microseconds, one width, so text
//! order is time order.

use chrono::{DateTime, SecondsFormat, Utc};
use cqrs_es::Aggregate;
use prconfirm_domain::case::Case;
use prconfirm_migrations::Database;
use serde::Serialize;
use serde_json::Value;
use sqlx::{QueryBuilder, Row};

use super::chain::{HASH_KEY, PREV_HASH_KEY};
use super::error::AuditError;
use crate::metadata::keys;
use prconfirm_migrations::FeedCursor as Cursor;

/// One event as an auditor sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Where it stands in the feed, `tx.position`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^[0-9]+\.[0-9]+$"))]
    pub cursor: Cursor,
    pub position: i64,
    pub aggregate_type: String,
    /// The case (aggregate id).
    pub case_id: String,
    pub sequence: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// As stored (an old version stays old here: the hash covers it).
    pub event_version: String,
    /// As stored, never upcast: what the hash covers, personal fields sealed (`pd1:...`).
    pub payload: Value,
    /// The payload with its personal fields opened, `"[disposed]"` for a person whose data
    /// was disposed of; absent for an event without personal fields, and not covered by the
    /// hash (`payload` is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_opened: Option<Value>,
    /// As stored, without the chain's two members.
    pub metadata: Value,
    /// The event's hash, 64 hex digits; `None` if the stored metadata has none.
    pub hash: Option<String>,
    /// The hash of the case's previous event (64 zeros for its first).
    pub prev_hash: Option<String>,
    /// When the database stored it (not covered by the hash; `metadata.occurred_at` is).
    pub recorded_at: DateTime<Utc>,
}

/// Which events of the feed to read. Times bound `occurred_at`: `from` included, `to` not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this actor's events (`metadata.actor_id`).
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A time as the metadata stores it, for comparison as text.
pub fn occurred_at_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

const PG_COLUMNS: &str = "
SELECT tx::text::bigint AS tx, position, aggregate_type, aggregate_id, sequence,
       event_type, event_version, payload, metadata, recorded_at
  FROM events";

const SQLITE_COLUMNS: &str = "
SELECT 0 AS tx, position, aggregate_type, aggregate_id, sequence,
       event_type, event_version, payload, metadata, recorded_at
  FROM events";

/// Every event of one case, in sequence order; empty if it has none.
///
/// # Errors
/// [`AuditError::Database`]; [`AuditError::Unreadable`] for a row whose JSON or time does not
/// parse.
pub async fn case_events(db: &Database, case_id: &str) -> Result<Vec<AuditEvent>, AuditError> {
    let aggregate_type = <Case as Aggregate>::TYPE;
    match db {
        Database::Postgres(pool) => {
            let sql = format!(
                "{PG_COLUMNS} WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence"
            );
            let rows = sqlx::query(&sql)
                .bind(aggregate_type)
                .bind(case_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(pg_event).collect()
        }
        Database::Sqlite(pool) => {
            let sql = format!(
                "{SQLITE_COLUMNS} WHERE aggregate_type = ?1 AND aggregate_id = ?2 ORDER BY sequence"
            );
            let rows = sqlx::query(&sql)
                .bind(aggregate_type)
                .bind(case_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(sqlite_event).collect()
        }
    }
}

/// Up to `limit` events after `after` in feed order that pass `filter`. Gap-safe: a reader
/// that resumes from the last cursor it saw never misses an event.
///
/// # Errors
/// As [`case_events`].
pub async fn events(
    db: &Database,
    filter: &EventFilter,
    after: Cursor,
    limit: u32,
) -> Result<Vec<AuditEvent>, AuditError> {
    let from = filter.from.map(occurred_at_text);
    let to = filter.to.map(occurred_at_text);
    match db {
        Database::Postgres(pool) => {
            let mut q = QueryBuilder::<sqlx::Postgres>::new(PG_COLUMNS);
            q.push(" WHERE (tx, position) > (")
                .push_bind(after.tx.to_string())
                .push("::text::xid8, ")
                .push_bind(after.position)
                .push(") AND tx < pg_snapshot_xmin(pg_current_snapshot())");
            if let Some(actor) = &filter.actor {
                q.push(" AND metadata ->> 'actor_id' = ").push_bind(actor);
            }
            if let Some(from) = &from {
                q.push(" AND metadata ->> 'occurred_at' >= ")
                    .push_bind(from);
            }
            if let Some(to) = &to {
                q.push(" AND metadata ->> 'occurred_at' < ").push_bind(to);
            }
            // `events.tx`, not `tx`: the bare name is the output column, which no index holds.
            q.push(" ORDER BY events.tx, events.position LIMIT ")
                .push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await?;
            rows.iter().map(pg_event).collect()
        }
        Database::Sqlite(pool) => {
            let mut q = QueryBuilder::<sqlx::Sqlite>::new(SQLITE_COLUMNS);
            q.push(" WHERE position > ").push_bind(after.position);
            if let Some(actor) = &filter.actor {
                q.push(" AND json_extract(metadata, '$.actor_id') = ")
                    .push_bind(actor);
            }
            if let Some(from) = &from {
                q.push(" AND json_extract(metadata, '$.occurred_at') >= ")
                    .push_bind(from);
            }
            if let Some(to) = &to {
                q.push(" AND json_extract(metadata, '$.occurred_at') < ")
                    .push_bind(to);
            }
            q.push(" ORDER BY position LIMIT ")
                .push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await?;
            rows.iter().map(sqlite_event).collect()
        }
    }
}

/// The `occurred_at` of an event's metadata, if it has a readable one.
pub fn occurred_at(metadata: &Value) -> Option<DateTime<Utc>> {
    metadata
        .get(keys::OCCURRED_AT)
        .and_then(Value::as_str)
        .and_then(parse_time)
}

/// An RFC 3339 time, in UTC.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn pg_event(row: &sqlx::postgres::PgRow) -> Result<AuditEvent, AuditError> {
    let position: i64 = row.try_get("position")?;
    let tx: i64 = row.try_get("tx")?;
    let cursor = Cursor {
        tx: u64::try_from(tx).map_err(|_| AuditError::Unreadable {
            cursor: Cursor { tx: 0, position },
            detail: format!("transaction id {tx}"),
        })?,
        position,
    };
    let payload: Value = row.try_get("payload")?;
    let metadata: Value = row.try_get("metadata")?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    build(cursor, row, payload, metadata, recorded_at)
}

fn sqlite_event(row: &sqlx::sqlite::SqliteRow) -> Result<AuditEvent, AuditError> {
    let cursor = Cursor {
        tx: 0,
        position: row.try_get("position")?,
    };
    let unreadable = |what: &str, detail: String| AuditError::Unreadable {
        cursor,
        detail: format!("{what}: {detail}"),
    };
    let json = |column: &str| -> Result<Value, AuditError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| unreadable(column, e.to_string()))
    };
    let recorded: String = row.try_get("recorded_at")?;
    let recorded_at = DateTime::parse_from_rfc3339(&recorded)
        .map_err(|e| unreadable("recorded_at", e.to_string()))?
        .with_timezone(&Utc);
    build(
        cursor,
        row,
        json("payload")?,
        json("metadata")?,
        recorded_at,
    )
}

fn build<R: Row>(
    cursor: Cursor,
    row: &R,
    payload: Value,
    mut metadata: Value,
    recorded_at: DateTime<Utc>,
) -> Result<AuditEvent, AuditError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let hash = take_hash(&mut metadata, HASH_KEY);
    let prev_hash = take_hash(&mut metadata, PREV_HASH_KEY);
    Ok(AuditEvent {
        cursor,
        position: cursor.position,
        aggregate_type: row.try_get("aggregate_type")?,
        case_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload,
        payload_opened: None,
        metadata,
        hash,
        prev_hash,
        recorded_at,
    })
}

/// Lifts a chain member out of the metadata when it is text; anything else stays where it
/// is, so that nothing stored is hidden from the auditor.
fn take_hash(metadata: &mut Value, key: &str) -> Option<String> {
    let object = metadata.as_object_mut()?;
    match object.get(key) {
        Some(Value::String(_)) => match object.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Gives each event with personal fields its [`AuditEvent::payload_opened`]: the payload
/// opened with the cases' keys, `[disposed]` in place of a disposed person's fields.
///
/// # Errors
/// [`AuditError::Keys`] if a case's key cannot be had, [`AuditError::Unreadable`] if its
/// fields do not open.
pub async fn open_personal(
    keys: &prconfirm_privacy::PersonKeys,
    events: &mut [AuditEvent],
) -> Result<(), AuditError> {
    use prconfirm_privacy::payload::{self, Disposed, OpenError, StoredEvent};
    for event in events.iter_mut() {
        let stored = StoredEvent {
            case_id: &event.case_id,
            sequence: event.sequence.unsigned_abs(),
            event_type: &event.event_type,
            event_version: &event.event_version,
        };
        if !stored.is_personal() {
            continue;
        }
        let mut opened = event.payload.clone();
        payload::open_with(keys, &stored, &mut opened, Disposed::Marker)
            .await
            .map_err(|e| match e {
                OpenError::Keys(e) => AuditError::Keys(e),
                OpenError::Sealed(e) => AuditError::Unreadable {
                    cursor: event.cursor,
                    detail: e.to_string(),
                },
            })?;
        event.payload_opened = Some(opened);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn chain_members_are_lifted_out_of_the_metadata_and_odd_ones_left_in() {
        let mut metadata = json!({"actor_id": "a", "hash": "ab", "prev_hash": 7});
        assert_eq!(take_hash(&mut metadata, HASH_KEY), Some("ab".to_owned()));
        assert_eq!(take_hash(&mut metadata, PREV_HASH_KEY), None);
        assert_eq!(metadata, json!({"actor_id": "a", "prev_hash": 7}));
    }

    #[test]
    fn times_compare_as_the_metadata_writes_them() {
        let t = Utc.with_ymd_and_hms(2026, 6, 1, 14, 0, 0).unwrap();
        assert_eq!(occurred_at_text(t), "2026-06-01T14:00:00.000000Z");
        let metadata = json!({"occurred_at": "2026-06-01T14:00:00.000000Z"});
        assert_eq!(occurred_at(&metadata), Some(t));
        assert_eq!(occurred_at(&json!({})), None);
    }
}
