//! The audit chain on both backends: every appended event is chained to its case's previous
//! one, checkpoints are signed over the feed, and verification catches what the database owner
//! can do behind the application's back (triggers disabled), naming the first bad event.

use std::time::{Duration, Instant};

use prconfirm_commands::audit::chain::{event_hash, stamp, ChainHash, EventFields, StoredLink};
use prconfirm_commands::audit::checkpoint::{self, Checkpoint};
use prconfirm_commands::audit::export::export_events;
use prconfirm_commands::audit::verify::CheckpointSource;
use prconfirm_commands::audit::{take_checkpoint, verify, AuditKey, Reason, Report};
use prconfirm_commands::{CaseService, CommandError};
use prconfirm_domain::case::CaseCommand;
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::Database;
use prconfirm_projections::{read_feed, FeedCursor};
use serde_json::{json, Value};

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(
    every_appended_event_is_chained_to_its_predecessor,
    an_untouched_log_verifies_with_its_checkpoints,
    a_checkpoint_is_taken_only_when_new_events_arrived,
    changing_one_payload_byte_is_caught_at_that_event,
    changing_the_actor_in_metadata_is_caught_at_that_event,
    deleting_a_middle_event_is_caught_at_the_event_after_it,
    swapping_two_events_payloads_is_caught_at_the_earlier_one,
    deleting_the_newest_events_is_caught_against_an_exported_checkpoint,
    a_chain_rewritten_with_valid_hashes_is_caught_by_the_signed_checkpoint,
    a_forged_checkpoint_is_caught_by_its_signature,
    a_case_whose_last_event_lost_its_hash_takes_no_new_event,
    the_python_verifier_accepts_an_untouched_export_and_names_a_changed_event,
    an_export_of_one_case_holds_only_its_events,
    a_log_written_by_racing_commands_verifies,
    a_windowed_export_verifies_from_its_anchors_and_names_a_changed_event,
);

fn key() -> AuditKey {
    AuditKey::from_seed([7; 32])
}

/// Three cases whose events interleave in the feed: A1 B1 A2 C1 B2 A3.
struct Log {
    a: String,
    b: String,
    c: String,
}

const EVENTS: u64 = 6;

async fn build_log(service: &CaseService) -> Log {
    let a = invite(service, "E000000101", "11111111").await.case_id;
    let b = invite(service, "E000000102", "22222222").await.case_id;
    accept(service, &a).await;
    let c = invite(service, "E000000103", "33333333").await.case_id;
    accept(service, &b).await;
    service
        .execute(
            &a,
            CaseCommand::CreateAccount {
                username: ActorId::parse("a-ana").unwrap(),
                temporary_password_expires_at: start() + chrono::Duration::hours(72),
            },
            &system(),
        )
        .await
        .unwrap();
    Log { a, b, c }
}

async fn accept(service: &CaseService, id: &str) {
    service
        .execute(id, CaseCommand::AcceptInvitation, &system())
        .await
        .unwrap();
}

