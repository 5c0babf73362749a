//! Given / when / then: every transition and every refusal of the case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::values::*;

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}
fn actor(name: &str) -> ActorId {
    ActorId::parse(name).unwrap()
}
fn ctx(minutes: i64, who: &str) -> Ctx {
    Ctx {
        now: t(minutes),
        actor: actor(who),
        expected_version: None,
    }
}
fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}
fn file() -> CaseFile {
    crate::fixtures::case_file("E001234567", "12345678", "Zoë")
}
use crate::fixtures::{address, flagged_quality, good_quality, photo};
use crate::photo_quality::QualityFlag;

/// The applicant uploads photo `seed`, which the pre-check found good.
fn upload(seed: u8) -> CaseCommand {
    CaseCommand::UploadPhoto {
        photo: photo(seed),
        quality: good_quality(),
    }
}
/// What the upload of a good photo `seed` records at `minutes`.
fn uploaded(seed: u8, minutes: i64) -> CaseEvent {
    CaseEvent::PhotoUploaded {
        photo: photo(seed),
        quality_flags: vec![],
        quality_measurements: Some(good_quality().measurements),
        at: t(minutes),
    }
}
/// Photo `seed` awaiting review, with no flag.
fn in_review(seed: u8) -> PhotoState {
    PhotoState::AwaitingReview(UploadedPhoto {
        reference: photo(seed),
        quality_flags: vec![],
    })
}
fn doc(n: u64) -> DocumentNumber {
    DocumentNumber::from_serial(n)
}

/// A case built from its history.
fn given(events: &[CaseEvent]) -> Case {
    let mut case = Case::default();
    for e in events {
        case.apply_event(e.clone());
    }
    case
}

mod history {
    use super::*;
    pub fn invited() -> Vec<CaseEvent> {
        vec![CaseEvent::Invited {
            file: file(),
            respond_by: t(1_000),
            guardian_case: None,
            at: t(0),
        }]
    }
    pub fn accepted() -> Vec<CaseEvent> {
        let mut h = invited();
        h.push(CaseEvent::InvitationAccepted { at: t(1) });
        h
    }
    pub fn account() -> Vec<CaseEvent> {
        let mut h = accepted();
        h.push(CaseEvent::AccountCreated {
            username: actor("a-1"),
            temporary_password_expires_at: t(100),
            at: t(2),
        });
        h
    }
    pub fn confirming() -> Vec<CaseEvent> {
        let mut h = account();
        h.push(CaseEvent::PasswordChanged { at: t(3) });
        h
    }
    pub fn photo_uploaded() -> Vec<CaseEvent> {
        let mut h = confirming();
        h.push(uploaded(1, 4));
        h
    }
    pub fn ready() -> Vec<CaseEvent> {
        let mut h = photo_uploaded();
        h.extend([
            CaseEvent::PresenceDeclared { at: t(5) },
            CaseEvent::AddressConfirmed {
                residential: address(),
                mailing: None,
                at: t(6),
            },
            CaseEvent::PhotoAccepted {
                by: actor("officer.b"),
                at: t(7),
            },
        ]);
        h
    }
    pub fn granted() -> Vec<CaseEvent> {
        let mut h = ready();
        h.extend([
            CaseEvent::PermanentResidenceGranted {
                by: actor("officer.b"),
                on: t(8).date_naive(),
                at: t(8),
            },
            CaseEvent::EcoprIssued {
                document_number: doc(1),
                issued_on: t(8).date_naive(),
                by: actor("officer.b"),
                at: t(8),
            },
        ]);
        h
    }
    pub fn claimed_by(officer: &str, until: i64) -> Vec<CaseEvent> {
        let mut h = photo_uploaded();
        h.push(CaseEvent::CaseClaimed {
            by: actor(officer),
            until: t(until),
            at: t(4),
        });
        h
    }
}

fn invalid(command: &'static str, stage: StageName) -> CaseError {
    CaseError::InvalidTransition { command, stage }
}

