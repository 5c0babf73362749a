//! The eCoPR reactor on a real store: one document (and one e-mail) per event however often
//! it runs over the same events, and an event it cannot turn into a document is retried,
//! never passed over.

use std::sync::Arc;

use prconfirm_api::workers::ecopr::{EcoprReactor, REACTOR};
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_commands::photo::BlobStore;
use prconfirm_domain::fixtures::text;
use prconfirm_migrations::{on_db, Database};
use prconfirm_projections::runtime::{ReactorConsumer, Round, RoundError};

use crate::common::*;
use crate::lifecycle::full_path;
use crate::on_both_backends;

on_both_backends!(
    running_the_reactor_twice_over_the_same_events_makes_one_document_each,
    an_event_the_reactor_cannot_finish_is_retried_not_skipped,
);

/// `(document_number, sequence, replaces, pdf_sha256, verification_sha256, superseded_by)`.
type Row = (String, i64, Option<String>, String, String, Option<String>);

async fn documents(db: &Database) -> Vec<Row> {
    let sql = "SELECT document_number, sequence, replaces, pdf_sha256, verification_sha256, \
               superseded_by FROM documents ORDER BY document_number";
    on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await).unwrap()
}

async fn mails(db: &Database) -> Vec<String> {
    let sql = "SELECT id FROM mail_outbox ORDER BY id";
    on_db!(db, |pool| sqlx::query_scalar(sql).fetch_all(pool).await).unwrap()
}

async fn rewind(db: &Database) {
    let sql = "UPDATE reactor_checkpoints SET tx = 0, position = 0 WHERE name = $1";
    on_db!(db, |pool| sqlx::query(sql)
        .bind(REACTOR)
        .execute(pool)
        .await
        .map(drop))
    .unwrap();
}

fn reactor(
    db: &Database,
    service: prconfirm_commands::CaseService,
    blobs: BlobStore,
) -> EcoprReactor {
    EcoprReactor {
        cases: Arc::new(service),
        accounts: Accounts::new(
            db.clone(),
            PasswordHasherPool::new().unwrap(),
            Arc::new(prconfirm_commands::SystemClock),
            prconfirm_commands::accounts::mfa::MfaKey::from_bytes([7; 32]),
        ),
        blobs,
    }
}

/// One round of `reactor` as the runtime runs it, on a connection of its own, from the
/// checkpoint as stored.
async fn round(db: &Database, reactor: &EcoprReactor) -> (Result<Round, RoundError>, i64) {
    let consumer = ReactorConsumer::new(reactor.clone(), 100, crate::common::keys(db).persons);
    let mut conn = db.dedicated().await.unwrap();
    let mut reached = 0;
    let outcome = loop {
        match consumer.run_once(&mut conn.conn()).await {
            Ok(r) => {
                reached = r.position.map_or(reached, |p| p.cursor.position);
                if !r.more {
                    break Ok(r);
                }
            }
            Err(e) => break Err(e),
        }
    };
    (outcome, reached)
}

/// Runs the reactor until it has passed the last event. An empty round is not the end: on
/// PostgreSQL the feed holds events back while any older transaction of the cluster is open
/// (other tests run beside this one).
async fn catch_up(db: &Database, reactor: &EcoprReactor) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let consumer = ReactorConsumer::new(reactor.clone(), 100, crate::common::keys(db).persons);
    let mut conn = db.dedicated().await.unwrap();
    loop {
        let reached = consumer
            .run_once(&mut conn.conn())
            .await
            .unwrap()
            .position
            .map(|p| p.cursor.position);
        let last = "SELECT COALESCE(MAX(position), 0) FROM events";
        let last: i64 = on_db!(db, |pool| sqlx::query_scalar(last).fetch_one(pool).await).unwrap();
        if reached == Some(last) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reactor stuck at {reached:?} of {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Runs the reactor until a round fails (bounded), for the same reason as [`catch_up`].
async fn until_it_fails(db: &Database, reactor: &EcoprReactor) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while round(db, reactor).await.0.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A granted case whose eCoPR was then amended: two documents due.
async fn granted_and_amended(db: &Database) -> (prconfirm_commands::CaseService, String) {
    let (service, _clock) = service(db, 0);
    let id = full_path(&service, "12345678", "Zoë", "a-zoe").await;
    service
        .amend_ecopr(&id, text("date of birth"), &officer("officer.tremblay"))
        .await
        .unwrap();
    (service, id)
}

async fn running_the_reactor_twice_over_the_same_events_makes_one_document_each(db: Database) {
    let (service, id) = granted_and_amended(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let reactor = reactor(&db, service, BlobStore::new(dir.path()));

    catch_up(&db, &reactor).await;
    let first = documents(&db).await;
    assert_eq!(first.len(), 2, "{first:?}");
    let (issued, amended) = (&first[0], &first[1]);
    assert_eq!((issued.1, amended.1), (12, 15), "the events' sequences");
    assert_eq!(amended.2.as_deref(), Some(issued.0.as_str()));
    assert_eq!(issued.5.as_deref(), Some(amended.0.as_str()), "superseded");
    assert_eq!(amended.5, None);
    assert_eq!(
        mails(&db).await,
        vec![format!("{id}-12"), format!("{id}-15")]
    );

    // As after a crash before the checkpoint was kept: the same events again, twice.
    rewind(&db).await;
    catch_up(&db, &reactor).await;
    rewind(&db).await;
    catch_up(&db, &reactor).await;
    assert_eq!(
        documents(&db).await,
        first,
        "no second document, no new code"
    );
    assert_eq!(mails(&db).await.len(), 2, "no second e-mail");
    let pdfs = std::fs::read_dir(dir.path().join("sha256"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum::<usize>();
    assert_eq!(pdfs, 2, "no PDF rendered again");
}

async fn an_event_the_reactor_cannot_finish_is_retried_not_skipped(db: Database) {
    let (service, _) = granted_and_amended(&db).await;
    // A blob store whose root is a file: every PDF fails to store.
    let dir = tempfile::tempdir().unwrap();
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, b"").unwrap();
    let broken = reactor(&db, service, BlobStore::new(&blocked));
    until_it_fails(&db, &broken).await;
    let (again, stopped) = round(&db, &broken).await;
    assert!(again.is_err(), "stuck at the same event");
    assert!(documents(&db).await.is_empty());
    // Nothing parked either: a blob store out of reach is every document's trouble.
    let parked = prconfirm_projections::runtime::parked::list(&db, Some(REACTOR))
        .await
        .unwrap();
    assert!(parked.is_empty(), "{parked:?}");
    let sql = "SELECT min(position) FROM events WHERE event_type = 'EcoprIssued'";
    let issued: i64 = on_db!(&db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await).unwrap();
    assert!(
        stopped < issued,
        "the checkpoint stops before the failing event"
    );

    // Once the store works, the same events become their documents.
    let fixed = EcoprReactor {
        blobs: BlobStore::new(dir.path().join("blobs")),
        ..broken
    };
    catch_up(&db, &fixed).await;
    assert_eq!(documents(&db).await.len(), 2);
}
