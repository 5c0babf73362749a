//! The accounts reactor: on an accepted invitation, the department creates the applicant's
//! portal account and e-mails the credentials, exactly once per acceptance; the same again
//! when an officer reissues the credentials (whose append already ended the old account).
//!
//! The acceptance's request only appends `InvitationAccepted` and answers. Here, outside any
//! transaction, the reactor draws a username and a temporary password (Argon2 hashing is the
//! slow part) and records `AccountCreated` on the case (the system's `CreateAccount`, at the
//! version it loaded, so a second runner or a retry cannot record a second one); then, in the
//! runtime's transaction with its checkpoint, it writes the account row and queues the
//! credentials e-mail. A crash between the two leaves `AccountCreated` with no account: the
//! retry finds the event, keeps its username and writes the account with a fresh password.
//! The password exists only in memory and in the queued message until it is sent.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use prconfirm_commands::accounts::{self, AccountError, Accounts};
use prconfirm_commands::{Actor, CaseService, CommandError, RequestMeta};
use prconfirm_domain::case::{CaseCommand, CaseError, CaseEvent, Stage};
use prconfirm_domain::values::ActorId;
use prconfirm_projections::mail::{self, text};
use prconfirm_projections::runtime::{Item, ItemError, Reactor};

use super::item::item_error;
use prconfirm_projections::store::Conn;

/// The reactor's name: its checkpoint, lease and parked items.
pub const REACTOR: &str = "accounts";

/// Creates applicants' accounts after their acceptance.
#[derive(Debug, Clone)]
pub struct AccountsReactor {
    pub cases: Arc<CaseService>,
    pub accounts: Accounts,
    /// How long a temporary password stays valid.
    pub temporary_password_valid_for: Duration,
}

/// An account to write, with the message that carries its credentials.
#[derive(Debug)]
pub struct NewAccount {
    username: String,
    password_hash: String,
    expires_at: DateTime<Utc>,
    /// The sequence of the case's `AccountCreated`: the message's id.
    created: i64,
    recipient: String,
    language: prconfirm_domain::values::Language,
    mail: (String, String),
}

fn account_error(e: AccountError) -> ItemError {
    match e {
        AccountError::Storage(e) => ItemError::storage(&e),
        AccountError::UsernameTaken(_) => {
            ItemError::Refused("the case has an account already".into())
        }
        other => ItemError::Failed(other.to_string()),
    }
}

/// The account an acceptance led to: the first `AccountCreated` after it, if recorded.
fn created_after(
    history: &[cqrs_es::EventEnvelope<prconfirm_domain::Case>],
    accepted: i64,
) -> Option<(i64, ActorId, DateTime<Utc>)> {
    history
        .iter()
        .find_map(|e| match &e.payload {
            CaseEvent::AccountCreated {
                username,
                temporary_password_expires_at,
                ..
            } if i64::try_from(e.sequence).unwrap_or(i64::MAX) > accepted => Some((
                i64::try_from(e.sequence).unwrap_or(i64::MAX),
                username.clone(),
                temporary_password_expires_at,
            )),
            _ => None,
        })
        .map(|(seq, username, expires)| (seq, username, *expires))
}

impl AccountsReactor {
    /// Records `AccountCreated` with fresh credentials; answers them with the event's
    /// sequence, or `None` if the case no longer waits for an account.
    async fn create(
        &self,
        item: &Item,
        version: u64,
        correlation: Option<uuid::Uuid>,
    ) -> Result<Option<(i64, String, String, String, DateTime<Utc>)>, ItemError> {
        let (issued, hash) = self
            .accounts
            .draw_applicant(self.temporary_password_valid_for)
            .await
            .map_err(account_error)?;
        let username = ActorId::parse(&issued.username)
            .map_err(|e| ItemError::Failed(format!("drawn username: {e}")))?;
        let mut meta = RequestMeta::new(Actor::system());
        meta.expected_version = Some(version);
        if let Some(c) = correlation {
            meta.correlation_id = c;
        }
        let command = CaseCommand::CreateAccount {
            username,
            temporary_password_expires_at: issued.expires_at,
        };
        match self.cases.execute(&item.case_id, command, &meta).await {
            Ok(committed) => Ok(Some((
                i64::try_from(committed.version).unwrap_or(i64::MAX),
                issued.username,
                issued.temporary_password,
                hash,
                issued.expires_at,
            ))),
            // The case moved since it was loaded: look again shortly.
            Err(
                CommandError::Conflict | CommandError::Rejected(CaseError::StaleVersion { .. }),
            ) => Err(ItemError::Failed("the case changed meanwhile".into())),
            // Closed, say, before its account was made: nothing is due.
            Err(CommandError::Rejected(_)) => Ok(None),
            Err(e) => Err(item_error(e)),
        }
    }
}

