//! Settings, in one place: defaults, overridden by `PRCONFIRM_*` environment variables (and
//! `DATABASE_URL`), overridden by command-line flags. Loaded once in `main` and passed down;
//! nothing else reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, FromArgMatches, ValueEnum};
use secrecy::SecretString;

/// How log lines are written.
/// Every consumer there is, by name, in the order the runtime starts them.
pub const CONSUMERS: [&str; 8] = [
    "case_views",
    "stats",
    "deadlines",
    "mail",
    "mail_delivery",
    "ecopr",
    "accounts",
    "clock",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Where the data lives: the database and the data directory (blobs, mail, keys).
#[derive(Debug, Clone, Args)]
pub struct Store {
    /// Where the embedded database, blobs, outgoing mail and keys live.
    #[arg(long, env = "PRCONFIRM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// PostgreSQL URL. When absent, the embedded SQLite file in the data directory is used.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Largest number of pooled database connections.
    #[arg(long, env = "PRCONFIRM_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Snapshot a case every this many events (0: never).
    #[arg(long, env = "PRCONFIRM_SNAPSHOT_EVERY", default_value_t = 20)]
    pub snapshot_every: usize,
}

/// The key files outside the database.
#[derive(Debug, Clone, Args)]
pub struct Keys {
    /// The Ed25519 key that signs audit checkpoints (created, mode 0600, on first use).
    /// Default: `<data dir>/keys/audit-ed25519.key`. Keep it off the database's machine if you
    /// can: whoever holds it can sign a rewritten history.
    #[arg(long, env = "PRCONFIRM_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,

    /// The key that seals staff second-factor (TOTP) secrets in the database (created, mode
    /// 0600, on first use). Default: `<data dir>/keys/mfa-totp.key`. Without it no staff
    /// account can sign in: back it up with the database, never in the same place.
    #[arg(long, env = "PRCONFIRM_MFA_KEY")]
    pub mfa_key: Option<PathBuf>,
}

/// The keys that protect personal data, outside the database: the key-encryption key (KEK)
/// that wraps every person's data key, the KEKs a rotation moves keys from, the blind-index
/// key, and how many unwrapped data keys an instance keeps in memory.
#[derive(Debug, Clone, Args)]
pub struct PersonalData {
    /// The key-encryption key (created, mode 0600, on the first start of an empty database).
    /// Default: `<data dir>/keys/kek.key`. Every instance must use the same one. Without it
    /// no personal data can be read: back it up apart from the database, and keep each old
    /// one as long as the backups it protects.
    #[arg(long, env = "PRCONFIRM_KEK_FILE")]
    pub kek_file: Option<PathBuf>,

    /// Earlier key-encryption keys that may still unwrap data keys while a rotation moves
    /// them to `--kek-file` (comma-separated paths). New keys are never wrapped by these.
    #[arg(long, env = "PRCONFIRM_KEK_PREVIOUS", value_delimiter = ',')]
    pub previous_kek: Vec<PathBuf>,

    /// The key of the blind index by which cases are found by UCI and application number
    /// (created, mode 0600, on first use). Default: `<data dir>/keys/blind-index.key`.
    /// Every instance must use the same one; it is never rotated.
    #[arg(long, env = "PRCONFIRM_BLIND_INDEX_KEY")]
    pub blind_index_key: Option<PathBuf>,

    /// Unwrapped data keys kept in memory (0: none; each use then reads the database).
    #[arg(long, env = "PRCONFIRM_KEY_CACHE_SIZE", default_value_t = 10_000)]
    pub key_cache_size: usize,

    /// Seconds an unwrapped data key is kept in memory: after a disposal on another
    /// instance, the longest this one may still open that person's fields.
    #[arg(long, env = "PRCONFIRM_KEY_CACHE_SECS", default_value_t = 60)]
    pub key_cache_secs: u64,
}

/// The HTTP edge: where it listens, its time-outs and limits, who may read its figures.
#[derive(Debug, Clone, Args)]
pub struct Http {
    /// Address the HTTP server listens on.
    #[arg(long, env = "PRCONFIRM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Networks whose clients may read `/metrics` and the detail of `/readyz` (comma-separated
    /// CIDR); anyone else gets a bare `/readyz` status, unless holding the operator token.
    #[arg(
        long,
        env = "PRCONFIRM_OPERATOR_NETWORKS",
        default_value = "127.0.0.0/8,::1/128",
        value_delimiter = ','
    )]
    pub operator_networks: Vec<ipnet::IpNet>,

    /// A token that opens `/metrics` and the detail of `/readyz` from anywhere
    /// (`Authorization: Bearer <token>`); none by default.
    #[arg(long, env = "PRCONFIRM_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<SecretString>,

    /// Milliseconds a client has to send a request's whole head, and that an idle
    /// keep-alive connection stays open waiting for the next one.
    #[arg(
        long,
        env = "PRCONFIRM_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub http_header_timeout_ms: u64,

    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "PRCONFIRM_HTTP_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub http_body_timeout_secs: u64,

    /// Connections served at once; more wait in the listen queue until one closes.
    #[arg(
        long,
        env = "PRCONFIRM_HTTP_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub http_max_connections: u32,

    /// Longest a read with `?min_version=` waits for the view to reach that version, in
    /// milliseconds, before answering 503.
    #[arg(long, env = "PRCONFIRM_MIN_VERSION_WAIT_MS", default_value_t = 2000)]
    pub min_version_wait_ms: u64,
}

