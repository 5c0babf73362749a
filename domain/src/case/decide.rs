//! The rules: `decide` turns a command into events or a typed refusal. Pure: everything it
//! needs from outside comes in the command and its [`Ctx`].

use chrono::Duration;

use super::command::{CaseCommand, Ctx};
use super::error::{CaseError, Requirement};
use super::event::{CaseEvent, ReturnReason};
use super::state::{Case, PhotoState, Progress, Stage};

/// The longest lease an officer may take on a case in one claim.
pub const MAX_LEASE_HOURS: i64 = 8;

impl Case {
    /// Decides what `cmd` does to this case at `ctx.now`, as `ctx.actor`.
    ///
    /// # Errors
    /// A [`CaseError`] naming the rule the command breaks; then nothing happened.
    pub fn decide(&self, cmd: &CaseCommand, ctx: &Ctx) -> Result<Vec<CaseEvent>, CaseError> {
        use CaseCommand as C;
        use CaseEvent as E;
        let at = ctx.now;
        let refuse = || CaseError::InvalidTransition {
            command: cmd.name(),
            stage: self.stage.name(),
        };
        if let Some(expected) = ctx.expected_version {
            if expected != self.version {
                return Err(CaseError::StaleVersion {
                    expected,
                    actual: self.version,
                });
            }
        }
        // A note is a record about the case, not a step of it: closed cases take notes too.
        if let C::AddNote { text } = cmd {
            if self.stage == Stage::New {
                return Err(refuse());
            }
            return Ok(vec![E::NoteAdded {
                by: ctx.actor.clone(),
                text: text.clone(),
                at,
            }]);
        }
        if self.stage.is_terminal() {
            return Err(refuse());
        }
        if cmd.is_officer_decision() {
            self.check_not_claimed_by_another(ctx)?;
        }
        let event = match (cmd, &self.stage) {
            (
                C::Invite {
                    file,
                    respond_by,
                    guardian_case,
                },
                Stage::New,
            ) => {
                if *respond_by <= at {
                    return Err(CaseError::RespondByNotInFuture {
                        respond_by: *respond_by,
                        now: at,
                    });
                }
                E::Invited {
                    file: file.clone(),
                    respond_by: *respond_by,
                    guardian_case: guardian_case.clone(),
                    at,
                }
            }
            (C::AcceptInvitation | C::DeclineInvitation, Stage::Invited { respond_by, .. }) => {
                if at > *respond_by {
                    return Err(CaseError::InvitationExpired {
                        respond_by: *respond_by,
                    });
                }
                if matches!(cmd, C::AcceptInvitation) && self.guardian_case.is_some() {
                    E::InvitationAcceptedByGuardian {
                        by: ctx.actor.clone(),
                        at,
                    }
                } else if matches!(cmd, C::AcceptInvitation) {
                    E::InvitationAccepted { at }
                } else {
                    E::InvitationDeclined { at }
                }
            }
            (
                C::RemindInvitation,
                Stage::Invited {
                    respond_by,
                    reminded,
                },
            ) => {
                if *reminded {
                    return Err(CaseError::AlreadyReminded);
                }
                if at >= *respond_by {
                    return Err(CaseError::InvitationExpired {
                        respond_by: *respond_by,
                    });
                }
                E::InvitationReminded { at }
            }
            (C::ResendInvitation, Stage::Invited { respond_by, .. }) => {
                if at > *respond_by {
                    return Err(CaseError::InvitationExpired {
                        respond_by: *respond_by,
                    });
                }
                E::InvitationResent {
                    by: ctx.actor.clone(),
                    at,
                }
            }
            (
                C::ReissueCredentials,
                Stage::AwaitingAccount | Stage::AwaitingPasswordChange { .. },
            ) => E::CredentialsReissued {
                by: ctx.actor.clone(),
                at,
            },
            (C::ExpireInvitation, Stage::Invited { respond_by, .. }) => {
                if at <= *respond_by {
                    return Err(CaseError::InvitationStillOpen {
                        respond_by: *respond_by,
                    });
                }
                E::InvitationExpired { at }
            }
            (
                C::CreateAccount {
                    username,
                    temporary_password_expires_at,
                },
                Stage::AwaitingAccount,
            ) => {
                if *temporary_password_expires_at <= at {
                    return Err(CaseError::PasswordExpiryNotInFuture { now: at });
                }
                E::AccountCreated {
                    username: username.clone(),
                    temporary_password_expires_at: *temporary_password_expires_at,
                    at,
                }
            }
            (C::ExpireTemporaryPassword, Stage::AwaitingPasswordChange { expires_at }) => {
                if at < *expires_at {
                    return Err(CaseError::TemporaryPasswordStillValid {
                        expires_at: *expires_at,
                    });
                }
                E::TemporaryPasswordExpired { at }
            }
            (C::ChangePassword, Stage::AwaitingPasswordChange { expires_at }) => {
                if at >= *expires_at {
                    return Err(CaseError::TemporaryPasswordExpired {
                        expired_at: *expires_at,
                    });
                }
                E::PasswordChanged { at }
            }
            (C::DeclarePresence { in_canada: true }, Stage::Confirming(_)) => {
                E::PresenceDeclared { at }
            }
            (C::DeclarePresence { in_canada: false }, Stage::Confirming(_)) => E::LeftCanada { at },
            (C::ReportReturnToCanada, Stage::OnHold { .. }) => E::ReturnedToCanada { at },
            (
                C::ConfirmAddress {
                    residential,
                    mailing,
                },
                Stage::Confirming(_),
            ) => E::AddressConfirmed {
                residential: residential.clone(),
                mailing: mailing.clone(),
                at,
            },
            // The pre-check's flags are recorded, never judged: only the officer refuses.
            (C::UploadPhoto { photo, quality }, Stage::Confirming(_)) => {
                self.check_photo_upload()?;
                E::PhotoUploaded {
                    photo: photo.clone(),
                    quality_flags: quality.flags.clone(),
                    quality_measurements: Some(quality.measurements),
                    at,
                }
            }
            (C::AcceptPhoto, Stage::Confirming(p) | Stage::OnHold { progress: p, .. }) => {
                Self::check_photo_awaits_review(p)?;
                E::PhotoAccepted {
                    by: ctx.actor.clone(),
                    at,
                }
            }
            (
                C::ReturnPhoto { reason, note },
                Stage::Confirming(p) | Stage::OnHold { progress: p, .. },
            ) => {
                Self::check_photo_awaits_review(p)?;
                if *reason == ReturnReason::Other && note.is_none() {
                    return Err(CaseError::ReturnNoteRequired);
                }
                E::PhotoReturned {
                    by: ctx.actor.clone(),
                    reason: *reason,
                    note: note.clone(),
                    at,
                }
            }
            (C::GrantPermanentResidence { document_number }, Stage::Confirming(p)) => {
                let missing = Self::missing_for_approval(p);
                if !missing.is_empty() {
                    return Err(CaseError::NotReadyForApproval { missing });
                }
                let on = at.date_naive();
                return Ok(vec![
                    E::PermanentResidenceGranted {
                        by: ctx.actor.clone(),
                        on,
                        at,
                    },
                    E::EcoprIssued {
                        document_number: document_number.clone(),
                        issued_on: on,
                        by: ctx.actor.clone(),
                        at,
                    },
                ]);
            }
            (C::OrderPrCard, Stage::PrGranted(_)) => E::PrCardOrdered { at },
            (C::RecordPrCardMailed, Stage::CardOrdered(_)) => E::PrCardMailed { at },
            (C::RequestAmendment { details }, stage) if stage.granted().is_some() => {
                if stage
                    .granted()
                    .is_some_and(|g| g.amendment_requested.is_some())
                {
                    return Err(CaseError::AmendmentAlreadyRequested);
                }
                E::AmendmentRequested {
                    details: details.clone(),
                    at,
                }
            }
            (
                C::AmendEcopr {
                    document_number,
                    correction,
                },
                stage,
            ) if stage.granted().is_some_and(|g| g.ecopr.is_some()) => {
                let ecopr = stage
                    .granted()
                    .and_then(|g| g.ecopr.as_ref())
                    .ok_or_else(refuse)?;
                let used = ecopr.document_number == *document_number
                    || ecopr.superseded.contains(document_number);
                if used {
                    return Err(CaseError::DocumentNumberReused(document_number.clone()));
                }
                E::EcoprAmended {
                    replaces: ecopr.document_number.clone(),
                    document_number: document_number.clone(),
                    correction: correction.clone(),
                    issued_on: at.date_naive(),
                    by: ctx.actor.clone(),
                    at,
                }
            }
            (C::Claim { until }, stage) if stage.is_open() => {
                if *until <= at {
                    return Err(CaseError::LeaseNotInFuture { now: at });
                }
                if *until - at > Duration::hours(MAX_LEASE_HOURS) {
                    return Err(CaseError::LeaseTooLong {
                        max_hours: MAX_LEASE_HOURS,
                    });
                }
                self.check_not_claimed_by_another(ctx)?;
                E::CaseClaimed {
                    by: ctx.actor.clone(),
                    until: *until,
                    at,
                }
            }
            (C::ReleaseClaim, stage) if stage.is_open() => {
                let claim = self.claim.as_ref().ok_or(CaseError::NotClaimed)?;
                if claim.holder != ctx.actor {
                    return Err(CaseError::NotClaimHolder {
                        holder: claim.holder.clone(),
                    });
                }
                E::ClaimReleased {
                    by: ctx.actor.clone(),
                    at,
                }
            }
            (C::ExpireClaim, stage) if stage.is_open() => {
                let claim = self.claim.as_ref().ok_or(CaseError::NotClaimed)?;
                if at < claim.until {
                    return Err(CaseError::ClaimStillValid { until: claim.until });
                }
                E::ClaimExpired {
                    holder: claim.holder.clone(),
                    at,
                }
            }
            (C::ReferToInPersonLanding { reason }, stage) if stage.is_open() => {
                E::ReferredToInPersonLanding {
                    by: ctx.actor.clone(),
                    reason: reason.clone(),
                    at,
                }
            }
            (C::Withdraw { reason }, stage) if stage.is_open() => E::CaseWithdrawn {
                by: ctx.actor.clone(),
                reason: reason.clone(),
                at,
            },
            _ => return Err(refuse()),
        };
        Ok(vec![event])
    }

