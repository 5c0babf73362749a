//! What `projections status` shows: each generation's checkpoint.

use prconfirm_migrations::Database;
use serde::Serialize;

use super::tx::RunError;
use crate::feed::FeedCursor;

/// A projection's checkpoint as stored (for `projections status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub name: String,
    pub generation: i64,
    pub live: bool,
    pub cursor: String,
    pub events_applied: i64,
    pub updated_at: String,
    pub stalled_at: Option<String>,
    pub stalled_error: Option<String>,
}

/// Every projection generation's checkpoint.
///
/// # Errors
/// Storage errors.
pub async fn status(db: &Database) -> Result<Vec<Status>, RunError> {
    let sql = "SELECT c.name, c.generation, \
               CASE WHEN p.live_generation = c.generation THEN 1 ELSE 0 END AS live, \
               c.tx, c.position, c.events_applied, CAST(c.updated_at AS TEXT) AS updated_at, \
               c.stalled_at, c.stalled_error \
               FROM projection_checkpoints c JOIN projections p ON p.name = c.name \
               ORDER BY c.name, c.generation";
    type Row = (
        String,
        i64,
        i32,
        i64,
        i64,
        i64,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> =
        prconfirm_migrations::on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(
            |(name, generation, live, tx, position, events_applied, updated_at, at, error)| {
                Status {
                    name,
                    generation,
                    live: live != 0,
                    cursor: FeedCursor {
                        tx: tx.unsigned_abs(),
                        position,
                    }
                    .to_string(),
                    events_applied,
                    updated_at,
                    stalled_at: at,
                    stalled_error: error,
                }
            },
        )
        .collect())
}

/// How many events the feed holds (for lag).
///
/// # Errors
/// Storage errors.
pub async fn feed_length(db: &Database) -> Result<i64, RunError> {
    Ok(prconfirm_migrations::on_db!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(pool)
            .await
    })?)
}
