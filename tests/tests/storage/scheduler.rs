//! The case's clock: the scheduler, on an injected clock (never a sleep), issues each due
//! deadline's command exactly once, also when a second scheduler (a restart, or another
//! instance) reads the same deadlines before the view has caught up.

use std::sync::Arc;

use chrono::Duration;
use futures::StreamExt;
use prconfirm_api::workers::clock::{Issued, Scheduler};
use prconfirm_commands::CaseService;
use prconfirm_domain::case::{CaseCommand, StageName};
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::{on_db, Database};
use prconfirm_projections::mail::MailComposer;
use prconfirm_projections::models::DeadlineKind;
use prconfirm_projections::runtime::ReactorConsumer;

use crate::common::*;
use crate::on_both_backends;
use crate::projections::catch_up;

on_both_backends!(
    each_deadline_issues_its_command_once_even_across_a_restart,
    cases_granted_while_claimed_still_get_their_cards_and_nothing_stops_the_clock,
);

fn kinds(issued: &[Issued]) -> Vec<(String, DeadlineKind)> {
    let mut k: Vec<_> = issued.iter().map(|i| (i.case_id.clone(), i.kind)).collect();
    k.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
    k
}

async fn events_named(service: &CaseService, id: &str, name: &str) -> usize {
    service
        .history(id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.payload.name() == name)
        .count()
}

async fn stage(service: &CaseService, id: &str) -> StageName {
    service.load(id).await.unwrap().unwrap().case.stage.name()
}

/// A restart: a new scheduler, remembering nothing.
fn restarted(service: &Arc<CaseService>) -> Scheduler {
    Scheduler::new(service.clone(), std::time::Duration::from_secs(1))
}

/// One round of `scheduler`, on a connection of its own.
async fn tick(db: &Database, scheduler: &Scheduler) -> Vec<Issued> {
    let mut conn = db.dedicated().await.unwrap();
    scheduler.tick(&mut conn.conn()).await.unwrap()
}