#[test]
fn an_officer_invites_a_new_applicant() {
    let events = given(&[])
        .decide(
            &CaseCommand::Invite {
                file: file(),
                respond_by: t(1_000),
                guardian_case: None,
            },
            &ctx(0, "officer.a"),
        )
        .unwrap();
    assert_eq!(events, history::invited());
    assert_eq!(
        given(&events).stage,
        Stage::Invited {
            respond_by: t(1_000),
            reminded: false,
        }
    );
}

#[test]
fn an_invitation_needs_an_answer_date_in_the_future() {
    let cmd = CaseCommand::Invite {
        file: file(),
        respond_by: t(0),
        guardian_case: None,
    };
    assert_eq!(
        given(&[]).decide(&cmd, &ctx(0, "officer.a")),
        Err(CaseError::RespondByNotInFuture {
            respond_by: t(0),
            now: t(0)
        })
    );
}

#[test]
fn a_case_is_invited_only_once() {
    let cmd = CaseCommand::Invite {
        file: file(),
        respond_by: t(2_000),
        guardian_case: None,
    };
    assert_eq!(
        given(&history::invited()).decide(&cmd, &ctx(5, "officer.a")),
        Err(invalid("Invite", StageName::Invited))
    );
}

#[test]
fn the_applicant_accepts_before_the_answer_date() {
    let case = given(&history::invited());
    assert_eq!(
        case.decide(&CaseCommand::AcceptInvitation, &ctx(1_000, "anonymous")),
        Ok(vec![CaseEvent::InvitationAccepted { at: t(1_000) }])
    );
    assert_eq!(
        case.decide(&CaseCommand::AcceptInvitation, &ctx(1_001, "anonymous")),
        Err(CaseError::InvitationExpired {
            respond_by: t(1_000)
        })
    );
}

#[test]
fn declining_refers_the_case_to_an_in_person_landing() {
    let case = given(&history::invited());
    let events = case
        .decide(&CaseCommand::DeclineInvitation, &ctx(10, "anonymous"))
        .unwrap();
    assert_eq!(events, vec![CaseEvent::InvitationDeclined { at: t(10) }]);
    let mut h = history::invited();
    h.extend(events);
    assert_eq!(
        given(&h).stage,
        Stage::Referred(Referral::InvitationDeclined)
    );
    assert_eq!(
        given(&history::invited()).decide(&CaseCommand::DeclineInvitation, &ctx(1_001, "x")),
        Err(CaseError::InvitationExpired {
            respond_by: t(1_000)
        })
    );
}

#[test]
fn an_unanswered_invitation_expires_only_after_its_date() {
    let case = given(&history::invited());
    assert_eq!(
        case.decide(&CaseCommand::ExpireInvitation, &ctx(1_000, "system")),
        Err(CaseError::InvitationStillOpen {
            respond_by: t(1_000)
        })
    );
    let events = case
        .decide(&CaseCommand::ExpireInvitation, &ctx(1_001, "system"))
        .unwrap();
    assert_eq!(events, vec![CaseEvent::InvitationExpired { at: t(1_001) }]);
    let mut h = history::invited();
    h.extend(events);
    assert_eq!(
        given(&h).stage,
        Stage::Referred(Referral::InvitationExpired)
    );
}

#[test]
fn an_invitation_is_reminded_once_and_only_while_it_is_open() {
    let case = given(&history::invited());
    let events = case
        .decide(&CaseCommand::RemindInvitation, &ctx(900, "system"))
        .unwrap();
    assert_eq!(events, vec![CaseEvent::InvitationReminded { at: t(900) }]);
    let mut h = history::invited();
    h.extend(events);
    let reminded = given(&h);
    assert_eq!(
        reminded.stage,
        Stage::Invited {
            respond_by: t(1_000),
            reminded: true,
        }
    );
    assert_eq!(
        reminded.decide(&CaseCommand::RemindInvitation, &ctx(950, "system")),
        Err(CaseError::AlreadyReminded)
    );
    assert_eq!(
        case.decide(&CaseCommand::RemindInvitation, &ctx(1_000, "system")),
        Err(CaseError::InvitationExpired {
            respond_by: t(1_000)
        })
    );
    // A reminded invitation is still answered, and still expires.
    assert!(reminded
        .decide(&CaseCommand::AcceptInvitation, &ctx(960, "a"))
        .is_ok());
    assert!(reminded
        .decide(&CaseCommand::ExpireInvitation, &ctx(1_001, "system"))
        .is_ok());
}

