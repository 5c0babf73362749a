//! Settings, in one place: defaults, overridden by `PRCONFIRM_*` environment variables (and
//! `DATABASE_URL`), overridden by command-line flags. Loaded once in `main` and passed down;
//! nothing else reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything the service can be told.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Where the embedded database, blobs, outgoing mail and keys live.
    #[arg(
        long,
        env = "PRCONFIRM_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "PRCONFIRM_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// PostgreSQL URL. When absent, the embedded SQLite file in the data directory is used.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<SecretString>,

    /// Largest number of pooled database connections.
    #[arg(
        long,
        env = "PRCONFIRM_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,

    /// Snapshot a case every this many events (0: never).
    #[arg(
        long,
        env = "PRCONFIRM_SNAPSHOT_EVERY",
        default_value_t = 20,
        global = true
    )]
    pub snapshot_every: usize,

    /// Days an applicant has to answer an invitation, unless the officer gives a date.
    #[arg(
        long,
        env = "PRCONFIRM_INVITATION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub invitation_days: i64,

    /// Hours a temporary password stays valid.
    #[arg(
        long,
        env = "PRCONFIRM_TEMPORARY_PASSWORD_HOURS",
        default_value_t = 72,
        global = true
    )]
    pub temporary_password_hours: i64,
    /// The Ed25519 key that signs audit checkpoints (created, mode 0600, on first use).
    /// Default: `<data dir>/keys/audit-ed25519.key`. Keep it off the database's machine if you
    /// can: whoever holds it can sign a rewritten history.
    #[arg(long, env = "PRCONFIRM_AUDIT_KEY", global = true)]
    pub audit_key: Option<PathBuf>,

    /// While serving, sign an audit checkpoint over new events every this many seconds
    /// (0: never).
    #[arg(
        long,
        env = "PRCONFIRM_AUDIT_CHECKPOINT_SECS",
        default_value_t = 300,
        global = true
    )]
    pub audit_checkpoint_secs: u64,

    /// Log line format.
    #[arg(long, env = "PRCONFIRM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

impl Settings {
    /// Where the audit signing key lives.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit_key
            .clone()
            .unwrap_or_else(|| prconfirm_commands::audit::keys::default_key_path(&self.data_dir))
    }
}
