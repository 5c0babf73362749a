//! Projections at scale, on PostgreSQL (`DATABASE_URL`, a fresh database of its own) and on
//! SQLite (a temporary file):
//!
//! 1. `generate` `PRCONFIRM_BENCH_CASES` cases (default 1,000,000), then, as the reference,
//!    one plain scan of the whole log (what any rebuild must at least read);
//! 2. rebuild every projection from zero: events/s;
//! 3. `GET /v1/queue` through the real server over those cases: p50/p99 beside `GET /healthz`
//!    on the same server and client (the HTTP floor);
//! 4. projection lag from commit to view (p50/p99) while writers run the lifecycle path.
//!
//! Run with `scripts/bench --bench projections` (release build). Prints figures; asserts none.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

/// The allocator the `prconfirm` binary runs with, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use prconfirm_api::settings::Settings;
use prconfirm_commands::accounts::mfa::{self, MfaKey};
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_commands::generate::{generate, Plan};
use prconfirm_commands::privacy::{BlindIndexKey, PersonKeys, PrivacyKeys};
use prconfirm_commands::{
    Actor, ActorRole, CaseService, RequestMeta, ServiceSettings, SystemClock,
};
use prconfirm_domain::case::CaseCommand;
use prconfirm_domain::fixtures;
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::{on_db, Database};
use prconfirm_projections::models::{DeadlinePolicy, ReadModel, ServiceStandards};
use prconfirm_projections::runner::{self, ReadModelConsumer, RebuildSettings};
use prconfirm_projections::runtime::{Runtime, Signals};

const STAFF_PASSWORD: &str = "benchmark staff password";
/// Cases whose events the generator interleaves in time order, as a real log has them.
const INTERLEAVE: u64 = 20_000;

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn bench_database() -> String {
    format!("prconfirm_bench_{}", std::process::id())
}

async fn fresh_postgres(server: &str) -> Database {
    let name = bench_database();
    let admin = Database::connect_postgres(server, 1).await.unwrap();
    if let Database::Postgres(pool) = &admin {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(pool)
            .await
            .unwrap();
    }
    admin.close().await;
    let (base, query) = server
        .split_once('?')
        .map_or((server, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    let url = match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    };
    let db = Database::connect_postgres(&url, 40).await.unwrap();
    db.migrate().await.unwrap();
    db
}

async fn scan_reference(db: &Database) -> (i64, f64) {
    let sql = match db {
        Database::Postgres(_) => {
            "SELECT COUNT(*), COALESCE(SUM(octet_length(payload::text)), 0)::bigint FROM events"
        }
        Database::Sqlite(_) => "SELECT COUNT(*), COALESCE(SUM(length(payload)), 0) FROM events",
    };
    let started = Instant::now();
    let (n, _bytes): (i64, i64) =
        on_db!(db, |pool| sqlx::query_as(sql).fetch_one(pool).await).unwrap();
    (n, started.elapsed().as_secs_f64())
}

async fn rebuild_all(db: &Database, keys: &PersonKeys, events: i64) {
    let models = ReadModel::all(
        ServiceStandards::default(),
        DeadlinePolicy::default(),
        BlindIndexKey::from_bytes([0x42; 32]),
    );
    let settings = RebuildSettings::default();
    for model in &models {
        let started = Instant::now();
        let done = runner::rebuild(db, keys, std::slice::from_ref(model), settings, |_| {})
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  rebuild {:<10} {:>10.0} events/s ({secs:.1} s, {} states read back)",
            model.name(),
            events as f64 / secs,
            done.reloaded
        );
    }
    // What `prconfirm projections rebuild all` does: one read of the log for all three.
    let started = Instant::now();
    let done = runner::rebuild(db, keys, &models, settings, |_| {})
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  rebuild all        {:>10.0} events/s ({secs:.1} s, one read for all three, {} states read back)",
        events as f64 / secs,
        done.reloaded
    );
}

