//! A proptest state machine: random command sequences run through cqrs-es's `handle` and,
//! side by side, through a deliberately simple model of the rules. After every step the two
//! must agree on acceptance, and the history must keep the case's invariants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use futures::executor::block_on;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use prconfirm_domain::case::*;
use prconfirm_domain::fixtures;
use prconfirm_domain::photo_quality::QualityFlag;
use prconfirm_domain::values::*;

/// Sequences run in the normal test run.
const CASES: u32 = 10_000;
const OFFICERS: [&str; 3] = ["officer.a", "officer.b", "a-applicant"];
const ALL_FLAGS: [QualityFlag; 5] = [
    QualityFlag::TooDark,
    QualityFlag::BackgroundNotWhite,
    QualityFlag::FeaturesNotVisible,
    QualityFlag::Glare,
    QualityFlag::WrongDimensions,
];

/// A command in abstract form, with small parameters that make collisions likely.
#[derive(Debug, Clone)]
enum Op {
    Invite {
        respond_in: i64,
    },
    Accept,
    Decline,
    Remind,
    ExpireInvitation,
    CreateAccount {
        expires_in: i64,
    },
    ExpirePassword,
    ChangePassword,
    Presence(bool),
    Return,
    Address,
    /// An upload whose pre-check raised these flags (which must never change the answer).
    Upload {
        flags: Vec<QualityFlag>,
    },
    AcceptPhoto,
    ReturnPhoto {
        other: bool,
        note: bool,
    },
    Grant {
        doc: u64,
    },
    OrderCard,
    CardMailed,
    RequestAmendment,
    Amend {
        doc: u64,
    },
    Claim {
        minutes: i64,
    },
    Release,
    ExpireClaim,
    Refer,
    Withdraw,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (-5i64..400).prop_map(|respond_in| Op::Invite { respond_in }),
        4 => Just(Op::Accept),
        1 => Just(Op::Decline),
        1 => Just(Op::Remind),
        1 => Just(Op::ExpireInvitation),
        4 => (-5i64..300).prop_map(|expires_in| Op::CreateAccount { expires_in }),
        1 => Just(Op::ExpirePassword),
        4 => Just(Op::ChangePassword),
        4 => any::<bool>().prop_map(Op::Presence),
        2 => Just(Op::Return),
        4 => Just(Op::Address),
        4 => prop::sample::subsequence(ALL_FLAGS.to_vec(), 0..=ALL_FLAGS.len())
            .prop_map(|flags| Op::Upload { flags }),
        4 => Just(Op::AcceptPhoto),
        2 => (any::<bool>(), any::<bool>()).prop_map(|(other, note)| Op::ReturnPhoto { other, note }),
        4 => (1u64..4).prop_map(|doc| Op::Grant { doc }),
        2 => Just(Op::OrderCard),
        2 => Just(Op::CardMailed),
        2 => Just(Op::RequestAmendment),
        2 => (1u64..4).prop_map(|doc| Op::Amend { doc }),
        2 => (-5i64..600).prop_map(|minutes| Op::Claim { minutes }),
        1 => Just(Op::Release),
        1 => Just(Op::ExpireClaim),
        1 => Just(Op::Refer),
        1 => Just(Op::Withdraw),
    ]
}

type Step = (Op, usize, i64);

/// One step: the operation, who asks, and how many minutes passed since the last step.
fn step() -> impl Strategy<Value = Step> {
    (op(), 0..OFFICERS.len(), 0i64..40)
}

/// The whole process in order, as the happy path would run it.
fn happy_path() -> Vec<Step> {
    vec![
        (Op::Invite { respond_in: 300 }, 0, 0),
        (Op::Accept, 2, 5),
        (Op::CreateAccount { expires_in: 200 }, 0, 1),
        (Op::ChangePassword, 2, 5),
        (
            Op::Upload {
                flags: vec![QualityFlag::Glare],
            },
            2,
            5,
        ),
        (Op::Presence(true), 2, 5),
        (Op::Address, 2, 5),
        (Op::AcceptPhoto, 0, 5),
        (Op::Grant { doc: 1 }, 0, 5),
        (Op::RequestAmendment, 2, 5),
        (Op::Amend { doc: 2 }, 1, 5),
        (Op::OrderCard, 0, 5),
        (Op::CardMailed, 0, 5),
    ]
}