#[test]
fn the_department_creates_the_account_after_acceptance() {
    let cmd = CaseCommand::CreateAccount {
        username: actor("a-1"),
        temporary_password_expires_at: t(100),
    };
    assert_eq!(
        given(&history::invited()).decide(&cmd, &ctx(2, "system")),
        Err(invalid("CreateAccount", StageName::Invited))
    );
    let case = given(&history::accepted());
    assert_eq!(
        case.decide(&cmd, &ctx(2, "system")),
        Ok(history::account()[2..].to_vec())
    );
    assert_eq!(
        case.decide(&cmd, &ctx(100, "system")),
        Err(CaseError::PasswordExpiryNotInFuture { now: t(100) })
    );
}

#[test]
fn changing_the_temporary_password_opens_the_portal() {
    let case = given(&history::account());
    assert_eq!(
        case.decide(&CaseCommand::ChangePassword, &ctx(3, "a-1")),
        Ok(vec![CaseEvent::PasswordChanged { at: t(3) }])
    );
    assert_eq!(
        given(&history::confirming()).stage,
        Stage::Confirming(Progress::default())
    );
    assert_eq!(
        case.decide(&CaseCommand::ChangePassword, &ctx(100, "a-1")),
        Err(CaseError::TemporaryPasswordExpired { expired_at: t(100) })
    );
}

#[test]
fn a_lapsed_temporary_password_sends_the_case_back_for_new_credentials() {
    let case = given(&history::account());
    assert_eq!(
        case.decide(&CaseCommand::ExpireTemporaryPassword, &ctx(99, "system")),
        Err(CaseError::TemporaryPasswordStillValid { expires_at: t(100) })
    );
    let events = case
        .decide(&CaseCommand::ExpireTemporaryPassword, &ctx(100, "system"))
        .unwrap();
    let mut h = history::account();
    h.extend(events);
    assert_eq!(given(&h).stage, Stage::AwaitingAccount);
    let again = CaseCommand::CreateAccount {
        username: actor("a-1"),
        temporary_password_expires_at: t(300),
    };
    assert!(given(&h).decide(&again, &ctx(101, "system")).is_ok());
}

#[test]
fn nothing_inside_the_portal_happens_before_the_password_change() {
    let case = given(&history::account());
    for cmd in [
        CaseCommand::DeclarePresence { in_canada: true },
        upload(1),
        CaseCommand::ConfirmAddress {
            residential: address(),
            mailing: None,
        },
    ] {
        assert_eq!(
            case.decide(&cmd, &ctx(4, "a-1")),
            Err(invalid(cmd.name(), StageName::AwaitingPasswordChange))
        );
    }
}

#[test]
fn presence_address_and_photo_come_in_any_order() {
    let events = [
        upload(1),
        CaseCommand::ConfirmAddress {
            residential: address(),
            mailing: None,
        },
        CaseCommand::DeclarePresence { in_canada: true },
    ];
    let mut case = given(&history::confirming());
    for (i, cmd) in events.iter().enumerate() {
        for e in case.decide(cmd, &ctx(10 + i as i64, "a-1")).unwrap() {
            case.apply_event(e);
        }
    }
    let Stage::Confirming(p) = &case.stage else {
        panic!("{:?}", case.stage)
    };
    assert_eq!(p.presence, Some(t(12)));
    assert!(p.address.is_some());
    assert_eq!(p.photo, in_review(1));
}

