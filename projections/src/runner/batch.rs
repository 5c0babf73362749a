//! One batch: the feed after a generation's checkpoint, applied and the checkpoint advanced
//! inside the caller's transaction, under the registry row's lock.

use prconfirm_migrations::on_conn;

use super::tx::{begin, finish, RunError};
use prconfirm_privacy::PersonKeys;

use crate::feed::{read_raw_on, FeedCursor};
use crate::models::{decode, ReadModel};
use crate::store::Conn;

/// Which generation a batch goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Whatever generation is live when the batch starts (and its lock is held).
    Live,
    /// A generation being rebuilt.
    Generation(i64),
}

/// What a committed batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub generation: i64,
    /// Feed events read (and applied or skipped as not a case's).
    pub read: usize,
    pub cursor: FeedCursor,
    pub events_applied: i64,
}

/// Locks the projection's registry row (PostgreSQL; SQLite's write lock covers it) and
/// answers its live generation.
pub(super) async fn lock_registry(
    conn: &mut Conn<'_>,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let sql = if conn.is_postgres() {
        "SELECT live_generation FROM projections WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT live_generation FROM projections WHERE name = $1"
    };
    on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(name)
        .fetch_optional(&mut **c)
        .await)
}

async fn checkpoint(
    conn: &mut Conn<'_>,
    name: &str,
    generation: i64,
) -> Result<(FeedCursor, i64), RunError> {
    let sql = "SELECT tx, position, events_applied FROM projection_checkpoints \
               WHERE name = $1 AND generation = $2";
    let row: Option<(i64, i64, i64)> = on_conn!(conn, |c| sqlx::query_as(sql)
        .bind(name)
        .bind(generation)
        .fetch_optional(&mut **c)
        .await)?;
    let (tx, position, applied) =
        row.ok_or_else(|| RunError::Unknown(format!("{name} generation {generation}")))?;
    Ok((
        FeedCursor {
            tx: tx.unsigned_abs(),
            position,
        },
        applied,
    ))
}

/// Reads up to `limit` events after `generation`'s checkpoint, applies them and advances the
/// checkpoint, inside the caller's transaction.
pub(super) async fn apply_next(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    model: &ReadModel,
    generation: i64,
    limit: u32,
) -> Result<Batch, RunError> {
    let (after, applied) = checkpoint(conn, model.name(), generation).await?;
    let events = read_raw_on(conn, keys, after, limit).await?;
    let Some(last) = events.last().map(|e| e.cursor) else {
        return Ok(Batch {
            generation,
            read: 0,
            cursor: after,
            events_applied: applied,
        });
    };
    let read = events.len();
    let decoded = decode(events)?;
    model.apply(conn, generation, &decoded).await?;
    let n = i64::try_from(read).unwrap_or(i64::MAX);
    let sql = "UPDATE projection_checkpoints SET tx = $3, position = $4, \
               events_applied = events_applied + $5, updated_at = $6, \
               stalled_at = NULL, stalled_error = NULL \
               WHERE name = $1 AND generation = $2";
    let now = chrono::Utc::now();
    match conn {
        Conn::Pg(c) => {
            sqlx::query(sql)
                .bind(model.name())
                .bind(generation)
                .bind(i64::try_from(last.tx).unwrap_or(i64::MAX))
                .bind(last.position)
                .bind(n)
                .bind(now)
                .execute(&mut **c)
                .await?;
        }
        Conn::Sqlite(c) => {
            sqlx::query(sql)
                .bind(model.name())
                .bind(generation)
                .bind(0_i64)
                .bind(last.position)
                .bind(n)
                .bind(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .execute(&mut **c)
                .await?;
        }
    }
    Ok(Batch {
        generation,
        read,
        cursor: last,
        events_applied: applied + n,
    })
}

/// One batch in its own transaction, under the registry row's lock, personal fields opened
/// with `keys`.
///
/// # Errors
/// [`RunError`]; nothing of the batch was kept.
pub async fn run_batch(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    model: &ReadModel,
    target: Target,
    limit: u32,
) -> Result<Batch, RunError> {
    begin(conn).await?;
    let result = locked_batch(conn, keys, model, target, limit).await;
    finish(conn, result).await
}

async fn locked_batch(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    model: &ReadModel,
    target: Target,
    limit: u32,
) -> Result<Batch, RunError> {
    let live = live_generation(conn, model).await?;
    let generation = match target {
        Target::Live => live,
        Target::Generation(g) => g,
    };
    apply_next(conn, keys, model, generation, limit).await
}

pub(super) async fn live_generation(
    conn: &mut Conn<'_>,
    model: &ReadModel,
) -> Result<i64, RunError> {
    lock_registry(conn, model.name())
        .await?
        .ok_or_else(|| RunError::Unknown(model.name().to_owned()))
}
