//! Latency of `GET /v1/audit/cases/{id}/events` for a 30-event case, through the real server
//! on a free port, on SQLite and (with `DATABASE_URL`) PostgreSQL.
//!
//! Beside it, in the same run: `GET /healthz` (HTTP and the middleware, no database) and the
//! officer's `GET /v1/cases/{id}` (the same case loaded and replayed through the event store,
//! no read record). The auditor's read differs by the durable INSERT into `audit_reads` that
//! precedes it, and by rendering every event with its hashes.
//!
//! Measured once the server's projection runner has caught up with the log, so that nothing
//! else runs in the server: `BENCH_REQUESTS` (default 2,000) sequential requests per figure
//! on one kept-alive connection, after 200 to warm up, then the auditor's read again from 8
//! clients at once. Background: `BENCH_CASES` (default 300) other 30-event cases in the log.
//! PostgreSQL: a scratch database of `DATABASE_URL`'s cluster, dropped at the end.
//!
//! `DATABASE_URL=postgres://... cargo bench -p prconfirm-tests --bench audit_http`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use hdrhistogram::Histogram;
use prconfirm_api::settings::Settings;
use prconfirm_commands::accounts::mfa::{self, MfaKey};
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_commands::privacy::PrivacyKeys;
use prconfirm_commands::{
    Actor, ActorRole, CaseService, ManualClock, RequestMeta, ServiceSettings, SystemClock,
};
use prconfirm_domain::case::{CaseCommand, ReturnReason};
use prconfirm_domain::values::{
    ActorId, Address, ImageFormat, PhotoRef, PostalCode, Province, Sha256Hex,
};
use prconfirm_migrations::Database;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};
use tokio::net::TcpListener;

const EVENTS_PER_CASE: u64 = 30;
const PASSWORD: &str = "bench password of some length";
const SCRATCH: &str = "prconfirm_bench_audit_http";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn meta(role: ActorRole) -> RequestMeta {
    let id = match role {
        ActorRole::Officer => "officer.bench",
        ActorRole::Applicant => "a-bench",
        ActorRole::Invitee => "invitee",
        _ => "system",
    };
    RequestMeta::new(Actor::new(ActorId::parse(id).unwrap(), role))
}

/// Writes one case of exactly 30 events: onboarding, presence, address, then photos returned
/// and uploaded again until the thirtieth event.
async fn write_case(service: &CaseService, i: usize) -> String {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let file = prconfirm_domain::fixtures::case_file(
        &format!("E{:09}", i),
        &format!("{:010}", i),
        "Benoît",
    );
    let id = service
        .invite(file, start + Duration::days(30), &meta(ActorRole::Officer))
        .await
        .unwrap()
        .case_id;
    let photo = PhotoRef::new(
        Sha256Hex::parse(&"ab".repeat(32)).unwrap(),
        ImageFormat::Jpeg,
        1000,
        1400,
        500_000,
    )
    .unwrap();
    let address = Address::residential(
        "1 Main St",
        None,
        "Ottawa",
        Province::ON,
        PostalCode::parse("K1A 0B1").unwrap(),
    )
    .unwrap();
    let mut steps = vec![
        (CaseCommand::AcceptInvitation, ActorRole::Invitee),
        (
            CaseCommand::CreateAccount {
                username: ActorId::parse("a-bench").unwrap(),
                temporary_password_expires_at: start + Duration::days(3),
            },
            ActorRole::System,
        ),
        (CaseCommand::ChangePassword, ActorRole::Applicant),
        (
            CaseCommand::DeclarePresence { in_canada: true },
            ActorRole::Applicant,
        ),
        (
            CaseCommand::ConfirmAddress {
                residential: address,
                mailing: None,
            },
            ActorRole::Applicant,
        ),
    ];
    while steps.len() + 1 < EVENTS_PER_CASE as usize {
        let step = if (steps.len() - 5) % 2 == 0 {
            (
                CaseCommand::UploadPhoto {
                    photo: photo.clone(),
                    quality: prconfirm_domain::fixtures::good_quality(),
                },
                ActorRole::Applicant,
            )
        } else {
            (
                CaseCommand::ReturnPhoto {
                    reason: ReturnReason::Glare,
                    note: None,
                },
                ActorRole::Officer,
            )
        };
        steps.push(step);
    }
    let mut version = 1;
    for (command, role) in steps {
        version = service
            .execute(&id, command, &meta(role))
            .await
            .unwrap()
            .version;
    }
    assert_eq!(version, EVENTS_PER_CASE);
    id
}

struct Server {
    base: String,
    /// Its data directory (where its second-factor key is).
    dir: std::path::PathBuf,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

async fn start(db: Database, dir: &std::path::Path) -> Server {
    let data_dir = dir.to_str().unwrap().to_owned();
    let settings = Settings::from_args(["--data-dir", &data_dir]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        prconfirm_api::startup::serve_on(listener, &settings, db, std::future::pending())
            .await
            .unwrap();
    });
    Server {
        base,
        dir: dir.to_owned(),
        client: reqwest::Client::new(),
        task,
    }
}

