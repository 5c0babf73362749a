//! Synthetic cases for benchmarks and demonstrations (`prconfirm generate`): each case is
//! driven through the domain's own `decide` and `apply`, so every history is one the rules
//! allow, then chained (the audit chain verifies it) and appended in bulk, thousands of
//! events per statement, far faster than one command at a time.
//!
//! Never point it at a production database: the cases are made up.

use chrono::{DateTime, Duration, Utc};
use prconfirm_domain::case::{Case, CaseCommand, CaseEvent, Ctx, ReturnReason};
use prconfirm_domain::fixtures;
use prconfirm_domain::photo_quality::QualityFlag;
use prconfirm_domain::values::{ActorId, DocumentNumber};
use prconfirm_migrations::Database;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use uuid::Uuid;

use crate::audit::chain::{event_hash, stamp, ChainHash, EventFields, StoredLink};
use crate::metadata::{event_metadata, Actor, ActorRole, RequestMeta};
use crate::sealing::seal_event;
use prconfirm_privacy::payload::StoredEvent;
use prconfirm_privacy::{BlindIndexKey, DataKey, PrivacyKeys};

/// A failure to generate.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the rules refused a generated step: {0}")]
    Rules(String),
    #[error("cannot encode an event: {0}")]
    Encode(String),
    #[error("no data key for a generated case: {0}")]
    Keys(String),
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub cases: u64,
    pub seed: u64,
    /// Events per insert statement.
    pub chunk: usize,
    /// Cases whose events are interleaved in time order, as a real log has them (one case's
    /// events far apart, others' between them); 1 appends each case's events together.
    pub interleave: u64,
    /// The latest time any generated event may carry.
    pub now: DateTime<Utc>,
}

/// One stored event, ready to insert.
#[derive(Debug, Clone)]
struct Row {
    at: DateTime<Utc>,
    case_id: String,
    sequence: i64,
    event_type: &'static str,
    event_version: &'static str,
    payload: String,
    metadata: String,
}

/// How far a generated case goes, drawn per case.
fn steps_for(rng: &mut StdRng) -> u8 {
    match rng.gen_range(0..100) {
        0..=4 => 0,   // invited, no answer
        5..=7 => 1,   // declined
        8..=11 => 2,  // account created, password not changed
        12..=29 => 3, // confirming, no photo yet
        30..=49 => 4, // photo waiting for review
        50..=54 => 5, // photo returned
        55..=64 => 6, // photo accepted: final review
        _ => 7,       // granted
    }
}