/// Puts the store in the state a server in service meets: the log vacuumed and analysed
/// (else autovacuum works through the generated log in the middle of the measurement) and
/// the eCoPR reactor past the generated history (a server in service keeps up with it; here
/// it would render a PDF for every generated grant while the queue is being measured).
async fn settle(db: &Database) {
    let reactor = prconfirm_api::workers::ecopr::REACTOR;
    match db {
        Database::Postgres(pool) => {
            sqlx::query("VACUUM (ANALYZE) events")
                .execute(pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO reactor_checkpoints (name, tx, position) \
                 SELECT $1, tx::text::bigint, position FROM events \
                 ORDER BY tx DESC, position DESC LIMIT 1 \
                 ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, position = excluded.position",
            )
            .bind(reactor)
            .execute(pool)
            .await
            .unwrap();
        }
        Database::Sqlite(pool) => {
            sqlx::query("ANALYZE").execute(pool).await.unwrap();
            sqlx::query(
                "INSERT INTO reactor_checkpoints (name, tx, position) \
                 SELECT $1, 0, MAX(position) FROM events WHERE true \
                 ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, position = excluded.position",
            )
            .bind(reactor)
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

async fn queue_latency(db: &Database, requests: usize) {
    settle(db).await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    // No scheduler and no audit checkpoint: the first checkpoint over a log that never had
    // one hashes all of it, a one-time start-up pass that is not the queue's cost.
    let settings = Settings::from_args([
        "--data-dir",
        &data_dir,
        "--scheduler-interval-ms",
        "0",
        "--audit-checkpoint-secs",
        "0",
    ])
    .unwrap();
    let key = MfaKey::load_or_create(&mfa::default_key_path(dir.path())).unwrap();
    let accounts = Accounts::new(
        db.clone(),
        PasswordHasherPool::new().unwrap(),
        Arc::new(SystemClock),
        key,
    );
    // The officer may exist from an earlier run on this database: a new factor then.
    let enrolment = match accounts
        .create_staff("officer.bench", ActorRole::Officer, STAFF_PASSWORD.into())
        .await
    {
        Ok(enrolment) => enrolment,
        Err(_) => accounts.reset_second_factor("officer.bench").await.unwrap(),
    };
    let otp = mfa::code_for(enrolment.uri(), Utc::now()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server_db = db.clone();
    let task = tokio::spawn(async move {
        prconfirm_api::startup::serve_on(listener, &settings, server_db, std::future::pending())
            .await
            .unwrap();
    });
    let client = reqwest::Client::new();
    let session: serde_json::Value = loop {
        match client
            .post(format!("{base}/v1/sessions"))
            .json(&serde_json::json!({"username": "officer.bench", "password": STAFF_PASSWORD, "otp": otp}))
            .send()
            .await
        {
            Ok(r) => break r.json().await.unwrap(),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let token = session["token"].as_str().unwrap().to_owned();
    let mut queue = Histogram::<u64>::new(3).unwrap();
    let mut health = Histogram::<u64>::new(3).unwrap();
    let filters = [
        "",
        "task=photo_review",
        "task=final_review",
        "claimed=false&task=photo_review",
    ];
    let mut cursor: Option<String> = None;
    for i in 0..requests {
        let mut path = format!("{base}/v1/queue?limit=50&{}", filters[i % filters.len()]);
        if let Some(c) = cursor.take().filter(|_| i % 2 == 1) {
            path.push_str(&format!("&cursor={c}"));
        }
        let started = Instant::now();
        let response = client.get(&path).bearer_auth(&token).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        cursor = response
            .headers()
            .get("next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let _ = response.bytes().await.unwrap();
        queue.record(started.elapsed().as_micros() as u64).unwrap();
        let started = Instant::now();
        let _ = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        health.record(started.elapsed().as_micros() as u64).unwrap();
    }
    task.abort();
    println!(
        "  GET /v1/queue (50 per page) p50 {:.2} ms  p99 {:.2} ms   | reference GET /healthz p50 {:.2} ms  p99 {:.2} ms   ({requests} each)",
        ms(&queue, 0.5),
        ms(&queue, 0.99),
        ms(&health, 0.5),
        ms(&health, 0.99)
    );
}

/// One applicant's path through the rules, as the lifecycle benchmark drives it.
async fn lifecycle(
    service: &CaseService,
    n: u64,
    lags: &tokio::sync::mpsc::UnboundedSender<(String, u64, Instant)>,
) {
    let officer = RequestMeta::new(Actor::new(
        ActorId::parse("officer.load").unwrap(),
        ActorRole::Officer,
    ));
    let applicant = RequestMeta::new(Actor::new(
        ActorId::parse(&format!("load-{n}")).unwrap(),
        ActorRole::Applicant,
    ));
    let system = RequestMeta::new(Actor::system());
    let now = Utc::now();
    let invited = service
        .invite(
            fixtures::case_file("E000000001", &format!("{:010}", 2_000_000_000 + n), "Zoë"),
            now + chrono::Duration::days(30),
            &officer,
        )
        .await
        .unwrap();
    let id = invited.case_id.clone();
    let _ = lags.send((id.clone(), invited.version, Instant::now()));
    let steps: Vec<(CaseCommand, &RequestMeta)> = vec![
        (CaseCommand::AcceptInvitation, &system),
        (
            CaseCommand::CreateAccount {
                username: applicant.actor.id.clone(),
                temporary_password_expires_at: now + chrono::Duration::hours(72),
            },
            &system,
        ),
        (CaseCommand::ChangePassword, &applicant),
        (CaseCommand::DeclarePresence { in_canada: true }, &applicant),
        (
            CaseCommand::ConfirmAddress {
                residential: fixtures::address(),
                mailing: None,
            },
            &applicant,
        ),
        (
            CaseCommand::UploadPhoto {
                photo: fixtures::photo((n % 200) as u8),
                quality: fixtures::good_quality(),
            },
            &applicant,
        ),
        (CaseCommand::AcceptPhoto, &officer),
    ];
    for (command, meta) in steps {
        let done = service.execute(&id, command, meta).await.unwrap();
        let _ = lags.send((id.clone(), done.version, Instant::now()));
    }
}

/// The `case_status` version of each of `ids` that has a row.
async fn status_versions(db: &Database, ids: &[String]) -> std::collections::HashMap<String, u64> {
    let rows: Vec<(String, i64)> = match db {
        Database::Postgres(pool) => {
            sqlx::query_as("SELECT case_id, seq FROM case_status WHERE case_id = ANY($1)")
                .bind(ids)
                .fetch_all(pool)
                .await
                .unwrap()
        }
        Database::Sqlite(pool) => sqlx::query_as(
            "SELECT case_id, seq FROM case_status \
             WHERE case_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(serde_json::to_string(ids).unwrap())
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    rows.into_iter()
        .map(|(id, seq)| (id, seq.unsigned_abs()))
        .collect()
}

async fn lag_under_load(db: &Database, keys: &PrivacyKeys, writers: u64, cases_each: u64) {
    let service = Arc::new(CaseService::new(
        db.clone(),
        ServiceSettings::default(),
        Arc::new(SystemClock),
        keys,
    ));
    let signals = Signals::new(service.appended());
    let mut runtime = Runtime::new(db.clone(), signals.clone());
    for model in ReadModel::all(
        ServiceStandards::default(),
        DeadlinePolicy::default(),
        keys.blind_index.clone(),
    ) {
        runtime = runtime.with(ReadModelConsumer::new(model, 500, keys.persons.clone()));
    }
    let runner = runtime.spawn();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, u64, Instant)>();
    let watcher_db = db.clone();
    let applied = signals.applied.clone();
    // The watcher looks at every commit not yet seen in one query per wake-up (a batch
    // applied, or 5 ms), so that its own pace does not add to the lag it measures.
    let watcher = tokio::spawn(async move {
        let mut lag = Histogram::<u64>::new(3).unwrap();
        let mut pending: Vec<(String, u64, Instant)> = Vec::new();
        let mut open = true;
        while open || !pending.is_empty() {
            let woken = applied.notified();
            loop {
                match rx.try_recv() {
                    Ok(item) => pending.push(item),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            if !pending.is_empty() {
                let ids: Vec<String> = pending.iter().map(|(id, _, _)| id.clone()).collect();
                let seen = status_versions(&watcher_db, &ids).await;
                let now = Instant::now();
                pending.retain(|(id, version, committed)| {
                    let done = seen.get(id).is_some_and(|v| v >= version);
                    if done {
                        lag.record((now - *committed).as_micros() as u64).unwrap();
                    }
                    !done
                });
            }
            let _ = tokio::time::timeout(Duration::from_millis(5), woken).await;
        }
        lag
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let service = service.clone();
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..cases_each {
                lifecycle(&service, w * 1_000_000 + i, &tx).await;
            }
        }));
    }
    drop(tx);
    for t in tasks {
        t.await.unwrap();
    }
    let commands = writers * cases_each * 8;
    let secs = started.elapsed().as_secs_f64();
    let lag = watcher.await.unwrap();
    for task in runner {
        task.abort();
    }
    println!(
        "  lag commit -> case_status, {writers:>2} writers ({:.0} commands/s): p50 {:.2} ms  p99 {:.2} ms",
        commands as f64 / secs,
        ms(&lag, 0.5),
        ms(&lag, 0.99)
    );
}

async fn run(name: &str, db: Database, cases: u64) {
    println!("{name}:");
    let started = Instant::now();
    let keys = PrivacyKeys::ephemeral(&db).unwrap();
    let events = generate(
        &db,
        &keys,
        Plan {
            cases,
            seed: 1,
            chunk: 5000,
            interleave: INTERLEAVE,
            now: Utc::now(),
        },
        |_, _| {},
    )
    .await
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  generate {cases} cases (interleaved by {INTERLEAVE}): {events} events in {secs:.1} s ({:.0} events/s)",
        events as f64 / secs
    );
    let (n, secs) = scan_reference(&db).await;
    println!(
        "  reference: one scan of the log's payloads {:>10.0} events/s ({secs:.1} s)",
        n as f64 / secs
    );
    rebuild_all(&db, &keys.persons, n).await;
    queue_latency(&db, 5000).await;
    for writers in [1, 8] {
        lag_under_load(&db, &keys, writers, 200 / writers).await;
    }
    db.close().await;
}

fn main() {
    let cases: u64 = std::env::var("PRCONFIRM_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // `postgres`, `sqlite` or both (the default), comma-separated.
        let backends =
            std::env::var("PRCONFIRM_BENCH_BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
        if backends.contains("postgres") {
            let server = std::env::var("DATABASE_URL")
                .expect("DATABASE_URL must name a PostgreSQL server for this benchmark");
            run("PostgreSQL", fresh_postgres(&server).await, cases).await;
            // A million cases are gigabytes: leave nothing behind.
            let admin = Database::connect_postgres(&server, 1).await.unwrap();
            if let Database::Postgres(pool) = &admin {
                sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    bench_database()
                ))
                .execute(pool)
                .await
                .unwrap();
            }
            admin.close().await;
        }
        if backends.contains("sqlite") {
            let dir = tempfile::tempdir().unwrap();
            let db = Database::open_sqlite(dir.path(), 16).await.unwrap();
            db.migrate().await.unwrap();
            run("SQLite", db, cases).await;
        }
    });
}
