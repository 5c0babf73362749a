//! `prconfirm staff ...`: staff accounts and their second factor, for the operator.
//!
//! `add` and `reset-mfa` print the enrolment URI (`otpauth://...`) on standard output, once;
//! nothing else is ever printed there, so it can be piped to a QR-code maker. Logs go to
//! standard error.

use std::io::Write;
use std::sync::Arc;

use clap::Subcommand;
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_commands::{ActorRole, SystemClock};
use prconfirm_domain::values::{ActorId, PersonName};

use crate::settings::Settings;
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a named staff account; the password is read from standard input. Prints the
    /// second factor's enrolment URI (otpauth://...) once, on standard output.
    Add {
        /// Lowercase letters, digits, '.', '_', '-' (1 to 64).
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: StaffRole,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The person's name as printed where a name is due, such as an officer's electronic
        /// signature on the eCoPR (e.g. "Marie-Ève Tremblay"); without it, the username.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Disable an account: it can no longer sign in, and its sessions end at once.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Give an account a new second factor (a lost phone): the old codes stop working, its
    /// sessions end, and the new enrolment URI is printed once on standard output.
    ResetMfa {
        #[arg(long)]
        username: String,
    },
    /// List the staff accounts (no secrets).
    List,
}

/// Roles a staff account can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StaffRole {
    Officer,
    Auditor,
    Analyst,
}

impl StaffRole {
    fn role(self) -> ActorRole {
        match self {
            Self::Officer => ActorRole::Officer,
            Self::Auditor => ActorRole::Auditor,
            Self::Analyst => ActorRole::Analyst,
        }
    }
}

/// Runs one `staff` subcommand.
///
/// # Errors
/// Whatever it failed with (a taken username, a refused password, no such account...).
pub async fn run(settings: &Settings, command: StaffCommand) -> anyhow::Result<()> {
    let key = startup::mfa_key(settings)?;
    let db = startup::open_database(settings).await?;
    let accounts = Accounts::new(
        db.clone(),
        PasswordHasherPool::new()?,
        Arc::new(SystemClock),
        key,
    );
    let outcome = run_on(&accounts, command).await;
    db.close().await;
    outcome
}

async fn run_on(accounts: &Accounts, command: StaffCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        StaffCommand::Add {
            username,
            role,
            password_stdin: _,
            display_name,
        } => {
            let username = parse_username(&username)?;
            let display_name = display_name
                .map(|n| PersonName::parse(&n))
                .transpose()
                .map_err(|e| anyhow::anyhow!("display name: {e}"))?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let role = role.role();
            let enrolment = accounts
                .create_staff_named(username.as_str(), role, password, display_name.as_ref())
                .await?;
            writeln!(out, "{}", enrolment.uri())?;
            tracing::info!(
                username = username.as_str(),
                role = role.as_str(),
                "staff account created; its second factor's enrolment URI is on standard output"
            );
        }
        StaffCommand::Disable { username } => {
            accounts.disable_staff(&username).await?;
            tracing::info!(username, "staff account disabled; its sessions ended");
        }
        StaffCommand::Enable { username } => {
            accounts.enable_staff(&username).await?;
            tracing::info!(username, "staff account enabled");
        }
        StaffCommand::ResetMfa { username } => {
            let enrolment = accounts.reset_second_factor(&username).await?;
            writeln!(out, "{}", enrolment.uri())?;
            tracing::info!(
                username,
                "second factor reset; its sessions ended; the new enrolment URI is on standard output"
            );
        }
        StaffCommand::List => {
            writeln!(
                out,
                "username\trole\tstate\tsecond_factor\tcreated_at\tdisplay_name"
            )?;
            for account in accounts.list_staff().await? {
                let state = account.disabled_at.map_or_else(
                    || "enabled".to_owned(),
                    |at| format!("disabled since {}", at.to_rfc3339()),
                );
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    account.username,
                    account.role,
                    state,
                    if account.second_factor {
                        "enrolled"
                    } else {
                        "none (staff reset-mfa)"
                    },
                    account.created_at.to_rfc3339(),
                    account.display_name.unwrap_or_default(),
                )?;
            }
        }
    }
    Ok(())
}

fn parse_username(username: &str) -> anyhow::Result<ActorId> {
    ActorId::parse(username).map_err(|e| anyhow::anyhow!("username: {e}"))
}
