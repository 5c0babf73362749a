//! Lifecycle benchmark: how many case commands per second the write side sustains.
//!
//! Prints, in one run:
//! - decide + apply in memory (no storage): the cost of the rules themselves;
//! - load + decide + append through `CaseService` on SQLite and on PostgreSQL, with 1 and 32
//!   concurrent writers over `BENCH_CASES` cases (default 10,000);
//! - beside the PostgreSQL figures, pgbench's one-row INSERT transactions per second at the
//!   same concurrency on the same server: the ceiling for one durable commit per command.
//!
//! PostgreSQL comes from `DATABASE_URL` (a scratch database is created and dropped in that
//! cluster); without it only SQLite and memory are measured. `scripts/bench` sets one up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{Duration, TimeZone, Utc};
use hdrhistogram::Histogram;
use prconfirm_commands::privacy::PrivacyKeys;
use prconfirm_commands::{
    Actor, ActorRole, CaseService, ManualClock, RequestMeta, ServiceSettings,
};
use prconfirm_domain::case::{Case, CaseCommand, CaseFile, Ctx, ReturnReason};
use prconfirm_domain::values::*;
use prconfirm_migrations::Database;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn file(i: usize) -> CaseFile {
    prconfirm_domain::fixtures::case_file(&format!("E{:09}", i / 3), &format!("{i:010}"), "Benoît")
}

/// The commands one case goes through after its invitation, each with the role that sends it.
fn path() -> Vec<(CaseCommand, ActorRole)> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let photo = PhotoRef::new(
        Sha256Hex::parse(&"ab".repeat(32)).unwrap(),
        ImageFormat::Jpeg,
        1000,
        1400,
        500_000,
    )
    .unwrap();
    vec![
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
                residential: Address::residential(
                    "1 Main St",
                    None,
                    "Ottawa",
                    Province::ON,
                    PostalCode::parse("K1A 0B1").unwrap(),
                )
                .unwrap(),
                mailing: None,
            },
            ActorRole::Applicant,
        ),
        (
            CaseCommand::UploadPhoto {
                photo: photo.clone(),
                quality: prconfirm_domain::fixtures::good_quality(),
            },
            ActorRole::Applicant,
        ),
        (
            CaseCommand::ReturnPhoto {
                reason: ReturnReason::Glare,
                note: None,
            },
            ActorRole::Officer,
        ),
        (
            CaseCommand::UploadPhoto {
                photo,
                quality: prconfirm_domain::fixtures::good_quality(),
            },
            ActorRole::Applicant,
        ),
        (CaseCommand::AcceptPhoto, ActorRole::Officer),
    ]
}

fn actor(role: ActorRole) -> Actor {
    let id = match role {
        ActorRole::Officer => "officer.bench",
        ActorRole::Applicant => "a-bench",
        ActorRole::Invitee => "invitee",
        _ => "system",
    };
    Actor::new(ActorId::parse(id).unwrap(), role)
}

/// decide + apply, no storage.
fn in_memory(cases: usize) -> f64 {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let steps = path();
    let began = Instant::now();
    let mut commands = 0usize;
    for i in 0..cases {
        let mut case = Case::default();
        let invite = CaseCommand::Invite {
            file: file(i),
            respond_by: start + Duration::days(30),
            guardian_case: None,
        };
        let all = std::iter::once((invite, ActorRole::Officer)).chain(steps.iter().cloned());
        for (cmd, role) in all {
            let ctx = Ctx {
                now: start,
                actor: actor(role).id,
                expected_version: None,
            };
            for e in case.decide(&cmd, &ctx).unwrap() {
                case.apply_event(e);
            }
            commands += 1;
        }
        std::hint::black_box(&case);
    }
    commands as f64 / began.elapsed().as_secs_f64()
}

