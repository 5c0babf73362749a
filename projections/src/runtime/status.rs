//! What `prconfirm consumers status` shows of the reactors (the read models have
//! [`crate::runner::status`]): where each stands, whether it is stalled, what waits for it.

use prconfirm_migrations::{on_db, Database};
use serde::Serialize;

use crate::feed::FeedCursor;

/// A reactor's checkpoint row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactorStatus {
    pub name: String,
    pub cursor: FeedCursor,
    /// Milliseconds since the epoch.
    pub stalled_since: Option<i64>,
    pub stalled_error: Option<String>,
}

/// Every reactor's checkpoint row.
///
/// # Errors
/// Storage errors.
pub async fn reactors(db: &Database) -> Result<Vec<ReactorStatus>, sqlx::Error> {
    let sql = "SELECT name, tx, position, stalled_since, stalled_error \
               FROM reactor_checkpoints ORDER BY name";
    /// Name, cursor, stall.
    type Row = (String, i64, i64, Option<i64>, Option<String>);
    let rows: Vec<Row> = on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(
            |(name, tx, position, stalled_since, stalled_error)| ReactorStatus {
                name,
                cursor: FeedCursor {
                    tx: tx.unsigned_abs(),
                    position,
                },
                stalled_since,
                stalled_error,
            },
        )
        .collect())
}

/// How many events of the feed lie after `cursor` (a reactor's lag).
///
/// # Errors
/// Storage errors.
pub async fn events_after(db: &Database, cursor: FeedCursor) -> Result<i64, sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE (tx, position) > ($1::text::xid8, $2)",
            )
            .bind(cursor.tx.to_string())
            .bind(cursor.position)
            .fetch_one(pool)
            .await
        }
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE position > $1")
                .bind(cursor.position)
                .fetch_one(pool)
                .await
        }
    }
}

/// Messages queued in the outbox and not yet sent.
///
/// # Errors
/// Storage errors.
pub async fn queued_mail(db: &Database) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL AND body IS NOT NULL";
    on_db!(db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)
}