async fn each_deadline_issues_its_command_once_even_across_a_restart(db: Database) {
    let (service, clock) = service(&db, 0);
    let service = Arc::new(service);
    // Three cases: one left unanswered, one with credentials never used, one claimed and
    // granted.
    let silent = invite(&service, "E000000001", "1100000001").await.case_id;
    let idle = invite(&service, "E000000001", "1100000002").await.case_id;
    let granted = invite(&service, "E000000001", "1100000003").await.case_id;
    for id in [&idle, &granted] {
        service
            .execute(id, CaseCommand::AcceptInvitation, &system())
            .await
            .unwrap();
        service
            .execute(
                id,
                CaseCommand::CreateAccount {
                    username: ActorId::parse(&format!("a-{}", &id[..8])).unwrap(),
                    temporary_password_expires_at: start() + Duration::hours(72),
                },
                &system(),
            )
            .await
            .unwrap();
    }
    let me = applicant(&format!("a-{}", &granted[..8]));
    for cmd in [
        CaseCommand::ChangePassword,
        CaseCommand::DeclarePresence { in_canada: true },
        CaseCommand::ConfirmAddress {
            residential: address(),
            mailing: None,
        },
        CaseCommand::UploadPhoto {
            photo: photo(1),
            quality: good_quality(),
        },
    ] {
        service.execute(&granted, cmd, &me).await.unwrap();
    }
    let officer = officer("officer.roy");
    service
        .execute(
            &granted,
            CaseCommand::Claim {
                until: start() + Duration::hours(2),
            },
            &officer,
        )
        .await
        .unwrap();
    service
        .execute(&granted, CaseCommand::AcceptPhoto, &officer)
        .await
        .unwrap();
    catch_up(&db).await;

    let scheduler = restarted(&service);
    assert_eq!(tick(&db, &scheduler).await, vec![], "nothing is due yet");

    // Past the claim's lease: it expires, once, whatever else runs.
    clock.advance(Duration::hours(2));
    let first = tick(&db, &scheduler).await;
    assert_eq!(
        kinds(&first),
        vec![(granted.clone(), DeadlineKind::ExpireClaim)]
    );
    // The view has not seen the expiry yet: neither this scheduler nor a restarted one acts
    // on the deadline again (the store refuses the old version).
    assert_eq!(tick(&db, &scheduler).await, vec![]);
    assert_eq!(tick(&db, &restarted(&service)).await, vec![]);
    catch_up(&db).await;
    assert_eq!(tick(&db, &restarted(&service)).await, vec![]);
    assert_eq!(events_named(&service, &granted, "ClaimExpired").await, 1);

    // PR granted: the card is ordered a day later (the default policy).
    service.grant(&granted, &officer).await.unwrap();
    catch_up(&db).await;
    assert_eq!(tick(&db, &scheduler).await, vec![]);

    // 23 days on: the unanswered invitation's reminder, the unused password's expiry and the
    // card order, each once.
    clock.advance(Duration::days(23));
    let due = tick(&db, &scheduler).await;
    let mut expected = vec![
        (silent.clone(), DeadlineKind::RemindInvitation),
        (idle.clone(), DeadlineKind::ExpireTemporaryPassword),
        (granted.clone(), DeadlineKind::OrderPrCard),
    ];
    expected.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
    assert_eq!(kinds(&due), expected);
    assert_eq!(tick(&db, &restarted(&service)).await, vec![]);
    catch_up(&db).await;
    assert_eq!(tick(&db, &restarted(&service)).await, vec![]);
    assert_eq!(stage(&service, &idle).await, StageName::AwaitingAccount);
    assert_eq!(stage(&service, &granted).await, StageName::CardOrdered);
    assert_eq!(stage(&service, &silent).await, StageName::Invited);

    // Past the answer date: the invitation expires and the case is referred.
    clock.advance(Duration::days(7) + Duration::seconds(1));
    let expired = tick(&db, &restarted(&service)).await;
    assert_eq!(
        kinds(&expired),
        vec![(silent.clone(), DeadlineKind::ExpireInvitation)]
    );
    catch_up(&db).await;
    assert_eq!(tick(&db, &restarted(&service)).await, vec![]);
    assert_eq!(stage(&service, &silent).await, StageName::Referred);
    for (id, name) in [
        (&silent, "InvitationReminded"),
        (&silent, "InvitationExpired"),
        (&idle, "TemporaryPasswordExpired"),
        (&granted, "PrCardOrdered"),
    ] {
        assert_eq!(events_named(&service, id, name).await, 1, "{name}");
    }
    // Every one of them was the system's doing.
    let history = service.history(&silent).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.metadata["actor_role"], "system");

    // The applicant hears of the reminder and of the expiry, once each, by e-mail, in the
    // case's language (French in the fixture).
    let composer = ReactorConsumer::new(
        MailComposer::new(crate::common::keys(&db).persons),
        100,
        crate::common::keys(&db).persons,
    );
    let mut conn = db.dedicated().await.unwrap();
    while composer.run_once(&mut conn.conn()).await.unwrap().more {}
    let sql = "SELECT subject, body FROM mail_outbox WHERE id LIKE $1 ORDER BY id";
    let pattern = format!("{silent}-%");
    let notices: Vec<(String, String)> = match &db {
        Database::Postgres(pool) => sqlx::query_as(sql).bind(&pattern).fetch_all(pool).await,
        Database::Sqlite(pool) => sqlx::query_as(sql).bind(&pattern).fetch_all(pool).await,
    }
    .unwrap();
    let subjects: Vec<&str> = notices.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "Rappel : répondez à votre invitation à confirmer votre résidence permanente",
            "Votre invitation à confirmer votre résidence permanente en ligne a expiré",
        ]
    );
    assert!(
        notices[0].1.starts_with("Bonjour Ana Tremblay-Côté,"),
        "{}",
        notices[0].1
    );
    assert!(notices[0].1.contains(&format!(
        "Répondez avant le {} (UTC)",
        respond_by().format("%Y-%m-%d")
    )));
}

/// Claims the case as `officer.roy` for two hours, readies it and grants PR while the lease
/// runs.
async fn claimed_and_granted(service: &CaseService, n: usize) -> String {
    let id = invite(service, "E000000002", &format!("22{n:06}"))
        .await
        .case_id;
    let me = applicant(&format!("a-{n:06}"));
    let officer = officer("officer.roy");
    let steps = [
        (CaseCommand::AcceptInvitation, system()),
        (
            CaseCommand::CreateAccount {
                username: ActorId::parse(&format!("a-{n:06}")).unwrap(),
                temporary_password_expires_at: start() + Duration::hours(72),
            },
            system(),
        ),
        (CaseCommand::ChangePassword, me.clone()),
        (CaseCommand::DeclarePresence { in_canada: true }, me.clone()),
        (
            CaseCommand::ConfirmAddress {
                residential: address(),
                mailing: None,
            },
            me.clone(),
        ),
        (
            CaseCommand::UploadPhoto {
                photo: photo(1),
                quality: good_quality(),
            },
            me.clone(),
        ),
        (
            CaseCommand::Claim {
                until: start() + Duration::hours(2),
            },
            officer.clone(),
        ),
        (CaseCommand::AcceptPhoto, officer.clone()),
    ];
    for (command, meta) in steps {
        service.execute(&id, command, &meta).await.unwrap();
    }
    service.grant(&id, &officer).await.unwrap();
    id
}