/// The case's rules that are settings: answer dates, password lifetimes, service standards,
/// reminders.
#[derive(Debug, Clone, Args)]
pub struct Rules {
    /// Days an applicant has to answer an invitation, unless the officer gives a date.
    #[arg(long, env = "PRCONFIRM_INVITATION_DAYS", default_value_t = 30)]
    pub invitation_days: i64,

    /// Hours a temporary password stays valid.
    #[arg(long, env = "PRCONFIRM_TEMPORARY_PASSWORD_HOURS", default_value_t = 72)]
    pub temporary_password_hours: i64,

    /// Seconds a temporary password stays valid; when set, it takes the place of
    /// `--temporary-password-hours` (for short windows, such as in tests).
    #[arg(long, env = "PRCONFIRM_TEMPORARY_PASSWORD_SECS")]
    pub temporary_password_secs: Option<i64>,

    /// Hours a photo may wait for review before its task is overdue (the service standard).
    #[arg(
        long,
        env = "PRCONFIRM_STANDARD_PHOTO_REVIEW_HOURS",
        default_value_t = 48
    )]
    pub standard_photo_review_hours: i64,

    /// Hours a case ready for the final review may wait before it is overdue.
    #[arg(
        long,
        env = "PRCONFIRM_STANDARD_FINAL_REVIEW_HOURS",
        default_value_t = 120
    )]
    pub standard_final_review_hours: i64,

    /// Hours after an invitation's answer date within which an officer should close it.
    #[arg(
        long,
        env = "PRCONFIRM_STANDARD_STALE_INVITATION_HOURS",
        default_value_t = 72
    )]
    pub standard_stale_invitation_hours: i64,

    /// Hours an eCoPR amendment request may wait before it is overdue.
    #[arg(
        long,
        env = "PRCONFIRM_STANDARD_AMENDMENT_HOURS",
        default_value_t = 240
    )]
    pub standard_amendment_hours: i64,

    /// Hours before an invitation's answer date that the applicant is reminded.
    #[arg(long, env = "PRCONFIRM_REMIND_BEFORE_HOURS", default_value_t = 168)]
    pub remind_before_hours: i64,

    /// Hours after PR is granted that the PR card is ordered.
    #[arg(long, env = "PRCONFIRM_ORDER_CARD_AFTER_HOURS", default_value_t = 24)]
    pub order_card_after_hours: i64,
}

/// What runs in the background of `serve`: the consumers of the log, mail, checkpoints.
#[derive(Debug, Clone, Args)]
pub struct Workers {
    /// SMTP relay for outgoing e-mail: `smtps://user:password@host:465`,
    /// `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtp://host:25` (no TLS:
    /// local relays only). When absent, each message is written as an `.eml` file under
    /// `<data dir>/mail/`. A secret: never echoed.
    #[arg(long, env = "PRCONFIRM_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// While serving, sign an audit checkpoint over new events every this many seconds
    /// (0: never).
    #[arg(long, env = "PRCONFIRM_AUDIT_CHECKPOINT_SECS", default_value_t = 300)]
    pub audit_checkpoint_secs: u64,

    /// How often the scheduler looks for deadlines that fell due, in milliseconds (it also
    /// looks after every batch the projections apply). 0 turns it off: deadlines then wait
    /// for an instance that runs it.
    #[arg(long, env = "PRCONFIRM_SCHEDULER_INTERVAL_MS", default_value_t = 1000)]
    pub scheduler_interval_ms: u64,

    /// Which consumers of the log this instance runs: `all` (the default), `none` (an
    /// instance that only answers HTTP), or a comma-separated list of `case_views`, `stats`,
    /// `deadlines`, `mail`, `mail_delivery`, `ecopr`, `accounts`, `clock`. Each consumer runs
    /// in one instance at a time whatever this says; the others stand by.
    #[arg(
        long,
        env = "PRCONFIRM_CONSUMERS",
        default_value = "all",
        value_parser = parse_consumers
    )]
    pub consumers: Consumers,

    /// Events per projection batch.
    #[arg(long, env = "PRCONFIRM_PROJECTION_BATCH", default_value_t = 500)]
    pub projection_batch: u32,
}

/// Everything the service can be told, in groups: `serve` takes them all, each other
/// subcommand the groups it uses (and the rest keep their defaults and environment).
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub store: Store,
    #[command(flatten)]
    pub keys: Keys,
    #[command(flatten)]
    pub privacy: PersonalData,
    #[command(flatten)]
    pub http: Http,
    #[command(flatten)]
    pub rules: Rules,
    #[command(flatten)]
    pub workers: Workers,
}

/// The consumers an instance runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumers {
    All,
    Only(Vec<String>),
}

