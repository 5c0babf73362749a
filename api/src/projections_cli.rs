//! `prconfirm projections status | rebuild NAME`.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use prconfirm_migrations::Database;
use prconfirm_projections::models::ReadModel;
use prconfirm_projections::runner::{self, RebuildProgress};
use prconfirm_projections::store::Conn;

use crate::settings::Settings;
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Each projection's generation, position, events applied and lag behind the log.
    Status,
    /// Build a projection afresh from the first event into new tables while the current ones
    /// keep serving, then switch to them in one transaction.
    Rebuild {
        /// `case_views` (case_status, officer_queue), `stats` or `deadlines`; `all` for every
        /// one (side by side on PostgreSQL).
        name: String,
        /// Events per batch.
        #[arg(long, default_value_t = 5000)]
        batch: u32,
    },
}

/// Runs a `projections` command.
///
/// # Errors
/// Storage errors, or an unknown projection.
pub async fn run(settings: &Settings, command: ProjectionsCommand) -> anyhow::Result<()> {
    let db = startup::open_database(settings).await?;
    let outcome = match command {
        ProjectionsCommand::Status => status(&db).await,
        ProjectionsCommand::Rebuild { name, batch } => rebuild(settings, &db, &name, batch).await,
    };
    db.close().await;
    outcome
}

async fn status(db: &Database) -> anyhow::Result<()> {
    let total = runner::feed_length(db).await?;
    let rows = runner::status(db).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<12} {:>4} {:>5} {:>22} {:>12} {:>10}  stalled",
        "projection", "gen", "live", "cursor", "applied", "lag"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<12} {:>4} {:>5} {:>22} {:>12} {:>10}  {}",
            r.name,
            r.generation,
            if r.live { "yes" } else { "no" },
            r.cursor,
            r.events_applied,
            (total - r.events_applied).max(0),
            r.stalled_error
                .map(|e| format!("at {}: {e}", r.stalled_at.unwrap_or_default()))
                .unwrap_or_else(|| "-".into()),
        )?;
    }
    Ok(())
}

async fn rebuild(settings: &Settings, db: &Database, name: &str, batch: u32) -> anyhow::Result<()> {
    let models: Vec<_> = settings
        .read_models()
        .into_iter()
        .filter(|m| name == "all" || m.name() == name)
        .collect();
    if models.is_empty() {
        anyhow::bail!("no projection named {name} (case_views, stats, deadlines or all)");
    }
    let total = runner::feed_length(db).await?;
    let started = Instant::now();
    // On PostgreSQL the projections are rebuilt side by side, each on its own connection:
    // one rebuild alternates between this process folding and the server writing, so
    // several keep both busy. SQLite has one writer at a time: one after another.
    let one_line = models.len() == 1 && std::io::stderr().is_terminal();
    match db {
        Database::Postgres(_) => {
            futures::future::try_join_all(
                models
                    .iter()
                    .map(|model| rebuild_one(db, model, batch, total, one_line)),
            )
            .await?;
        }
        Database::Sqlite(_) => {
            for model in &models {
                rebuild_one(db, model, batch, total, one_line).await?;
            }
        }
    }
    if models.len() > 1 {
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "all: {} projections over {total} events in {elapsed:.1} s ({:.0} events/s)",
            models.len(),
            total as f64 / elapsed.max(1e-3)
        );
    }
    Ok(())
}

/// Rebuilds one projection, showing progress: one line redrawn on a terminal (`one_line`),
/// else a line every 5 s.
async fn rebuild_one(
    db: &Database,
    model: &ReadModel,
    batch: u32,
    total: i64,
    one_line: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut show = |p: RebuildProgress| {
        let elapsed = started.elapsed().as_secs_f64();
        let rate = p.events_applied as f64 / elapsed.max(1e-3);
        let left = ((total - p.events_applied).max(0) as f64 / rate.max(1.0)).round();
        let line = format!(
            "{}: {}/{} events, {:.0} events/s, {}s left",
            model.name(),
            p.events_applied,
            total,
            rate,
            left
        );
        if one_line {
            eprint!("\r\x1b[2K{line}");
        } else if last_line.elapsed().as_secs() >= 5 {
            eprintln!("{line}");
            last_line = Instant::now();
        }
    };
    let generation = match db {
        Database::Postgres(pool) => {
            let mut c = pool.acquire().await?;
            runner::rebuild(&mut Conn::Pg(&mut c), model, batch, &mut show).await
        }
        Database::Sqlite(pool) => {
            let mut c = pool.acquire().await?;
            runner::rebuild(&mut Conn::Sqlite(&mut c), model, batch, &mut show).await
        }
    }
    .with_context(|| format!("rebuilding {}", model.name()))?;
    let elapsed = started.elapsed().as_secs_f64();
    if one_line {
        eprintln!();
    }
    println!(
        "{}: generation {generation} live; {total} events in {elapsed:.1} s ({:.0} events/s)",
        model.name(),
        total as f64 / elapsed.max(1e-3)
    );
    Ok(())
}

/// `prconfirm generate`: synthetic cases, with progress on a terminal.
///
/// # Errors
/// Storage errors.
pub async fn generate(
    settings: &Settings,
    cases: u64,
    seed: u64,
    chunk: usize,
) -> anyhow::Result<()> {
    use prconfirm_commands::generate::{generate, Plan};
    let db = startup::open_database(settings).await?;
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let plan = Plan {
        cases,
        seed,
        chunk: chunk.max(1),
        now: chrono::Utc::now(),
    };
    let outcome = generate(&db, plan, |done, events| {
        if terminal {
            let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
            eprint!("\r\x1b[2K{done}/{cases} cases, {events} events, {rate:.0} events/s");
        }
    })
    .await;
    db.close().await;
    let events = outcome?;
    if terminal {
        eprintln!();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{cases} cases, {events} events in {elapsed:.1} s ({:.0} events/s)",
        events as f64 / elapsed.max(1e-3)
    );
    Ok(())
}
