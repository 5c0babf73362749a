//! The projection runner: reads the feed after a projection's checkpoint, applies the batch
//! to the projection's tables and advances the checkpoint in one transaction, so a crash at
//! any point leaves the views equal to a full replay.
//!
//! - **One runner per projection across instances.** On PostgreSQL each instance opens one
//!   dedicated connection, takes a session advisory lock per projection on it
//!   (`pg_try_advisory_lock`), and runs that projection's batches on the same connection: if
//!   the instance dies, its connection closes, the lock is free, and another instance takes
//!   over within a retry interval; a runner that lost its connection has lost its lock and
//!   cannot write either. SQLite is one process's embedded file; the runner is in-process.
//! - **Woken promptly** by `NOTIFY prconfirm_events` (a trigger on the event log) on
//!   PostgreSQL and by the in-process append signal on both; polls every second regardless.
//! - **Never skips.** A failing batch is retried one event at a time with back-off; an event
//!   that keeps failing stops the projection there, recorded in its checkpoint row
//!   (`stalled_at`, `stalled_error`), in `/readyz` and in `/metrics`, until it succeeds.
//! - **Rebuild online** ([`rebuild`]): a new generation of the tables is filled from position
//!   zero while the live one serves, then, under the registry row's lock, caught up to the
//!   last event and switched to by repointing the views, in one transaction.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prconfirm_migrations::Database;
use serde::Serialize;
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection};
use tokio::sync::{watch, Notify};

use crate::feed::{read_raw_on, FeedCursor, FeedError};
use crate::models::{decode, ApplyError, ReadModel};
use crate::on_conn;
use crate::store::Conn;

/// The channel the event log's trigger notifies on every commit that appended events.
pub const CHANNEL: &str = "prconfirm_events";

/// Attempts at one event before the projection is reported stalled.
const STALL_AFTER: u32 = 5;
/// Longest wait between retries of a failing event.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often an instance without a projection's lease asks for it again, and how often a
/// runner looks at the feed when nothing woke it.
const IDLE: Duration = Duration::from_secs(1);

/// A failure of a projection batch or of the runner's connection.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("projection {0} is not registered")]
    Unknown(String),
    #[error("a rebuild of {0} is already running")]
    Busy(&'static str),
}

/// How the runner is tuned.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// Events per batch while keeping up.
    pub batch: u32,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self { batch: 500 }
    }
}

/// What `/readyz`, `/metrics` and `projections status` say about a projection in this
/// instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// This instance holds the projection's lease.
    pub running_here: bool,
    pub generation: i64,
    pub cursor: String,
    pub events_applied: i64,
    /// Set when an event keeps failing: the projection waits at it.
    pub stalled: Option<String>,
}

/// Signals between the write side, the runner and readers waiting for a version.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Bumped by the write side after every commit that appended events.
    pub appended: watch::Receiver<u64>,
    /// Notified (all waiters) after every batch the runner commits.
    pub applied: Arc<Notify>,
    pub health: Arc<Mutex<BTreeMap<&'static str, Health>>>,
}

impl Signals {
    pub fn new(appended: watch::Receiver<u64>) -> Self {
        Self {
            appended,
            applied: Arc::new(Notify::new()),
            health: Arc::default(),
        }
    }

    /// Each projection's health as this instance sees it.
    pub fn health(&self) -> BTreeMap<&'static str, Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, name: &'static str, f: impl FnOnce(&mut Health)) {
        let mut all = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(all.entry(name).or_default());
    }
}

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

fn lock_key(name: &str) -> i64 {
    // A stable 63-bit key per projection name (FNV-1a), in its own range of lock keys.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"prconfirm.projection.".iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::try_from(h >> 1).unwrap_or(0)
}

/// The session advisory lock a rebuild of projection `name` holds on PostgreSQL, so that two
/// cannot run at once.
pub fn rebuild_lock_key(name: &str) -> i64 {
    lock_key(&format!("rebuild.{name}"))
}

async fn begin(conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
    if conn.is_postgres() {
        conn.execute("BEGIN").await?;
        // Plan each batch's statements for its own arguments and the tables' size now. A
        // generic plan cached while a new generation's tables were empty (and not yet
        // analysed) scans them whole: the 1,000,000-case rebuild fell from 19,000 to 2,300
        // events/s on a `DELETE ... WHERE case_id = ANY($1)` planned that way.
        conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            .await
    } else {
        conn.execute("BEGIN IMMEDIATE").await
    }
}