/// Half the sequences are purely random; the other half are the happy path with random steps
/// slipped in between, so that the later stages are reached often enough to be tested.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    let random = prop::collection::vec(step(), 1..48);
    let noisy = prop::collection::vec(prop::collection::vec(step(), 0..3), happy_path().len())
        .prop_map(|noise| {
            happy_path()
                .into_iter()
                .zip(noise)
                .flat_map(|(happy, extra)| extra.into_iter().chain(std::iter::once(happy)))
                .collect()
        });
    prop_oneof![random, noisy]
}

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn to_command(op: &Op, now: i64) -> CaseCommand {
    let text = |s: &str| Text::parse(s).unwrap();
    match op {
        Op::Invite { respond_in } => CaseCommand::Invite {
            file: fixtures::case_file("E001234567", "1234567890", "Amélie"),
            respond_by: t(now + respond_in),
            guardian_case: None,
        },
        Op::Accept => CaseCommand::AcceptInvitation,
        Op::Decline => CaseCommand::DeclineInvitation,
        Op::Remind => CaseCommand::RemindInvitation,
        Op::ExpireInvitation => CaseCommand::ExpireInvitation,
        Op::CreateAccount { expires_in } => CaseCommand::CreateAccount {
            username: ActorId::parse("a-applicant").unwrap(),
            temporary_password_expires_at: t(now + expires_in),
        },
        Op::ExpirePassword => CaseCommand::ExpireTemporaryPassword,
        Op::ChangePassword => CaseCommand::ChangePassword,
        Op::Presence(in_canada) => CaseCommand::DeclarePresence {
            in_canada: *in_canada,
        },
        Op::Return => CaseCommand::ReportReturnToCanada,
        Op::Address => CaseCommand::ConfirmAddress {
            residential: fixtures::address(),
            mailing: None,
        },
        Op::Upload { flags } => CaseCommand::UploadPhoto {
            photo: fixtures::photo(7),
            quality: fixtures::flagged_quality(flags),
        },
        Op::AcceptPhoto => CaseCommand::AcceptPhoto,
        Op::ReturnPhoto { other, note } => CaseCommand::ReturnPhoto {
            reason: if *other {
                ReturnReason::Other
            } else {
                ReturnReason::Glare
            },
            note: note.then(|| text("see the guide")),
        },
        Op::Grant { doc } => CaseCommand::GrantPermanentResidence {
            document_number: DocumentNumber::from_serial(*doc),
        },
        Op::OrderCard => CaseCommand::OrderPrCard,
        Op::CardMailed => CaseCommand::RecordPrCardMailed,
        Op::RequestAmendment => CaseCommand::RequestAmendment {
            details: text("wrong date of birth"),
        },
        Op::Amend { doc } => CaseCommand::AmendEcopr {
            document_number: DocumentNumber::from_serial(*doc),
            correction: text("date of birth corrected"),
        },
        Op::Claim { minutes } => CaseCommand::Claim {
            until: t(now + minutes),
        },
        Op::Release => CaseCommand::ReleaseClaim,
        Op::ExpireClaim => CaseCommand::ExpireClaim,
        Op::Refer => CaseCommand::ReferToInPersonLanding {
            reason: text("identity concern"),
        },
        Op::Withdraw => CaseCommand::Withdraw {
            reason: text("asked to"),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    New,
    Invited,
    AwaitingAccount,
    AwaitingPassword,
    Confirming,
    OnHold,
    Granted,
    Ordered,
    Mailed,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Photo {
    None,
    Pending,
    Returned,
    Accepted,
}

/// The rules written down as plainly as possible, with flags instead of the aggregate's types.
#[derive(Debug, Clone)]
struct Model {
    stage: M,
    respond_by: i64,
    reminded: bool,
    password_expires: i64,
    presence: bool,
    address: bool,
    photo: Photo,
    /// The flags of the latest upload: the officer must see them whatever the review says.
    photo_flags: Vec<QualityFlag>,
    claim: Option<(usize, i64)>,
    documents: Vec<u64>,
    amendment_pending: bool,
}

impl Model {
    fn new() -> Self {
        Self {
            stage: M::New,
            respond_by: 0,
            reminded: false,
            password_expires: 0,
            presence: false,
            address: false,
            photo: Photo::None,
            photo_flags: Vec::new(),
            claim: None,
            documents: Vec::new(),
            amendment_pending: false,
        }
    }

    fn open(&self) -> bool {
        matches!(
            self.stage,
            M::Invited | M::AwaitingAccount | M::AwaitingPassword | M::Confirming | M::OnHold
        )
    }

    fn granted(&self) -> bool {
        matches!(self.stage, M::Granted | M::Ordered | M::Mailed)
    }

    fn held_by_other(&self, who: usize, now: i64) -> bool {
        matches!(self.claim, Some((holder, until)) if holder != who && now < until)
    }

    /// Does the case accept `op`? If so, the model moves on.
    fn step(&mut self, op: &Op, who: usize, now: i64) -> bool {
        use M::*;
        if self.stage == Closed {
            return false;
        }
        let officer_decision = matches!(
            op,
            Op::AcceptPhoto
                | Op::ReturnPhoto { .. }
                | Op::Grant { .. }
                | Op::Amend { .. }
                | Op::Refer
        );
        if officer_decision && self.held_by_other(who, now) {
            return false;
        }
        match op {
            Op::Invite { respond_in } if self.stage == New && *respond_in > 0 => {
                self.stage = Invited;
                self.respond_by = now + respond_in;
            }
            Op::Accept if self.stage == Invited && now <= self.respond_by => {
                self.stage = AwaitingAccount
            }
            Op::Decline if self.stage == Invited && now <= self.respond_by => self.close(),
            Op::Remind if self.stage == Invited && !self.reminded && now < self.respond_by => {
                self.reminded = true
            }
            Op::ExpireInvitation if self.stage == Invited && now > self.respond_by => self.close(),
            Op::CreateAccount { expires_in }
                if self.stage == AwaitingAccount && *expires_in > 0 =>
            {
                self.stage = AwaitingPassword;
                self.password_expires = now + expires_in;
            }
            Op::ExpirePassword
                if self.stage == AwaitingPassword && now >= self.password_expires =>
            {
                self.stage = AwaitingAccount
            }
            Op::ChangePassword if self.stage == AwaitingPassword && now < self.password_expires => {
                self.stage = Confirming
            }
            Op::Presence(true) if self.stage == Confirming => self.presence = true,
            Op::Presence(false) if self.stage == Confirming => {
                self.presence = false;
                self.stage = OnHold;
            }
            Op::Return if self.stage == OnHold => {
                self.presence = true;
                self.stage = Confirming;
            }
            Op::Address if self.stage == Confirming => self.address = true,
            Op::Upload { flags } if self.stage == Confirming && self.photo != Photo::Accepted => {
                self.photo = Photo::Pending;
                self.photo_flags = flags.clone();
            }
            Op::AcceptPhoto
                if matches!(self.stage, Confirming | OnHold) && self.photo == Photo::Pending =>
            {
                self.photo = Photo::Accepted
            }
            Op::ReturnPhoto { other, note }
                if matches!(self.stage, Confirming | OnHold)
                    && self.photo == Photo::Pending
                    && (*note || !*other) =>
            {
                self.photo = Photo::Returned
            }
            Op::Grant { doc }
                if self.stage == Confirming
                    && self.presence
                    && self.address
                    && self.photo == Photo::Accepted =>
            {
                self.stage = Granted;
                self.documents.push(*doc);
                self.claim = None;
            }
            Op::OrderCard if self.stage == Granted => self.stage = Ordered,
            Op::CardMailed if self.stage == Ordered => self.stage = Mailed,
            Op::RequestAmendment if self.granted() && !self.amendment_pending => {
                self.amendment_pending = true
            }
            Op::Amend { doc } if self.granted() && !self.documents.contains(doc) => {
                self.documents.push(*doc);
                self.amendment_pending = false;
            }
            Op::Claim { minutes }
                if self.open()
                    && *minutes > 0
                    && *minutes <= 8 * 60
                    && !self.held_by_other(who, now) =>
            {
                self.claim = Some((who, now + minutes))
            }
            Op::Release if self.open() && matches!(self.claim, Some((h, _)) if h == who) => {
                self.claim = None
            }
            Op::ExpireClaim if self.open() && matches!(self.claim, Some((_, u)) if now >= u) => {
                self.claim = None
            }
            Op::Refer | Op::Withdraw if self.open() => self.close(),
            _ => return false,
        }
        true
    }

    fn close(&mut self) {
        self.stage = M::Closed;
        self.claim = None;
    }
}

fn replay(events: &[CaseEvent]) -> Case {
    let mut case = Case::default();
    for e in events {
        case.apply(e.clone());
    }
    case
}

/// The history's invariants, checked after every step.
fn check_history(events: &[CaseEvent]) -> Result<(), TestCaseError> {
    // What readers that keep only the stage compute agrees with the aggregate.
    let mut case = Case::default();
    for e in events {
        let expected = e.stage_after(case.stage.name());
        case.apply(e.clone());
        prop_assert_eq!(expected, case.stage.name(), "stage after {}", e.name());
    }
    let issued: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, CaseEvent::EcoprIssued { .. }))
        .map(|(i, _)| i)
        .collect();
    prop_assert!(issued.len() <= 1, "eCoPR issued {} times", issued.len());
    if let Some(&i) = issued.first() {
        // The state just before the grant (the event before EcoprIssued) had everything.
        let before = replay(&events[..i - 1]);
        let Stage::Confirming(p) = &before.stage else {
            return Err(TestCaseError::fail(format!(
                "granted from {:?}",
                before.stage
            )));
        };
        prop_assert!(Case::missing_for_approval(p).is_empty());
        for later in &events[i + 1..] {
            prop_assert!(
                matches!(
                    later,
                    CaseEvent::AmendmentRequested { .. }
                        | CaseEvent::EcoprAmended { .. }
                        | CaseEvent::PrCardOrdered { .. }
                        | CaseEvent::PrCardMailed { .. }
                ),
                "{} after the eCoPR",
                later.name()
            );
        }
    }
    if let Some(i) = events.iter().position(|e| {
        matches!(
            e,
            CaseEvent::InvitationDeclined { .. }
                | CaseEvent::InvitationExpired { .. }
                | CaseEvent::ReferredToInPersonLanding { .. }
                | CaseEvent::CaseWithdrawn { .. }
        )
    }) {
        prop_assert_eq!(i, events.len() - 1, "events after a terminal stage");
    }
    Ok(())
}

/// The photo under review (or returned, or accepted) carries the flags of its own upload.
fn check_photo(case: &Case, model: &Model) -> Result<(), TestCaseError> {
    let photo = match &case.stage {
        Stage::Confirming(p) | Stage::OnHold { progress: p, .. } => &p.photo,
        _ => return Ok(()),
    };
    match (photo.uploaded(), model.photo) {
        (None, Photo::None) => Ok(()),
        (Some(uploaded), Photo::Pending | Photo::Returned | Photo::Accepted) => {
            prop_assert_eq!(&uploaded.quality_flags, &model.photo_flags);
            Ok(())
        }
        (photo, expected) => Err(TestCaseError::fail(format!(
            "photo {photo:?}, model {expected:?}"
        ))),
    }
}

static GRANTED: AtomicUsize = AtomicUsize::new(0);
static AMENDED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
/// Deadlines checked, per kind (in `DeadlineKind::ALL`'s order).
static DEADLINES: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];