#[async_trait]
impl Reactor for AccountsReactor {
    type Work = NewAccount;

    fn name(&self) -> &'static str {
        REACTOR
    }

    fn wants(&self, event: &CaseEvent) -> bool {
        matches!(
            event,
            CaseEvent::InvitationAccepted { .. } | CaseEvent::CredentialsReissued { .. }
        )
    }

    /// Argon2 hashing of the temporary passwords spreads over the cores, a case each.
    fn concurrency(&self) -> usize {
        prconfirm_projections::runtime::cores()
    }

    fn items_per_round(&self) -> usize {
        2 * prconfirm_projections::runtime::cores()
    }

    async fn prepare(&self, item: &Item) -> Result<Option<NewAccount>, ItemError> {
        let history = self
            .cases
            .history(&item.case_id)
            .await
            .map_err(item_error)?;
        let mut case = prconfirm_domain::Case::default();
        for e in &history {
            case.apply_event(e.payload.clone());
        }
        let Some(file) = case.file.clone() else {
            return Err(ItemError::Refused("the case has no file".into()));
        };
        let correlation = history
            .iter()
            .find(|e| i64::try_from(e.sequence).unwrap_or(i64::MAX) == item.sequence)
            .and_then(|e| e.metadata.get("correlation_id"))
            .and_then(|c| uuid::Uuid::parse_str(c).ok());
        let (created, username, password, hash, expires_at) =
            match created_after(&history, item.sequence) {
                Some((created, username, expires_at)) => {
                    let existing = self
                        .accounts
                        .applicant_username(&item.case_id)
                        .await
                        .map_err(account_error)?;
                    if existing.is_some() {
                        // Done before (the account and its message went together).
                        return Ok(None);
                    }
                    if !matches!(case.stage, Stage::AwaitingPasswordChange { .. }) {
                        // Moved on without an account of its own (generated cases only: an
                        // applicant cannot change a password they were never given).
                        return Ok(None);
                    }
                    // Recorded, but the account was not written (a crash between the two):
                    // the event's username, a new password.
                    let (password, hash) =
                        self.accounts.draw_password().await.map_err(account_error)?;
                    (created, username.to_string(), password, hash, expires_at)
                }
                None if case.stage == Stage::AwaitingAccount => {
                    match self.create(item, case.version, correlation).await? {
                        Some(created) => created,
                        None => return Ok(None),
                    }
                }
                None => return Ok(None),
            };
        let mail = text::credentials(file.language, &username, &password, expires_at);
        Ok(Some(NewAccount {
            username,
            password_hash: hash,
            expires_at,
            created,
            recipient: file.email.as_str().to_owned(),
            language: file.language,
            mail,
        }))
    }

    async fn record(
        &self,
        conn: &mut Conn<'_>,
        item: &Item,
        account: NewAccount,
    ) -> Result<(), ItemError> {
        if accounts::applicant_of(conn, &item.case_id)
            .await
            .map_err(account_error)?
            .is_some()
        {
            return Ok(());
        }
        accounts::insert_applicant(
            conn,
            &item.case_id,
            &account.username,
            &account.password_hash,
            account.expires_at,
        )
        .await
        .map_err(account_error)?;
        let envelope = mail::Envelope {
            case_id: &item.case_id,
            sequence: account.created,
            kind: mail::MailKind::Credentials,
            language: account.language,
            recipient: &account.recipient,
        };
        mail::queue(conn, &envelope, &account.mail).await?;
        tracing::info!(case = %item.case_id, "applicant account created");
        Ok(())
    }
}
