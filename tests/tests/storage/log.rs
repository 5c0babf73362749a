//! The event log itself: append-only, durable settings, the feed on both backends, and the
//! PostgreSQL feed under transactions that commit out of order.

use std::collections::HashSet;

use prconfirm_migrations::Database;
use prconfirm_projections::{read_feed, FeedCursor, FeedEvent};
use serde_json::json;

use crate::common::*;
use crate::lifecycle::insert_raw;
use crate::on_both_backends;

on_both_backends!(
    the_log_refuses_updates_and_deletes,
    the_feed_pages_through_every_event_once_in_order,
    the_feed_upcasts_old_payloads,
);

async fn execute_sql(db: &Database, sql: &str) -> Result<(), sqlx::Error> {
    match db {
        Database::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop),
        Database::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop),
    }
}

async fn count_events(db: &Database) -> i64 {
    match db {
        Database::Postgres(p) => sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(p)
            .await
            .unwrap(),
        Database::Sqlite(p) => sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

async fn the_log_refuses_updates_and_deletes(db: Database) {
    let (service, _clock) = service(&db, 0);
    invite(&service, "E000000010", "12345678").await;
    let update = execute_sql(&db, "UPDATE events SET event_type = 'Forged'").await;
    let message = update.unwrap_err().to_string();
    assert!(message.contains("append-only"), "{message}");
    let delete = execute_sql(&db, "DELETE FROM events").await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    if matches!(db, Database::Postgres(_)) {
        let truncate = execute_sql(&db, "TRUNCATE events").await;
        assert!(truncate.unwrap_err().to_string().contains("append-only"));
    }
    assert_eq!(count_events(&db).await, 1);
}

/// Reads the feed in pages of `page` until it holds `expected` events (waiting, within a
/// bound, for transactions elsewhere in the cluster that hold the PostgreSQL feed back), then
/// checks that nothing more comes.
async fn drain_expecting(
    db: &Database,
    after: FeedCursor,
    page: u32,
    expected: usize,
) -> (Vec<FeedEvent>, FeedCursor) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut all, mut cursor) = (Vec::new(), after);
    loop {
        let (more, next) = drain(db, cursor, page).await;
        all.extend(more);
        cursor = next;
        if all.len() >= expected || std::time::Instant::now() > deadline {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        all.len(),
        expected,
        "feed delivered {} of {expected}",
        all.len()
    );
    (all, cursor)
}

/// Reads the feed in pages of `page` up to where it ends now, checking the cursor only moves
/// forward.
async fn drain(db: &Database, mut after: FeedCursor, page: u32) -> (Vec<FeedEvent>, FeedCursor) {
    let mut all = Vec::new();
    loop {
        let batch = read_feed(db, after, page).await.unwrap();
        assert!(batch.len() <= page as usize);
        let Some(last) = batch.last() else {
            return (all, after);
        };
        for e in &batch {
            assert!(e.cursor > after, "{} not after {}", e.cursor, after);
            after = e.cursor;
        }
        assert_eq!(last.cursor, after);
        all.extend(batch);
    }
}

async fn the_feed_pages_through_every_event_once_in_order(db: Database) {
    let (service, _clock) = service(&db, 0);
    let mut written = Vec::new();
    for i in 0..7 {
        let c = service
            .invite(
                file("E000000011", &format!("1000000{i}"), "Ana"),
                respond_by(),
                &officer("officer.a"),
            )
            .await
            .unwrap();
        service
            .execute(
                &c.case_id,
                prconfirm_domain::case::CaseCommand::AcceptInvitation,
                &system(),
            )
            .await
            .unwrap();
        written.push(c.case_id);
    }
    let (events, end) = drain_expecting(&db, FeedCursor::START, 3, 14).await;
    let unique: HashSet<_> = events.iter().map(|e| e.cursor).collect();
    assert_eq!(unique.len(), 14);
    // Per case, sequences arrive in order; cases arrive in the order they were written.
    for (i, id) in written.iter().enumerate() {
        let mine: Vec<_> = events.iter().filter(|e| &e.aggregate_id == id).collect();
        assert_eq!(mine.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(mine[0].event_type, "Invited");
        assert_eq!(mine[0].metadata["actor_id"], "officer.a");
        assert_eq!(events[2 * i].aggregate_id, *id);
    }
    // Nothing more after the end, and a new event arrives after the old cursor.
    assert!(read_feed(&db, end, 10).await.unwrap().is_empty());
    service
        .execute(
            &written[0],
            prconfirm_domain::case::CaseCommand::DeclineInvitation,
            &system(),
        )
        .await
        .ok();
    let more = service
        .invite(
            file("E000000011", "99999999", "Bo"),
            respond_by(),
            &officer("officer.a"),
        )
        .await
        .unwrap();
    let (tail, _) = drain_expecting(&db, end, 10, 1).await;
    assert_eq!(tail[0].aggregate_id, more.case_id);
}

async fn the_feed_upcasts_old_payloads(db: Database) {
    let payload = json!({"AddressConfirmed": {
        "address": {"line1": "1 Main St", "city": "Ottawa", "province": "ON", "postal_code": "K1A 0B1"},
        "at": "2026-06-01T14:00:00Z"
    }});
    insert_raw(
        &db,
        "old-case",
        1,
        "AddressConfirmed",
        "1.0",
        &payload,
        &json!({}),
    )
    .await;
    let (events, _) = drain_expecting(&db, FeedCursor::START, 10, 1).await;
    assert_eq!(events[0].event_version, "2.0");
    assert_eq!(
        events[0].payload["AddressConfirmed"]["residential"]["city"],
        "Ottawa"
    );
}

#[tokio::test]
async fn sqlite_is_durable_wal_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path()).await;
    let Database::Sqlite(pool) = &db else {
        unreachable!()
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        (mode.as_str(), sync),
        ("wal", 2),
        "WAL with synchronous=FULL"
    );
    assert!(dir.path().join(prconfirm_migrations::SQLITE_FILE).exists());
    db.close().await;
}