struct Run {
    commands_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `writers` tasks share `cases` cases; each takes the next uninvited case and drives it along
/// the path (every command a load, a decide and one durable append).
async fn through_service(db: &Database, cases: usize, writers: usize) -> Run {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let service = Arc::new(CaseService::new(
        db.clone(),
        ServiceSettings {
            snapshot_every: env_usize(
                "BENCH_SNAPSHOT_EVERY",
                ServiceSettings::default().snapshot_every,
            ),
        },
        clock,
        &PrivacyKeys::ephemeral(db).unwrap(),
    ));
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (service, next) = (service.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).unwrap();
            let steps = path();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases {
                    return hist;
                }
                let t = Instant::now();
                let respond_by = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
                let invited = service
                    .invite(
                        file(i),
                        respond_by,
                        &RequestMeta::new(actor(ActorRole::Officer)),
                    )
                    .await
                    .unwrap();
                hist.record(t.elapsed().as_micros() as u64).unwrap();
                for (cmd, role) in &steps {
                    let t = Instant::now();
                    service
                        .execute(
                            &invited.case_id,
                            cmd.clone(),
                            &RequestMeta::new(actor(*role)),
                        )
                        .await
                        .unwrap();
                    hist.record(t.elapsed().as_micros() as u64).unwrap();
                }
            }
        }));
    }
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        hist.add(t.await.unwrap()).unwrap();
    }
    let elapsed = began.elapsed().as_secs_f64();
    Run {
        commands_per_s: hist.len() as f64 / elapsed,
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// pgbench: one-row INSERT transactions per second at `clients` concurrency for `seconds`.
fn pgbench(url: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let dir = tempfile_dir()?;
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_insert (aggregate_id, payload) VALUES (:client_id, '{\"x\":1}');\n",
    )?;
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
        ])
        .args(["-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .context("running pgbench (postgresql-client)")?;
    std::fs::remove_dir_all(&dir).ok();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .context("no tps line in pgbench output")
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("prconfirm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A fresh database in the cluster at `url`, dropped by the returned guard's `drop_db`.
async fn scratch_postgres(url: &str, name: &str) -> anyhow::Result<String> {
    let admin: PgConnectOptions = url.parse()?;
    let mut conn = admin.connect().await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    Ok(with_database(url, name))
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

async fn drop_postgres(url: &str, name: &str) -> anyhow::Result<()> {
    let admin: PgConnectOptions = url.parse()?;
    let mut conn = admin.connect().await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

fn line(label: &str, run: &Run, reference: Option<f64>) {
    let reference = reference
        .map(|r| {
            format!(
                "   pgbench 1-row INSERT: {r:>9.0} tx/s   ratio {:.2}",
                run.commands_per_s / r
            )
        })
        .unwrap_or_default();
    println!(
        "{label:<28} {:>9.0} commands/s   p50 {:>6.2} ms   p99 {:>6.2} ms{reference}",
        run.commands_per_s, run.p50_ms, run.p99_ms
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: run either way.
    let cases = env_usize("BENCH_CASES", 10_000);
    let concurrency = [1usize, 32];
    let commands_per_case = path().len() + 1;
    println!(
        "prconfirm lifecycle benchmark: {cases} cases x {commands_per_case} commands, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<28} {:>9.0} commands/s   (decide + apply, no storage)",
        "memory",
        in_memory(cases.max(10_000))
    );

    for &writers in &concurrency {
        let dir = tempfile_dir()?.join(format!("sqlite-{writers}"));
        let db = Database::open_sqlite(&dir, (writers as u32).clamp(2, 8)).await?;
        db.migrate().await?;
        let run = through_service(&db, cases, writers).await;
        line(&format!("sqlite, {writers} writer(s)"), &run, None);
        db.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }

    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("postgresql: skipped (set DATABASE_URL, or run scripts/bench)");
        return Ok(());
    };
    let name = format!("prconfirm_bench_{}", std::process::id());
    let bench_url = scratch_postgres(&url, &name).await?;
    let outcome = async {
        let db = Database::connect_postgres(&bench_url, 40).await?;
        db.migrate().await?;
        if let Database::Postgres(pool) = &db {
            pool.execute(
                "CREATE TABLE bench_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 aggregate_id text NOT NULL, payload jsonb NOT NULL)",
            )
            .await?;
        }
        for &writers in &concurrency {
            let run = through_service(&db, cases, writers).await;
            let tps = pgbench(&bench_url, writers, 10)?;
            line(&format!("postgresql, {writers} writer(s)"), &run, Some(tps));
            // The next round starts from an empty log, as the first did.
            if let Database::Postgres(pool) = &db {
                pool.execute(
                    "ALTER TABLE events DISABLE TRIGGER events_no_truncate; \
                     TRUNCATE events, snapshots, bench_insert; \
                     ALTER TABLE events ENABLE TRIGGER events_no_truncate",
                )
                .await?;
            }
        }
        db.close().await;
        anyhow::Ok(())
    }
    .await;
    drop_postgres(&url, &name).await?;
    outcome
}