/// Takes one checkpoint covering the whole log of `count` events, once the feed has settled
/// them all (waiting, within a bound, for write transactions elsewhere in the PostgreSQL
/// cluster that hold the feed back): no partial checkpoint is left behind.
async fn checkpoint_covering(db: &Database, count: u64) -> Checkpoint {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let settled = read_feed(db, FeedCursor::START, 1000).await.unwrap().len();
        if settled as u64 >= count {
            break;
        }
        assert!(Instant::now() < deadline, "the feed did not reach {count}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let taken = take_checkpoint(db, &key(), start()).await.unwrap().unwrap();
    assert_eq!(taken.count, count);
    taken
}

async fn verified(db: &Database, exported: Option<Vec<Checkpoint>>) -> Report {
    verify(db, Some(&key().verifying_key()), exported, |_| {})
        .await
        .unwrap()
}

async fn position_of(db: &Database, id: &str, sequence: i64) -> i64 {
    const SQL: &str = "SELECT position FROM events WHERE aggregate_id = $1 AND sequence = $2";
    match db {
        Database::Postgres(p) => sqlx::query_scalar(SQL)
            .bind(id)
            .bind(sequence)
            .fetch_one(p)
            .await
            .unwrap(),
        Database::Sqlite(p) => sqlx::query_scalar(SQL)
            .bind(id)
            .bind(sequence)
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

/// Runs `sql` as the database owner with the append-only triggers out of the way.
async fn tamper(db: &Database, sql: &str) {
    match db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            for statement in [
                "ALTER TABLE events DISABLE TRIGGER USER",
                "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER",
                sql,
                "ALTER TABLE events ENABLE TRIGGER USER",
                "ALTER TABLE audit_checkpoints ENABLE TRIGGER USER",
            ] {
                sqlx::query(statement).execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }
        Database::Sqlite(pool) => {
            sqlx::raw_sql(
                "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;
                 DROP TRIGGER IF EXISTS audit_checkpoints_no_update;
                 DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;",
            )
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    }
}

/// The stored JSON of one column of one event.
async fn read_json(db: &Database, id: &str, sequence: i64, column: &str) -> Value {
    let sql = format!("SELECT {column} FROM events WHERE aggregate_id = $1 AND sequence = $2");
    match db {
        Database::Postgres(p) => sqlx::query_scalar(&sql)
            .bind(id)
            .bind(sequence)
            .fetch_one(p)
            .await
            .unwrap(),
        Database::Sqlite(p) => {
            let text: String = sqlx::query_scalar(&sql)
                .bind(id)
                .bind(sequence)
                .fetch_one(p)
                .await
                .unwrap();
            serde_json::from_str(&text).unwrap()
        }
    }
}

/// A text column of one event.
async fn read_text(db: &Database, id: &str, sequence: i64, column: &str) -> String {
    let sql = format!("SELECT {column} FROM events WHERE aggregate_id = $1 AND sequence = $2");
    match db {
        Database::Postgres(p) => sqlx::query_scalar(&sql)
            .bind(id)
            .bind(sequence)
            .fetch_one(p)
            .await
            .unwrap(),
        Database::Sqlite(p) => sqlx::query_scalar(&sql)
            .bind(id)
            .bind(sequence)
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

/// Overwrites one column of one event behind the application's back.
async fn rewrite_json(db: &Database, id: &str, sequence: i64, column: &str, value: &Value) {
    let text = value.to_string().replace('\'', "''");
    let literal = match db {
        Database::Postgres(_) => format!("'{text}'::jsonb"),
        Database::Sqlite(_) => format!("'{text}'"),
    };
    let id = id.replace('\'', "''");
    tamper(
        db,
        &format!(
            "UPDATE events SET {column} = {literal} WHERE aggregate_id = '{id}' AND sequence = {sequence}"
        ),
    )
    .await;
}

fn first_bad(report: &Report) -> (Option<&str>, Option<i64>, Option<i64>, &Reason) {
    let bad = report.first_bad.as_ref().expect("a problem is found");
    (bad.case.as_deref(), bad.sequence, bad.position, &bad.reason)
}

async fn every_appended_event_is_chained_to_its_predecessor(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    let first = stored_link(&db, &log.a, 1).await;
    assert_eq!(first.prev_hash, ChainHash::ZERO);
    let second = stored_link(&db, &log.a, 2).await;
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(stored_link(&db, &log.a, 3).await.prev_hash, second.hash);
    // A service that has never loaded the case (nothing remembered) chains it the same way.
    let (fresh, _clock) = crate::common::service(&db, 0);
    fresh
        .execute(
            &log.c,
            CaseCommand::Withdraw {
                reason: prconfirm_domain::values::Text::parse("moved").unwrap(),
            },
            &system(),
        )
        .await
        .unwrap();
    assert_eq!(
        stored_link(&db, &log.c, 2).await.prev_hash,
        stored_link(&db, &log.c, 1).await.hash
    );
    // The history shows the link beside the rest of the metadata.
    let history = service.history(&log.a).await.unwrap();
    assert_eq!(history[1].metadata["hash"], second.hash.to_hex());
    let report = verified(&db, None).await;
    assert!(report.verified, "{report:?}");
}

async fn an_untouched_log_verifies_with_its_checkpoints(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    let cp = checkpoint_covering(&db, EVENTS).await;
    // Events after the checkpoint are verified by their chains.
    accept(&service, &log.c).await;
    let mut exported = Vec::new();
    assert_eq!(checkpoint::export(&db, &mut exported).await.unwrap(), 1);
    let exported = checkpoint::read_exported(exported.as_slice()).unwrap();
    assert_eq!(exported, [cp]);

    let mut calls = Vec::new();
    let report = verify(&db, Some(&key().verifying_key()), Some(exported), |p| {
        calls.push(p.events_checked);
    })
    .await
    .unwrap();
    assert_eq!(
        report,
        Report {
            verified: true,
            events_checked: EVENTS + 1,
            cases_checked: 3,
            checkpoints_checked: 1,
            problems: 0,
            first_bad: None,
        }
    );
    assert_eq!(calls.last(), Some(&(EVENTS + 1)));
    // Checkpoints need the key they were signed with.
    let other = AuditKey::from_seed([8; 32]).verifying_key();
    let report = verify(&db, Some(&other), None, |_| {}).await.unwrap();
    assert!(matches!(
        first_bad(&report).3,
        Reason::CheckpointSignature { count: EVENTS, .. }
    ));
}

async fn a_checkpoint_is_taken_only_when_new_events_arrived(db: Database) {
    let (service, _clock) = service(&db, 0);
    assert_eq!(take_checkpoint(&db, &key(), start()).await.unwrap(), None);
    let log = build_log(&service).await;
    let first = checkpoint_covering(&db, EVENTS).await;
    assert_eq!(take_checkpoint(&db, &key(), start()).await.unwrap(), None);
    accept(&service, &log.c).await;
    let second = checkpoint_covering(&db, EVENTS + 1).await;
    assert!(second.cursor > first.cursor);
    assert_ne!(second.root, first.root);
    assert_eq!(checkpoint::stored(&db).await.unwrap(), [first, second]);
    // Another key cannot extend what this one signed.
    let other = AuditKey::from_seed([8; 32]);
    assert!(matches!(
        take_checkpoint(&db, &other, start()).await,
        Err(prconfirm_commands::audit::AuditError::ForeignCheckpoint { count: 7 })
    ));
    assert!(verified(&db, None).await.verified);
}

async fn changing_one_payload_byte_is_caught_at_that_event(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    checkpoint_covering(&db, EVENTS).await;
    let payload = read_json(&db, &log.b, 1, "payload").await;
    let text = payload.to_string();
    let changed = text.replacen("\"respond_by\":\"20", "\"respond_by\":\"21", 1);
    assert_ne!(changed, text);
    rewrite_json(
        &db,
        &log.b,
        1,
        "payload",
        &serde_json::from_str(&changed).unwrap(),
    )
    .await;

    let report = verified(&db, None).await;
    assert!(!report.verified);
    let (case, sequence, position, reason) = first_bad(&report);
    assert_eq!(case, Some(log.b.as_str()));
    assert_eq!(sequence, Some(1));
    assert_eq!(position, Some(position_of(&db, &log.b, 1).await));
    assert!(matches!(reason, Reason::HashMismatch { .. }), "{reason:?}");
    // The stored hash is intact, so the chain after it and the checkpoint still hold.
    assert_eq!(report.problems, 1);
}

async fn changing_the_actor_in_metadata_is_caught_at_that_event(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    let mut metadata = read_json(&db, &log.a, 2, "metadata").await;
    assert_eq!(metadata["actor_id"], "system");
    metadata["actor_id"] = json!("officer.a");
    rewrite_json(&db, &log.a, 2, "metadata", &metadata).await;

    let report = verified(&db, None).await;
    let (case, sequence, position, reason) = first_bad(&report);
    assert_eq!((case, sequence), (Some(log.a.as_str()), Some(2)));
    assert_eq!(position, Some(position_of(&db, &log.a, 2).await));
    assert!(matches!(reason, Reason::HashMismatch { .. }), "{reason:?}");
}

async fn deleting_a_middle_event_is_caught_at_the_event_after_it(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    checkpoint_covering(&db, EVENTS).await;
    let third = position_of(&db, &log.a, 3).await;
    tamper(
        &db,
        &format!(
            "DELETE FROM events WHERE aggregate_id = '{}' AND sequence = 2",
            log.a
        ),
    )
    .await;

    let report = verified(&db, None).await;
    let (case, sequence, position, reason) = first_bad(&report);
    assert_eq!(
        (case, sequence, position),
        (Some(log.a.as_str()), Some(3), Some(third))
    );
    assert_eq!(reason, &Reason::UnexpectedSequence { expected: 2 });
    // The checkpoint sees it too: one event fewer up to its cursor.
    assert_eq!(report.problems, 2);
}

async fn swapping_two_events_payloads_is_caught_at_the_earlier_one(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    let a1 = read_json(&db, &log.a, 1, "payload").await;
    let b1 = read_json(&db, &log.b, 1, "payload").await;
    assert_ne!(a1, b1);
    rewrite_json(&db, &log.a, 1, "payload", &b1).await;
    rewrite_json(&db, &log.b, 1, "payload", &a1).await;

    let report = verified(&db, None).await;
    let (case, sequence, position, reason) = first_bad(&report);
    assert_eq!((case, sequence), (Some(log.a.as_str()), Some(1)));
    assert_eq!(position, Some(position_of(&db, &log.a, 1).await));
    assert!(matches!(reason, Reason::HashMismatch { .. }), "{reason:?}");
    assert_eq!(report.problems, 2, "both events are named");
}

async fn deleting_the_newest_events_is_caught_against_an_exported_checkpoint(db: Database) {
    let (service, _clock) = service(&db, 0);
    let _log = build_log(&service).await;
    let cp = checkpoint_covering(&db, EVENTS).await;
    let mut file = Vec::new();
    checkpoint::export(&db, &mut file).await.unwrap();
    // The owner deletes the two newest events, and the checkpoints that vouch for them.
    tamper(
        &db,
        "DELETE FROM events WHERE position IN \
         (SELECT position FROM events ORDER BY position DESC LIMIT 2)",
    )
    .await;
    tamper(&db, "DELETE FROM audit_checkpoints").await;

    // What is left is a consistent, shorter log: only the export shows what is missing.
    let alone = verified(&db, None).await;
    assert!(alone.verified, "{alone:?}");
    let report = verified(
        &db,
        Some(checkpoint::read_exported(file.as_slice()).unwrap()),
    )
    .await;
    assert!(!report.verified);
    let (case, sequence, position, reason) = first_bad(&report);
    assert_eq!((case, sequence), (None, None));
    assert_eq!(position, Some(cp.cursor.position));
    let Reason::CheckpointMismatch {
        count,
        log_count,
        source,
        ..
    } = reason
    else {
        panic!("{reason:?}")
    };
    assert_eq!(
        (*count, *log_count, *source),
        (EVENTS, EVENTS - 2, CheckpointSource::Exported)
    );
}

async fn a_chain_rewritten_with_valid_hashes_is_caught_by_the_signed_checkpoint(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    checkpoint_covering(&db, EVENTS).await;
    // The owner knows the algorithm: changes B's first event and re-hashes B's whole chain.
    let mut prev = ChainHash::ZERO;
    for sequence in 1..=2 {
        let mut payload = read_json(&db, &log.b, sequence, "payload").await;
        if sequence == 1 {
            payload = serde_json::from_str(&payload.to_string().replacen(
                "\"respond_by\":\"20",
                "\"respond_by\":\"21",
                1,
            ))
            .unwrap();
        }
        let mut metadata = read_json(&db, &log.b, sequence, "metadata").await;
        let event_type = read_text(&db, &log.b, sequence, "event_type").await;
        let event_version = read_text(&db, &log.b, sequence, "event_version").await;
        let hash = event_hash(
            &prev,
            &EventFields {
                aggregate_type: "case",
                aggregate_id: &log.b,
                sequence,
                event_type: &event_type,
                event_version: &event_version,
                payload: &payload,
                metadata: &metadata,
            },
        )
        .unwrap();
        stamp(
            &mut metadata,
            &StoredLink {
                prev_hash: prev,
                hash,
            },
        )
        .unwrap();
        rewrite_json(&db, &log.b, sequence, "payload", &payload).await;
        rewrite_json(&db, &log.b, sequence, "metadata", &metadata).await;
        prev = hash;
    }

    let report = verified(&db, None).await;
    assert_eq!(report.problems, 1, "{report:?}");
    let (case, _, _, reason) = first_bad(&report);
    assert_eq!(case, None, "every chain holds");
    assert!(
        matches!(
            reason,
            Reason::CheckpointMismatch {
                count: EVENTS,
                log_count: EVENTS,
                source: CheckpointSource::Stored,
                ..
            }
        ),
        "{reason:?}"
    );
}

async fn a_forged_checkpoint_is_caught_by_its_signature(db: Database) {
    let (service, _clock) = service(&db, 0);
    build_log(&service).await;
    checkpoint_covering(&db, EVENTS).await;
    tamper(
        &db,
        &format!("UPDATE audit_checkpoints SET root = '{}'", "ab".repeat(32)),
    )
    .await;
    let report = verified(&db, None).await;
    assert!(matches!(
        first_bad(&report).3,
        Reason::CheckpointSignature {
            count: EVENTS,
            source: CheckpointSource::Stored
        }
    ));
}

async fn a_case_whose_last_event_lost_its_hash_takes_no_new_event(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    let mut metadata = read_json(&db, &log.c, 1, "metadata").await;
    metadata.as_object_mut().unwrap().remove("hash");
    rewrite_json(&db, &log.c, 1, "metadata", &metadata).await;
    // A fresh service: nothing remembered, the predecessor is read from the log.
    let (fresh, _clock) = crate::common::service(&db, 0);
    let refused = fresh
        .execute(&log.c, CaseCommand::AcceptInvitation, &system())
        .await;
    assert!(
        matches!(refused, Err(CommandError::Internal(_))),
        "{refused:?}"
    );
    assert_eq!(fresh.history(&log.c).await.unwrap().len(), 1);
    let report = verified(&db, None).await;
    assert_eq!(first_bad(&report).3, &Reason::MissingHash);
}

fn python_verify(
    events: &std::path::Path,
    checkpoints: Option<&std::path::Path>,
) -> (bool, String) {
    match checkpoints {
        Some(c) => python_verify_with(events, &["--checkpoints".as_ref(), c.as_os_str()]),
        None => python_verify_with(events, &[]),
    }
}

fn python_verify_with(events: &std::path::Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/verify_export.py");
    let mut command = std::process::Command::new("python3");
    command.arg(script).arg(events).args(args);
    let out = command.output().expect("python3 runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), stdout)
}

async fn the_python_verifier_accepts_an_untouched_export_and_names_a_changed_event(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    // Unusual text, to hold the escaping of both implementations to the same bytes.
    service
        .execute(
            &log.c,
            CaseCommand::Withdraw {
                reason: prconfirm_domain::values::Text::parse("déménagé \"ailleurs\" \\ 🦀 / 漢")
                    .unwrap(),
            },
            &system(),
        )
        .await
        .unwrap();
    checkpoint_covering(&db, EVENTS + 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (events, checkpoints) = (dir.path().join("events.jsonl"), dir.path().join("cp.jsonl"));
    let written = export_events(&db, None, std::fs::File::create(&events).unwrap())
        .await
        .unwrap();
    assert_eq!(written, EVENTS + 1);
    checkpoint::export(&db, std::fs::File::create(&checkpoints).unwrap())
        .await
        .unwrap();
    let (ok, out) = python_verify(&events, Some(&checkpoints));
    assert!(ok, "{out}");
    assert!(out.contains("verified 7 events in 3 cases"), "{out}");

    let mut metadata = read_json(&db, &log.a, 2, "metadata").await;
    metadata["actor_id"] = json!("officer.a");
    rewrite_json(&db, &log.a, 2, "metadata", &metadata).await;
    export_events(&db, None, std::fs::File::create(&events).unwrap())
        .await
        .unwrap();
    let (ok, out) = python_verify(&events, None);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "case {} sequence 2 position {}",
            log.a,
            position_of(&db, &log.a, 2).await
        )),
        "{out}"
    );
    assert!(out.contains("hash_mismatch"), "{out}");
}

async fn an_export_of_one_case_holds_only_its_events(db: Database) {
    let (service, _clock) = service(&db, 0);
    let log = build_log(&service).await;
    let mut out = Vec::new();
    let written = export_events(&db, Some(&log.a), &mut out).await.unwrap();
    assert_eq!(written, 3);
    let lines: Vec<Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let sequences: Vec<i64> = lines
        .iter()
        .map(|l| l["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
    for line in &lines {
        assert_eq!(line["aggregate_id"], log.a.as_str());
        assert_eq!(line["metadata"]["hash"].as_str().unwrap().len(), 64);
        assert!(line["payload"].is_object());
    }
}

/// Appends racing on the same cases (officers claiming and releasing at once): the losers
/// write nothing, and the log the winners leave is chained in order, case by case.
async fn a_log_written_by_racing_commands_verifies(db: Database) {
    let (service, _clock) = service(&db, 0);
    let service = std::sync::Arc::new(service);
    let log = build_log(&service).await;
    let cases = std::sync::Arc::new([log.a, log.b, log.c]);
    let mut tasks = Vec::new();
    for officer in 0..6 {
        let (service, cases) = (service.clone(), cases.clone());
        tasks.push(tokio::spawn(async move {
            let meta = crate::common::officer(&format!("officer.{officer}"));
            for round in 0..6 {
                let id = &cases[(officer + round) % cases.len()];
                let claim = CaseCommand::Claim {
                    until: start() + chrono::Duration::hours(1),
                };
                for command in [claim, CaseCommand::ReleaseClaim] {
                    match service.execute(id, command, &meta).await {
                        Ok(_) | Err(CommandError::Rejected(_) | CommandError::Conflict) => {}
                        Err(other) => panic!("{other}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut written = 0;
    for id in cases.iter() {
        written += service.history(id).await.unwrap().len() as u64;
    }
    assert!(written > EVENTS, "some commands got through");
    let report = verified(&db, None).await;
    assert!(report.verified, "{report:?}");
    assert_eq!(report.events_checked, written);
}

/// A log whose events occurred an hour apart: A1 B1 at 14:00, A2 at 15:00, C1 B2 at 16:00,
/// A3 at 17:00. The window [15:00, 17:00) cuts A and B after their first event.
async fn a_windowed_export_verifies_from_its_anchors_and_names_a_changed_event(db: Database) {
    let (service, clock) = service(&db, 0);
    let hour = chrono::Duration::hours(1);
    let a = invite(&service, "E000000101", "11111111").await.case_id;
    let b = invite(&service, "E000000102", "22222222").await.case_id;
    clock.advance(hour);
    accept(&service, &a).await;
    clock.advance(hour);
    let c = invite(&service, "E000000103", "33333333").await.case_id;
    accept(&service, &b).await;
    clock.advance(hour);
    service
        .execute(
            &a,
            CaseCommand::CreateAccount {
                username: ActorId::parse("a-ana").unwrap(),
                temporary_password_expires_at: start() + chrono::Duration::hours(72),
            },
            &system(),
        )
        .await
        .unwrap();
    let window = prconfirm_commands::audit::export::Window {
        from: Some(start() + hour),
        to: Some(start() + hour * 3),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("window.jsonl");
    let export = |db: Database, path: std::path::PathBuf| async move {
        let file = std::fs::File::create(path).unwrap();
        prconfirm_commands::audit::export::export_window(&db, None, window, file)
            .await
            .unwrap()
    };
    assert_eq!(export(db.clone(), path.clone()).await, 3);
    let lines: Vec<(String, i64)> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            let id = v["aggregate_id"].as_str().unwrap().to_owned();
            (id, v["sequence"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(lines, [(a.clone(), 2), (c.clone(), 1), (b.clone(), 2)]);

    // The strict check refuses a window (its chains do not start at 1); --window takes each
    // cut case's first prev_hash as its anchor and names the anchors.
    let (ok, out) = python_verify(&path, None);
    assert!(!ok, "{out}");
    let window_flag = [std::ffi::OsStr::new("--window")];
    let (ok, out) = python_verify_with(&path, &window_flag);
    assert!(ok, "{out}");
    assert!(
        out.contains("verified 3 events in 3 cases, 2 of them from an anchor"),
        "{out}"
    );
    let anchor = stored_link(&db, &a, 1).await.hash.to_hex();
    assert!(
        out.contains(&format!(
            "anchor: case {a} starts at sequence 2 after prev_hash {anchor}"
        )),
        "{out}"
    );

    // A changed event inside the window is still named.
    let mut metadata = read_json(&db, &b, 2, "metadata").await;
    metadata["actor_id"] = json!("officer.a");
    rewrite_json(&db, &b, 2, "metadata", &metadata).await;
    export(db.clone(), path.clone()).await;
    let (ok, out) = python_verify_with(&path, &window_flag);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "case {b} sequence 2 position {}",
            position_of(&db, &b, 2).await
        )),
        "{out}"
    );
    assert!(out.contains("hash_mismatch"), "{out}");
}
