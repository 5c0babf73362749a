//! What an actor asks of a case, and what the command layer looked up for the rule to decide.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{CaseFile, ReturnReason};
use crate::photo_quality::QualityReport;
use crate::values::{ActorId, Address, DocumentNumber, MailingAddress, PhotoRef, Text};

/// What the rules need from outside the case: the time and who is asking. The aggregate has
/// no clock or identity of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ctx {
    pub now: DateTime<Utc>,
    pub actor: ActorId,
    /// The version the caller last saw (HTTP `If-Match`); a different one refuses the command.
    pub expected_version: Option<u64>,
}

/// Every command a case accepts. Imperative names; officer commands act as `ctx.actor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseCommand {
    /// Open the case and invite the applicant (officer or batch).
    Invite {
        file: CaseFile,
        respond_by: DateTime<Utc>,
        /// For an applicant under 18: the case of the adult family member who acts for them
        /// (the command layer checked the family and the ages).
        #[serde(default)]
        guardian_case: Option<String>,
    },
    /// The applicant accepts; on a minor's case, the guardian accepts for them (the caller
    /// checked that `ctx.actor` is the guardian).
    AcceptInvitation,
    DeclineInvitation,
    /// The answer date is near and no answer came: remind the applicant, once (system).
    RemindInvitation,
    /// The answer date passed with no answer (system).
    ExpireInvitation,
    /// The department created the portal account and mailed a temporary password (system).
    CreateAccount {
        username: ActorId,
        temporary_password_expires_at: DateTime<Utc>,
    },
    /// The temporary password lapsed unused (system); credentials must be sent again.
    ExpireTemporaryPassword,
    /// The applicant replaced the temporary password: the first step inside the portal.
    ChangePassword,
    /// `true`: physically in Canada now. `false`: abroad, so the case waits for the return.
    DeclarePresence {
        in_canada: bool,
    },
    ReportReturnToCanada,
    ConfirmAddress {
        residential: Address,
        mailing: Option<MailingAddress>,
    },
    /// A photo that passed the hard rules, with what the pre-check measured on it.
    UploadPhoto {
        photo: PhotoRef,
        quality: QualityReport,
    },
    AcceptPhoto,
    ReturnPhoto {
        reason: ReturnReason,
        note: Option<Text>,
    },
    /// Grant PR and issue the eCoPR with the number the command layer drew.
    GrantPermanentResidence {
        document_number: DocumentNumber,
    },
    /// The card went into production (system).
    OrderPrCard,
    /// The card was mailed (system).
    RecordPrCardMailed,
    RequestAmendment {
        details: Text,
    },
    AmendEcopr {
        document_number: DocumentNumber,
        correction: Text,
    },
    /// Take the case to work on it, until the lease ends.
    Claim {
        until: DateTime<Utc>,
    },
    ReleaseClaim,
    /// The lease ended with no release (system).
    ExpireClaim,
    ReferToInPersonLanding {
        reason: Text,
    },
    Withdraw {
        reason: Text,
    },
    /// Send the invitation again with a fresh code, while it is open (officers).
    ResendInvitation,
    /// New temporary credentials for an applicant who has not yet replaced the temporary
    /// password (lost, or lapsed unused) (officers).
    ReissueCredentials,
    /// Write a note on the case (officers), open or closed.
    AddNote {
        text: Text,
    },
}

impl CaseCommand {
    /// The command's name, as recorded in event metadata and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Invite { .. } => "Invite",
            Self::AcceptInvitation => "AcceptInvitation",
            Self::DeclineInvitation => "DeclineInvitation",
            Self::RemindInvitation => "RemindInvitation",
            Self::ExpireInvitation => "ExpireInvitation",
            Self::CreateAccount { .. } => "CreateAccount",
            Self::ExpireTemporaryPassword => "ExpireTemporaryPassword",
            Self::ChangePassword => "ChangePassword",
            Self::DeclarePresence { .. } => "DeclarePresence",
            Self::ReportReturnToCanada => "ReportReturnToCanada",
            Self::ConfirmAddress { .. } => "ConfirmAddress",
            Self::UploadPhoto { .. } => "UploadPhoto",
            Self::AcceptPhoto => "AcceptPhoto",
            Self::ReturnPhoto { .. } => "ReturnPhoto",
            Self::GrantPermanentResidence { .. } => "GrantPermanentResidence",
            Self::OrderPrCard => "OrderPrCard",
            Self::RecordPrCardMailed => "RecordPrCardMailed",
            Self::RequestAmendment { .. } => "RequestAmendment",
            Self::AmendEcopr { .. } => "AmendEcopr",
            Self::Claim { .. } => "Claim",
            Self::ReleaseClaim => "ReleaseClaim",
            Self::ExpireClaim => "ExpireClaim",
            Self::ReferToInPersonLanding { .. } => "ReferToInPersonLanding",
            Self::Withdraw { .. } => "Withdraw",
            Self::AddNote { .. } => "AddNote",
            Self::ResendInvitation => "ResendInvitation",
            Self::ReissueCredentials => "ReissueCredentials",
        }
    }

    /// Officer decisions, refused while another officer holds the case's claim.
    pub fn is_officer_decision(&self) -> bool {
        matches!(
            self,
            Self::AcceptPhoto
                | Self::ReturnPhoto { .. }
                | Self::GrantPermanentResidence { .. }
                | Self::AmendEcopr { .. }
                | Self::ReferToInPersonLanding { .. }
        )
    }
}

/// A command together with its context: what cqrs-es hands to `Case::handle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRequest {
    pub command: CaseCommand,
    pub ctx: Ctx,
}
