//! The command line: `prconfirm serve`, `prconfirm migrate`, `prconfirm audit ...`.

use clap::{Parser, Subcommand};

use crate::audit::{self, AuditCommand};
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
    /// Verify the tamper-evident log, export it, sign and export checkpoints.
    #[command(subcommand)]
    Audit(AuditCommand),
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
        Command::Migrate => {
            let db = startup::open_database(&cli.settings).await?;
            db.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Audit(command) => audit::run(&cli.settings, command).await,
    }
}
