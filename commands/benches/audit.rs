//! Audit benchmark: how many events per second `audit::verify` checks on PostgreSQL.
//!
//! Builds a log of `BENCH_AUDIT_EVENTS` events (default 1,000,000) in a scratch database of
//! the cluster at `DATABASE_URL`: one real case is run through `CaseService` (on SQLite) for
//! realistic payloads and metadata, then copied into as many cases as needed, chained in Rust
//! with the decorator's own hash function and bulk-inserted (batches through `UNNEST`). Their
//! events interleave in the feed as live cases' do. Then it prints, in one run:
//! - signing the first checkpoint over the whole log (reads only the hashes);
//! - `verify` over the whole log, twice;
//! - beside it, references measured in the same run on the same rows: PostgreSQL turning every
//!   payload and metadata into text without sending them (`sum(length(...::text))`), streaming
//!   the rows to this process and parsing their JSON without verifying anything, and SHA-256
//!   of the same canonical bytes in memory on one core.
//!
//! `DATABASE_URL=postgres://... cargo bench -p prconfirm-commands --bench audit`
//! (or `scripts/bench --bench audit`). The scratch database is dropped at the end, unless
//! `BENCH_AUDIT_KEEP` is set (to look at it with psql).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, TimeZone, Utc};
use futures::TryStreamExt;
use prconfirm_commands::audit::chain::{
    canonical_event, event_hash, stamp, EventFields, StoredLink,
};
use prconfirm_commands::audit::{take_checkpoint, verify, AuditKey, ChainHash};
use prconfirm_commands::privacy::PrivacyKeys;
use prconfirm_commands::{
    Actor, ActorRole, CaseService, ManualClock, RequestMeta, ServiceSettings,
};
use prconfirm_domain::case::CaseCommand;
use prconfirm_domain::fixtures;
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::Database;
use serde_json::Value;
use sha2::Digest;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor, Row};

/// How many cases' events interleave in the feed at a time.
const WAVE: usize = 1_000;
/// Rows per INSERT statement.
const BATCH: usize = 5_000;

/// One event of the template case, as stored (without its link).
struct Template {
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
}

/// Runs one case from invitation to the mailed card and returns its events as stored.
async fn template_case() -> anyhow::Result<Vec<Template>> {
    let dir = std::env::temp_dir().join(format!("prconfirm-audit-bench-{}", std::process::id()));
    let db = Database::open_sqlite(&dir, 2).await?;
    db.migrate().await?;
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 14, 0, 0).unwrap();
    let service = CaseService::new(
        db.clone(),
        ServiceSettings::default(),
        Arc::new(ManualClock::new(start)),
        &PrivacyKeys::ephemeral(&db).unwrap(),
    );
    let as_role = |id: &str, role| RequestMeta::new(Actor::new(ActorId::parse(id).unwrap(), role));
    let officer = as_role("officer.tremblay", ActorRole::Officer);
    let applicant = as_role("a-benoit", ActorRole::Applicant);
    let system = RequestMeta::new(Actor::system());
    let id = service
        .invite(
            fixtures::case_file("E001234567", "1234567890", "Benoît"),
            start + Duration::days(30),
            &officer,
        )
        .await?
        .case_id;
    let steps = [
        (CaseCommand::AcceptInvitation, &system),
        (
            CaseCommand::CreateAccount {
                username: ActorId::parse("a-benoit").unwrap(),
                temporary_password_expires_at: start + Duration::days(3),
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
                photo: fixtures::photo(1),
                quality: fixtures::good_quality(),
            },
            &applicant,
        ),
        (CaseCommand::AcceptPhoto, &officer),
    ];
    for (command, meta) in steps {
        service.execute(&id, command, meta).await?;
    }
    service.grant(&id, &officer).await?;
    service
        .execute(&id, CaseCommand::OrderPrCard, &system)
        .await?;
    service
        .execute(&id, CaseCommand::RecordPrCardMailed, &system)
        .await?;
    let Database::Sqlite(pool) = &db else {
        unreachable!()
    };
    let rows = sqlx::query(
        "SELECT event_type, event_version, payload, metadata FROM events \
         WHERE aggregate_id = ?1 ORDER BY sequence",
    )
    .bind(&id)
    .fetch_all(pool)
    .await?;
    let templates = rows
        .iter()
        .map(|r| {
            let mut metadata: Value = serde_json::from_str(r.get("metadata")).unwrap();
            let map = metadata.as_object_mut().unwrap();
            map.remove("hash");
            map.remove("prev_hash");
            Template {
                event_type: r.get("event_type"),
                event_version: r.get("event_version"),
                payload: serde_json::from_str(r.get("payload")).unwrap(),
                metadata,
            }
        })
        .collect();
    db.close().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(templates)
}

