//! The projection runner and its read models, on both backends: views follow the log, a
//! rebuild from scratch equals them row for row, a replayed event changes nothing, and an
//! event that cannot be applied stops the projection there instead of being skipped.

use chrono::Duration;
use prconfirm_commands::{CaseService, RequestMeta};
use prconfirm_domain::case::{CaseCommand, ReturnReason};
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::Database;
use prconfirm_projections::models::{DeadlinePolicy, ReadModel, ServiceStandards};
use prconfirm_projections::reads::{self, VIEWS};
use prconfirm_projections::runner::{self, RebuildSettings, Target};
use prconfirm_projections::store::Conn;
use serde_json::{json, Value};

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(
    views_follow_the_log_and_a_rebuild_equals_them,
    a_task_keeps_its_start_while_claims_come_and_go,
    the_funnel_counts_each_case_once_in_its_stage,
    an_event_that_cannot_be_applied_stops_the_projection_there,
    a_failed_rebuild_leaves_the_live_views_and_the_next_one_clears_its_tables,
    a_projection_of_an_older_shape_is_built_again_from_the_first_event,
);

pub(crate) fn models() -> Vec<ReadModel> {
    ReadModel::all(
        ServiceStandards::default(),
        DeadlinePolicy::default(),
        crate::common::blind_key(),
    )
}

/// Runs `f` with a connection of `db`.
macro_rules! with_conn {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            Database::Postgres(pool) => {
                let mut c = pool.acquire().await.unwrap();
                let $conn = &mut Conn::Pg(&mut c);
                $body
            }
            Database::Sqlite(pool) => {
                let mut c = pool.acquire().await.unwrap();
                let $conn = &mut Conn::Sqlite(&mut c);
                $body
            }
        }
    };
}

