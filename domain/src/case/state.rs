//! The case as its events left it: an enum of stages, each with the data it has. `apply`
//! never checks a rule and never fails: the events already happened.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::event::{CaseEvent, CaseFile, ReturnReason};
use super::stage_name::StageName;
use crate::photo_quality::QualityFlag;
use crate::values::{ActorId, Address, DocumentNumber, MailingAddress, PhotoRef, Text};

/// One applicant's confirmation case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Who the case is about; `None` only before the invitation.
    pub file: Option<CaseFile>,
    /// The portal username, once the account exists.
    pub username: Option<ActorId>,
    pub stage: Stage,
    /// The officer working on the case, if any (the lease may have run out).
    pub claim: Option<Claim>,
    /// How many events the case has: the sequence of the last one.
    pub version: u64,
    /// When the invitation went out (absent from snapshots taken before it was kept).
    #[serde(default)]
    pub invited_at: Option<DateTime<Utc>>,
    /// When the temporary password lapsed unused, until new credentials are asked for or
    /// made: the case needs an officer (absent from snapshots taken before it was kept).
    #[serde(default)]
    pub credentials_lapsed_at: Option<DateTime<Utc>>,
    /// Officers' notes, oldest first (absent from snapshots taken before notes existed).
    #[serde(default)]
    pub notes: Vec<Note>,
    /// A minor's case: the guardian's case, whose session acts on this one (absent from
    /// snapshots taken before guardians existed, which had no minors).
    #[serde(default)]
    pub guardian_case: Option<String>,
}

/// A note an officer wrote on the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Note {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub by: ActorId,
    pub at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::values::stored::text")]
    pub text: Text,
}

/// An officer's lease on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub holder: ActorId,
    pub until: DateTime<Utc>,
}

/// Where the case stands, with the data of that stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// No invitation yet: the case does not exist.
    #[default]
    New,
    Invited {
        respond_by: DateTime<Utc>,
        /// Whether the reminder went out (absent from snapshots taken before reminders).
        #[serde(default)]
        reminded: bool,
    },
    /// Invitation accepted (or the temporary password lapsed): credentials are due.
    AwaitingAccount,
    AwaitingPasswordChange {
        expires_at: DateTime<Utc>,
    },
    /// The applicant is giving presence, address and photo; officers review.
    Confirming(Progress),
    /// The applicant is abroad; nothing moves until they return.
    OnHold {
        progress: Progress,
        since: DateTime<Utc>,
    },
    PrGranted(Granted),
    CardOrdered(Granted),
    CardMailed(Granted),
    /// Left the portal for an in-person landing. Terminal.
    Referred(Referral),
    /// Closed at someone's request. Terminal.
    Withdrawn {
        by: ActorId,
        #[serde(deserialize_with = "crate::values::stored::text")]
        reason: Text,
    },
}

/// What the applicant has given so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// When the applicant last declared being in Canada.
    pub presence: Option<DateTime<Utc>>,
    pub address: Option<Addresses>,
    pub photo: PhotoState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    #[serde(deserialize_with = "crate::values::stored::address")]
    pub residential: Address,
    #[serde(default, deserialize_with = "crate::values::stored::opt_mailing")]
    pub mailing: Option<MailingAddress>,
}

/// The applicant's latest photo and where its review stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PhotoState {
    #[default]
    Missing,
    AwaitingReview(UploadedPhoto),
    Returned {
        photo: UploadedPhoto,
        reason: ReturnReason,
        #[serde(default, deserialize_with = "crate::values::stored::opt_text")]
        note: Option<Text>,
    },
    Accepted(UploadedPhoto),
}

impl PhotoState {
    /// The photo, whatever its review says; `None` if there is none yet.
    pub fn uploaded(&self) -> Option<&UploadedPhoto> {
        match self {
            Self::Missing => None,
            Self::AwaitingReview(p) | Self::Accepted(p) | Self::Returned { photo: p, .. } => {
                Some(p)
            }
        }
    }
}

/// An uploaded photo and what the machine pre-check flagged on it, for the officer who reviews
/// it (the flags are advice: the officer decides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPhoto {
    pub reference: PhotoRef,
    pub quality_flags: Vec<QualityFlag>,
}