/// The events of case number `n`, driven through the rules.
fn case_events(
    n: u64,
    rng: &mut StdRng,
    plan: &Plan,
    serial_base: u64,
    (key, blind): (&DataKey, &BlindIndexKey),
) -> Result<Vec<Row>, GenerateError> {
    let span = Duration::days(150).num_seconds();
    let offset = (n as i64 * span) / plan.cases.max(1) as i64;
    let mut at = plan.now - Duration::days(200) + Duration::seconds(offset);
    let case_id = case_id_of(plan, n);
    let officer = Actor::new(
        ActorId::parse(&format!("officer.{:02}", n % 40))
            .map_err(|e| GenerateError::Rules(e.to_string()))?,
        ActorRole::Officer,
    );
    let username = format!("a-{n:x}");
    let applicant = Actor::new(
        ActorId::parse(&username).map_err(|e| GenerateError::Rules(e.to_string()))?,
        ActorRole::Applicant,
    );
    let system = Actor::system();
    let reach = steps_for(rng);
    let mut script: Vec<(CaseCommand, &Actor)> = Vec::new();
    // One person per case, across runs too: a second run (another seed) on the same database
    // must not invite the people of the first again (one open case per person).
    let person = plan.seed.wrapping_mul(1_000_003).wrapping_add(n) % 9_000_000_000;
    let uci = format!("{:010}", 1_000_000_000 + person);
    let application = format!("E{:09}", n / 3);
    script.push((
        CaseCommand::Invite {
            file: fixtures::case_file(&application, &uci, "Zoë"),
            respond_by: at + Duration::days(30),
            guardian_case: None,
        },
        &officer,
    ));
    if reach == 1 {
        script.push((CaseCommand::DeclineInvitation, &system));
    } else if reach >= 2 {
        script.push((CaseCommand::AcceptInvitation, &system));
        script.push((
            CaseCommand::CreateAccount {
                username: applicant.id.clone(),
                temporary_password_expires_at: at + Duration::days(40),
            },
            &system,
        ));
    }
    if reach >= 3 {
        script.push((CaseCommand::ChangePassword, &applicant));
        script.push((CaseCommand::DeclarePresence { in_canada: true }, &applicant));
        script.push((
            CaseCommand::ConfirmAddress {
                residential: fixtures::address(),
                mailing: None,
            },
            &applicant,
        ));
    }
    if reach >= 4 {
        script.push((
            CaseCommand::UploadPhoto {
                photo: fixtures::photo((n % 251) as u8),
                quality: match rng.gen_range(0..10) {
                    0 => fixtures::flagged_quality(&[QualityFlag::TooDark]),
                    1 => fixtures::flagged_quality(&[QualityFlag::Glare]),
                    _ => fixtures::good_quality(),
                },
            },
            &applicant,
        ));
    }
    if reach == 5 {
        let reason = match rng.gen_range(0..4) {
            0 => ReturnReason::TooDark,
            1 => ReturnReason::Glare,
            2 => ReturnReason::BackgroundNotWhite,
            _ => ReturnReason::FeaturesNotVisible,
        };
        script.push((CaseCommand::ReturnPhoto { reason, note: None }, &officer));
    }
    if reach >= 6 {
        script.push((CaseCommand::AcceptPhoto, &officer));
    }
    if reach >= 7 {
        script.push((
            CaseCommand::GrantPermanentResidence {
                document_number: DocumentNumber::from_serial(serial_base + n + 1),
            },
            &officer,
        ));
    }
    let mut case = Case::default();
    let mut rows = Vec::new();
    let mut prev = ChainHash::ZERO;
    for (command, actor) in script {
        at += Duration::minutes(rng.gen_range(30..2880));
        let ctx = Ctx {
            now: at,
            actor: actor.id.clone(),
            expected_version: None,
        };
        let events = case
            .decide(&command, &ctx)
            .map_err(|e| GenerateError::Rules(format!("{}: {e}", command.name())))?;
        let meta = RequestMeta::new(actor.clone());
        let metadata = event_metadata(&meta, command.name(), Uuid::new_v4(), at);
        for event in events {
            let sequence = case.version as i64 + 1;
            let row = chained(
                &case_id,
                sequence,
                &event,
                &metadata,
                &mut prev,
                at,
                (key, blind),
            )?;
            case.apply_event(event);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The id of generated case number `n`.
fn case_id_of(plan: &Plan, n: u64) -> String {
    Uuid::from_u64_pair(plan.seed, n).to_string()
}

fn chained(
    case_id: &str,
    sequence: i64,
    event: &CaseEvent,
    metadata: &std::collections::HashMap<String, String>,
    prev: &mut ChainHash,
    at: DateTime<Utc>,
    (key, blind): (&DataKey, &BlindIndexKey),
) -> Result<Row, GenerateError> {
    let encode = |e: serde_json::Error| GenerateError::Encode(e.to_string());
    let mut payload = serde_json::to_value(event).map_err(encode)?;
    let mut metadata = serde_json::to_value(metadata).map_err(encode)?;
    // Sealed as the event store seals what it appends, before the hash covers it.
    seal_event(
        key,
        blind,
        &StoredEvent {
            case_id,
            sequence: sequence.unsigned_abs(),
            event_type: event.name(),
            event_version: event.version(),
        },
        &mut payload,
        &mut metadata,
    )
    .map_err(|e| GenerateError::Encode(e.to_string()))?;
    let hash = event_hash(
        prev,
        &EventFields {
            aggregate_type: "case",
            aggregate_id: case_id,
            sequence,
            event_type: event.name(),
            event_version: event.version(),
            payload: &payload,
            metadata: &metadata,
        },
    )
    .map_err(|e| GenerateError::Encode(e.to_string()))?;
    stamp(
        &mut metadata,
        &StoredLink {
            prev_hash: *prev,
            hash,
        },
    )
    .map_err(|e| GenerateError::Encode(e.to_string()))?;
    *prev = hash;
    Ok(Row {
        at,
        case_id: case_id.to_owned(),
        sequence,
        event_type: event.name(),
        event_version: event.version(),
        payload: payload.to_string(),
        metadata: Value::to_string(&metadata),
    })
}

async fn insert(db: &Database, rows: &[Row]) -> Result<(), sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            let col = |f: fn(&Row) -> String| rows.iter().map(f).collect::<Vec<String>>();
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata) \
                 SELECT 'case', id, seq, et, ev, p::jsonb, m::jsonb \
                 FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], \
                 $6::text[]) AS t(id, seq, et, ev, p, m)",
            )
            .bind(col(|r| r.case_id.clone()))
            .bind(rows.iter().map(|r| r.sequence).collect::<Vec<i64>>())
            .bind(col(|r| r.event_type.to_owned()))
            .bind(col(|r| r.event_version.to_owned()))
            .bind(col(|r| r.payload.clone()))
            .bind(col(|r| r.metadata.clone()))
            .execute(pool)
            .await?;
        }
        Database::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            for chunk in rows.chunks(4000) {
                let sql = format!(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                     event_version, payload, metadata) VALUES {}",
                    vec!["('case', ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q
                        .bind(&r.case_id)
                        .bind(r.sequence)
                        .bind(r.event_type)
                        .bind(r.event_version)
                        .bind(&r.payload)
                        .bind(&r.metadata);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Generates `plan.cases` cases, calling `progress(cases done, events written)` after each
/// chunk. Returns the number of events written.
///
/// # Errors
/// [`GenerateError`].
pub async fn generate(
    db: &Database,
    keys: &PrivacyKeys,
    plan: Plan,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, GenerateError> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let base: i64 = match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar("SELECT last_value FROM ecopr_document_serial")
                .fetch_one(pool)
                .await?
        }
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COALESCE(MAX(serial), 0) FROM ecopr_document_serial")
                .fetch_one(pool)
                .await?
        }
    };
    let serial_base = base.unsigned_abs();
    let window = plan.interleave.max(1);
    let mut pending: Vec<Row> = Vec::new();
    let mut written = 0u64;
    for n in 0..plan.cases {
        let key = keys
            .persons
            .for_sealing(&case_id_of(&plan, n))
            .await
            .map_err(|e| GenerateError::Keys(e.to_string()))?;
        pending.extend(case_events(
            n,
            &mut rng,
            &plan,
            serial_base,
            (&key, &keys.blind_index),
        )?);
        if (n + 1) % window == 0 || n + 1 == plan.cases {
            // Time order across the window's cases; each case's own order is its sequence.
            pending.sort_by(|a, b| {
                (a.at, &a.case_id, a.sequence).cmp(&(b.at, &b.case_id, b.sequence))
            });
            for chunk in pending.chunks(plan.chunk.max(1)) {
                insert(db, chunk).await?;
                written += chunk.len() as u64;
            }
            pending.clear();
            progress(n + 1, written);
        }
    }
    // Keep real document numbers clear of the generated ones.
    let last = i64::try_from(serial_base + plan.cases).unwrap_or(i64::MAX);
    match db {
        Database::Postgres(pool) => {
            sqlx::query("SELECT setval('ecopr_document_serial', GREATEST((SELECT last_value FROM ecopr_document_serial), $1))")
                .bind(last)
                .execute(pool)
                .await?;
        }
        Database::Sqlite(pool) => {
            sqlx::query("INSERT OR IGNORE INTO ecopr_document_serial (serial) VALUES ($1)")
                .bind(last)
                .execute(pool)
                .await?;
        }
    }
    Ok(written)
}