/// Ticks the clock's scheduler and the projections until a tick issues nothing; answers
/// everything it issued.
async fn run_clock(db: &Database, scheduler: &Scheduler) -> Vec<Issued> {
    let mut all = Vec::new();
    for _ in 0..50 {
        catch_up(db).await;
        let issued = tick(db, scheduler).await;
        if issued.is_empty() {
            return all;
        }
        all.extend(issued);
    }
    panic!("the clock never settled: {} issued", all.len());
}

async fn parked_of_the_clock(db: &Database) -> Vec<prconfirm_projections::runtime::parked::Parked> {
    prconfirm_projections::runtime::parked::list(db, Some("clock"))
        .await
        .unwrap()
}

/// The issue's report: a claim that a grant ended left an "expire claim" deadline the rules
/// refuse; once 200 of those were due, the scheduler's round of the 200 oldest found nothing
/// it could do and no card was ordered, no invitation expired again. The deadlines now come
/// from the domain (a granted case has no claim, so no such deadline), and a deadline the
/// rules refuse anyway is parked and never read again.
async fn cases_granted_while_claimed_still_get_their_cards_and_nothing_stops_the_clock(
    db: Database,
) {
    let (service, clock) = service(&db, 0);
    let service = Arc::new(service);
    let granted: Vec<String> = futures::stream::iter(0..250)
        .map(|n| {
            let service = service.clone();
            async move { claimed_and_granted(&service, n).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let silent = invite(&service, "E000000003", "3300000001").await.case_id;
    catch_up(&db).await;
    let claims = "SELECT COUNT(*) FROM deadlines WHERE kind = 'expire_claim'";
    let claims: i64 = on_db!(&db, |pool| sqlx::query_scalar(claims).fetch_one(pool).await).unwrap();
    assert_eq!(claims, 0, "the grants ended the claims and their deadlines");

    // Past every lease, past the card orders, past the invitation's answer date.
    clock.advance(Duration::days(30) + Duration::hours(1));
    let scheduler = restarted(&service);
    let issued = run_clock(&db, &scheduler).await;
    let ordered = issued
        .iter()
        .filter(|i| i.kind == DeadlineKind::OrderPrCard)
        .count();
    assert_eq!(ordered, 250, "every granted case has its card ordered");
    for id in &granted {
        assert_eq!(stage(&service, id).await, StageName::CardOrdered);
    }
    assert_eq!(stage(&service, &silent).await, StageName::Referred);
    assert!(parked_of_the_clock(&db).await.is_empty(), "nothing refused");

    // A deadline the rules refuse, however it came to be in the view (here: put there by
    // hand, one per case, all due before anything else): it is parked, never read again,
    // and does not hold up a deadline behind it.
    let live: i64 = on_db!(&db, |pool| sqlx::query_scalar(
        "SELECT live_generation FROM projections WHERE name = 'deadlines'"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    let insert = format!(
        "INSERT INTO deadlines_g{live} (case_id, kind, due_at, seq) VALUES ($1, 'expire_claim', $2, $3)"
    );
    for id in &granted {
        let version = service.version(id).await.unwrap().unwrap();
        let due = (start() + Duration::hours(2)).timestamp_millis();
        on_db!(&db, |pool| sqlx::query(&insert)
            .bind(id)
            .bind(due)
            .bind(i64::try_from(version).unwrap())
            .execute(pool)
            .await
            .map(drop))
        .unwrap();
    }
    let late = service
        .invite(
            file("E000000003", "3300000002", "Ana"),
            service.clock().now() + Duration::days(1),
            &officer("officer.a"),
        )
        .await
        .unwrap()
        .case_id;
    catch_up(&db).await;
    clock.advance(Duration::days(2));
    // The first round reads 200 of them and parks them; the next, the last 50, and the
    // invitation behind them expires.
    let first = tick(&db, &scheduler).await;
    assert_eq!(first, vec![], "a round of refusals");
    assert_eq!(parked_of_the_clock(&db).await.len(), 200);
    let second = tick(&db, &scheduler).await;
    assert_eq!(
        kinds(&second),
        vec![(late.clone(), DeadlineKind::ExpireInvitation)],
        "the invitation behind them expires"
    );
    let parked = parked_of_the_clock(&db).await;
    assert_eq!(parked.len(), 250, "each refused deadline parked once");
    assert!(parked.iter().all(|p| p.refused), "{parked:?}");
    // The next rounds read none of them again.
    let mut conn = db.dedicated().await.unwrap();
    let due = prconfirm_projections::reads::due_deadlines(
        &mut conn.conn(),
        service.clock().now(),
        200,
        "clock",
    )
    .await
    .unwrap();
    assert!(
        due.iter().all(|d| d.kind != DeadlineKind::ExpireClaim),
        "refused rows read again: {}",
        due.len()
    );
    assert_eq!(tick(&db, &scheduler).await, vec![]);
}