async fn token(server: &Server, db: &Database, username: &str, role: ActorRole) -> String {
    let key = MfaKey::load_or_create(&mfa::default_key_path(&server.dir)).unwrap();
    let accounts = Accounts::new(
        db.clone(),
        PasswordHasherPool::new().unwrap(),
        Arc::new(SystemClock),
        key,
    );
    let enrolment = accounts
        .create_staff(username, role, PASSWORD.to_owned())
        .await
        .unwrap();
    let otp = mfa::code_for(enrolment.uri(), Utc::now()).unwrap();
    let session: Value = server
        .client
        .post(format!("{}/v1/sessions", server.base))
        .json(&json!({"username": username, "password": PASSWORD, "otp": otp}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"].as_str().unwrap().to_owned()
}

/// `requests` GETs of `path` by `clients` concurrent clients; latencies in microseconds.
async fn measure(
    server: &Server,
    path: &str,
    token: Option<&str>,
    requests: usize,
    clients: usize,
) -> (Histogram<u64>, f64) {
    let url = format!("{}{path}", server.base);
    let began = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, token) = (
                reqwest::Client::new(),
                url.clone(),
                token.map(str::to_owned),
            );
            let n = requests / clients;
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new(3).unwrap();
                for _ in 0..n {
                    let mut request = client.get(&url);
                    if let Some(t) = &token {
                        request = request.bearer_auth(t);
                    }
                    let sent = Instant::now();
                    let response = request.send().await.unwrap();
                    assert!(
                        response.status().is_success(),
                        "{url}: {}",
                        response.status()
                    );
                    let body = response.bytes().await.unwrap();
                    histogram.record(sent.elapsed().as_micros() as u64).unwrap();
                    std::hint::black_box(body);
                }
                histogram
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        all.add(task.await.unwrap()).unwrap();
    }
    let per_s = all.len() as f64 / began.elapsed().as_secs_f64();
    (all, per_s)
}

fn line(label: &str, (h, per_s): &(Histogram<u64>, f64)) {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "  {label:<44} p50 {:>6.2}  p90 {:>6.2}  p99 {:>6.2}  p99.9 {:>6.2}  max {:>7.2} ms  {:>6.0} req/s",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0,
        per_s
    );
}

async fn run(label: &str, db: Database) {
    let dir = tempfile::tempdir().unwrap();
    let requests = env_usize("BENCH_REQUESTS", 2000);
    let background = env_usize("BENCH_CASES", 300);
    let service = CaseService::new(
        db.clone(),
        ServiceSettings::default(),
        Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )),
        &PrivacyKeys::in_data_dir(&db, dir.path()).unwrap(),
    );
    let began = Instant::now();
    let mut case = String::new();
    for i in 0..=background {
        let id = write_case(&service, i).await;
        if i == background / 2 {
            case = id;
        }
    }
    println!(
        "{label}: {} cases of {EVENTS_PER_CASE} events written in {:.1} s; {requests} requests a figure",
        background + 1,
        began.elapsed().as_secs_f64()
    );
    let server = start(db.clone(), dir.path()).await;
    let auditor = token(&server, &db, "auditor.bench", ActorRole::Auditor).await;
    let officer = token(&server, &db, "officer.reader", ActorRole::Officer).await;
    let events = format!("/v1/audit/cases/{case}/events");
    let answer: Value = server
        .client
        .get(format!("{}{events}", server.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["events"].as_array().unwrap().len(), 30);
    for (path, token) in [
        ("/healthz", None),
        (events.as_str(), Some(auditor.as_str())),
    ] {
        measure(&server, path, token, 200, 1).await;
    }
    caught_up(&db).await;
    let case_path = format!("/v1/cases/{case}");
    line(
        "GET /healthz (no database)",
        &measure(&server, "/healthz", None, requests, 1).await,
    );
    line(
        "GET /v1/cases/{id} (officer, 30 events)",
        &measure(&server, &case_path, Some(&officer), requests, 1).await,
    );
    line(
        "GET /v1/audit/cases/{id}/events (auditor)",
        &measure(&server, &events, Some(&auditor), requests, 1).await,
    );
    line(
        "  the same, 8 clients at once",
        &measure(&server, &events, Some(&auditor), requests, 8).await,
    );
    server.task.abort();
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    db.close().await;
}

/// Waits (bounded) until the server's projection runner has applied the whole log, so that
/// the figures are of a server doing nothing else.
async fn caught_up(db: &Database) {
    use prconfirm_projections::runner;
    let deadline = Instant::now() + StdDuration::from_secs(300);
    let events = runner::feed_length(db).await.unwrap();
    loop {
        let status = runner::status(db).await.unwrap();
        if !status.is_empty()
            && status
                .iter()
                .filter(|s| s.live)
                .all(|s| s.events_applied >= events)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "projections did not catch up: {status:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

async fn admin(url: &str, sql: &str) {
    let options: PgConnectOptions = url.parse().unwrap();
    let mut conn = options.connect().await.unwrap();
    conn.execute(sql).await.unwrap();
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Database::open_sqlite(dir.path(), 16).await.unwrap();
    sqlite.migrate().await.unwrap();
    run("SQLite", sqlite).await;

    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("PostgreSQL: skipped (no DATABASE_URL)");
        return;
    };
    admin(
        &url,
        &format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"),
    )
    .await;
    admin(&url, &format!("CREATE DATABASE {SCRATCH}")).await;
    let db = Database::connect_postgres(&with_database(&url, SCRATCH), 16)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    run("PostgreSQL", db).await;
    admin(
        &url,
        &format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"),
    )
    .await;
}
