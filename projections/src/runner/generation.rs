//! A projection's generations: tables named `<table>_g<generation>` behind views named
//! `<table>`, a checkpoint per generation, and the registry row naming the live one.

use prconfirm_migrations::on_conn;

use super::batch::{live_generation, lock_registry};
use super::tx::{begin, finish, RunError};
use crate::models::ReadModel;
use crate::runtime::lease::lock_key;
use crate::store::Conn;

/// Whether a generation's secondary indexes are made with its tables, or once it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Indexes {
    Now,
    /// A rebuild fills the tables first: one sort per index at the end costs far less than
    /// keeping every index up to date row by row.
    AfterFill,
}

/// The statements of `table`'s DDL that make secondary indexes (not the table itself).
pub(super) fn index_ddl(ddl: &str) -> bool {
    ddl.trim_start().starts_with("CREATE INDEX")
}

/// Creates generation `generation`'s tables and its checkpoint at position zero.
pub(super) async fn create_generation(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    generation: i64,
    indexes: Indexes,
) -> Result<(), sqlx::Error> {
    for table in model.tables() {
        let name = table.name(generation);
        conn.execute(&format!("DROP TABLE IF EXISTS {name}"))
            .await?;
        for ddl in table.ddl {
            if indexes == Indexes::Now || !index_ddl(ddl) {
                conn.execute(&ddl.replace("{t}", &name)).await?;
            }
        }
    }
    let sql = "INSERT INTO projection_checkpoints (name, generation) VALUES ($1, $2) \
               ON CONFLICT (name, generation) DO UPDATE SET tx = 0, position = 0, \
               events_applied = 0, stalled_at = NULL, stalled_error = NULL";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(model.name())
        .bind(generation)
        .execute(&mut **c)
        .await
        .map(drop))
}

/// Points the projection's views at `generation`'s tables (and lets analysts read theirs).
pub(super) async fn point_views(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    generation: i64,
) -> Result<(), sqlx::Error> {
    for table in model.tables() {
        let view = table.base;
        conn.execute(&format!("DROP VIEW IF EXISTS {view}")).await?;
        conn.execute(&format!(
            "CREATE VIEW {view} AS SELECT * FROM {}",
            table.name(generation)
        ))
        .await?;
        if table.analysts && conn.is_postgres() {
            conn.execute(&format!("GRANT SELECT ON {view} TO prconfirm_analyst"))
                .await?;
        }
    }
    Ok(())
}

pub(super) async fn drop_generation(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    generation: i64,
) -> Result<(), sqlx::Error> {
    for table in model.tables() {
        conn.execute(&format!("DROP TABLE IF EXISTS {}", table.name(generation)))
            .await?;
    }
    let sql = "DELETE FROM projection_checkpoints WHERE name = $1 AND generation = $2";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(model.name())
        .bind(generation)
        .execute(&mut **c)
        .await
        .map(drop))
}

/// Registers `model` with generation 1 (tables, views, checkpoint) unless it exists.
///
/// # Errors
/// Storage errors.
pub async fn ensure(conn: &mut Conn<'_>, model: &ReadModel) -> Result<i64, RunError> {
    begin(conn).await?;
    let result = register(conn, model).await;
    finish(conn, result).await
}

async fn register(conn: &mut Conn<'_>, model: &ReadModel) -> Result<i64, RunError> {
    if conn.is_postgres() {
        // Two instances starting at once: one registers, the other waits and sees it.
        on_conn!(conn, |c| sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key("registry"))
            .execute(&mut **c)
            .await
            .map(drop))?;
    }
    if let Some(live) = lock_registry(conn, model.name()).await? {
        let shape: i64 = on_conn!(conn, |c| sqlx::query_scalar(
            "SELECT shape FROM projections WHERE name = $1"
        )
        .bind(model.name())
        .fetch_one(&mut **c)
        .await)?;
        if shape == model.shape() {
            return Ok(live);
        }
        // The code writes another shape than the live tables hold: start again from the
        // first event, in a generation of the new shape that the live runner then fills.
        tracing::warn!(
            projection = model.name(),
            from = shape,
            to = model.shape(),
            "the projection's shape changed; building it again from the first event"
        );
        let next = new_generation(conn, model, Indexes::Now).await?;
        point_views(conn, model, next).await?;
        set_live(conn, model, next).await?;
        drop_generation(conn, model, live).await?;
        return Ok(next);
    }
    create_generation(conn, model, 1, Indexes::Now).await?;
    point_views(conn, model, 1).await?;
    on_conn!(conn, |c| sqlx::query(
        "INSERT INTO projections (name, live_generation, shape) VALUES ($1, 1, $2)"
    )
    .bind(model.name())
    .bind(model.shape())
    .execute(&mut **c)
    .await
    .map(drop))?;
    Ok(1)
}

/// Makes `generation` the projection's live one, of the shape its code writes.
pub(super) async fn set_live(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    generation: i64,
) -> Result<(), sqlx::Error> {
    on_conn!(conn, |c| sqlx::query(
        "UPDATE projections SET live_generation = $2, shape = $3 WHERE name = $1"
    )
    .bind(model.name())
    .bind(generation)
    .bind(model.shape())
    .execute(&mut **c)
    .await
    .map(drop))
}

pub(super) async fn new_generation(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    indexes: Indexes,
) -> Result<i64, RunError> {
    let live = live_generation(conn, model).await?;
    // What an earlier rebuild that failed left behind (none runs now: the caller holds the
    // rebuild lock).
    let stale: Vec<i64> = on_conn!(conn, |c| sqlx::query_scalar(
        "SELECT generation FROM projection_checkpoints WHERE name = $1 AND generation <> $2"
    )
    .bind(model.name())
    .bind(live)
    .fetch_all(&mut **c)
    .await)?;
    for generation in stale {
        drop_generation(conn, model, generation).await?;
    }
    let max: Option<i64> = on_conn!(conn, |c| sqlx::query_scalar(
        "SELECT MAX(generation) FROM projection_checkpoints WHERE name = $1"
    )
    .bind(model.name())
    .fetch_one(&mut **c)
    .await)?;
    let next = max.unwrap_or(live).max(live) + 1;
    create_generation(conn, model, next, indexes).await?;
    Ok(next)
}