fn parse_consumers(raw: &str) -> Result<Consumers, String> {
    match raw.trim() {
        "all" => Ok(Consumers::All),
        "none" | "" => Ok(Consumers::Only(Vec::new())),
        list => {
            let names: Vec<String> = list.split(',').map(|n| n.trim().to_owned()).collect();
            for name in &names {
                if !CONSUMERS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown consumer {name:?}; the consumers are {}",
                        CONSUMERS.join(", ")
                    ));
                }
            }
            Ok(Consumers::Only(names))
        }
    }
}

impl Settings {
    /// The settings of a subcommand that takes only some groups: the others as their
    /// defaults and the environment give them.
    ///
    /// # Errors
    /// An environment variable of another group that does not parse.
    pub fn from_groups(
        store: Store,
        keys: Option<Keys>,
        rules: Option<Rules>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            keys: keys.map_or_else(unset, Ok)?,
            privacy: unset()?,
            http: unset()?,
            rules: rules.map_or_else(unset, Ok)?,
            workers: unset()?,
        })
    }

    /// The settings `serve` would take from these arguments (flags only, no subcommand),
    /// the environment and the defaults: for tests and benchmarks that start the service
    /// in-process.
    ///
    /// # Errors
    /// An argument or environment variable that does not parse.
    pub fn from_args<I, T>(args: I) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = Self::augment_args(clap::Command::new("prconfirm").no_binary_name(true));
        let matches = command.try_get_matches_from(args)?;
        Ok(Self::from_arg_matches(&matches)?)
    }

    /// Whether this instance runs the consumer `name`.
    pub fn runs_consumer(&self, name: &str) -> bool {
        match &self.workers.consumers {
            Consumers::All => true,
            Consumers::Only(names) => names.iter().any(|n| n == name),
        }
    }

    /// The service standards of the officers' tasks.
    pub fn service_standards(&self) -> prconfirm_projections::models::ServiceStandards {
        let h = chrono::Duration::hours;
        prconfirm_projections::models::ServiceStandards {
            photo_review: h(self.rules.standard_photo_review_hours),
            final_review: h(self.rules.standard_final_review_hours),
            stale_invitation: h(self.rules.standard_stale_invitation_hours),
            amendment_request: h(self.rules.standard_amendment_hours),
            // A lapsed password is one officer's click away from mended: a day, not a setting.
            ..Default::default()
        }
    }

    /// When the case's deadlines fall.
    pub fn deadline_policy(&self) -> prconfirm_projections::models::DeadlinePolicy {
        prconfirm_projections::models::DeadlinePolicy {
            remind_before: chrono::Duration::hours(self.rules.remind_before_hours),
            order_card_after: chrono::Duration::hours(self.rules.order_card_after_hours),
        }
    }

    /// How long a temporary password stays valid.
    pub fn temporary_password_valid_for(&self) -> chrono::Duration {
        self.rules.temporary_password_secs.map_or_else(
            || chrono::Duration::hours(self.rules.temporary_password_hours),
            chrono::Duration::seconds,
        )
    }

    /// The read models this service keeps.
    pub fn read_models(
        &self,
        blind: &prconfirm_commands::privacy::BlindIndexKey,
    ) -> Vec<prconfirm_projections::models::ReadModel> {
        prconfirm_projections::models::ReadModel::all(
            self.service_standards(),
            self.deadline_policy(),
            blind.clone(),
        )
    }

    /// Where the key sealing staff second-factor secrets lives.
    pub fn mfa_key_path(&self) -> PathBuf {
        self.keys.mfa_key.clone().unwrap_or_else(|| {
            prconfirm_commands::accounts::mfa::default_key_path(&self.store.data_dir)
        })
    }

    /// Where the key-encryption key lives.
    pub fn kek_path(&self) -> PathBuf {
        self.privacy.kek_file.clone().unwrap_or_else(|| {
            prconfirm_commands::privacy::kek::default_key_path(&self.store.data_dir)
        })
    }

    /// Where the blind-index key lives.
    pub fn blind_index_key_path(&self) -> PathBuf {
        self.privacy.blind_index_key.clone().unwrap_or_else(|| {
            prconfirm_commands::privacy::blind::default_key_path(&self.store.data_dir)
        })
    }

    /// How many unwrapped data keys to keep, and for how long.
    pub fn key_cache(&self) -> prconfirm_commands::privacy::CacheSettings {
        prconfirm_commands::privacy::CacheSettings {
            capacity: self.privacy.key_cache_size,
            ttl: std::time::Duration::from_secs(self.privacy.key_cache_secs),
        }
    }

    /// Where the audit signing key lives.
    pub fn audit_key_path(&self) -> PathBuf {
        self.keys.audit_key.clone().unwrap_or_else(|| {
            prconfirm_commands::audit::keys::default_key_path(&self.store.data_dir)
        })
    }
}

/// A group's values when its subcommand does not take it: its defaults, overridden by the
/// environment.
fn unset<T: Args + FromArgMatches>() -> anyhow::Result<T> {
    let command = T::augment_args(clap::Command::new("prconfirm").no_binary_name(true));
    let matches = command.try_get_matches_from(std::iter::empty::<String>())?;
    Ok(T::from_arg_matches(&matches)?)
}