/// Column-wise rows for one INSERT ... SELECT FROM UNNEST(...).
#[derive(Default)]
struct Batch {
    ids: Vec<String>,
    sequences: Vec<i64>,
    types: Vec<String>,
    versions: Vec<String>,
    payloads: Vec<String>,
    metadata: Vec<String>,
}

impl Batch {
    fn len(&self) -> usize {
        self.ids.len()
    }

    async fn insert(self, pool: &sqlx::PgPool) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) \
             SELECT 'case', i, s, t, v, p::jsonb, m::jsonb \
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) \
             AS u(i, s, t, v, p, m)",
        )
        .bind(self.ids)
        .bind(self.sequences)
        .bind(self.types)
        .bind(self.versions)
        .bind(self.payloads)
        .bind(self.metadata)
        .execute(pool)
        .await?;
        Ok(())
    }
}

/// Generates `total` chained events from the template and inserts them, `WAVE` cases at a
/// time interleaved in the feed. Returns the canonical bytes of every event, for the SHA-256
/// reference (concatenated, with their count).
async fn generate(
    pool: &sqlx::PgPool,
    templates: &[Template],
    total: usize,
) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut canonical_bytes = Vec::new();
    let mut made = 0usize;
    let mut batch = Batch::default();
    let mut inflight: Option<tokio::task::JoinHandle<anyhow::Result<()>>> = None;
    let mut case_no = 0usize;
    while made < total {
        let wave: Vec<String> = (0..WAVE)
            .map(|i| format!("00000000-0000-4000-8000-{:012}", case_no + i))
            .collect();
        case_no += WAVE;
        let mut prev = vec![ChainHash::ZERO; wave.len()];
        for (k, template) in templates.iter().enumerate() {
            for (c, id) in wave.iter().enumerate() {
                if made == total {
                    break;
                }
                let sequence = i64::try_from(k + 1)?;
                let mut metadata = template.metadata.clone();
                metadata["causation_id"] = Value::String(format!("{id}-{k}"));
                let fields = EventFields {
                    aggregate_type: "case",
                    aggregate_id: id,
                    sequence,
                    event_type: &template.event_type,
                    event_version: &template.event_version,
                    payload: &template.payload,
                    metadata: &metadata,
                };
                canonical_bytes.extend(canonical_event(&fields)?);
                let hash = event_hash(&prev[c], &fields)?;
                stamp(
                    &mut metadata,
                    &StoredLink {
                        prev_hash: prev[c],
                        hash,
                    },
                )?;
                prev[c] = hash;
                batch.ids.push(id.clone());
                batch.sequences.push(sequence);
                batch.types.push(template.event_type.clone());
                batch.versions.push(template.event_version.clone());
                batch.payloads.push(template.payload.to_string());
                batch.metadata.push(metadata.to_string());
                made += 1;
                if batch.len() == BATCH {
                    // Build the next batch while PostgreSQL inserts this one.
                    if let Some(previous) = inflight.take() {
                        previous.await??;
                    }
                    let full = std::mem::take(&mut batch);
                    let pool = pool.clone();
                    inflight = Some(tokio::spawn(async move { full.insert(&pool).await }));
                }
            }
        }
    }
    if let Some(previous) = inflight.take() {
        previous.await??;
    }
    if batch.len() > 0 {
        batch.insert(pool).await?;
    }
    Ok((canonical_bytes, made))
}

/// Streams every row to this process in feed order, as verify reads them, and touches its
/// columns (parsing the JSON into values if `parse`), verifying nothing.
async fn stream_only(pool: &sqlx::PgPool, parse: bool) -> anyhow::Result<usize> {
    let mut rows = sqlx::query(
        "SELECT tx::text::bigint AS tx, position, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload::text AS payload, metadata::text AS metadata \
         FROM events ORDER BY events.tx, events.position",
    )
    .fetch(pool);
    let mut n = 0usize;
    while let Some(row) = rows.try_next().await? {
        let _: (&str, &str, i64, &str, &str) = (
            row.try_get("aggregate_type")?,
            row.try_get("aggregate_id")?,
            row.try_get("sequence")?,
            row.try_get("event_type")?,
            row.try_get("event_version")?,
        );
        let (payload, metadata): (&str, &str) = (row.try_get("payload")?, row.try_get("metadata")?);
        if parse {
            let _: (Value, Value) = (
                serde_json::from_str(payload)?,
                serde_json::from_str(metadata)?,
            );
        }
        n += 1;
    }
    Ok(n)
}