    /// Whether the case can take a photo now: the rule `decide` applies to `UploadPhoto`,
    /// asked before the photo is processed and stored, so that a refused upload stores
    /// nothing.
    ///
    /// # Errors
    /// [`CaseError::InvalidTransition`] unless the applicant is confirming (not on hold, not
    /// closed, not yet granted); [`CaseError::PhotoAlreadyAccepted`] once a photo is accepted.
    pub fn check_photo_upload(&self) -> Result<(), CaseError> {
        match &self.stage {
            Stage::Confirming(p) if matches!(p.photo, PhotoState::Accepted(_)) => {
                Err(CaseError::PhotoAlreadyAccepted)
            }
            Stage::Confirming(_) => Ok(()),
            stage => Err(CaseError::InvalidTransition {
                command: "UploadPhoto",
                stage: stage.name(),
            }),
        }
    }

    /// What the eCoPR still needs (2020 order: presence, address and an accepted photo).
    pub fn missing_for_approval(p: &Progress) -> Vec<Requirement> {
        let mut missing = Vec::new();
        if p.presence.is_none() {
            missing.push(Requirement::PresenceInCanada);
        }
        if p.address.is_none() {
            missing.push(Requirement::Address);
        }
        if !matches!(p.photo, PhotoState::Accepted(_)) {
            missing.push(Requirement::AcceptedPhoto);
        }
        missing
    }

    fn check_photo_awaits_review(p: &Progress) -> Result<(), CaseError> {
        match p.photo {
            PhotoState::AwaitingReview(_) => Ok(()),
            PhotoState::Accepted(_) => Err(CaseError::PhotoAlreadyAccepted),
            _ => Err(CaseError::NoPhotoToReview),
        }
    }

    fn check_not_claimed_by_another(&self, ctx: &Ctx) -> Result<(), CaseError> {
        match &self.claim {
            Some(c) if c.holder != ctx.actor && ctx.now < c.until => {
                Err(CaseError::ClaimedByAnother {
                    holder: c.holder.clone(),
                    until: c.until,
                })
            }
            _ => Ok(()),
        }
    }
}