#[test]
fn the_address_can_be_corrected_until_approval_with_a_separate_mailing_address() {
    let mailing = MailingAddress::new(
        "C.P. 42",
        None,
        "Montréal",
        Province::QC,
        PostalCode::parse("H2X 1Y4").unwrap(),
    )
    .unwrap();
    let cmd = CaseCommand::ConfirmAddress {
        residential: address(),
        mailing: Some(mailing.clone()),
    };
    assert_eq!(
        given(&history::ready()).decide(&cmd, &ctx(9, "a-1")),
        Ok(vec![CaseEvent::AddressConfirmed {
            residential: address(),
            mailing: Some(mailing),
            at: t(9)
        }])
    );
    assert_eq!(
        given(&history::granted()).decide(&cmd, &ctx(9, "a-1")),
        Err(invalid("ConfirmAddress", StageName::PrGranted))
    );
}

#[test]
fn an_applicant_abroad_puts_the_case_on_hold_until_they_return() {
    let case = given(&history::ready());
    let left = case
        .decide(
            &CaseCommand::DeclarePresence { in_canada: false },
            &ctx(20, "a-1"),
        )
        .unwrap();
    assert_eq!(left, vec![CaseEvent::LeftCanada { at: t(20) }]);
    let mut h = history::ready();
    h.extend(left);
    let on_hold = given(&h);
    assert_eq!(on_hold.stage.name(), StageName::OnHold);
    assert_eq!(
        on_hold.decide(
            &CaseCommand::GrantPermanentResidence {
                document_number: doc(1)
            },
            &ctx(21, "officer.b")
        ),
        Err(invalid("GrantPermanentResidence", StageName::OnHold))
    );
    assert_eq!(
        on_hold.decide(&upload(2), &ctx(21, "a-1")),
        Err(invalid("UploadPhoto", StageName::OnHold))
    );
    let back = on_hold
        .decide(&CaseCommand::ReportReturnToCanada, &ctx(30, "a-1"))
        .unwrap();
    h.extend(back);
    let Stage::Confirming(p) = given(&h).stage else {
        panic!("not confirming")
    };
    assert_eq!(p.presence, Some(t(30)));
    assert_eq!(
        given(&history::ready()).decide(&CaseCommand::ReportReturnToCanada, &ctx(30, "a-1")),
        Err(invalid("ReportReturnToCanada", StageName::Confirming))
    );
}

#[test]
fn an_officer_accepts_a_photo_waiting_for_review() {
    let case = given(&history::photo_uploaded());
    assert_eq!(
        case.decide(&CaseCommand::AcceptPhoto, &ctx(5, "officer.b")),
        Ok(vec![CaseEvent::PhotoAccepted {
            by: actor("officer.b"),
            at: t(5)
        }])
    );
    assert_eq!(
        given(&history::confirming()).decide(&CaseCommand::AcceptPhoto, &ctx(5, "officer.b")),
        Err(CaseError::NoPhotoToReview)
    );
    assert_eq!(
        given(&history::ready()).decide(&CaseCommand::AcceptPhoto, &ctx(9, "officer.b")),
        Err(CaseError::PhotoAlreadyAccepted)
    );
}

#[test]
fn returning_a_photo_requires_a_reason_and_other_requires_a_note() {
    let case = given(&history::photo_uploaded());
    let other = CaseCommand::ReturnPhoto {
        reason: ReturnReason::Other,
        note: None,
    };
    assert_eq!(
        case.decide(&other, &ctx(5, "officer.b")),
        Err(CaseError::ReturnNoteRequired)
    );
    let glare = CaseCommand::ReturnPhoto {
        reason: ReturnReason::Glare,
        note: None,
    };
    let events = case.decide(&glare, &ctx(5, "officer.b")).unwrap();
    let mut h = history::photo_uploaded();
    h.extend(events);
    let Stage::Confirming(p) = given(&h).stage else {
        panic!()
    };
    assert_eq!(
        p.photo,
        PhotoState::Returned {
            photo: UploadedPhoto {
                reference: photo(1),
                quality_flags: vec![]
            },
            reason: ReturnReason::Glare,
            note: None
        }
    );
}

