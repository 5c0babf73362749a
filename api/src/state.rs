//! What every request handler can reach, and the multi-step operations several routes share.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Duration;
use prconfirm_commands::accounts::Accounts;
use prconfirm_commands::photo::BlobStore;
use prconfirm_commands::CaseService;
use prconfirm_domain::case::CaseFile;
use prconfirm_migrations::{on_db, Database};
use prconfirm_projections::mail::{self, SecretKind};
use prconfirm_projections::runtime::Signals;

use crate::http::error::ApiError;

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
    /// Longest a client may take to send a request's body.
    pub body_timeout: std::time::Duration,
    /// Who may read `/metrics` and `/readyz` in detail.
    pub operators: Operators,
}

/// Who may read the service's own figures: clients in these networks, or with this token
/// (kept as its SHA-256, compared in constant time).
#[derive(Debug, Clone)]
pub struct Operators {
    pub networks: Vec<ipnet::IpNet>,
    pub token_sha256: Option<[u8; 32]>,
}

impl Operators {
    /// Whether a request from `client` with `bearer` is an operator's.
    pub fn admit(&self, client: std::net::IpAddr, bearer: Option<&str>) -> bool {
        let client = match client {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        if self.networks.iter().any(|n| n.contains(&client)) {
            return true;
        }
        match (self.token_sha256, bearer) {
            (Some(expected), Some(given)) => {
                use sha2::Digest;
                let given: [u8; 32] = sha2::Sha256::digest(given.as_bytes()).into();
                subtle::ConstantTimeEq::ct_eq(&expected[..], &given[..]).into()
            }
            _ => false,
        }
    }
}

/// Shared, cheaply cloned application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Database,
    pub cases: Arc<CaseService>,
    pub accounts: Accounts,
    pub settings: Arc<ApiSettings>,
    /// Photos, content-addressed.
    pub blobs: BlobStore,
    /// The consumer runtime's signals and health.
    pub projections: Signals,
    /// Whether the database refuses connections (watched by `middleware::outage::watch`).
    pub reach: Arc<crate::middleware::outage::Reachability>,
    /// The person keys that seal and open personal fields, and the blind index.
    pub privacy: prconfirm_commands::privacy::PrivacyKeys,
}

impl AppState {
    /// The open case of the person `file` names (application number and UCI), if any: the
    /// holder of the claim the `Invited` event's append takes (migration `invited_people`), by
    /// the blind index of both.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn invited_case(&self, file: &CaseFile) -> Result<Option<String>, ApiError> {
        let sql = "SELECT case_id FROM invited_people WHERE application_number = $1 AND uci = $2";
        let blind = &self.privacy.blind_index;
        let found: Option<String> = on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(blind.application_number(&file.application_number).to_hex())
            .bind(blind.uci(&file.uci).to_hex())
            .fetch_optional(pool)
            .await)
        .map_err(crate::http::error::storage)?;
        Ok(found)
    }

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
            file.language,
            &code,
        )
        .await
        .map_err(mail_error)
    }

    /// Makes a fresh invitation code for an invited case about to record `InvitationResent`,
    /// parked both for the swap the event's append makes and for the e-mail.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn park_resent_invitation(
        &self,
        case_id: &str,
        file: &CaseFile,
    ) -> Result<(), ApiError> {
        let code = self.accounts.park_resent_invitation_code(case_id).await?;
        mail::store_secret(
            &self.db,
            case_id,
            SecretKind::Invitation,
            file.email.as_str(),
            file.language,
            &code,
        )
        .await
        .map_err(mail_error)
    }
}

fn mail_error(e: mail::MailError) -> ApiError {
    match e {
        mail::MailError::Storage(cause) => crate::http::error::storage(cause),
        other => {
            tracing::error!(error = %other, "mail");
            ApiError::Internal
        }
    }
}
