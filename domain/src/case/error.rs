//! Why a case refused a command. Each variant names the broken rule and carries its data.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::stage_name::StageName;
use crate::values::{ActorId, DocumentNumber};

/// Something the eCoPR needs that the case does not have yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    PresenceInCanada,
    Address,
    AcceptedPhoto,
}

/// A refused command. A refusal emits no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("{command} is not possible while the case is {stage}")]
    InvalidTransition {
        command: &'static str,
        stage: StageName,
    },
    #[error("the case is at version {actual}, not {expected}")]
    StaleVersion { expected: u64, actual: u64 },
    #[error("the answer date {respond_by} must be after the invitation time {now}")]
    RespondByNotInFuture {
        respond_by: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("the invitation expired at {respond_by}")]
    InvitationExpired { respond_by: DateTime<Utc> },
    #[error("the invitation can be answered until {respond_by}")]
    InvitationStillOpen { respond_by: DateTime<Utc> },
    #[error("the applicant was already reminded of this invitation")]
    AlreadyReminded,
    #[error("the temporary password must expire after {now}")]
    PasswordExpiryNotInFuture { now: DateTime<Utc> },
    #[error("the temporary password expired at {expired_at}")]
    TemporaryPasswordExpired { expired_at: DateTime<Utc> },
    #[error("the temporary password is valid until {expires_at}")]
    TemporaryPasswordStillValid { expires_at: DateTime<Utc> },
    #[error("the photo was already accepted")]
    PhotoAlreadyAccepted,
    #[error("there is no photo waiting for review")]
    NoPhotoToReview,
    #[error("a photo returned for reason \"other\" needs a note")]
    ReturnNoteRequired,
    #[error("the eCoPR cannot be issued yet: missing {missing:?}")]
    NotReadyForApproval { missing: Vec<Requirement> },
    #[error("an amendment request is already waiting")]
    AmendmentAlreadyRequested,
    #[error("document number {0} was already used on this case")]
    DocumentNumberReused(DocumentNumber),
    #[error("the claim must end after {now}")]
    LeaseNotInFuture { now: DateTime<Utc> },
    #[error("a claim can last at most {max_hours} hours")]
    LeaseTooLong { max_hours: i64 },
    #[error("{holder} holds this case until {until}")]
    ClaimedByAnother {
        holder: ActorId,
        until: DateTime<Utc>,
    },
    #[error("nobody holds this case")]
    NotClaimed,
    #[error("{holder} holds this case, not the caller")]
    NotClaimHolder { holder: ActorId },
    #[error("the claim runs until {until}")]
    ClaimStillValid { until: DateTime<Utc> },
}

impl CaseError {
    /// A stable machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::StaleVersion { .. } => "stale_version",
            Self::RespondByNotInFuture { .. } => "respond_by_not_in_future",
            Self::InvitationExpired { .. } => "invitation_expired",
            Self::InvitationStillOpen { .. } => "invitation_still_open",
            Self::AlreadyReminded => "already_reminded",
            Self::PasswordExpiryNotInFuture { .. } => "password_expiry_not_in_future",
            Self::TemporaryPasswordExpired { .. } => "temporary_password_expired",
            Self::TemporaryPasswordStillValid { .. } => "temporary_password_still_valid",
            Self::PhotoAlreadyAccepted => "photo_already_accepted",
            Self::NoPhotoToReview => "no_photo_to_review",
            Self::ReturnNoteRequired => "return_note_required",
            Self::NotReadyForApproval { .. } => "not_ready_for_approval",
            Self::AmendmentAlreadyRequested => "amendment_already_requested",
            Self::DocumentNumberReused(_) => "document_number_reused",
            Self::LeaseNotInFuture { .. } => "lease_not_in_future",
            Self::LeaseTooLong { .. } => "lease_too_long",
            Self::ClaimedByAnother { .. } => "claimed_by_another",
            Self::NotClaimed => "not_claimed",
            Self::NotClaimHolder { .. } => "not_claim_holder",
            Self::ClaimStillValid { .. } => "claim_still_valid",
        }
    }
}
