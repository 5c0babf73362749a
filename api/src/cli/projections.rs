//! `prconfirm projections status | rebuild NAME|all`, and `prconfirm generate`.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use prconfirm_migrations::Database;
use prconfirm_projections::models::ReadModel;
use prconfirm_projections::runner::{self, RebuildProgress, RebuildSettings};

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
        /// one, from one read of the log.
        name: String,
        /// Events per page of the feed.
        #[arg(long, default_value_t = RebuildSettings::default().batch)]
        batch: u32,
        /// Case states each projection holds in memory while filling (more is faster on a
        /// long log whose cases stay open a long time; each is about 1 to 2 KiB).
        #[arg(long, default_value_t = RebuildSettings::default().cache_cases)]
        cache_cases: usize,
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
        ProjectionsCommand::Rebuild {
            name,
            batch,
            cache_cases,
        } => {
            let tuning = RebuildSettings { batch, cache_cases };
            rebuild(settings, &db, &name, tuning).await
        }
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

async fn rebuild(
    settings: &Settings,
    db: &Database,
    name: &str,
    rebuild: RebuildSettings,
) -> anyhow::Result<()> {
    let keys = crate::startup::privacy_keys(settings, db).await?;
    let models: Vec<_> = settings
        .read_models(&keys.blind_index)
        .into_iter()
        .filter(|m| name == "all" || m.name() == name)
        .collect();
    if models.is_empty() {
        anyhow::bail!("no projection named {name} (case_views, stats, deadlines or all)");
    }
    let names: Vec<&str> = models.iter().map(ReadModel::name).collect();
    let names = names.join(", ");
    let total = runner::feed_length(db).await?;
    let started = Instant::now();
    // One line redrawn on a terminal, else a line every 5 s.
    let one_line = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let show = |p: RebuildProgress| {
        let elapsed = started.elapsed().as_secs_f64();
        let rate = p.events_applied as f64 / elapsed.max(1e-3);
        let left = ((total - p.events_applied).max(0) as f64 / rate.max(1.0)).round();
        let line = format!(
            "{names}: {}/{total} events, {rate:.0} events/s, {left}s left",
            p.events_applied
        );
        if one_line {
            eprint!("\r\x1b[2K{line}");
        } else if last_line.elapsed().as_secs() >= 5 {
            eprintln!("{line}");
            last_line = Instant::now();
        }
    };
    let done = runner::rebuild(db, &keys.persons, &models, rebuild, show)
        .await
        .with_context(|| format!("rebuilding {names}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    if one_line {
        eprintln!();
    }
    for (name, generation) in &done.generations {
        println!("{name}: generation {generation} live");
    }
    println!(
        "{names}: {total} events in {elapsed:.1} s ({:.0} events/s); {} case states read back",
        total as f64 / elapsed.max(1e-3),
        done.reloaded
    );
    Ok(())
}

/// `prconfirm generate`: synthetic cases, with progress on a terminal.
///
/// # Errors
/// Storage errors.
pub async fn generate(
    settings: &Settings,
    plan: prconfirm_commands::generate::Plan,
) -> anyhow::Result<()> {
    use prconfirm_commands::generate::generate;
    let db = startup::open_database(settings).await?;
    let keys = startup::privacy_keys(settings, &db).await?;
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let cases = plan.cases;
    let outcome = generate(&db, &keys, plan, |done, events| {
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
