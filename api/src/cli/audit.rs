//! `prconfirm audit ...`: verify the log, export it for outside verifiers, sign and export
//! checkpoints (see `docs/audit.md`).

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use prconfirm_commands::audit::{self, checkpoint, keys, AuditKey, Report};

use crate::settings::Settings;
use crate::startup;

/// What `prconfirm audit` can do.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash chain and checkpoint. Prints the report as JSON on stdout and
    /// exits non-zero, naming the first bad event, when anything does not verify.
    Verify {
        /// Checkpoints exported earlier (JSON lines), checked as well as the stored ones:
        /// they catch deleted newest events and deleted checkpoints.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// The Ed25519 public key (64 hex digits) to check signatures with. Default: the
        /// `.pub` file beside the audit key, or the key itself.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Write raw events with their hashes, one JSON object per line, for outside verifiers
    /// (`scripts/verify_export.py`).
    Export {
        #[arg(long)]
        out: PathBuf,
        /// Only this case's events.
        #[arg(long)]
        case: Option<String>,
        /// Only events that occurred at or after this time (RFC 3339). Per case, the export
        /// starts at its first such event: check it with `verify_export.py --window`.
        #[arg(long, value_parser = rfc3339)]
        from: Option<DateTime<Utc>>,
        /// Only events that occurred before this time (RFC 3339). Per case, the export stops
        /// before its first event at or after it.
        #[arg(long, value_parser = rfc3339)]
        to: Option<DateTime<Utc>>,
    },
    /// Sign a checkpoint over the events that arrived since the last one, now.
    Checkpoint,
    /// Stored checkpoints.
    #[command(subcommand)]
    Checkpoints(CheckpointsCommand),
}

/// `prconfirm audit checkpoints ...`
#[derive(Debug, Subcommand)]
pub enum CheckpointsCommand {
    /// Write every stored checkpoint, one JSON object per line: keep the file outside the
    /// database's reach and give it to `audit verify --checkpoints`.
    Export {
        #[arg(long)]
        out: PathBuf,
    },
}

fn rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time such as 2026-06-01T14:00:00Z: {e}"))
}

/// Creates an export for the auditor alone (mode 0600): it holds what the log holds.
fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let file = prconfirm_migrations::private::create_file(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::new(file))
}

/// Runs one audit command.
///
/// # Errors
/// If storage or a file cannot be used, or (for `verify`) the log does not verify.
pub async fn run(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify {
            checkpoints,
            public_key,
        } => verify(settings, checkpoints.as_deref(), public_key.as_deref()).await,
        AuditCommand::Export {
            out,
            case,
            from,
            to,
        } => {
            if let (Some(from), Some(to)) = (from, to) {
                if from >= to {
                    bail!("--from must be before --to");
                }
            }
            let db = startup::connect(settings).await?;
            let window = audit::export::Window { from, to };
            let written = audit::export::export_window(&db, case.as_deref(), window, create(&out)?)
                .await
                .context("exporting events")?;
            db.close().await;
            eprintln!("{written} events written to {}", out.display());
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let db = startup::open_database(settings).await?;
            let key = AuditKey::load_or_create(&settings.audit_key_path())?;
            let taken = audit::take_checkpoint(&db, &key, chrono::Utc::now())
                .await
                .context("taking a checkpoint")?;
            db.close().await;
            match taken {
                Some(cp) => println!("{}", serde_json::to_string(&cp)?),
                None => eprintln!("no new events since the last checkpoint"),
            }
            Ok(())
        }
        AuditCommand::Checkpoints(CheckpointsCommand::Export { out }) => {
            let db = startup::connect(settings).await?;
            let written = checkpoint::export(&db, create(&out)?)
                .await
                .context("exporting checkpoints")?;
            db.close().await;
            eprintln!("{written} checkpoints written to {}", out.display());
            Ok(())
        }
    }
}

async fn verify(
    settings: &Settings,
    checkpoints: Option<&Path>,
    public_key: Option<&str>,
) -> anyhow::Result<()> {
    let trusted = match public_key {
        Some(text) => Some(keys::parse_public_key(text)?),
        None => keys::public_key_for(&settings.audit_key_path())?,
    };
    let exported = checkpoints
        .map(|path| -> anyhow::Result<_> {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            Ok(checkpoint::read_exported(BufReader::new(file))?)
        })
        .transpose()?;
    let db = startup::connect(settings).await?;
    let terminal = std::io::stderr().is_terminal();
    let report = audit::verify(&db, trusted.as_ref(), exported, |p| {
        if terminal {
            eprint!("\rverified {} events", p.events_checked);
        }
    })
    .await
    .context("reading the log")?;
    db.close().await;
    if terminal {
        eprintln!();
    }
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &report)?;
    writeln!(stdout)?;
    stdout.flush()?;
    fail_unless_verified(&report)
}

fn fail_unless_verified(report: &Report) -> anyhow::Result<()> {
    let Some(bad) = &report.first_bad else {
        return Ok(());
    };
    let place = match (&bad.case, bad.sequence, bad.position) {
        (Some(case), Some(sequence), Some(position)) => {
            format!("case {case}, event {sequence}, position {position}")
        }
        (_, _, Some(position)) => format!("checkpoint at position {position}"),
        _ => "the log".to_owned(),
    };
    bail!(
        "the log does not verify ({} problems); first: {place}: {}",
        report.problems,
        bad.detail
    )
}
