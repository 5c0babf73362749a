//! What every request handler can reach, and the multi-step operations several routes share.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Duration;
use prconfirm_commands::accounts::Accounts;
use prconfirm_commands::photo::BlobStore;
use prconfirm_commands::{Actor, CaseService};
use prconfirm_domain::case::{CaseCommand, CaseFile, StageName};
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::Database;
use prconfirm_projections::mail::{self, SecretKind};
use prconfirm_projections::runner::Signals;
use tokio::sync::Notify;

use crate::error::ApiError;

/// Tunables the routes need.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Default time an applicant has to answer an invitation.
    pub invitation_valid_for: Duration,
    /// How long a temporary password stays valid.
    pub temporary_password_valid_for: Duration,
    /// Longest a read waits for a view to reach a `min_version`.
    pub min_version_wait: std::time::Duration,
    /// The audit signing key, whose public half `POST /v1/audit/verification` trusts.
    pub audit_key_path: PathBuf,
}

/// Shared, cheaply cloned application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Database,
    pub cases: Arc<CaseService>,
    pub accounts: Accounts,
    pub settings: Arc<ApiSettings>,
    /// Wakes the mail pipeline after a command that may need a message.
    pub mail_wakeup: Arc<Notify>,
    /// Photos, content-addressed.
    pub blobs: BlobStore,
    /// The projection runner's signals and health.
    pub projections: Signals,
    /// The eCoPR reactor's health in this instance.
    pub ecopr: Arc<std::sync::Mutex<ReactorHealth>>,
}

/// Rounds of a reactor that failed in a row, and the last failure: after
/// [`ReactorHealth::STALL_AFTER`] the instance reports itself degraded, until a round
/// succeeds. A reactor never skips the event that fails; it retries it every round.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReactorHealth {
    pub failures: u32,
    pub error: Option<String>,
}

impl ReactorHealth {
    /// Failed rounds in a row before the reactor counts as stalled.
    pub const STALL_AFTER: u32 = 5;

    pub fn stalled(&self) -> bool {
        self.failures >= Self::STALL_AFTER
    }
}

impl AppState {
    /// Makes the invitation code of a case about to be invited and parks it for the e-mail,
    /// before the `Invited` event exists, so the mail pipeline always finds it.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn park_invitation(&self, case_id: &str, file: &CaseFile) -> Result<(), ApiError> {
        let code = self.accounts.create_invitation_code(case_id).await?;
        mail::store_secret(
            &self.db,
            case_id,
            SecretKind::Invitation,
            file.email.as_str(),
            language(file.language),
            &code,
        )
        .await
        .map_err(mail_error)
    }

    /// Creates (or re-creates) the applicant's account with a temporary password, parks the
    /// password for the credentials e-mail, and records `AccountCreated` on the case.
    ///
    /// # Errors
    /// 409 unless the case is waiting for an account; storage errors.
    pub async fn issue_credentials(&self, case_id: &str) -> Result<(), ApiError> {
        let loaded = self.cases.load(case_id).await?.ok_or(ApiError::NotFound)?;
        if loaded.case.stage.name() != StageName::AwaitingAccount {
            return Err(ApiError::Transition(
                prconfirm_domain::CaseError::InvalidTransition {
                    command: "CreateAccount",
                    stage: loaded.case.stage.name(),
                },
            ));
        }
        let file = loaded.case.file.ok_or(ApiError::Internal)?;
        let issued = self
            .accounts
            .reissue_applicant(case_id, self.settings.temporary_password_valid_for)
            .await?;
        mail::store_secret(
            &self.db,
            case_id,
            SecretKind::Credentials,
            file.email.as_str(),
            language(file.language),
            &issued.temporary_password,
        )
        .await
        .map_err(mail_error)?;
        let username = ActorId::parse(&issued.username).map_err(|_| ApiError::Internal)?;
        let meta = crate::request::meta_for(Actor::system());
        self.cases
            .execute(
                case_id,
                CaseCommand::CreateAccount {
                    username,
                    temporary_password_expires_at: issued.expires_at,
                },
                &meta,
            )
            .await?;
        self.mail_wakeup.notify_one();
        Ok(())
    }
}

fn language(l: prconfirm_domain::values::Language) -> &'static str {
    match l {
        prconfirm_domain::values::Language::En => "en",
        prconfirm_domain::values::Language::Fr => "fr",
    }
}

fn mail_error(e: mail::MailError) -> ApiError {
    match e {
        mail::MailError::Storage(cause) => crate::error::storage(cause),
        other => {
            tracing::error!(error = %other, "mail");
            ApiError::Internal
        }
    }
}
