//! Helpers shared by the storage tests: fixtures, a service on a given database, and the
//! macro that runs one behaviour test on both backends.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use prconfirm_commands::privacy::PrivacyKeys;
use prconfirm_commands::{
    Actor, ActorRole, CaseService, Committed, ManualClock, RequestMeta, ServiceSettings,
};
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::Database;

/// Runs `async fn NAME(db: Database)` once on a fresh, migrated PostgreSQL database (through
/// `#[sqlx::test]`, which needs `DATABASE_URL`) and once on a fresh SQLite file.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
            async fn postgres(pool: sqlx::PgPool) {
                super::$name(prconfirm_migrations::Database::Postgres(pool)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("temp dir");
                let db = $crate::common::sqlite(dir.path()).await;
                super::$name(db.clone()).await;
                db.close().await;
            }
        }
    )+};
}

/// A migrated SQLite database in `dir`.
pub async fn sqlite(dir: &std::path::Path) -> Database {
    let db = Database::open_sqlite(dir, 8).await.expect("open sqlite");
    db.migrate().await.expect("migrate sqlite");
    db
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 14, 0, 0).unwrap()
}

/// A service whose clock stands at [`start`] until moved.
pub fn service(db: &Database, snapshot_every: usize) -> (CaseService, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    let service = CaseService::new(
        db.clone(),
        ServiceSettings { snapshot_every },
        clock.clone(),
        &keys(db),
    );
    (service, clock)
}

/// The person keys of the storage tests: the same fixed KEK and blind-index key for every
/// service and consumer of a test, so that what one seals the others open.
pub fn keys(db: &Database) -> PrivacyKeys {
    use prconfirm_commands::privacy::{CacheSettings, Kek, KekRing, PersonKeys};
    PrivacyKeys {
        persons: PersonKeys::new(
            db.clone(),
            KekRing::new(Kek::from_bytes([0x4b; 32]), vec![]),
            CacheSettings::default(),
        ),
        blind_index: blind_key(),
    }
}

/// The blind-index key of the storage tests (see [`keys`]).
pub fn blind_key() -> prconfirm_commands::privacy::BlindIndexKey {
    prconfirm_commands::privacy::BlindIndexKey::from_bytes([0x42; 32])
}

pub fn officer(name: &str) -> RequestMeta {
    RequestMeta::new(Actor::new(
        ActorId::parse(name).unwrap(),
        ActorRole::Officer,
    ))
}

pub fn applicant(name: &str) -> RequestMeta {
    RequestMeta::new(Actor::new(
        ActorId::parse(name).unwrap(),
        ActorRole::Applicant,
    ))
}

pub fn system() -> RequestMeta {
    RequestMeta::new(Actor::system())
}

pub use prconfirm_domain::fixtures::{
    address, case_file as file, flagged_quality, good_quality, photo,
};

pub fn respond_by() -> DateTime<Utc> {
    start() + Duration::days(30)
}

/// Invites a new applicant (as `officer.a`) and returns what was committed.
pub async fn invite(service: &CaseService, application: &str, uci: &str) -> Committed {
    service
        .invite(
            file(application, uci, "Ana"),
            respond_by(),
            &officer("officer.a"),
        )
        .await
        .unwrap()
}

/// The link stored in the metadata of a case's event.
pub async fn stored_link(
    db: &Database,
    id: &str,
    sequence: i64,
) -> prconfirm_commands::audit::chain::StoredLink {
    const SQL: &str = "SELECT metadata FROM events WHERE aggregate_id = $1 AND sequence = $2";
    let metadata: serde_json::Value = match db {
        Database::Postgres(p) => sqlx::query_scalar(SQL)
            .bind(id)
            .bind(sequence)
            .fetch_one(p)
            .await
            .unwrap(),
        Database::Sqlite(p) => {
            let text: String = sqlx::query_scalar(SQL)
                .bind(id)
                .bind(sequence)
                .fetch_one(p)
                .await
                .unwrap();
            serde_json::from_str(&text).unwrap()
        }
    };
    prconfirm_commands::audit::chain::stored_link(&metadata).unwrap()
}