#[test]
fn pre_check_flags_never_refuse_an_upload_and_stay_with_the_photo_for_the_officer() {
    let flags = vec![QualityFlag::TooDark, QualityFlag::Glare];
    let flagged = CaseCommand::UploadPhoto {
        photo: photo(3),
        quality: flagged_quality(&flags),
    };
    let mut h = history::confirming();
    let events = given(&h).decide(&flagged, &ctx(10, "a-1")).unwrap();
    assert_eq!(
        events,
        vec![CaseEvent::PhotoUploaded {
            photo: photo(3),
            quality_flags: flags.clone(),
            quality_measurements: Some(good_quality().measurements),
            at: t(10),
        }]
    );
    h.extend(events);
    let photo_state = |h: &[CaseEvent]| match given(h).stage {
        Stage::Confirming(p) => p.photo,
        other => panic!("stage {other:?}"),
    };
    let flagged_photo = UploadedPhoto {
        reference: photo(3),
        quality_flags: flags,
    };
    assert_eq!(
        photo_state(&h),
        PhotoState::AwaitingReview(flagged_photo.clone())
    );
    // The officer decides: a flagged photo can be returned, and a new upload replaces the flags.
    let returned = given(&h)
        .decide(
            &CaseCommand::ReturnPhoto {
                reason: ReturnReason::TooDark,
                note: None,
            },
            &ctx(11, "officer.b"),
        )
        .unwrap();
    h.extend(returned);
    assert_eq!(
        photo_state(&h),
        PhotoState::Returned {
            photo: flagged_photo.clone(),
            reason: ReturnReason::TooDark,
            note: None
        }
    );
    h.extend(given(&h).decide(&upload(4), &ctx(12, "a-1")).unwrap());
    assert_eq!(photo_state(&h), in_review(4));
    // ... and a flagged photo can be accepted, keeping its flags.
    let mut h = history::confirming();
    h.extend(given(&h).decide(&flagged, &ctx(10, "a-1")).unwrap());
    h.extend(
        given(&h)
            .decide(&CaseCommand::AcceptPhoto, &ctx(11, "officer.b"))
            .unwrap(),
    );
    assert_eq!(photo_state(&h), PhotoState::Accepted(flagged_photo));
}

#[test]
fn a_returned_photo_can_be_uploaded_again_but_an_accepted_one_cannot() {
    let mut h = history::photo_uploaded();
    h.push(CaseEvent::PhotoReturned {
        by: actor("officer.b"),
        reason: ReturnReason::TooDark,
        note: None,
        at: t(5),
    });
    assert_eq!(
        given(&h).decide(&upload(2), &ctx(6, "a-1")),
        Ok(vec![uploaded(2, 6)])
    );
    assert_eq!(
        given(&history::ready()).decide(&upload(2), &ctx(9, "a-1")),
        Err(CaseError::PhotoAlreadyAccepted)
    );
}

#[test]
fn granting_pr_issues_the_ecopr_once_everything_is_there() {
    let cmd = CaseCommand::GrantPermanentResidence {
        document_number: doc(1),
    };
    assert_eq!(
        given(&history::ready()).decide(&cmd, &ctx(8, "officer.b")),
        Ok(history::granted()[history::ready().len()..].to_vec())
    );
    let granted = given(&history::granted());
    let g = granted.stage.granted().unwrap();
    assert_eq!(
        g.ecopr.as_ref().map(|e| e.document_number.clone()),
        Some(doc(1))
    );
    assert_eq!(
        granted.decide(&cmd, &ctx(9, "officer.b")),
        Err(invalid("GrantPermanentResidence", StageName::PrGranted))
    );
}

#[test]
fn the_ecopr_waits_for_presence_address_and_an_accepted_photo() {
    let cmd = CaseCommand::GrantPermanentResidence {
        document_number: doc(1),
    };
    assert_eq!(
        given(&history::photo_uploaded()).decide(&cmd, &ctx(8, "officer.b")),
        Err(CaseError::NotReadyForApproval {
            missing: vec![
                Requirement::PresenceInCanada,
                Requirement::Address,
                Requirement::AcceptedPhoto
            ]
        })
    );
}

