//! The consumer runtime's reactors on a real store: an item that fails is parked and the
//! items behind it go on, each case's events stay in order, an operator's retry brings a
//! refused item back; and the accounts reactor finishes an account whose event was recorded
//! but whose row was not (a crash between the two).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, Utc};
use prconfirm_api::workers::accounts::AccountsReactor;
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_domain::case::{CaseCommand, CaseEvent};
use prconfirm_migrations::{on_conn, on_db, Database};
use prconfirm_projections::feed::FeedCursor;
use prconfirm_projections::runtime::parked::{self, Parked};
use prconfirm_projections::runtime::{Item, ItemError, Reactor, ReactorConsumer};
use prconfirm_projections::store::Conn;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(
    a_failing_case_is_parked_and_the_others_go_on_in_order,
    cases_are_prepared_side_by_side_and_each_case_in_order,
    an_account_recorded_but_not_written_is_written_by_the_next_round,
);

/// A reactor for the test: it records every event it is given in `probe_seen`, in the order
/// recorded, and fails (or refuses) the events of the cases named in `failing`.
#[derive(Clone, Default)]
struct Probe {
    failing: Arc<Mutex<HashSet<String>>>,
    refusing: Arc<Mutex<HashSet<String>>>,
    /// Cases prepared at once ([`Reactor::concurrency`]; 0: the default).
    concurrency: usize,
    /// How long each preparation takes.
    delay: std::time::Duration,
    /// Preparations under way, and the most seen at once.
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    /// The order in which preparations began.
    began: Arc<Mutex<Vec<(String, i64)>>>,
}

#[async_trait]
impl Reactor for Probe {
    type Work = ();

    fn name(&self) -> &'static str {
        "probe"
    }

    fn wants(&self, _: &CaseEvent) -> bool {
        true
    }

    fn concurrency(&self) -> usize {
        if self.concurrency == 0 {
            1
        } else {
            self.concurrency
        }
    }

    async fn prepare(&self, item: &Item) -> Result<Option<()>, ItemError> {
        self.began
            .lock()
            .unwrap()
            .push((item.case_id.clone(), item.sequence));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.failing.lock().unwrap().contains(&item.case_id) {
            return Err(ItemError::Failed("not now".into()));
        }
        Ok(Some(()))
    }

    async fn record(&self, conn: &mut Conn<'_>, item: &Item, (): ()) -> Result<(), ItemError> {
        if self.refusing.lock().unwrap().contains(&item.case_id) {
            return Err(ItemError::Refused("never".into()));
        }
        let sql = "INSERT INTO probe_seen (case_id, sequence) VALUES ($1, $2)";
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(&item.case_id)
            .bind(item.sequence)
            .execute(&mut **c)
            .await
            .map(drop))?;
        Ok(())
    }
}

/// What the probe recorded, in the order it recorded it.
async fn seen(db: &Database) -> Vec<(String, i64)> {
    let sql = "SELECT case_id, sequence FROM probe_seen ORDER BY n";
    on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await).unwrap()
}