/// Ends the transaction [`begin`] opened: commits if `result` is a success, else rolls back.
async fn finish<T>(conn: &mut Conn<'_>, result: Result<T, RunError>) -> Result<T, RunError> {
    match result {
        Ok(v) => {
            conn.execute("COMMIT").await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = conn.execute("ROLLBACK").await {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// Locks the projection's registry row (PostgreSQL; SQLite's write lock covers it) and
/// answers its live generation.
async fn lock_registry(conn: &mut Conn<'_>, name: &str) -> Result<Option<i64>, sqlx::Error> {
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

/// Creates generation `generation`'s tables and its checkpoint at position zero.
/// Whether a generation's secondary indexes are made with its tables, or once it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexes {
    Now,
    /// A rebuild fills the tables first: one sort per index at the end costs far less than
    /// keeping every index up to date row by row.
    AfterFill,
}

/// The statements of `table`'s DDL that make secondary indexes (not the table itself).
fn index_ddl(ddl: &str) -> bool {
    ddl.trim_start().starts_with("CREATE INDEX")
}

async fn create_generation(
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
async fn point_views(
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

async fn drop_generation(
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
    if let Some(g) = lock_registry(conn, model.name()).await? {
        return Ok(g);
    }
    create_generation(conn, model, 1, Indexes::Now).await?;
    point_views(conn, model, 1).await?;
    on_conn!(conn, |c| sqlx::query(
        "INSERT INTO projections (name, live_generation) VALUES ($1, 1)"
    )
    .bind(model.name())
    .execute(&mut **c)
    .await
    .map(drop))?;
    Ok(1)
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
async fn apply_next(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    generation: i64,
    limit: u32,
) -> Result<Batch, RunError> {
    let (after, applied) = checkpoint(conn, model.name(), generation).await?;
    let events = read_raw_on(conn, after, limit).await?;
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

/// One batch in its own transaction, under the registry row's lock.
///
/// # Errors
/// [`RunError`]; nothing of the batch was kept.
pub async fn run_batch(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    target: Target,
    limit: u32,
) -> Result<Batch, RunError> {
    begin(conn).await?;
    let result = locked_batch(conn, model, target, limit).await;
    finish(conn, result).await
}

async fn locked_batch(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    target: Target,
    limit: u32,
) -> Result<Batch, RunError> {
    let live = live_generation(conn, model).await?;
    let generation = match target {
        Target::Live => live,
        Target::Generation(g) => g,
    };
    apply_next(conn, model, generation, limit).await
}

async fn live_generation(conn: &mut Conn<'_>, model: &ReadModel) -> Result<i64, RunError> {
    lock_registry(conn, model.name())
        .await?
        .ok_or_else(|| RunError::Unknown(model.name().to_owned()))
}

/// Progress of a rebuild, for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// Events of the feed folded so far (the same for every projection being rebuilt).
    pub events_applied: i64,
}

/// How a rebuild is tuned.
#[derive(Debug, Clone, Copy)]
pub struct RebuildSettings {
    /// Events per page of the feed.
    pub batch: u32,
    /// Case states each projection keeps in memory while filling before it writes out the
    /// least recently touched half (a state evicted too early is read back when its case
    /// has another event: slower, never wrong).
    pub cache_cases: usize,
}

impl Default for RebuildSettings {
    fn default() -> Self {
        Self {
            batch: 10_000,
            cache_cases: 250_000,
        }
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// Each projection's new live generation, in the order given.
    pub generations: Vec<(&'static str, i64)>,
    /// Events folded by the fill (before the switch's catch-up).
    pub events: i64,
    /// Case states evicted and later read back, over all the projections.
    pub reloaded: u64,
}

/// A connection of its own (not the pool's), so that a rebuild's session-level locks and
/// open transactions end with it.
async fn dedicated(db: &Database) -> Result<Owned, sqlx::Error> {
    Ok(match db {
        Database::Postgres(pool) => {
            Owned::Pg(PgConnection::connect_with(&pool.connect_options()).await?)
        }
        Database::Sqlite(pool) => {
            Owned::Sqlite(sqlx::SqliteConnection::connect_with(&pool.connect_options()).await?)
        }
    })
}

enum Owned {
    Pg(PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl Owned {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Pg(c) => Conn::Pg(c),
            Self::Sqlite(c) => Conn::Sqlite(c),
        }
    }
}

/// Builds `models` afresh from the first event into new generations while the live ones
/// keep serving, then switches each to its new generation atomically and drops the old one.
///
/// The feed is read once for all of them, one page ahead on a connection of its own, and
/// decoded once; each projection folds it into states kept in memory (see
/// [`RebuildSettings::cache_cases`]) and writes each case once, in bulk. Then, under each
/// registry row's lock, the new generation is caught up with the events appended meanwhile,
/// given its secondary indexes, and made live.
///
/// # Errors
/// [`RunError`]; [`RunError::Busy`] if another rebuild of one of them is running. A failed
/// rebuild leaves the live generations serving; the next rebuild drops what it left.
pub async fn rebuild(
    db: &Database,
    models: &[ReadModel],
    settings: RebuildSettings,
    mut progress: impl FnMut(RebuildProgress) + Send,
) -> Result<Rebuilt, RunError> {
    let mut writer = dedicated(db).await?;
    let mut generations = Vec::with_capacity(models.len());
    for model in models {
        let conn = &mut writer.conn();
        if let Conn::Pg(c) = conn {
            let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(rebuild_lock_key(model.name()))
                .fetch_one(&mut **c)
                .await?;
            if !mine {
                return Err(RunError::Busy(model.name()));
            }
        }
        ensure(conn, model).await?;
        begin(conn).await?;
        let result = new_generation(conn, model).await;
        generations.push(finish(conn, result).await?);
    }
    // The fill's commits need not wait for the disk: a crash loses the half-built generation
    // anyway, and the next rebuild drops it. The switch, which makes it live, waits again.
    synchronous_commit(&mut writer.conn(), false).await?;
    let mut fillers: Vec<_> = models
        .iter()
        .zip(&generations)
        .map(|(m, g)| m.filler(*g, settings.cache_cases))
        .collect();

    // The reader: pages of the feed, decoded, one ahead of the fold.
    let (pages, mut next_page) = tokio::sync::mpsc::channel::<Result<Page, RunError>>(2);
    let mut reader = dedicated(db).await?;
    let batch = settings.batch.max(1);
    let read = tokio::spawn(async move {
        let mut after = FeedCursor::START;
        loop {
            let page = read_page(&mut reader.conn(), after, batch).await;
            let (last, full) = match &page {
                Ok(p) => (p.last, p.read == batch as usize),
                Err(_) => (None, false),
            };
            if pages.send(page).await.is_err() || !full {
                return;
            }
            after = last.unwrap_or(after);
        }
    });
    let mut cursor = FeedCursor::START;
    let mut events = 0_i64;
    let filled: Result<(), RunError> = async {
        while let Some(page) = next_page.recv().await {
            let page = page?;
            let conn = &mut writer.conn();
            begin(conn).await?;
            let result = async {
                for filler in &mut fillers {
                    filler.page(conn, &page.events).await?;
                }
                Ok(())
            }
            .await;
            finish(conn, result).await?;
            if let Some(last) = page.last {
                cursor = last;
            }
            events += i64::try_from(page.read).unwrap_or(i64::MAX);
            progress(RebuildProgress {
                events_applied: events,
            });
        }
        let conn = &mut writer.conn();
        begin(conn).await?;
        let result = async {
            for (filler, (model, generation)) in
                fillers.iter_mut().zip(models.iter().zip(&generations))
            {
                filler.finish(conn).await?;
                set_checkpoint(conn, model.name(), *generation, cursor, events).await?;
            }
            Ok(())
        }
        .await;
        finish(conn, result).await
    }
    .await;
    read.abort();
    filled?;
    let reloaded = fillers.iter().map(|f| f.reloaded()).sum();

    synchronous_commit(&mut writer.conn(), true).await?;
    let mut done = Vec::with_capacity(models.len());
    for (model, generation) in models.iter().zip(generations) {
        let conn = &mut writer.conn();
        begin(conn).await?;
        let result = switch(conn, model, generation, batch, &mut progress).await;
        let old = finish(conn, result).await?;
        begin(conn).await?;
        let result = drop_generation(conn, model, old)
            .await
            .map_err(RunError::from);
        finish(conn, result).await?;
        done.push((model.name(), generation));
    }
    Ok(Rebuilt {
        generations: done,
        events,
        reloaded,
    })
}

/// Whether this PostgreSQL session's commits wait for the WAL to reach the disk (SQLite:
/// nothing to do).
async fn synchronous_commit(conn: &mut Conn<'_>, on: bool) -> Result<(), sqlx::Error> {
    if conn.is_postgres() {
        conn.execute(if on {
            "SET synchronous_commit = on"
        } else {
            "SET synchronous_commit = off"
        })
        .await?;
    }
    Ok(())
}

/// A page of the feed, decoded.
struct Page {
    events: Vec<crate::models::Decoded>,
    read: usize,
    last: Option<FeedCursor>,
}

async fn read_page(conn: &mut Conn<'_>, after: FeedCursor, limit: u32) -> Result<Page, RunError> {
    let raw = read_raw_on(conn, after, limit).await?;
    let read = raw.len();
    let last = raw.last().map(|e| e.cursor);
    Ok(Page {
        events: decode(raw)?,
        read,
        last,
    })
}

async fn set_checkpoint(
    conn: &mut Conn<'_>,
    name: &str,
    generation: i64,
    cursor: FeedCursor,
    events_applied: i64,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE projection_checkpoints SET tx = $3, position = $4, events_applied = $5 \
               WHERE name = $1 AND generation = $2";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(name)
        .bind(generation)
        .bind(i64::try_from(cursor.tx).unwrap_or(i64::MAX))
        .bind(cursor.position)
        .bind(events_applied)
        .execute(&mut **c)
        .await
        .map(drop))
}

async fn new_generation(conn: &mut Conn<'_>, model: &ReadModel) -> Result<i64, RunError> {
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
    create_generation(conn, model, next, Indexes::AfterFill).await?;
    Ok(next)
}

/// Inside one transaction holding the registry row: catches `generation` up to the last
/// event, points the views at it and makes it live. Answers the generation it replaced.
async fn switch(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    generation: i64,
    batch: u32,
    progress: &mut (impl FnMut(RebuildProgress) + Send),
) -> Result<i64, RunError> {
    let old = live_generation(conn, model).await?;
    // The live runner waits on the registry row meanwhile: catch up to the last event it
    // could have applied, so the switch loses nothing and the views never go back.
    loop {
        let done = apply_next(conn, model, generation, batch).await?;
        progress(RebuildProgress {
            events_applied: done.events_applied,
        });
        if done.read == 0 {
            break;
        }
    }
    // The secondary indexes the fill went without, then statistics for the planner, before
    // readers arrive.
    for table in model.tables() {
        let name = table.name(generation);
        for ddl in table.ddl.iter().filter(|d| index_ddl(d)) {
            conn.execute(&ddl.replace("{t}", &name)).await?;
        }
    }
    for table in model.tables() {
        conn.execute(&format!("ANALYZE {}", table.name(generation)))
            .await?;
    }
    point_views(conn, model, generation).await?;
    on_conn!(conn, |c| sqlx::query(
        "UPDATE projections SET live_generation = $2 WHERE name = $1"
    )
    .bind(model.name())
    .bind(generation)
    .execute(&mut **c)
    .await
    .map(drop))?;
    Ok(old)
}

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

/// Per-projection retry state in one runner.
#[derive(Debug, Default)]
struct Retry {
    failures: u32,
    not_before: Option<Instant>,
}

/// Keeps every projection of `models` up to date in this instance for as long as it runs
/// (abort the task to stop it).
#[derive(Debug)]
pub struct Runner {
    db: Database,
    models: Vec<ReadModel>,
    settings: RunnerSettings,
    signals: Signals,
}

impl Runner {
    pub fn new(
        db: Database,
        models: Vec<ReadModel>,
        settings: RunnerSettings,
        signals: Signals,
    ) -> Self {
        Self {
            db,
            models,
            settings,
            signals,
        }
    }

    /// Runs until aborted; reconnects after losing the database.
    pub async fn run(mut self) {
        loop {
            let outcome = match self.db.clone() {
                Database::Postgres(pool) => self.run_postgres(&pool).await,
                Database::Sqlite(pool) => self.run_sqlite(&pool).await,
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "projection runner lost its connection; retrying");
            }
            for model in &self.models {
                self.signals.set(model.name(), |h| h.running_here = false);
            }
            tokio::time::sleep(IDLE).await;
        }
    }

    /// Brings every projection this instance holds up to date (or to its failing event).
    async fn drain_held(&self, conn: &mut Conn<'_>, held: &[bool], retries: &mut [Retry]) {
        for ((model, held), retry) in self.models.iter().zip(held).zip(retries) {
            if *held {
                drain(conn, model, self.settings.batch, retry, &self.signals).await;
            }
        }
    }

    async fn run_postgres(&mut self, pool: &sqlx::PgPool) -> Result<(), RunError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        let mut held = vec![false; self.models.len()];
        let mut retries: Vec<Retry> = self.models.iter().map(|_| Retry::default()).collect();
        loop {
            for (i, model) in self.models.iter().enumerate() {
                if !held[i] {
                    ensure(&mut Conn::Pg(&mut conn), model).await?;
                    held[i] = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                        .bind(lock_key(model.name()))
                        .fetch_one(&mut conn)
                        .await?;
                    if held[i] {
                        tracing::info!(projection = model.name(), "running this projection");
                    }
                }
                self.signals.set(model.name(), |h| h.running_here = held[i]);
            }
            self.drain_held(&mut Conn::Pg(&mut conn), &held, &mut retries)
                .await;
            // A broken lock connection means lost leases: start again.
            conn.ping().await?;
            let wait = next_wait(&retries);
            tokio::select! {
                n = listener.recv() => { n?; }
                _ = self.signals.appended.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn run_sqlite(&mut self, pool: &sqlx::SqlitePool) -> Result<(), RunError> {
        // A connection of its own, not the pool's: batches open their transactions with a
        // plain BEGIN, and a pooled connection given back mid-batch (the task aborted) would
        // carry the open transaction to the next command. Dropped, this one just closes, and
        // SQLite rolls back.
        let mut conn = sqlx::SqliteConnection::connect_with(&pool.connect_options()).await?;
        let mut retries: Vec<Retry> = self.models.iter().map(|_| Retry::default()).collect();
        // One process per SQLite file: this runner holds every projection.
        let held = vec![true; self.models.len()];
        for model in &self.models {
            ensure(&mut Conn::Sqlite(&mut conn), model).await?;
            self.signals.set(model.name(), |h| h.running_here = true);
        }
        loop {
            self.drain_held(&mut Conn::Sqlite(&mut conn), &held, &mut retries)
                .await;
            conn.ping().await?;
            let wait = next_wait(&retries);
            tokio::select! {
                _ = self.signals.appended.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

fn next_wait(retries: &[Retry]) -> Duration {
    let now = Instant::now();
    retries
        .iter()
        .filter_map(|r| r.not_before)
        .map(|t| t.saturating_duration_since(now))
        .min()
        .map_or(IDLE, |d| d.min(IDLE))
}

/// Applies batches until the projection is up to date or a batch fails.
async fn drain(
    conn: &mut Conn<'_>,
    model: &ReadModel,
    batch: u32,
    retry: &mut Retry,
    signals: &Signals,
) {
    let name = model.name();
    loop {
        if retry.not_before.is_some_and(|t| Instant::now() < t) {
            return;
        }
        // After a failure, go one event at a time to find the one that fails.
        let limit = if retry.failures > 0 { 1 } else { batch };
        match run_batch(conn, model, Target::Live, limit).await {
            Ok(done) => {
                if retry.failures > 0 {
                    tracing::info!(projection = name, "projection moving again");
                }
                *retry = Retry::default();
                signals.set(name, |h| {
                    h.generation = done.generation;
                    h.cursor = done.cursor.to_string();
                    h.events_applied = done.events_applied;
                    h.stalled = None;
                });
                metrics::gauge!("prconfirm_projection_stalled", "projection" => name).set(0.0);
                metrics::gauge!("prconfirm_projection_events_applied", "projection" => name)
                    .set(done.events_applied as f64);
                if done.read > 0 {
                    metrics::counter!("prconfirm_projection_events_total", "projection" => name)
                        .increment(done.read as u64);
                    signals.applied.notify_waiters();
                }
                if done.read < limit as usize {
                    return;
                }
            }
            Err(e) => {
                retry.failures += 1;
                let backoff = Duration::from_millis(100)
                    .saturating_mul(1 << retry.failures.min(10))
                    .min(MAX_BACKOFF);
                retry.not_before = Some(Instant::now() + backoff);
                tracing::error!(projection = name, attempt = retry.failures, error = %e,
                    "projection batch failed; retrying");
                if retry.failures >= STALL_AFTER {
                    let message = e.to_string();
                    signals.set(name, |h| h.stalled = Some(message.clone()));
                    metrics::gauge!("prconfirm_projection_stalled", "projection" => name).set(1.0);
                    if let Err(e) = record_stall(conn, name, &message).await {
                        tracing::warn!(error = %e, "cannot record the stall");
                    }
                }
                return;
            }
        }
    }
}

/// Records in the live checkpoint that the projection is stuck after it, and why.
async fn record_stall(conn: &mut Conn<'_>, name: &str, error: &str) -> Result<(), sqlx::Error> {
    let sql = "UPDATE projection_checkpoints SET stalled_at = \
               CAST(tx AS TEXT) || '.' || CAST(position AS TEXT), stalled_error = $2 \
               WHERE name = $1 AND generation = \
               (SELECT live_generation FROM projections WHERE name = $1)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(name)
        .bind(error)
        .execute(&mut **c)
        .await
        .map(drop))
}