/// A permanent resident: the eCoPR in force and the ones it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Granted {
    pub granted_on: NaiveDate,
    /// The moment of the grant (absent from snapshots taken before it was kept).
    #[serde(default)]
    pub granted_at: Option<DateTime<Utc>>,
    pub granted_by: ActorId,
    /// Set by `EcoprIssued`, which the same command always records right after the grant.
    pub ecopr: Option<Ecopr>,
    #[serde(default, deserialize_with = "crate::values::stored::opt_text")]
    pub amendment_requested: Option<Text>,
    pub addresses: Option<Addresses>,
    pub photo: Option<PhotoRef>,
}

/// The eCoPR in force and the numbers it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ecopr {
    pub document_number: DocumentNumber,
    pub issued_on: NaiveDate,
    pub superseded: Vec<DocumentNumber>,
}

/// Why a case left the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Referral {
    InvitationDeclined,
    InvitationExpired,
    Officer {
        by: ActorId,
        #[serde(deserialize_with = "crate::values::stored::text")]
        reason: Text,
    },
}

impl Stage {
    pub fn name(&self) -> StageName {
        match self {
            Self::New => StageName::New,
            Self::Invited { .. } => StageName::Invited,
            Self::AwaitingAccount => StageName::AwaitingAccount,
            Self::AwaitingPasswordChange { .. } => StageName::AwaitingPasswordChange,
            Self::Confirming(_) => StageName::Confirming,
            Self::OnHold { .. } => StageName::OnHold,
            Self::PrGranted(_) => StageName::PrGranted,
            Self::CardOrdered(_) => StageName::CardOrdered,
            Self::CardMailed(_) => StageName::CardMailed,
            Self::Referred(_) => StageName::Referred,
            Self::Withdrawn { .. } => StageName::Withdrawn,
        }
    }

    /// Referred and withdrawn cases accept nothing more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Referred(_) | Self::Withdrawn { .. })
    }

    /// Invited and not yet a permanent resident nor closed: officers may claim, refer or
    /// withdraw.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Self::Invited { .. }
                | Self::AwaitingAccount
                | Self::AwaitingPasswordChange { .. }
                | Self::Confirming(_)
                | Self::OnHold { .. }
        )
    }

    /// The eCoPR in force, once PR is granted.
    pub fn granted(&self) -> Option<&Granted> {
        match self {
            Self::PrGranted(g) | Self::CardOrdered(g) | Self::CardMailed(g) => Some(g),
            _ => None,
        }
    }

    fn granted_mut(&mut self) -> Option<&mut Granted> {
        match self {
            Self::PrGranted(g) | Self::CardOrdered(g) | Self::CardMailed(g) => Some(g),
            _ => None,
        }
    }

    fn progress_mut(&mut self) -> Option<&mut Progress> {
        match self {
            Self::Confirming(p) | Self::OnHold { progress: p, .. } => Some(p),
            _ => None,
        }
    }
}