/// Runs rounds until the reactor has passed the last event of the log (bounded).
async fn run_to_end<R: Reactor>(db: &Database, consumer: &ReactorConsumer<R>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut conn = db.dedicated().await.unwrap();
    loop {
        let round = consumer.run_once(&mut conn.conn()).await.unwrap();
        let last = "SELECT COALESCE(MAX(position), 0) FROM events";
        let last: i64 = on_db!(db, |pool| sqlx::query_scalar(last).fetch_one(pool).await).unwrap();
        if !round.more && round.position.map(|p| p.cursor.position) == Some(last) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the end"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A slow reactor allowed four cases at once: the cases' preparations overlap (never more
/// than four), each case's events are still prepared and recorded in their order, and a
/// failing case parks behind its own failure only.
async fn cases_are_prepared_side_by_side_and_each_case_in_order(db: Database) {
    probe_table(&db).await;
    let (service, _clock) = service(&db, 0);
    let mut cases = Vec::new();
    for k in 0..8 {
        let id = invite(
            &service,
            "E000000001",
            &format!("{:010}", 1_300_000_000 + k),
        )
        .await
        .case_id;
        service
            .execute(&id, CaseCommand::RemindInvitation, &system())
            .await
            .unwrap();
        service
            .execute(&id, CaseCommand::AcceptInvitation, &system())
            .await
            .unwrap();
        cases.push(id);
    }
    let probe = Probe {
        concurrency: 4,
        delay: std::time::Duration::from_millis(30),
        ..Probe::default()
    };
    probe.failing.lock().unwrap().insert(cases[3].clone());
    let consumer = ReactorConsumer::new(probe.clone(), 100, crate::common::keys(&db).persons);
    run_to_end(&db, &consumer).await;

    let most = probe.most.load(Ordering::SeqCst);
    assert!((2..=4).contains(&most), "{most} preparations at once");
    let seen = seen(&db).await;
    assert_eq!(seen.len(), 7 * 3, "{seen:?}");
    for (k, case) in cases.iter().enumerate() {
        let own: Vec<i64> = seen
            .iter()
            .filter(|(c, _)| c == case)
            .map(|(_, s)| *s)
            .collect();
        let began: Vec<i64> = probe
            .began
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == case)
            .map(|(_, s)| *s)
            .collect();
        if k == 3 {
            // Prepared once, failed: the two after it park behind it unprepared.
            assert!(own.is_empty(), "{own:?}");
            assert_eq!(began, vec![1]);
        } else {
            assert_eq!(own, vec![1, 2, 3], "case {k}");
            assert_eq!(began, vec![1, 2, 3], "case {k}");
        }
    }
    let parked: Vec<i64> = parked_probe(&db).await.iter().map(|p| p.sequence).collect();
    assert_eq!(parked, vec![1, 2, 3]);
}

async fn parked_probe(db: &Database) -> Vec<Parked> {
    parked::list(db, Some("probe")).await.unwrap()
}

async fn probe_table(db: &Database) {
    let create = match db {
        Database::Postgres(_) => {
            "CREATE TABLE probe_seen (n BIGSERIAL PRIMARY KEY, case_id TEXT, sequence BIGINT)"
        }
        Database::Sqlite(_) => {
            "CREATE TABLE probe_seen (n INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT, sequence INTEGER)"
        }
    };
    on_db!(db, |pool| sqlx::query(create).execute(pool).await.map(drop)).unwrap();
}

async fn a_failing_case_is_parked_and_the_others_go_on_in_order(db: Database) {
    probe_table(&db).await;
    let (service, _clock) = service(&db, 0);
    let stuck = invite(&service, "E000000001", "1200000001").await.case_id;
    let fine = invite(&service, "E000000001", "1200000002").await.case_id;
    let probe = Probe::default();
    probe.failing.lock().unwrap().insert(stuck.clone());
    let consumer = ReactorConsumer::new(probe.clone(), 100, crate::common::keys(&db).persons);

    // Two more events of the stuck case and one of the other, after its failure.
    run_to_end(&db, &consumer).await;
    for id in [&stuck, &stuck, &fine] {
        let cmd = if id == &fine {
            CaseCommand::AcceptInvitation
        } else {
            CaseCommand::RemindInvitation
        };
        let _ = service.execute(id, cmd, &system()).await;
    }
    service
        .execute(&stuck, CaseCommand::AcceptInvitation, &system())
        .await
        .unwrap();
    run_to_end(&db, &consumer).await;

    // The other case went on; the stuck one's first event is parked for its failure, the
    // later ones behind it.
    assert_eq!(seen(&db).await, vec![(fine.clone(), 1), (fine.clone(), 2)]);
    let parked = parked_probe(&db).await;
    let states: Vec<(i64, i32, bool)> = parked
        .iter()
        .map(|p| (p.sequence, p.attempts, p.refused))
        .collect();
    assert_eq!(
        states,
        vec![(1, 1, false), (2, 0, false), (3, 0, false)],
        "{parked:?}"
    );
    assert_eq!(parked[0].error, "not now");
    assert!(parked[1].error.starts_with("waits behind"), "{parked:?}");

    // Mended: once due, the stuck case's events go through, in their order.
    probe.failing.lock().unwrap().clear();
    parked::retry(&db, Some("probe"), None, Utc::now())
        .await
        .unwrap();
    run_to_end(&db, &consumer).await;
    assert_eq!(
        seen(&db).await,
        vec![
            (fine.clone(), 1),
            (fine.clone(), 2),
            (stuck.clone(), 1),
            (stuck.clone(), 2),
            (stuck.clone(), 3),
        ]
    );
    assert!(parked_probe(&db).await.is_empty());

    // A record the reactor refuses is parked as refused: not tried again until an operator
    // says so, and then once more.
    probe.refusing.lock().unwrap().insert(fine.clone());
    service
        .execute(
            &fine,
            CaseCommand::CreateAccount {
                username: prconfirm_domain::values::ActorId::parse("a-fine").unwrap(),
                temporary_password_expires_at: start() + Duration::hours(72),
            },
            &system(),
        )
        .await
        .unwrap();
    run_to_end(&db, &consumer).await;
    run_to_end(&db, &consumer).await;
    let refused = parked_probe(&db).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].refused && refused[0].attempts == 1,
        "{refused:?}"
    );
    assert_eq!(
        parked::retry(&db, Some("probe"), None, Utc::now())
            .await
            .unwrap(),
        1
    );
    run_to_end(&db, &consumer).await;
    let again = parked_probe(&db).await;
    assert!(again[0].refused && again[0].attempts == 2, "{again:?}");
    probe.refusing.lock().unwrap().clear();
    parked::retry(&db, Some("probe"), None, Utc::now())
        .await
        .unwrap();
    run_to_end(&db, &consumer).await;
    assert!(parked_probe(&db).await.is_empty());
    assert_eq!(seen(&db).await.last(), Some(&(fine.clone(), 3)));
}

