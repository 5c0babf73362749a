//! The online rebuild: new generations filled from the first event while the live ones
//! serve, then caught up and switched to.

use prconfirm_migrations::{on_conn, Database};

use super::batch::{apply_next, live_generation};
use super::generation::ensure;
use super::generation::{
    drop_generation, index_ddl, new_generation, point_views, set_live, Indexes,
};
use super::tx::{begin, finish, RunError};
use prconfirm_privacy::PersonKeys;

use crate::feed::{read_raw_on, FeedCursor};
use crate::models::{decode, ReadModel};
use crate::runtime::lease::rebuild_lock_key;
use crate::store::Conn;

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
    keys: &PersonKeys,
    models: &[ReadModel],
    settings: RebuildSettings,
    mut progress: impl FnMut(RebuildProgress) + Send,
) -> Result<Rebuilt, RunError> {
    let mut writer = db.dedicated().await?;
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
        let result = new_generation(conn, model, Indexes::AfterFill).await;
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
    let mut reader = db.dedicated().await?;
    let batch = settings.batch.max(1);
    let reader_keys = keys.clone();
    let read = tokio::spawn(async move {
        let mut after = FeedCursor::START;
        loop {
            let page = read_page(&mut reader.conn(), &reader_keys, after, batch).await;
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
        let result = switch(conn, keys, model, generation, batch, &mut progress).await;
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

async fn read_page(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    after: FeedCursor,
    limit: u32,
) -> Result<Page, RunError> {
    let raw = read_raw_on(conn, keys, after, limit).await?;
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

/// Inside one transaction holding the registry row: catches `generation` up to the last
/// event, points the views at it and makes it live. Answers the generation it replaced.
async fn switch(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    model: &ReadModel,
    generation: i64,
    batch: u32,
    progress: &mut (impl FnMut(RebuildProgress) + Send),
) -> Result<i64, RunError> {
    let old = live_generation(conn, model).await?;
    // The live runner waits on the registry row meanwhile: catch up to the last event it
    // could have applied, so the switch loses nothing and the views never go back.
    loop {
        let done = apply_next(conn, keys, model, generation, batch).await?;
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
    set_live(conn, model, generation).await?;
    Ok(old)
}
