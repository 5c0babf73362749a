//! The record of auditors' reads (table `audit_reads`, append-only): who read which case or
//! ran which query, when, under which request. Kept out of the event log: a read changes
//! nothing in a case, so its stream, version and hash chain stay as they were.
//!
//! The API writes the record before it reads anything (`api::routes::audit`); a read that
//! cannot be recorded is refused. Auditors page through the records like the feed, by a
//! gap-safe `tx.position` cursor.

use chrono::{DateTime, Utc};
use prconfirm_migrations::Database;
use serde::Serialize;
use sqlx::Row;

use super::error::AuditError;
use prconfirm_migrations::FeedCursor as Cursor;

/// What is recorded about one read.
#[derive(Debug, Clone, Copy)]
pub struct ReadRecord<'a> {
    pub actor_id: &'a str,
    pub actor_role: &'a str,
    /// The request's id (`X-Request-Id`).
    pub correlation_id: &'a str,
    pub method: &'a str,
    /// The route template, e.g. `/v1/audit/cases/{id}/events`.
    pub route: &'a str,
    /// The case read, for routes about one case.
    pub case_id: Option<&'a str>,
    /// The query string as sent.
    pub query: Option<&'a str>,
}

/// One recorded read, as auditors list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordedRead {
    /// Where it stands among the reads, `tx.position`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^[0-9]+\.[0-9]+$"))]
    pub cursor: Cursor,
    pub position: i64,
    pub read_at: DateTime<Utc>,
    pub actor_id: String,
    pub actor_role: String,
    pub correlation_id: String,
    pub method: String,
    pub route: String,
    pub case_id: Option<String>,
    pub query: Option<String>,
}

const INSERT: &str = "INSERT INTO audit_reads \
    (actor_id, actor_role, correlation_id, method, route, case_id, query) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Records one read; it is durable (committed) when this returns.
///
/// # Errors
/// The database's error: the read must then not happen.
pub async fn record(db: &Database, read: &ReadRecord<'_>) -> Result<(), sqlx::Error> {
    prconfirm_migrations::on_db!(db, |pool| sqlx::query(INSERT)
        .bind(read.actor_id)
        .bind(read.actor_role)
        .bind(read.correlation_id)
        .bind(read.method)
        .bind(read.route)
        .bind(read.case_id)
        .bind(read.query)
        .execute(pool)
        .await
        .map(|_| ()))
}

const PG_AFTER: &str = "
SELECT tx::text::bigint AS tx, position, read_at, actor_id, actor_role, correlation_id,
       method, route, case_id, query
  FROM audit_reads
 WHERE (tx, position) > ($1::text::xid8, $2)
   AND tx < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY audit_reads.tx, audit_reads.position
 LIMIT $3";

const SQLITE_AFTER: &str = "
SELECT 0 AS tx, position, read_at, actor_id, actor_role, correlation_id,
       method, route, case_id, query
  FROM audit_reads
 WHERE position > ?1
 ORDER BY position
 LIMIT ?2";

/// Up to `limit` recorded reads after `after`, oldest first. Gap-safe like the event feed.
///
/// # Errors
/// [`AuditError::Database`]; [`AuditError::Unreadable`] for a time that does not parse.
pub async fn reads_after(
    db: &Database,
    after: Cursor,
    limit: u32,
) -> Result<Vec<RecordedRead>, AuditError> {
    match db {
        Database::Postgres(pool) => {
            let rows = sqlx::query(PG_AFTER)
                .bind(after.tx.to_string())
                .bind(after.position)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let position: i64 = row.try_get("position")?;
                    let tx: i64 = row.try_get("tx")?;
                    let cursor = Cursor {
                        tx: tx.unsigned_abs(),
                        position,
                    };
                    build(cursor, row, row.try_get("read_at")?)
                })
                .collect()
        }
        Database::Sqlite(pool) => {
            let rows = sqlx::query(SQLITE_AFTER)
                .bind(after.position)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let cursor = Cursor {
                        tx: 0,
                        position: row.try_get("position")?,
                    };
                    let text: String = row.try_get("read_at")?;
                    let read_at = DateTime::parse_from_rfc3339(&text)
                        .map_err(|e| AuditError::Unreadable {
                            cursor,
                            detail: format!("read_at: {e}"),
                        })?
                        .with_timezone(&Utc);
                    build(cursor, row, read_at)
                })
                .collect()
        }
    }
}

fn build<R: Row>(
    cursor: Cursor,
    row: &R,
    read_at: DateTime<Utc>,
) -> Result<RecordedRead, AuditError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RecordedRead {
        cursor,
        position: cursor.position,
        read_at,
        actor_id: row.try_get("actor_id")?,
        actor_role: row.try_get("actor_role")?,
        correlation_id: row.try_get("correlation_id")?,
        method: row.try_get("method")?,
        route: row.try_get("route")?,
        case_id: row.try_get("case_id")?,
        query: row.try_get("query")?,
    })
}