fn rate(n: usize, seconds: f64) -> String {
    format!("{:>9.0} events/s", n as f64 / seconds)
}

async fn scratch_postgres(url: &str, name: &str) -> anyhow::Result<String> {
    let admin: PgConnectOptions = url.parse()?;
    let mut conn = admin.connect().await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    Ok(admin.database(name).to_url_lossy().to_string())
}

async fn drop_postgres(url: &str, name: &str) -> anyhow::Result<()> {
    let admin: PgConnectOptions = url.parse()?;
    let mut conn = admin.connect().await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let total: usize = std::env::var("BENCH_AUDIT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("audit benchmark: skipped (set DATABASE_URL, or run scripts/bench)");
        return Ok(());
    };
    let templates = template_case().await.context("running the template case")?;
    let name = format!("prconfirm_bench_audit_{}", std::process::id());
    let bench_url = scratch_postgres(&url, &name).await?;
    let outcome = async {
        let db = Database::connect_postgres(&bench_url, 4).await?;
        db.migrate().await?;
        let Database::Postgres(pool) = &db else {
            unreachable!()
        };
        let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(pool).await?;
        println!(
            "prconfirm audit benchmark: {total} events ({} per case), PostgreSQL {version}, {} cores",
            templates.len(),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );

        let began = Instant::now();
        let (canonical, made) = generate(pool, &templates, total).await?;
        let insert_s = began.elapsed().as_secs_f64();
        pool.execute("VACUUM (ANALYZE) events").await?;
        let size: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_total_relation_size('events'))")
            .fetch_one(pool)
            .await?;
        println!(
            "{:<58} {:>7.2} s {}   (table with indexes: {size})",
            "generate, chain and bulk-insert",
            insert_s,
            rate(made, insert_s)
        );

        let key = AuditKey::from_seed([42; 32]);
        let began = Instant::now();
        let checkpoint = take_checkpoint(&db, &key, Utc::now()).await?.context("a checkpoint")?;
        let s = began.elapsed().as_secs_f64();
        println!(
            "{:<58} {:>7.2} s {}",
            format!("sign the first checkpoint (count {})", checkpoint.count),
            s,
            rate(made, s)
        );

        let began = Instant::now();
        let (rows, chars): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), sum(length(payload::text) + length(metadata::text))::bigint FROM events",
        )
        .fetch_one(pool)
        .await?;
        let s = began.elapsed().as_secs_f64();
        println!(
            "{:<58} {:>7.2} s {}   ({} MB of JSON text)",
            "reference: PostgreSQL renders every row's JSON as text",
            s,
            rate(usize::try_from(rows)?, s),
            chars.unwrap_or(0) / 1_000_000
        );

        for (parse, label) in [
            (false, "reference: stream the same rows here, no parsing"),
            (true, "reference: stream them and parse their JSON (Value)"),
        ] {
            let began = Instant::now();
            let streamed = stream_only(pool, parse).await?;
            let s = began.elapsed().as_secs_f64();
            println!("{label:<58} {s:>7.2} s {}", rate(streamed, s));
        }

        let began = Instant::now();
        let digest = sha2::Sha256::digest(&canonical);
        let s = began.elapsed().as_secs_f64();
        println!(
            "{:<58} {:>7.2} s {}   ({:.0} MB/s, {})",
            "reference: SHA-256 of the canonical bytes, in memory",
            s,
            rate(made, s),
            canonical.len() as f64 / s / 1e6,
            &hex::encode(digest)[..8]
        );

        for run in 1..=2 {
            let began = Instant::now();
            let report = verify(&db, Some(&key.verifying_key()), None, |_| {}).await?;
            let s = began.elapsed().as_secs_f64();
            println!(
                "{:<58} {:>7.2} s {}   verified={} checkpoints={}",
                format!("verify, run {run}"),
                s,
                rate(usize::try_from(report.events_checked)?, s),
                report.verified,
                report.checkpoints_checked
            );
            anyhow::ensure!(report.verified, "the generated log does not verify: {report:?}");
        }
        let plan: Vec<String> = sqlx::query_scalar(
            "EXPLAIN SELECT tx::text::bigint AS tx, position, payload::text AS payload, \
             metadata::text AS metadata FROM events ORDER BY events.tx, events.position",
        )
        .fetch_all(pool)
        .await?;
        println!("verify's plan: {}", plan.first().map_or("?", |p| p.trim()));
        db.close().await;
        anyhow::Ok(())
    }
    .await;
    if std::env::var_os("BENCH_AUDIT_KEEP").is_some() {
        println!("kept the database {name} (BENCH_AUDIT_KEEP)");
    } else {
        drop_postgres(&url, &name).await?;
    }
    outcome
}