/// Brings every projection up to the end of the log; returns the events applied by each.
///
/// An empty batch does not mean the end: on PostgreSQL the feed holds back events while any
/// older transaction of the cluster is open (other tests run beside this one), so this waits
/// until the projection has seen as many events as the log holds.
pub(crate) async fn catch_up(db: &Database) -> Vec<i64> {
    let total = event_count(db).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut applied = Vec::new();
    for model in models() {
        let n = with_conn!(db, |conn| {
            runner::ensure(conn, &model).await.unwrap();
            loop {
                let done = runner::run_batch(
                    conn,
                    &crate::common::keys(db).persons,
                    &model,
                    Target::Live,
                    7,
                )
                .await
                .unwrap();
                if done.read == 0 {
                    if done.events_applied >= total || std::time::Instant::now() > deadline {
                        break done.events_applied;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        });
        applied.push(n);
    }
    applied
}

async fn dump(db: &Database, view: &str, key: &str) -> Vec<Value> {
    reads::view_rows(db, view, key).await.unwrap()
}

async fn dump_all(db: &Database) -> Vec<Vec<Value>> {
    reads::dump_views(db).await.unwrap()
}

async fn event_count(db: &Database) -> i64 {
    runner::feed_length(db).await.unwrap()
}

/// A small office's day: cases at every stage.
async fn office_day(service: &CaseService) -> Vec<String> {
    let o = officer("officer.roy");
    let mut ids = Vec::new();
    for n in 0..6 {
        let id = invite(service, "E000000001", &format!("11000000{n:02}"))
            .await
            .case_id;
        ids.push(id);
    }
    let user = |i: usize| applicant(&format!("applicant-{i}"));
    let run = |id: &str, cmd: CaseCommand, meta: RequestMeta| {
        let id = id.to_owned();
        async move { service.execute(&id, cmd, &meta).await.unwrap() }
    };
    for (i, id) in ids.iter().enumerate().skip(1) {
        run(id, CaseCommand::AcceptInvitation, system()).await;
        run(
            id,
            CaseCommand::CreateAccount {
                username: ActorId::parse(&format!("applicant-{i}")).unwrap(),
                temporary_password_expires_at: start() + Duration::hours(72),
            },
            system(),
        )
        .await;
        if i == 1 {
            continue;
        }
        run(id, CaseCommand::ChangePassword, user(i)).await;
        run(
            id,
            CaseCommand::DeclarePresence { in_canada: true },
            user(i),
        )
        .await;
        run(
            id,
            CaseCommand::ConfirmAddress {
                residential: address(),
                mailing: None,
            },
            user(i),
        )
        .await;
        run(
            id,
            CaseCommand::UploadPhoto {
                photo: photo(i as u8),
                quality: prconfirm_domain::fixtures::flagged_quality(&[
                    prconfirm_domain::photo_quality::QualityFlag::Glare,
                ]),
            },
            user(i),
        )
        .await;
        if i == 2 {
            continue;
        }
        if i == 3 {
            let reason = ReturnReason::Glare;
            run(
                id,
                CaseCommand::ReturnPhoto { reason, note: None },
                o.clone(),
            )
            .await;
            continue;
        }
        run(id, CaseCommand::AcceptPhoto, o.clone()).await;
        if i == 4 {
            continue;
        }
        service.grant(id, &o).await.unwrap();
    }
    ids
}

async fn views_follow_the_log_and_a_rebuild_equals_them(db: Database) {
    let (service, _clock) = service(&db, 0);
    let ids = office_day(&service).await;
    let applied = catch_up(&db).await;
    let total = event_count(&db).await;
    assert_eq!(
        applied,
        vec![total; models().len()],
        "each projection applied every event once"
    );

    let status = dump(&db, "case_status", "case_id").await;
    assert_eq!(status.len(), ids.len());
    let stage_of = |id: &str| {
        status
            .iter()
            .find(|r| r["case_id"] == id)
            .map(|r| r["stage"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(stage_of(&ids[0]), "invited");
    assert_eq!(stage_of(&ids[1]), "awaiting_password_change");
    assert_eq!(stage_of(&ids[2]), "confirming");
    assert_eq!(stage_of(&ids[5]), "pr_granted");
    let queue = dump(&db, "officer_queue", "case_id").await;
    let task_of = |id: &str| {
        queue
            .iter()
            .find(|r| r["case_id"] == id)
            .map(|r| r["task"].as_str().unwrap().to_owned())
    };
    assert_eq!(task_of(&ids[0]).as_deref(), Some("stale_invitation"));
    assert_eq!(task_of(&ids[1]), None);
    assert_eq!(task_of(&ids[2]).as_deref(), Some("photo_review"));
    let flags = queue.iter().find(|r| r["case_id"] == ids[2]).unwrap()["flags"].clone();
    assert_eq!(
        flags,
        json!("[\"glare\"]"),
        "the pre-check's flags reach the queue"
    );
    assert_eq!(
        task_of(&ids[3]),
        None,
        "a returned photo is the applicant's turn"
    );
    assert_eq!(task_of(&ids[4]).as_deref(), Some("final_review"));
    assert_eq!(task_of(&ids[5]), None);

    let before = dump_all(&db).await;
    // One projection at a time, holding two cases in memory: states are written out early
    // and read back when their case has another event.
    let tiny = RebuildSettings {
        batch: 5,
        cache_cases: 2,
    };
    for model in models() {
        let done = runner::rebuild(
            &db,
            &crate::common::keys(&db).persons,
            std::slice::from_ref(&model),
            tiny,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(done.generations, vec![(model.name(), 2)]);
        assert_eq!(done.events, total);
        assert!(done.reloaded > 0, "{}: nothing was read back", model.name());
        assert_eq!(
            dump_all(&db).await,
            before,
            "a rebuild of {} from zero equals the live views",
            model.name()
        );
    }
    // All of them from one read of the log, every state in memory.
    let done = runner::rebuild(
        &db,
        &crate::common::keys(&db).persons,
        &models(),
        RebuildSettings::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(done.reloaded, 0);
    assert!(done.generations.iter().all(|(_, g)| *g == 3));
    assert_eq!(
        dump_all(&db).await,
        before,
        "a rebuild of all from zero equals the live views"
    );

    // The old generation is gone; the live runner carries on with the new one.
    let statuses = runner::status(&db).await.unwrap();
    assert_eq!(statuses.len(), models().len());
    assert!(statuses.iter().all(|s| s.generation == 3 && s.live));
    service
        .execute(&ids[0], CaseCommand::AcceptInvitation, &system())
        .await
        .unwrap();
    let applied = catch_up(&db).await;
    assert_eq!(applied, vec![total + 1; models().len()]);
    let status = dump(&db, "case_status", "case_id").await;
    let first = status.iter().find(|r| r["case_id"] == ids[0]).unwrap();
    assert_eq!(first["stage"], "awaiting_account");
}

async fn a_task_keeps_its_start_while_claims_come_and_go(db: Database) {
    let (service, clock) = service(&db, 0);
    let ids = office_day(&service).await;
    catch_up(&db).await;
    let queue = dump(&db, "officer_queue", "case_id").await;
    let row = |q: &[Value]| q.iter().find(|r| r["case_id"] == ids[2]).unwrap().clone();
    let before = row(&queue);
    assert_eq!(before["claimed_by"], Value::Null);

    clock.advance(Duration::hours(5));
    let o = officer("officer.roy");
    service
        .execute(
            &ids[2],
            CaseCommand::Claim {
                until: start() + Duration::hours(7),
            },
            &o,
        )
        .await
        .unwrap();
    catch_up(&db).await;
    let claimed = row(&dump(&db, "officer_queue", "case_id").await);
    assert_eq!(claimed["claimed_by"], "officer.roy");
    assert_eq!(
        claimed["claim_until"].as_i64().unwrap(),
        (start() + Duration::hours(7)).timestamp_millis()
    );
    assert_eq!(claimed["waiting_since"], before["waiting_since"]);
    assert_eq!(claimed["due_by"], before["due_by"]);
    assert_eq!(
        before["due_by"].as_i64().unwrap() - before["waiting_since"].as_i64().unwrap(),
        ServiceStandards::default().photo_review.num_milliseconds()
    );
    service
        .execute(&ids[2], CaseCommand::ReleaseClaim, &o)
        .await
        .unwrap();
    catch_up(&db).await;
    let released = row(&dump(&db, "officer_queue", "case_id").await);
    assert_eq!(released["claimed_by"], Value::Null);
    assert_eq!(released["waiting_since"], before["waiting_since"]);
}

async fn the_funnel_counts_each_case_once_in_its_stage(db: Database) {
    let (service, _clock) = service(&db, 0);
    let ids = office_day(&service).await;
    catch_up(&db).await;
    let funnel = dump(&db, "stats_funnel", "stage").await;
    let count = |stage: &str| {
        funnel
            .iter()
            .find(|r| r["stage"] == stage)
            .map_or(0, |r| r["cases"].as_i64().unwrap())
    };
    assert_eq!(count("invited"), 1);
    assert_eq!(count("awaiting_password_change"), 1);
    assert_eq!(count("confirming"), 3);
    assert_eq!(count("pr_granted"), 1);
    let total: i64 = funnel.iter().map(|r| r["cases"].as_i64().unwrap()).sum();
    assert_eq!(total, ids.len() as i64);
    if let Database::Postgres(pool) = &db {
        // The analysts' role reads their views and nothing else.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SET LOCAL ROLE prconfirm_analyst")
            .execute(&mut *tx)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stats_funnel")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert!(n > 0);
        tx.rollback().await.unwrap();
        for private in ["case_status", "officer_queue", "stats_cases", "events"] {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SET LOCAL ROLE prconfirm_analyst")
                .execute(&mut *tx)
                .await
                .unwrap();
            let denied = sqlx::query(&format!("SELECT 1 FROM {private} LIMIT 1"))
                .execute(&mut *tx)
                .await
                .unwrap_err();
            assert!(
                denied.to_string().contains("permission denied"),
                "{private}: {denied}"
            );
            tx.rollback().await.unwrap();
        }
    }
    let returns = dump(&db, "stats_photo_returns", "reason").await;
    assert_eq!(returns, vec![json!({"reason": "glare", "returns": 1})]);
    let decisions = dump(&db, "stats_officer_decisions", "officer, decision").await;
    let decided: Vec<(String, i64)> = decisions
        .iter()
        .map(|r| {
            (
                r["decision"].as_str().unwrap().to_owned(),
                r["decisions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decided,
        vec![
            ("photo_accepted".to_owned(), 2),
            ("photo_returned".to_owned(), 1),
            ("pr_granted".to_owned(), 1)
        ]
    );
    // Nothing in the analysts' views names a person.
    for (view, key) in VIEWS.iter().filter(|(v, _)| v.starts_with("stats_")) {
        let text = serde_json::to_string(&dump(&db, view, key).await).unwrap();
        for personal in ["Ana", "E000000001", "1100000002", "applicant-"] {
            assert!(!text.contains(personal), "{view} holds {personal}");
        }
    }
}

/// As the database owner, behind the application's back: appends to case `id` (after its
/// first event) an event no release wrote, which no read model can apply.
async fn append_bogus(db: &Database, id: &str) {
    crate::lifecycle::insert_raw(db, id, 2, "Bogus", "1.0", &json!({"Bogus": {}}), &json!({}))
        .await;
}

async fn an_event_that_cannot_be_applied_stops_the_projection_there(db: Database) {
    let (service, _clock) = service(&db, 0);
    let id = invite(&service, "E000000001", "1100000001").await.case_id;
    catch_up(&db).await;
    append_bogus(&db, &id).await;
    let model = ReadModel::Stats;
    let failed = with_conn!(&db, |conn| loop {
        // Until the feed hands out the new event (see catch_up).
        match runner::run_batch(
            conn,
            &crate::common::keys(&db).persons,
            &model,
            Target::Live,
            10,
        )
        .await
        {
            Ok(done) => {
                assert_eq!(done.read, 0, "the bad event was skipped");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => break e,
        }
    });
    assert!(
        failed.to_string().contains(&id),
        "names the event: {failed}"
    );
    // Nothing moved: the checkpoint still stands before the bad event, every time.
    for _ in 0..2 {
        let _ = with_conn!(&db, |conn| runner::run_batch(
            conn,
            &crate::common::keys(&db).persons,
            &model,
            Target::Live,
            1
        )
        .await
        .unwrap_err());
    }
    let statuses = runner::status(&db).await.unwrap();
    let stats = statuses.iter().find(|s| s.name == "stats").unwrap();
    assert_eq!(stats.events_applied, 1);
}

async fn a_failed_rebuild_leaves_the_live_views_and_the_next_one_clears_its_tables(db: Database) {
    let (service, _clock) = service(&db, 0);
    let id = invite(&service, "E000000001", "1100000001").await.case_id;
    catch_up(&db).await;
    let before = dump_all(&db).await;
    append_bogus(&db, &id).await;
    let model = ReadModel::Stats;
    let keys = crate::common::keys(&db).persons;
    let rebuild = || {
        runner::rebuild(
            &db,
            &keys,
            std::slice::from_ref(&model),
            RebuildSettings::default(),
            |_| {},
        )
    };
    // Until the feed hands out the bad event (see catch_up), a rebuild succeeds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let failed = loop {
        match rebuild().await {
            Ok(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the bad event never came"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => break e,
        }
    };
    assert!(
        failed.to_string().contains(&id),
        "names the event: {failed}"
    );
    let generations = |statuses: Vec<runner::Status>| -> (Vec<i64>, Vec<i64>) {
        let stats: Vec<_> = statuses.into_iter().filter(|s| s.name == "stats").collect();
        (
            stats
                .iter()
                .filter(|s| s.live)
                .map(|s| s.generation)
                .collect(),
            stats
                .iter()
                .filter(|s| !s.live)
                .map(|s| s.generation)
                .collect(),
        )
    };
    let (live, left) = generations(runner::status(&db).await.unwrap());
    assert_eq!(
        left.len(),
        1,
        "the half-built generation stays until the next rebuild"
    );
    assert_eq!(dump_all(&db).await, before, "the live views serve on");

    // The next rebuild (failing the same way) first drops what the last one left.
    rebuild().await.unwrap_err();
    let (live_after, left_after) = generations(runner::status(&db).await.unwrap());
    assert_eq!(live_after, live);
    assert_eq!(left_after.len(), 1, "{left_after:?}");
    let sql = match &db {
        Database::Postgres(_) => {
            "SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE 'stats\\_cases\\_g%'"
        }
        Database::Sqlite(_) => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
             AND name LIKE 'stats\\_cases\\_g%' ESCAPE '\\'"
        }
    };
    let tables: i64 =
        prconfirm_migrations::on_db!(&db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)
            .unwrap();
    assert_eq!(tables, 2, "the live generation and one half-built, no more");
}

/// Two rebuilds of one projection cannot run at once (PostgreSQL, where several instances
/// and operators share the database).
#[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
async fn a_second_rebuild_of_a_projection_is_refused_while_one_runs(pool: sqlx::PgPool) {
    let db = Database::Postgres(pool.clone());
    let mut other = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(runner::rebuild_lock_key("stats"))
        .execute(&mut *other)
        .await
        .unwrap();
    let keys = crate::common::keys(&db).persons;
    let refused = runner::rebuild(
        &db,
        &keys,
        &[ReadModel::Stats],
        RebuildSettings::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, runner::RunError::Busy("stats")),
        "{refused}"
    );
    // Another projection is not held up.
    runner::rebuild(
        &db,
        &keys,
        &[models()[2].clone()],
        RebuildSettings::default(),
        |_| {},
    )
    .await
    .unwrap();
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *other)
        .await
        .unwrap();
    runner::rebuild(
        &db,
        &keys,
        &[ReadModel::Stats],
        RebuildSettings::default(),
        |_| {},
    )
    .await
    .unwrap();
}

/// An upgrade that changes what a projection keeps (here: `deadlines`, whose per-case state
/// went from its own fold to the domain's `Case`): the tables of the older shape cannot be
/// read by the new code, so the runtime gives the projection a fresh generation when it
/// first takes it, and the live runner fills it from the first event.
async fn a_projection_of_an_older_shape_is_built_again_from_the_first_event(db: Database) {
    let (service, _clock) = service(&db, 0);
    office_day(&service).await;
    catch_up(&db).await;
    let expected = dump(&db, "deadlines", "case_id, kind").await;
    assert!(!expected.is_empty());
    // As a database written by the release before: shape 1, and state rows it cannot read.
    let sql = "SELECT live_generation FROM projections WHERE name = 'deadlines'";
    let live: i64 =
        prconfirm_migrations::on_db!(&db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)
            .unwrap();
    for statement in [
        "UPDATE projections SET shape = 1 WHERE name = 'deadlines'".to_owned(),
        format!("UPDATE deadline_clock_g{live} SET state = '{{\"stage\": \"invited\"}}'"),
    ] {
        prconfirm_migrations::on_db!(&db, |pool| sqlx::query(&statement)
            .execute(pool)
            .await
            .map(drop))
        .unwrap();
    }

    let model = models()
        .into_iter()
        .find(|m| m.name() == "deadlines")
        .unwrap();
    let generation = with_conn!(&db, |conn| runner::ensure(conn, &model).await.unwrap());
    assert_eq!(generation, live + 1, "a fresh generation");
    let statuses = runner::status(&db).await.unwrap();
    let deadlines: Vec<_> = statuses.iter().filter(|s| s.name == "deadlines").collect();
    assert_eq!(
        deadlines.len(),
        1,
        "the old generation is gone: {deadlines:?}"
    );
    assert_eq!(deadlines[0].events_applied, 0);
    catch_up(&db).await;
    assert_eq!(dump(&db, "deadlines", "case_id, kind").await, expected);
    // Registered now with the shape its code writes: a second start changes nothing.
    let again = with_conn!(&db, |conn| runner::ensure(conn, &model).await.unwrap());
    assert_eq!(again, generation);
}