#[test]
fn the_card_is_ordered_then_mailed() {
    let mut case = given(&history::granted());
    assert_eq!(
        case.decide(&CaseCommand::RecordPrCardMailed, &ctx(9, "system")),
        Err(invalid("RecordPrCardMailed", StageName::PrGranted))
    );
    for (cmd, stage) in [
        (CaseCommand::OrderPrCard, StageName::CardOrdered),
        (CaseCommand::RecordPrCardMailed, StageName::CardMailed),
    ] {
        for e in case.decide(&cmd, &ctx(9, "system")).unwrap() {
            case.apply_event(e);
        }
        assert_eq!(case.stage.name(), stage);
    }
}

#[test]
fn an_amendment_issues_a_new_document_and_keeps_the_old_one() {
    let mut case = given(&history::granted());
    let request = CaseCommand::RequestAmendment {
        details: text("My name is misspelt"),
    };
    for e in case.decide(&request, &ctx(10, "a-1")).unwrap() {
        case.apply_event(e);
    }
    assert_eq!(
        case.decide(&request, &ctx(11, "a-1")),
        Err(CaseError::AmendmentAlreadyRequested)
    );
    let amend = |n| CaseCommand::AmendEcopr {
        document_number: doc(n),
        correction: text("Name corrected"),
    };
    assert_eq!(
        case.decide(&amend(1), &ctx(12, "officer.b")),
        Err(CaseError::DocumentNumberReused(doc(1)))
    );
    let events = case.decide(&amend(2), &ctx(12, "officer.b")).unwrap();
    assert_eq!(
        events,
        vec![CaseEvent::EcoprAmended {
            replaces: doc(1),
            document_number: doc(2),
            correction: text("Name corrected"),
            issued_on: t(12).date_naive(),
            by: actor("officer.b"),
            at: t(12)
        }]
    );
    for e in events {
        case.apply_event(e);
    }
    let g = case.stage.granted().unwrap();
    let ecopr = g.ecopr.as_ref().unwrap();
    assert_eq!(
        (ecopr.document_number.clone(), ecopr.superseded.clone()),
        (doc(2), vec![doc(1)])
    );
    assert_eq!(g.amendment_requested, None);
    assert_eq!(
        given(&history::ready()).decide(&request, &ctx(10, "a-1")),
        Err(invalid("RequestAmendment", StageName::Confirming))
    );
}

#[test]
fn an_officer_claims_and_releases_a_case() {
    let case = given(&history::photo_uploaded());
    let claim = CaseCommand::Claim { until: t(60) };
    let events = case.decide(&claim, &ctx(4, "officer.a")).unwrap();
    assert_eq!(
        events,
        history::claimed_by("officer.a", 60)[history::photo_uploaded().len()..]
    );
    let claimed = given(&history::claimed_by("officer.a", 60));
    assert_eq!(
        claimed.decide(&CaseCommand::ReleaseClaim, &ctx(5, "officer.b")),
        Err(CaseError::NotClaimHolder {
            holder: actor("officer.a")
        })
    );
    assert_eq!(
        claimed.decide(&CaseCommand::ReleaseClaim, &ctx(5, "officer.a")),
        Ok(vec![CaseEvent::ClaimReleased {
            by: actor("officer.a"),
            at: t(5)
        }])
    );
    assert_eq!(
        case.decide(&CaseCommand::ReleaseClaim, &ctx(5, "officer.a")),
        Err(CaseError::NotClaimed)
    );
}

#[test]
fn a_claim_is_a_lease_in_the_future_of_at_most_eight_hours() {
    let case = given(&history::photo_uploaded());
    assert_eq!(
        case.decide(&CaseCommand::Claim { until: t(4) }, &ctx(4, "officer.a")),
        Err(CaseError::LeaseNotInFuture { now: t(4) })
    );
    assert_eq!(
        case.decide(
            &CaseCommand::Claim {
                until: t(4 + 8 * 60 + 1)
            },
            &ctx(4, "officer.a")
        ),
        Err(CaseError::LeaseTooLong { max_hours: 8 })
    );
}