/// Every deadline the domain names is one whose command the rules accept at its time, under
/// the default policy and a tight one: a scheduler acting on the view never meets a refusal.
fn check_deadlines(case: &Case) -> Result<(), TestCaseError> {
    let tight = DeadlinePolicy {
        remind_before: Duration::minutes(3),
        order_card_after: Duration::zero(),
    };
    for policy in [DeadlinePolicy::default(), tight] {
        for Deadline {
            kind,
            due_at,
            until,
        } in case.deadlines(&policy)
        {
            // From the moment it is due to the last before its window closes (a week after
            // if it never does).
            let last = until.map_or(due_at + Duration::days(7), |u| {
                u - Duration::milliseconds(1)
            });
            prop_assert!(last >= due_at, "{:?}: an empty window", kind);
            for now in [due_at, last] {
                let ctx = Ctx {
                    now,
                    actor: ActorId::parse("system").unwrap(),
                    expected_version: Some(case.version),
                };
                let decided = case.decide(&kind.command(), &ctx);
                prop_assert!(
                    decided.is_ok(),
                    "deadline {:?} due {} refused at {}: {:?} in {:?}",
                    kind,
                    due_at,
                    now,
                    decided,
                    case.stage
                );
            }
            let i = DeadlineKind::ALL.iter().position(|k| *k == kind).unwrap();
            DEADLINES[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut case = Case::default();
    let mut model = Model::new();
    let mut history: Vec<CaseEvent> = Vec::new();
    let mut now = 0;
    for (op, who, elapsed) in steps {
        now += elapsed;
        let request = CaseRequest {
            command: to_command(&op, now),
            ctx: Ctx {
                now: t(now),
                actor: ActorId::parse(OFFICERS[who]).unwrap(),
                expected_version: None,
            },
        };
        let before = case.clone();
        let sink = EventSink::<Case>::default();
        let outcome = block_on(case.handle(request, &(), &sink));
        let emitted = block_on(sink.collect());
        prop_assert_eq!(
            &case,
            &before,
            "handle must leave the loaded case untouched"
        );
        for e in &emitted {
            case.apply(e.clone());
        }
        let expected = model.step(&op, who, now);
        prop_assert_eq!(
            outcome.is_ok(),
            expected,
            "{:?} at {} by {}: case said {:?}, stage {:?}",
            op,
            now,
            OFFICERS[who],
            outcome,
            before.stage
        );
        if outcome.is_err() {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            prop_assert!(
                emitted.is_empty(),
                "a refused command emitted {:?}",
                emitted
            );
            prop_assert_eq!(&case, &before, "a refused command changed the case");
        } else {
            prop_assert!(!emitted.is_empty());
        }
        for e in &emitted {
            let json = serde_json::to_value(e).unwrap();
            prop_assert_eq!(&serde_json::from_value::<CaseEvent>(json).unwrap(), e);
        }
        history.extend(emitted);
        check_history(&history)?;
        check_photo(&case, &model)?;
        check_deadlines(&case)?;
        prop_assert_eq!(
            &replay(&history),
            &case,
            "replay differs from the live state"
        );
    }
    if history
        .iter()
        .any(|e| matches!(e, CaseEvent::EcoprIssued { .. }))
    {
        GRANTED.fetch_add(1, Ordering::Relaxed);
    }
    if history
        .iter()
        .any(|e| matches!(e, CaseEvent::EcoprAmended { .. }))
    {
        AMENDED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[test]
fn random_command_sequences_agree_with_the_model_and_keep_the_invariants() {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&steps(), run);
    if let Err(e) = result {
        panic!("{e}");
    }
    // The sequences must reach the interesting parts of the process, or the invariants above
    // were checked on nothing.
    let (granted, amended) = (
        GRANTED.load(Ordering::Relaxed),
        AMENDED.load(Ordering::Relaxed),
    );
    assert!(
        granted >= CASES as usize / 10,
        "only {granted} of {CASES} sequences reached the eCoPR"
    );
    assert!(
        amended >= CASES as usize / 50,
        "only {amended} sequences amended an eCoPR"
    );
    assert!(REFUSED.load(Ordering::Relaxed) > 0);
    for (kind, checked) in DeadlineKind::ALL.iter().zip(&DEADLINES) {
        let checked = checked.load(Ordering::Relaxed);
        assert!(checked >= 100, "only {checked} {kind:?} deadlines checked");
    }
}
