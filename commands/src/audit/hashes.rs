//! The hashes the chain stored with each event, read in feed order: what a new checkpoint
//! folds. Apart from [`super::rows`] (which reads the stored checkpoints with the events) so
//! that checkpoints and rows do not import each other.

use prconfirm_migrations::Database;
use sqlx::Row;

use super::error::AuditError;
use prconfirm_migrations::FeedCursor as Cursor;

/// An event's transaction id as the feed's cursor holds it.
pub(crate) fn tx_of(tx: i64, position: i64) -> Result<u64, AuditError> {
    u64::try_from(tx).map_err(|_| AuditError::Unreadable {
        cursor: Cursor { tx: 0, position },
        detail: format!("transaction id {tx}"),
    })
}

const PG_HASHES: &str = "
SELECT tx::text::bigint AS tx, position, metadata->>'hash' AS hash
  FROM events
 WHERE (tx, position) > ($1::text::xid8, $2)
   AND tx < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
 ORDER BY events.tx, events.position
 LIMIT $3";

const SQLITE_HASHES: &str = "
SELECT 0 AS tx, position, json_extract(metadata, '$.hash') AS hash
  FROM events
 WHERE position > ?1
 ORDER BY position
 LIMIT ?2";

/// Up to `limit` settled events after `after` in feed order: each one's cursor and the hash
/// stored in its metadata (if any).
///
/// # Errors
/// [`AuditError::Database`] if the query fails.
pub(crate) async fn hashes_after(
    db: &Database,
    after: Cursor,
    limit: u32,
) -> Result<Vec<(Cursor, Option<String>)>, AuditError> {
    let rows = match db {
        Database::Postgres(pool) => {
            let rows = sqlx::query(PG_HASHES)
                .bind(after.tx.to_string())
                .bind(after.position)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    let position: i64 = r.try_get("position")?;
                    let cursor = Cursor {
                        tx: tx_of(r.try_get("tx")?, position)?,
                        position,
                    };
                    Ok((cursor, r.try_get("hash")?))
                })
                .collect::<Result<Vec<_>, AuditError>>()?
        }
        Database::Sqlite(pool) => {
            let rows = sqlx::query(SQLITE_HASHES)
                .bind(after.position)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    let cursor = Cursor {
                        tx: 0,
                        position: r.try_get("position")?,
                    };
                    Ok((cursor, r.try_get("hash")?))
                })
                .collect::<Result<Vec<_>, AuditError>>()?
        }
    };
    Ok(rows)
}