async fn an_account_recorded_but_not_written_is_written_by_the_next_round(db: Database) {
    let (service, clock) = service(&db, 0);
    let service = Arc::new(service);
    let accounts = Accounts::new(
        db.clone(),
        PasswordHasherPool::new().unwrap(),
        clock,
        prconfirm_commands::accounts::mfa::MfaKey::from_bytes([7; 32]),
    );
    let reactor = AccountsReactor {
        cases: service.clone(),
        accounts: accounts.clone(),
        temporary_password_valid_for: Duration::hours(72),
    };
    let id = invite(&service, "E000000001", "1300000001").await.case_id;
    service
        .execute(&id, CaseCommand::AcceptInvitation, &system())
        .await
        .unwrap();

    // The reactor prepares the acceptance (records AccountCreated) and dies before its
    // transaction: no account row, no message.
    let accepted = Item {
        cursor: FeedCursor::START,
        case_id: id.clone(),
        sequence: 2,
        event: service.history(&id).await.unwrap()[1].payload.clone(),
        recorded_at: Utc::now(),
    };
    assert!(matches!(
        accepted.event,
        CaseEvent::InvitationAccepted { .. }
    ));
    let dropped = reactor.prepare(&accepted).await.unwrap();
    assert!(dropped.is_some());
    drop(dropped);
    let loaded = service.load(&id).await.unwrap().unwrap();
    let username = loaded.case.username.clone().unwrap();
    assert_eq!(loaded.version, 3, "AccountCreated recorded");
    assert_eq!(accounts.applicant_username(&id).await.unwrap(), None);

    // The next round finds the event, keeps its username and writes the account, with the
    // credentials message under the event's id.
    let consumer = ReactorConsumer::new(reactor, 100, crate::common::keys(&db).persons);
    run_to_end(&db, &consumer).await;
    assert_eq!(
        accounts.applicant_username(&id).await.unwrap().as_deref(),
        Some(username.as_str())
    );
    assert_eq!(
        service.load(&id).await.unwrap().unwrap().version,
        3,
        "no second event"
    );
    let sql = "SELECT body FROM mail_outbox WHERE id = $1";
    let body: String = on_db!(&db, |pool| sqlx::query_scalar(sql)
        .bind(format!("{id}-3"))
        .fetch_one(pool)
        .await)
    .unwrap();
    assert!(
        body.contains(&format!("Username: {username}\r\n")),
        "{body}"
    );
    let password = body
        .lines()
        .find_map(|l| l.strip_prefix("Temporary password: "))
        .unwrap()
        .to_owned();
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let session = accounts
        .sign_in(username.as_str(), password, None, client)
        .await
        .unwrap();
    assert!(session.must_change_password);

    // Run again from the start (a restart that lost the checkpoint): nothing new.
    let again = ReactorConsumer::new(
        AccountsReactor {
            cases: service.clone(),
            accounts: accounts.clone(),
            temporary_password_valid_for: Duration::hours(72),
        },
        100,
        crate::common::keys(&db).persons,
    );
    let sql = "UPDATE reactor_checkpoints SET tx = 0, position = 0 WHERE name = 'accounts'";
    on_db!(&db, |pool| sqlx::query(sql).execute(pool).await.map(drop)).unwrap();
    run_to_end(&db, &again).await;
    let count = "SELECT COUNT(*) FROM mail_outbox WHERE id LIKE $1";
    let n: i64 = on_db!(&db, |pool| sqlx::query_scalar(count)
        .bind(format!("{id}-%"))
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(n, 1, "one credentials message");
}
