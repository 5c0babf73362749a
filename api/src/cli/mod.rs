//! The command line: `prconfirm serve`, `migrate`, `staff ...`, `audit ...`,
//! `projections ...`, `consumers ...`, `backup`, `privacy ...`.

use clap::{Parser, Subcommand};

pub mod audit;
pub mod backup;
pub mod consumers;
pub mod invite;
pub mod privacy;
pub mod projections;
pub mod staff;

use self::audit::AuditCommand;
use self::backup::BackupArgs;
use self::consumers::ConsumersCommand;
use self::privacy::PrivacyCommand;
use self::projections::ProjectionsCommand;
use self::staff::StaffCommand;
use crate::settings::{Keys, LogFormat, PersonalData, Rules, Settings, Store};
use crate::startup;

/// Confirm permanent residence online: the case back end.
#[derive(Debug, Parser)]
#[command(name = "prconfirm", version)]
pub struct Cli {
    /// Log line format.
    #[arg(long, env = "PRCONFIRM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (migrates the database first).
    Serve {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        store: Store,
    },
    /// Manage staff accounts.
    Staff {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        keys: Keys,
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Verify the tamper-evident log, export it, sign and export checkpoints.
    Audit {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        keys: Keys,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Inspect and rebuild the read models.
    Projections {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        rules: Rules,
        #[command(flatten)]
        privacy: PersonalData,
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Inspect the consumers of the log (read models and reactors) and retry parked items.
    Consumers {
        #[command(flatten)]
        store: Store,
        #[command(subcommand)]
        command: ConsumersCommand,
    },
    /// Invite a batch of people from a file (CSV or NDJSON), each row on its own, as the
    /// named officer; per-row results on standard output, progress on standard error.
    Invite {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        keys: Keys,
        #[command(flatten)]
        privacy: PersonalData,
        #[command(flatten)]
        rules: Rules,
        #[command(flatten)]
        args: invite::InviteArgs,
    },
    /// Copy the embedded database (consistent while serving) and then the blob store into a
    /// directory; on PostgreSQL, after pg_dump, the blob store only (docs/operations.md).
    Backup {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        keys: Keys,
        #[command(flatten)]
        args: BackupArgs,
    },
    /// The keys that protect personal data: their status, and rotating the key-encryption
    /// key.
    Privacy {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        privacy: PersonalData,
        #[command(subcommand)]
        command: PrivacyCommand,
    },
    /// Append synthetic cases (driven through the rules, chained like real ones) for
    /// benchmarks and demonstrations. Never on a production database.
    Generate {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        privacy: PersonalData,
        /// How many cases.
        #[arg(long)]
        cases: u64,
        /// Seed of the case mix and of the case ids (use a new one to add more).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Events per insert statement.
        #[arg(long, default_value_t = 5000)]
        chunk: usize,
        /// Cases whose events are interleaved in time order, as in a real log (1: each
        /// case's events together).
        #[arg(long, default_value_t = 20_000)]
        interleave: u64,
    },
}

/// Sets up logging. Log lines never carry secrets or personal data: handlers log ids only.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRCONFIRM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the command failed with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing(cli.log_format);
    match cli.command {
        Command::Serve { settings } => startup::serve(&settings).await,
        Command::Staff {
            store,
            keys,
            command,
        } => staff::run(&Settings::from_groups(store, Some(keys), None)?, command).await,
        Command::Migrate { store } => {
            let db = startup::open_database(&Settings::from_groups(store, None, None)?).await?;
            db.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Audit {
            store,
            keys,
            command,
        } => audit::run(&Settings::from_groups(store, Some(keys), None)?, command).await,
        Command::Projections {
            store,
            rules,
            privacy,
            command,
        } => {
            let mut settings = Settings::from_groups(store, None, Some(rules))?;
            settings.privacy = privacy;
            projections::run(&settings, command).await
        }
        Command::Invite {
            store,
            keys,
            privacy,
            rules,
            args,
        } => {
            let mut settings = Settings::from_groups(store, Some(keys), Some(rules))?;
            settings.privacy = privacy;
            invite::run(&settings, args).await
        }
        Command::Consumers { store, command } => {
            consumers::run(&Settings::from_groups(store, None, None)?, command).await
        }
        Command::Backup { store, keys, args } => {
            backup::run(&Settings::from_groups(store, Some(keys), None)?, &args).await
        }
        Command::Privacy {
            store,
            privacy,
            command,
        } => {
            let mut settings = Settings::from_groups(store, None, None)?;
            settings.privacy = privacy;
            privacy::run(&settings, command).await
        }
        Command::Generate {
            store,
            privacy,
            cases,
            seed,
            chunk,
            interleave,
        } => {
            let plan = prconfirm_commands::generate::Plan {
                cases,
                seed,
                chunk: chunk.max(1),
                interleave,
                now: chrono::Utc::now(),
            };
            let mut settings = Settings::from_groups(store, None, None)?;
            settings.privacy = privacy;
            projections::generate(&settings, plan).await
        }
    }
}