#[test]
fn two_officers_cannot_hold_one_case_until_the_lease_runs_out() {
    let claimed = given(&history::claimed_by("officer.a", 60));
    let expect = Err(CaseError::ClaimedByAnother {
        holder: actor("officer.a"),
        until: t(60),
    });
    assert_eq!(
        claimed.decide(&CaseCommand::Claim { until: t(90) }, &ctx(10, "officer.b")),
        expect
    );
    assert_eq!(
        claimed.decide(&CaseCommand::AcceptPhoto, &ctx(10, "officer.b")),
        expect
    );
    assert!(claimed
        .decide(&CaseCommand::AcceptPhoto, &ctx(10, "officer.a"))
        .is_ok());
    assert!(claimed
        .decide(&CaseCommand::Claim { until: t(120) }, &ctx(60, "officer.b"))
        .is_ok());
}

#[test]
fn an_unreleased_claim_expires_when_its_lease_ends() {
    let claimed = given(&history::claimed_by("officer.a", 60));
    assert_eq!(
        claimed.decide(&CaseCommand::ExpireClaim, &ctx(59, "system")),
        Err(CaseError::ClaimStillValid { until: t(60) })
    );
    assert_eq!(
        claimed.decide(&CaseCommand::ExpireClaim, &ctx(60, "system")),
        Ok(vec![CaseEvent::ClaimExpired {
            holder: actor("officer.a"),
            at: t(60)
        }])
    );
}

#[test]
fn an_officer_refers_an_open_case_to_an_in_person_landing() {
    let reason = text("identity concern");
    for h in [history::invited(), history::account(), history::ready()] {
        let events = given(&h)
            .decide(
                &CaseCommand::ReferToInPersonLanding {
                    reason: reason.clone(),
                },
                &ctx(9, "officer.b"),
            )
            .unwrap();
        let mut h = h;
        h.extend(events);
        assert_eq!(
            given(&h).stage,
            Stage::Referred(Referral::Officer {
                by: actor("officer.b"),
                reason: reason.clone()
            })
        );
    }
    assert_eq!(
        given(&history::granted()).decide(
            &CaseCommand::ReferToInPersonLanding { reason },
            &ctx(9, "officer.b")
        ),
        Err(invalid("ReferToInPersonLanding", StageName::PrGranted))
    );
}

#[test]
fn a_withdrawn_case_accepts_nothing() {
    let mut h = history::claimed_by("officer.a", 60);
    let events = given(&h)
        .decide(
            &CaseCommand::Withdraw {
                reason: text("applicant asked"),
            },
            &ctx(9, "officer.a"),
        )
        .unwrap();
    h.extend(events);
    let closed = given(&h);
    assert_eq!(closed.stage.name(), StageName::Withdrawn);
    assert_eq!(closed.claim, None);
    for cmd in [
        upload(2),
        CaseCommand::Claim { until: t(20) },
        CaseCommand::Withdraw {
            reason: text("again"),
        },
    ] {
        assert_eq!(
            closed.decide(&cmd, &ctx(10, "officer.a")),
            Err(invalid(cmd.name(), StageName::Withdrawn))
        );
    }
}

#[test]
fn the_aggregate_survives_a_snapshot_round_trip() {
    let case = given(&history::granted());
    let json = serde_json::to_value(&case).unwrap();
    assert_eq!(serde_json::from_value::<Case>(json).unwrap(), case);
}

#[test]
fn error_codes_are_stable_snake_case() {
    assert_eq!(
        invalid("AcceptPhoto", StageName::New).code(),
        "invalid_transition"
    );
    assert_eq!(CaseError::ReturnNoteRequired.code(), "return_note_required");
}

#[test]
fn a_command_for_a_version_the_case_has_left_is_refused() {
    let case = given(&history::photo_uploaded());
    assert_eq!(case.version, 5);
    let mut stale = ctx(5, "officer.b");
    stale.expected_version = Some(4);
    assert_eq!(
        case.decide(&CaseCommand::AcceptPhoto, &stale),
        Err(CaseError::StaleVersion {
            expected: 4,
            actual: 5
        })
    );
    stale.expected_version = Some(5);
    assert!(case.decide(&CaseCommand::AcceptPhoto, &stale).is_ok());
}

