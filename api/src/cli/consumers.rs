//! `prconfirm consumers status | parked | retry`: the consumers of the log as an operator
//! sees them, across every instance (read from the database, not from one instance's
//! memory).

use std::io::Write;

use chrono::{TimeZone, Utc};
use clap::Subcommand;
use prconfirm_migrations::Database;
use prconfirm_projections::runner;
use prconfirm_projections::runtime::{parked, status, Kind};
use serde::Serialize;

use crate::settings::Settings;
use crate::startup;
use crate::workers;

#[derive(Debug, Subcommand)]
pub enum ConsumersCommand {
    /// Each consumer: its kind, where it stands, how far behind, whether it is stalled, and
    /// how many items it has parked.
    Status {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The items reactors parked, with their errors: oldest failure first.
    Parked {
        /// Only this consumer's.
        #[arg(long)]
        consumer: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make parked items due for another try now, refused ones included (one that is refused
    /// again is parked again). A running instance picks them up within a second.
    Retry {
        /// Only this consumer's.
        #[arg(long)]
        consumer: Option<String>,
        /// Only this item (as `consumers parked` names it).
        #[arg(long)]
        item: Option<String>,
    },
}

/// Runs a `consumers` command.
///
/// # Errors
/// Storage errors, or an unknown consumer.
pub async fn run(settings: &Settings, command: ConsumersCommand) -> anyhow::Result<()> {
    let named = match &command {
        ConsumersCommand::Parked { consumer, .. } | ConsumersCommand::Retry { consumer, .. } => {
            consumer.as_deref()
        }
        ConsumersCommand::Status { .. } => None,
    };
    if let Some(name) = named {
        if !workers::ALL.contains(&name) {
            anyhow::bail!(
                "no consumer named {name} (the consumers are {})",
                workers::ALL.join(", ")
            );
        }
    }
    let db = startup::open_database(settings).await?;
    let outcome = match command {
        ConsumersCommand::Status { json } => status(&db, json).await,
        ConsumersCommand::Parked { consumer, json } => list(&db, consumer.as_deref(), json).await,
        ConsumersCommand::Retry { consumer, item } => {
            let n = parked::retry(&db, consumer.as_deref(), item.as_deref(), Utc::now()).await?;
            println!("{n} parked item(s) due for another try now");
            Ok(())
        }
    };
    db.close().await;
    outcome
}

/// One consumer's line of `consumers status`.
#[derive(Debug, Serialize)]
struct Line {
    consumer: &'static str,
    kind: &'static str,
    cursor: String,
    /// Events of the feed it has not reached (or, for the mail sender, messages queued).
    behind: i64,
    parked: i64,
    parked_alerting: i64,
    stalled: Option<String>,
}

async fn status(db: &Database, json: bool) -> anyhow::Result<()> {
    let total = runner::feed_length(db).await?;
    let projections = runner::status(db).await?;
    let reactors = status::reactors(db).await?;
    let counts = parked::counts(db).await?;
    let mut lines = Vec::new();
    for name in workers::ALL {
        let (all, alerting) = counts.get(name).copied().unwrap_or((0, 0));
        let mut line = Line {
            consumer: name,
            kind: Kind::Reactor.as_str(),
            cursor: String::new(),
            behind: 0,
            parked: all,
            parked_alerting: alerting,
            stalled: None,
        };
        if let Some(p) = projections.iter().find(|p| p.name == name && p.live) {
            line.kind = Kind::ReadModel.as_str();
            line.cursor = p.cursor.clone();
            line.behind = (total - p.events_applied).max(0);
            line.stalled = p
                .stalled_error
                .as_ref()
                .map(|e| format!("at {}: {e}", p.stalled_at.clone().unwrap_or_default()));
        } else if let Some(r) = reactors.iter().find(|r| r.name == name) {
            if matches!(name, "mail" | "ecopr" | "accounts") {
                line.cursor = r.cursor.to_string();
                line.behind = status::events_after(db, r.cursor).await?;
            }
            line.stalled = r.stalled_error.as_ref().map(|e| {
                let since = r.stalled_since.map(millis_text).unwrap_or_default();
                format!("since {since}: {e}")
            });
        }
        if name == "mail_delivery" {
            line.behind = status::queued_mail(db).await?;
        }
        lines.push(line);
    }
    let mut out = std::io::stdout().lock();
    if json {
        for line in &lines {
            writeln!(out, "{}", serde_json::to_string(line)?)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<14} {:<10} {:>22} {:>10} {:>7} {:>9}  stalled",
        "consumer", "kind", "cursor", "behind", "parked", "alerting"
    )?;
    for l in lines {
        writeln!(
            out,
            "{:<14} {:<10} {:>22} {:>10} {:>7} {:>9}  {}",
            l.consumer,
            l.kind,
            if l.cursor.is_empty() { "-" } else { &l.cursor },
            l.behind,
            l.parked,
            l.parked_alerting,
            l.stalled.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

fn millis_text(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

async fn list(db: &Database, consumer: Option<&str>, json: bool) -> anyhow::Result<()> {
    let items = parked::list(db, consumer).await?;
    let mut out = std::io::stdout().lock();
    if json {
        for item in &items {
            writeln!(out, "{}", serde_json::to_string(item)?)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<14} {:<52} {:>8} {:<8} {:<20} error",
        "consumer", "item", "attempts", "state", "next try"
    )?;
    for p in items {
        let state = if p.refused {
            "refused"
        } else if p.attempts == 0 {
            "behind"
        } else {
            "retrying"
        };
        let next = if p.refused || p.attempts == 0 {
            "-".to_owned()
        } else {
            millis_text(p.next_attempt_at)
        };
        writeln!(
            out,
            "{:<14} {:<52} {:>8} {:<8} {:<20} {}",
            p.consumer, p.item, p.attempts, state, next, p.error
        )?;
    }
    Ok(())
}
