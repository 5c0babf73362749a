//! The command line: `prconfirm serve`, `migrate`, `staff ...`, `audit ...`,
//! `projections ...`, `consumers ...`.

use clap::{Parser, Subcommand};

pub mod audit;
pub mod consumers;
pub mod projections;
pub mod staff;

use self::audit::AuditCommand;
use self::consumers::ConsumersCommand;
use self::projections::ProjectionsCommand;
use self::staff::StaffCommand;
use crate::settings::{LogFormat, Settings};
use crate::startup;

/// Confirm permanent residence online: the case back end.
#[derive(Debug, Parser)]
#[command(name = "prconfirm", version)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (migrates the database first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Verify the tamper-evident log, export it, sign and export checkpoints.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Inspect and rebuild the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Inspect the consumers of the log (read models and reactors) and retry parked items.
    #[command(subcommand)]
    Consumers(ConsumersCommand),
    /// Append synthetic cases (driven through the rules, chained like real ones) for
    /// benchmarks and demonstrations. Never on a production database.
    Generate {
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
    init_tracing(cli.settings.log_format);
    match cli.command {
        Command::Serve => startup::serve(&cli.settings).await,
        Command::Staff { command } => staff::run(&cli.settings, command).await,
        Command::Migrate => {
            let db = startup::open_database(&cli.settings).await?;
            db.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Audit(command) => audit::run(&cli.settings, command).await,
        Command::Projections(command) => projections::run(&cli.settings, command).await,
        Command::Consumers(command) => consumers::run(&cli.settings, command).await,
        Command::Generate {
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
            projections::generate(&cli.settings, plan).await
        }
    }
}