#[test]
fn each_return_reason_is_serialized_as_its_code() {
    for reason in ReturnReason::ALL {
        assert_eq!(
            serde_json::to_value(reason).ok(),
            Some(serde_json::json!(reason.as_str()))
        );
    }
}

#[test]
fn an_officer_notes_an_open_or_closed_case_without_moving_it() {
    let mut h = history::photo_uploaded();
    let before = given(&h);
    let events = before
        .decide(
            &CaseCommand::AddNote {
                text: text("called the applicant"),
            },
            &ctx(9, "officer.a"),
        )
        .unwrap();
    assert_eq!(
        events,
        vec![CaseEvent::NoteAdded {
            by: actor("officer.a"),
            text: text("called the applicant"),
            at: t(9),
        }]
    );
    h.extend(events);
    let noted = given(&h);
    assert_eq!(noted.stage, before.stage);
    assert_eq!(
        noted.notes,
        vec![Note {
            by: actor("officer.a"),
            at: t(9),
            text: text("called the applicant"),
        }]
    );
    h.push(CaseEvent::CaseWithdrawn {
        by: actor("officer.a"),
        reason: text("asked"),
        at: t(10),
    });
    let note = CaseCommand::AddNote {
        text: text("why it closed"),
    };
    assert!(given(&h).decide(&note, &ctx(11, "officer.b")).is_ok());
    assert_eq!(
        Case::default().decide(&note, &ctx(11, "officer.b")),
        Err(invalid("AddNote", StageName::New))
    );
}

#[test]
fn an_open_invitation_can_be_sent_again_and_a_lapsed_one_cannot() {
    let mut h = history::invited();
    let events = given(&h)
        .decide(&CaseCommand::ResendInvitation, &ctx(10, "officer.a"))
        .unwrap();
    assert_eq!(
        events,
        vec![CaseEvent::InvitationResent {
            by: actor("officer.a"),
            at: t(10),
        }]
    );
    h.extend(events);
    assert_eq!(given(&h).stage.name(), StageName::Invited);
    assert_eq!(
        given(&h).decide(&CaseCommand::ResendInvitation, &ctx(1_001, "officer.a")),
        Err(CaseError::InvitationExpired {
            respond_by: t(1_000)
        })
    );
    assert_eq!(
        given(&history::accepted()).decide(&CaseCommand::ResendInvitation, &ctx(10, "officer.a")),
        Err(invalid("ResendInvitation", StageName::AwaitingAccount))
    );
}

#[test]
fn credentials_are_reissued_until_the_password_is_changed_and_clear_a_lapse() {
    // A lapsed temporary password marks the case for an officer.
    let mut h = history::account();
    h.push(CaseEvent::TemporaryPasswordExpired { at: t(100) });
    assert_eq!(given(&h).credentials_lapsed_at, Some(t(100)));
    assert_eq!(given(&h).stage, Stage::AwaitingAccount);

    let events = given(&h)
        .decide(&CaseCommand::ReissueCredentials, &ctx(101, "officer.a"))
        .unwrap();
    assert_eq!(
        events,
        vec![CaseEvent::CredentialsReissued {
            by: actor("officer.a"),
            at: t(101),
        }]
    );
    h.extend(events);
    let reissued = given(&h);
    assert_eq!(reissued.stage, Stage::AwaitingAccount);
    assert_eq!(reissued.credentials_lapsed_at, None);
    assert_eq!(reissued.username, None);

    // Lost before use: reissued from the password change too.
    let case = given(&history::account());
    assert!(case
        .decide(&CaseCommand::ReissueCredentials, &ctx(5, "officer.a"))
        .is_ok());
    // Once the password is the applicant's own, there is nothing to reissue.
    assert_eq!(
        given(&history::confirming())
            .decide(&CaseCommand::ReissueCredentials, &ctx(5, "officer.a")),
        Err(invalid("ReissueCredentials", StageName::Confirming))
    );
}