impl Case {
    /// The case's state after `event`. Total: an event that does not fit the stage (which
    /// `decide` never emits) leaves the stage as it is.
    pub fn apply_event(&mut self, event: CaseEvent) {
        use CaseEvent as E;
        self.version += 1;
        let stage = std::mem::take(&mut self.stage);
        self.stage = match (stage, event) {
            (
                _,
                E::Invited {
                    file,
                    respond_by,
                    guardian_case,
                    at,
                },
            ) => {
                self.file = Some(file);
                self.guardian_case = guardian_case;
                self.invited_at = Some(at);
                Stage::Invited {
                    respond_by,
                    reminded: false,
                }
            }
            (Stage::Invited { respond_by, .. }, E::InvitationReminded { .. }) => Stage::Invited {
                respond_by,
                reminded: true,
            },
            (_, E::InvitationAccepted { .. }) => Stage::AwaitingAccount,
            (_, E::InvitationAcceptedByGuardian { .. }) => Stage::Confirming(Progress::default()),
            (_, E::InvitationDeclined { .. }) => {
                self.close(Stage::Referred(Referral::InvitationDeclined))
            }
            (_, E::InvitationExpired { .. }) => {
                self.close(Stage::Referred(Referral::InvitationExpired))
            }
            (
                _,
                E::AccountCreated {
                    username,
                    temporary_password_expires_at,
                    ..
                },
            ) => {
                self.username = Some(username);
                self.credentials_lapsed_at = None;
                Stage::AwaitingPasswordChange {
                    expires_at: temporary_password_expires_at,
                }
            }
            (_, E::TemporaryPasswordExpired { at }) => {
                self.credentials_lapsed_at = Some(at);
                Stage::AwaitingAccount
            }
            (_, E::CredentialsReissued { .. }) => {
                self.credentials_lapsed_at = None;
                self.username = None;
                Stage::AwaitingAccount
            }
            (_, E::PasswordChanged { .. }) => Stage::Confirming(Progress::default()),
            (Stage::Confirming(mut p), E::PresenceDeclared { at }) => {
                p.presence = Some(at);
                Stage::Confirming(p)
            }
            (Stage::Confirming(mut p), E::LeftCanada { at }) => {
                p.presence = None;
                Stage::OnHold {
                    progress: p,
                    since: at,
                }
            }
            (Stage::OnHold { mut progress, .. }, E::ReturnedToCanada { at }) => {
                progress.presence = Some(at);
                Stage::Confirming(progress)
            }
            (
                mut stage,
                E::AddressConfirmed {
                    residential,
                    mailing,
                    ..
                },
            ) => {
                if let Some(p) = stage.progress_mut() {
                    p.address = Some(Addresses {
                        residential,
                        mailing,
                    });
                }
                stage
            }
            (
                mut stage,
                E::PhotoUploaded {
                    photo,
                    quality_flags,
                    ..
                },
            ) => {
                if let Some(p) = stage.progress_mut() {
                    p.photo = PhotoState::AwaitingReview(UploadedPhoto {
                        reference: photo,
                        quality_flags,
                    });
                }
                stage
            }
            (mut stage, E::PhotoAccepted { .. }) => {
                if let Some(p) = stage.progress_mut() {
                    if let PhotoState::AwaitingReview(photo) = &p.photo {
                        p.photo = PhotoState::Accepted(photo.clone());
                    }
                }
                stage
            }
            (mut stage, E::PhotoReturned { reason, note, .. }) => {
                if let Some(p) = stage.progress_mut() {
                    if let PhotoState::AwaitingReview(photo) = &p.photo {
                        p.photo = PhotoState::Returned {
                            photo: photo.clone(),
                            reason,
                            note,
                        };
                    }
                }
                stage
            }
            (Stage::Confirming(p), E::PermanentResidenceGranted { by, on, at }) => {
                self.claim = None;
                let photo = match p.photo {
                    PhotoState::Accepted(photo) => Some(photo.reference),
                    _ => None,
                };
                Stage::PrGranted(Granted {
                    granted_on: on,
                    granted_at: Some(at),
                    granted_by: by,
                    ecopr: None,
                    amendment_requested: None,
                    addresses: p.address,
                    photo,
                })
            }
            (
                mut stage,
                E::EcoprIssued {
                    document_number,
                    issued_on,
                    ..
                },
            ) => {
                if let Some(g) = stage.granted_mut() {
                    g.ecopr = Some(Ecopr {
                        document_number,
                        issued_on,
                        superseded: Vec::new(),
                    });
                }
                stage
            }
            (Stage::PrGranted(g), E::PrCardOrdered { .. }) => Stage::CardOrdered(g),
            (Stage::CardOrdered(g), E::PrCardMailed { .. }) => Stage::CardMailed(g),
            (mut stage, E::AmendmentRequested { details, .. }) => {
                if let Some(g) = stage.granted_mut() {
                    g.amendment_requested = Some(details);
                }
                stage
            }
            (
                mut stage,
                E::EcoprAmended {
                    document_number,
                    issued_on,
                    ..
                },
            ) => {
                if let Some(g) = stage.granted_mut() {
                    if let Some(e) = g.ecopr.as_mut() {
                        let old = std::mem::replace(&mut e.document_number, document_number);
                        e.superseded.push(old);
                        e.issued_on = issued_on;
                    }
                    g.amendment_requested = None;
                }
                stage
            }
            (stage, E::CaseClaimed { by, until, .. }) => {
                self.claim = Some(Claim { holder: by, until });
                stage
            }
            (stage, E::ClaimReleased { .. } | E::ClaimExpired { .. }) => {
                self.claim = None;
                stage
            }
            (_, E::ReferredToInPersonLanding { by, reason, .. }) => {
                self.close(Stage::Referred(Referral::Officer { by, reason }))
            }
            (_, E::CaseWithdrawn { by, reason, .. }) => self.close(Stage::Withdrawn { by, reason }),
            (stage, E::NoteAdded { by, text, at }) => {
                self.notes.push(Note { by, at, text });
                stage
            }
            (stage, _) => stage,
        };
    }

    fn close(&mut self, stage: Stage) -> Stage {
        self.claim = None;
        stage
    }
}