/// The out-of-order commit: transaction A appends first (lower position) and stays open;
/// B appends later and commits. A reader must not pass A: it sees neither until A ends, and
/// then both, each exactly once.
#[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
async fn the_postgres_feed_never_skips_an_event_committed_late(pool: sqlx::PgPool) {
    let db = Database::Postgres(pool.clone());
    let (service, _clock) = service(&db, 0);
    let before = invite(&service, "E000000020", "12345678").await;
    let (_, cursor) = drain_expecting(&db, FeedCursor::START, 100, 1).await;

    let mut slow = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES ('case', 'slow-case', 1, 'InvitationAccepted', '1.0', \
         '{\"InvitationAccepted\":{\"at\":\"2026-06-01T14:00:00Z\"}}', '{}')",
    )
    .execute(&mut *slow)
    .await
    .unwrap();
    let slow_position: i64 =
        sqlx::query_scalar("SELECT position FROM events WHERE aggregate_id = 'slow-case'")
            .fetch_one(&mut *slow)
            .await
            .unwrap();

    let fast = service
        .execute(
            &before.case_id,
            prconfirm_domain::case::CaseCommand::AcceptInvitation,
            &system(),
        )
        .await
        .unwrap();
    assert_eq!(fast.version, 2);
    let fast_position: i64 =
        sqlx::query_scalar("SELECT position FROM events WHERE aggregate_id = $1 AND sequence = 2")
            .bind(&before.case_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(slow_position < fast_position, "A took its position first");

    // B is committed and visible to plain SELECTs, but A is still open: the feed waits.
    let (while_open, cursor_open) = drain(&db, cursor, 100).await;
    assert!(
        while_open.is_empty(),
        "delivered {:?} while an earlier append was still open",
        while_open
            .iter()
            .map(|e| &e.aggregate_id)
            .collect::<Vec<_>>()
    );
    assert_eq!(cursor_open, cursor);

    slow.commit().await.unwrap();
    let (after_commit, _) = drain_expecting(&db, cursor_open, 100, 2).await;
    let ids: Vec<&str> = after_commit
        .iter()
        .map(|e| e.aggregate_id.as_str())
        .collect();
    assert_eq!(ids, ["slow-case", before.case_id.as_str()]);

    // Every event of the log delivered exactly once in total.
    let (everything, _) = drain_expecting(&db, FeedCursor::START, 2, 3).await;
    let unique: HashSet<_> = everything.iter().map(|e| e.cursor).collect();
    assert_eq!(unique.len(), 3);
}
