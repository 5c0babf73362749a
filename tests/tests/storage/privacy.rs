//! The person keys on a real store: fields sealed under a data key of their own person,
//! bound to case, sequence and field; a destroyed key answers "disposed" and is gone from
//! the table; a KEK rotation leaves every key under the new KEK, after which the old one is
//! needed for nothing, and a copy of the database holds nothing without the KEK that
//! wrapped it.

use std::collections::BTreeMap;

use chrono::Utc;
use prconfirm_commands::privacy::{
    self, Access, Binding, CacheSettings, Destroyed, Kek, KekRing, Opened, PersonKeys,
    PrivacyError, Sealed, UnwrapError,
};
use prconfirm_migrations::{on_db, Database};

use crate::on_both_backends;

on_both_backends!(
    a_sealed_field_opens_for_its_case_sequence_and_field_only,
    each_person_has_a_data_key_of_their_own_stored_only_wrapped,
    a_destroyed_key_answers_disposed_and_is_gone_from_the_table,
    a_rotation_rewraps_every_key_and_the_old_kek_is_needed_for_nothing,
    a_rotation_left_unfinished_is_taken_up_by_the_next_run,
    a_database_copy_yields_nothing_once_the_kek_that_wrapped_it_is_gone,
);

fn kek(n: u8) -> Kek {
    Kek::from_bytes([n; 32])
}

fn keys(db: &Database, current: u8, previous: &[u8]) -> PersonKeys {
    PersonKeys::new(
        db.clone(),
        KekRing::new(kek(current), previous.iter().map(|n| kek(*n)).collect()),
        CacheSettings::default(),
    )
}

/// Keys that read the table on every use, as another instance would after a restart.
fn uncached(db: &Database, current: u8, previous: &[u8]) -> PersonKeys {
    PersonKeys::new(
        db.clone(),
        KekRing::new(kek(current), previous.iter().map(|n| kek(*n)).collect()),
        CacheSettings {
            capacity: 0,
            ..CacheSettings::default()
        },
    )
}

fn text(opened: Opened) -> String {
    match opened {
        Opened::Plain(p) => p.as_str().unwrap().to_owned(),
        Opened::Disposed => "[disposed]".to_owned(),
    }
}

/// Seals a given name at sequence 1 of `case`.
async fn seal_name(keys: &PersonKeys, case: &str, name: &str) -> Sealed {
    keys.seal(&Binding::new(case, 1, "given_name"), name.as_bytes())
        .await
        .unwrap()
}

async fn open_name(keys: &PersonKeys, case: &str, sealed: &Sealed) -> Result<String, PrivacyError> {
    keys.open(&Binding::new(case, 1, "given_name"), sealed)
        .await
        .map(text)
}

/// The stored row: key id, KEK id, wrapped key, disposed at.
async fn row(
    db: &Database,
    case: &str,
) -> Option<(Vec<u8>, Option<String>, Option<Vec<u8>>, bool)> {
    let sql = "SELECT key_id, kek_id, wrapped, disposed_at IS NOT NULL FROM person_keys \
               WHERE case_id = $1";
    on_db!(db, |pool| sqlx::query_as(sql)
        .bind(case)
        .fetch_optional(pool)
        .await)
    .unwrap()
}

async fn a_sealed_field_opens_for_its_case_sequence_and_field_only(db: Database) {
    // Arrange
    let keys = keys(&db, 1, &[]);
    let here = Binding::new("case-1", 4, "family_name");
    let sealed = keys.seal(&here, "Ōtsuka-Nguyễn".as_bytes()).await.unwrap();

    // Act: the sealed field as an event payload holds it, read back by another instance.
    let payload = serde_json::json!({ "family_name": sealed });
    let stored: Sealed = serde_json::from_value(payload["family_name"].clone()).unwrap();
    let other = uncached(&db, 1, &[]);

    // Assert
    assert_eq!(
        text(other.open(&here, &stored).await.unwrap()),
        "Ōtsuka-Nguyễn"
    );
    assert!(!payload.to_string().contains("Ōtsuka"));
    for elsewhere in [
        Binding::new("case-1", 5, "family_name"),
        Binding::new("case-1", 4, "given_name"),
    ] {
        assert!(
            matches!(
                other.open(&elsewhere, &stored).await,
                Err(PrivacyError::Envelope(_))
            ),
            "{elsewhere:?}"
        );
    }
    // Another case opens it with its own key, which is not the one that sealed it.
    seal_name(&keys, "case-2", "Bo").await;
    assert!(matches!(
        other
            .open(&Binding::new("case-2", 4, "family_name"), &stored)
            .await,
        Err(PrivacyError::Envelope(_))
    ));
}

async fn each_person_has_a_data_key_of_their_own_stored_only_wrapped(db: Database) {
    // Arrange: two members of one family, each sealed concurrently from two instances.
    let first = keys(&db, 1, &[]);
    let second = keys(&db, 1, &[]);

    // Act
    let (a, b) = tokio::join!(
        first.for_sealing("case-parent"),
        second.for_sealing("case-parent")
    );
    let child = first.for_sealing("case-child").await.unwrap();

    // Assert: one key per person, whoever made it first; each stored wrapped by the KEK.
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.id(), b.id());
    assert_ne!(a.id(), child.id());
    let (key_id, kek_id, wrapped, disposed) = row(&db, "case-parent").await.unwrap();
    assert_eq!(key_id, a.id().0.to_vec());
    assert_eq!(kek_id.as_deref(), Some(kek(1).id().as_str()));
    assert_eq!(wrapped.unwrap().len(), 72);
    assert!(!disposed);
    let parent_name = seal_name(&first, "case-parent", "Amara").await;
    assert_eq!(
        open_name(&second, "case-parent", &parent_name)
            .await
            .unwrap(),
        "Amara"
    );
    // The parent's field does not open as the child's.
    assert!(open_name(&first, "case-child", &parent_name).await.is_err());
    assert!(matches!(
        first.for_opening("case-stranger").await,
        Err(PrivacyError::NoKey(_))
    ));
}

async fn a_destroyed_key_answers_disposed_and_is_gone_from_the_table(db: Database) {
    // Arrange
    let keys = keys(&db, 1, &[]);
    let other_instance = uncached(&db, 1, &[]);
    let child = seal_name(&keys, "case-child", "Kwame").await;
    let parent = seal_name(&keys, "case-parent", "Efua").await;
    let (_, _, wrapped, _) = row(&db, "case-child").await.unwrap();
    let wrapped = wrapped.unwrap();

    // Act
    let destroyed = keys.destroy("case-child", Utc::now()).await.unwrap();

    // Assert: disposed here at once and for anyone who reads the table, not an error.
    assert_eq!(destroyed, Destroyed::Now);
    assert_eq!(
        open_name(&keys, "case-child", &child).await.unwrap(),
        "[disposed]"
    );
    assert_eq!(
        open_name(&uncached(&db, 1, &[]), "case-child", &child)
            .await
            .unwrap(),
        "[disposed]"
    );
    assert!(matches!(
        keys.for_opening("case-child").await.unwrap(),
        Access::Disposed
    ));
    // The key is gone from the table; no new one is ever made for that person.
    let (_, kek_id, left, disposed) = row(&db, "case-child").await.unwrap();
    assert_eq!((kek_id, left, disposed), (None, None, true));
    assert!(matches!(
        keys.for_sealing("case-child").await,
        Err(PrivacyError::Disposed(_))
    ));
    assert_eq!(
        keys.destroy("case-child", Utc::now()).await.unwrap(),
        Destroyed::Already
    );
    // The other member of the family is untouched.
    assert_eq!(
        open_name(&other_instance, "case-parent", &parent)
            .await
            .unwrap(),
        "Efua"
    );
    // A person without a key yet is marked, so that none is made later.
    assert_eq!(
        keys.destroy("case-never", Utc::now()).await.unwrap(),
        Destroyed::NeverHadOne
    );
    assert!(matches!(
        uncached(&db, 1, &[]).for_sealing("case-never").await,
        Err(PrivacyError::Disposed(_))
    ));
    let counts = privacy::status(&db).await.unwrap();
    assert_eq!(counts.disposed, 2);
    assert_eq!(counts.live(), 1);
    // On SQLite the database's own files no longer hold the wrapped key's bytes either
    // (on PostgreSQL the old row version stays until vacuumed: the KEK covers it).
    if let Database::Sqlite(pool) = &db {
        let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list")
            .fetch_one(pool)
            .await
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let bytes = std::fs::read(format!("{file}{suffix}")).unwrap_or_default();
            assert!(
                !bytes
                    .windows(wrapped.len())
                    .any(|w| w == wrapped.as_slice()),
                "the destroyed key's bytes are still in {file}{suffix}"
            );
        }
    }
}

/// Seals one field for each of `cases` and answers them by case.
async fn seal_all(keys: &PersonKeys, cases: &[&str]) -> BTreeMap<String, Sealed> {
    let mut sealed = BTreeMap::new();
    for case in cases {
        sealed.insert((*case).to_owned(), seal_name(keys, case, case).await);
    }
    sealed
}

async fn a_rotation_rewraps_every_key_and_the_old_kek_is_needed_for_nothing(db: Database) {
    // Arrange: seven persons under KEK 1, one of them disposed of.
    let old = keys(&db, 1, &[]);
    let cases = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"];
    let sealed = seal_all(&old, &cases).await;
    old.destroy("c4", Utc::now()).await.unwrap();
    let before = privacy::status(&db).await.unwrap();
    assert_eq!(
        before.by_kek,
        BTreeMap::from([(kek(1).id().to_string(), 6)])
    );

    // Act: three keys a transaction, so that it takes several.
    let mut seen = Vec::new();
    let done = privacy::rotate(
        &db,
        &KekRing::new(kek(1), vec![]),
        &kek(2),
        3,
        Utc::now(),
        |n| seen.push(n),
    )
    .await
    .unwrap();

    // Assert: every live key is under KEK 2; KEK 2 alone opens every field.
    assert_eq!(done.rewrapped, 6);
    assert!(done.is_complete());
    assert_eq!(seen, vec![3, 6]);
    let after = privacy::status(&db).await.unwrap();
    assert_eq!(after.by_kek, BTreeMap::from([(kek(2).id().to_string(), 6)]));
    assert_eq!(after.disposed, 1);
    let new_only = uncached(&db, 2, &[]);
    privacy::check_ring(&db, new_only.ring()).await.unwrap();
    for (case, field) in &sealed {
        let expected = if case == "c4" { "[disposed]" } else { case };
        assert_eq!(open_name(&new_only, case, field).await.unwrap(), expected);
    }
    // The old KEK alone opens nothing now, and an instance holding only it is refused.
    let old_only = uncached(&db, 1, &[]);
    assert!(matches!(
        open_name(&old_only, "c1", &sealed["c1"]).await,
        Err(PrivacyError::Unwrap {
            source: UnwrapError::KekNotHeld(_),
            ..
        })
    ));
    assert!(matches!(
        privacy::check_ring(&db, old_only.ring()).await,
        Err(PrivacyError::KeksNotHeld(_))
    ));
    // Running it again changes nothing.
    let again = privacy::rotate(&db, new_only.ring(), &kek(2), 3, Utc::now(), |_| {})
        .await
        .unwrap();
    assert_eq!(again.rewrapped, 0);
}

async fn a_rotation_left_unfinished_is_taken_up_by_the_next_run(db: Database) {
    // Arrange: keys under KEK 1, rotated to KEK 2; then an instance not yet told of KEK 2
    // makes more under KEK 1, as if the rotation had stopped half way.
    let first = keys(&db, 1, &[]);
    let early = seal_all(&first, &["a1", "a2", "a3"]).await;
    privacy::rotate(&db, first.ring(), &kek(2), 2, Utc::now(), |_| {})
        .await
        .unwrap();
    let late = seal_all(&first, &["b1", "b2"]).await;
    let mixed = privacy::status(&db).await.unwrap();
    assert_eq!(
        mixed.by_kek,
        BTreeMap::from([(kek(1).id().to_string(), 2), (kek(2).id().to_string(), 3)])
    );
    // An instance given KEK 2 with KEK 1 as the previous one opens both kinds meanwhile.
    let during = uncached(&db, 2, &[1]);
    privacy::check_ring(&db, during.ring()).await.unwrap();
    assert_eq!(open_name(&during, "b1", &late["b1"]).await.unwrap(), "b1");
    // A ring without the KEK of some keys leaves those and says so.
    let partial = privacy::rotate(
        &db,
        &KekRing::new(kek(3), vec![]),
        &kek(2),
        10,
        Utc::now(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(partial.rewrapped, 0);
    assert_eq!(
        partial.not_held,
        BTreeMap::from([(kek(1).id().to_string(), 2)])
    );

    // Act
    let done = privacy::rotate(&db, during.ring(), &kek(2), 2, Utc::now(), |_| {})
        .await
        .unwrap();

    // Assert
    assert_eq!(done.rewrapped, 2);
    let after = privacy::status(&db).await.unwrap();
    assert_eq!(after.by_kek, BTreeMap::from([(kek(2).id().to_string(), 5)]));
    let new_only = uncached(&db, 2, &[]);
    for (case, field) in early.iter().chain(&late) {
        assert_eq!(&open_name(&new_only, case, field).await.unwrap(), case);
    }
}

async fn a_database_copy_yields_nothing_once_the_kek_that_wrapped_it_is_gone(db: Database) {
    // Arrange: a family under KEK 1, and a backup taken then.
    let keys = keys(&db, 1, &[]);
    let sealed = seal_all(&keys, &["parent", "child"]).await;
    let backup = Copy::of(&db).await;
    // Later: the child is disposed of, the KEK rotated to 2, and KEK 1 destroyed.
    keys.destroy("child", Utc::now()).await.unwrap();
    privacy::rotate(&db, keys.ring(), &kek(2), 100, Utc::now(), |_| {})
        .await
        .unwrap();
    let today = Copy::of(&db).await;

    // Act and assert: the old backup with only the KEK kept (2) opens no one's field.
    let with_new = uncached(&backup.db, 2, &[]);
    for (case, field) in &sealed {
        assert!(
            matches!(
                open_name(&with_new, case, field).await,
                Err(PrivacyError::Unwrap {
                    source: UnwrapError::KekNotHeld(_),
                    ..
                })
            ),
            "{case} opened from the old backup"
        );
    }
    // A copy of today's database with only the destroyed KEK (a leaked copy of it) opens
    // nothing either: the parent's key is under KEK 2, the child's is gone.
    let with_old = uncached(&today.db, 1, &[]);
    assert!(open_name(&with_old, "parent", &sealed["parent"])
        .await
        .is_err());
    assert_eq!(
        open_name(&with_old, "child", &sealed["child"])
            .await
            .unwrap(),
        "[disposed]"
    );
    // Whereas the old backup with the old KEK still would: why the old KEK must be destroyed
    // once the last backup it protects has expired.
    let leaked = uncached(&backup.db, 1, &[]);
    assert_eq!(
        open_name(&leaked, "child", &sealed["child"]).await.unwrap(),
        "child"
    );
    backup.drop().await;
    today.drop().await;
}

/// A `person_keys` row as copied: case, key id, KEK id, wrapped key.
type CopiedRow = (String, Vec<u8>, Option<String>, Option<Vec<u8>>);

/// A copy of a database as a backup holds it: on SQLite the file itself (`VACUUM INTO`); on
/// PostgreSQL a new database with the same schema and the `person_keys` rows copied over
/// (a template copy needs the source without other connections, which the test holds).
struct Copy {
    db: Database,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server's URL and the copy's name, to drop it.
    pg: Option<(String, String)>,
}

impl Copy {
    async fn of(db: &Database) -> Self {
        match db {
            Database::Sqlite(pool) => {
                let dir = tempfile::tempdir().unwrap();
                let file = dir.path().join(prconfirm_migrations::SQLITE_FILE);
                sqlx::query("VACUUM INTO $1")
                    .bind(file.to_str().unwrap())
                    .execute(pool)
                    .await
                    .unwrap();
                let copy = Database::open_sqlite(dir.path(), 2).await.unwrap();
                Self {
                    db: copy,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Database::Postgres(pool) => {
                let name = format!("prconfirm_copy_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(pool)
                    .await
                    .unwrap();
                let server = std::env::var("DATABASE_URL").unwrap();
                let url = prconfirm_tests::server::with_database(&server, &name);
                let copy = Database::connect_postgres(&url, 2).await.unwrap();
                copy.migrate().await.unwrap();
                let rows: Vec<CopiedRow> =
                    sqlx::query_as("SELECT case_id, key_id, kek_id, wrapped FROM person_keys")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let Database::Postgres(target) = &copy else {
                    unreachable!()
                };
                for (case_id, key_id, kek_id, wrapped) in rows {
                    sqlx::query(
                        "INSERT INTO person_keys (case_id, key_id, kek_id, wrapped, disposed_at) \
                         VALUES ($1, $2, $3, $4, CASE WHEN $4 IS NULL THEN now() END)",
                    )
                    .bind(case_id)
                    .bind(key_id)
                    .bind(kek_id)
                    .bind(wrapped)
                    .execute(target)
                    .await
                    .unwrap();
                }
                Self {
                    db: copy,
                    _dir: None,
                    pg: Some((server, name)),
                }
            }
        }
    }

    async fn drop(self) {
        self.db.close().await;
        if let Some((server, name)) = self.pg {
            let admin = Database::connect_postgres(&server, 1).await.unwrap();
            let Database::Postgres(pool) = &admin else {
                unreachable!()
            };
            // FORCE: a closed pool's backends may not have left the server yet.
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(pool)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

on_both_backends!(
    an_events_personal_fields_are_stored_sealed_and_load_back_in_the_clear,
    a_disposed_persons_case_still_loads_and_its_fields_name_nobody,
    claims_from_before_the_blind_index_are_rewritten_to_it,
);

/// Every stored payload and snapshot of `case` as text, and its `invited_people` claim.
async fn stored_text(db: &Database, case: &str) -> String {
    const EVENTS: &str =
        "SELECT payload::text || metadata::text FROM events WHERE aggregate_id = $1";
    const EVENTS_SQLITE: &str = "SELECT payload || metadata FROM events WHERE aggregate_id = $1";
    const SNAPSHOTS: &str = "SELECT payload::text FROM snapshots WHERE aggregate_id = $1";
    const SNAPSHOTS_SQLITE: &str = "SELECT payload FROM snapshots WHERE aggregate_id = $1";
    const CLAIMS: &str = "SELECT application_number || uci FROM invited_people WHERE case_id = $1";
    let mut rows: Vec<String> = Vec::new();
    for (pg, sqlite) in [
        (EVENTS, EVENTS_SQLITE),
        (SNAPSHOTS, SNAPSHOTS_SQLITE),
        (CLAIMS, CLAIMS),
    ] {
        let found: Vec<String> = match db {
            Database::Postgres(p) => sqlx::query_scalar(pg)
                .bind(case)
                .fetch_all(p)
                .await
                .unwrap(),
            Database::Sqlite(p) => sqlx::query_scalar(sqlite)
                .bind(case)
                .fetch_all(p)
                .await
                .unwrap(),
        };
        rows.extend(found);
    }
    rows.join("\n")
}

/// A case invited as "Zoë Tremblay-Côté" (UCI 73519024), whose address was confirmed and on
/// which an officer wrote a note; the service snapshots after every event.
async fn a_case_with_personal_data(db: &Database) -> (prconfirm_commands::CaseService, String) {
    use crate::common::{address, applicant, file, officer, respond_by, service, system};
    use prconfirm_domain::case::CaseCommand;
    use prconfirm_domain::values::{ActorId, Text};
    let (service, _clock) = service(db, 1);
    let case = service
        .invite(
            file("E007351902", "73519024", "Zoë"),
            respond_by(),
            &officer("officer.a"),
        )
        .await
        .unwrap()
        .case_id;
    let run = |command, meta| {
        let service = &service;
        let case = case.clone();
        async move { service.execute(&case, command, &meta).await.unwrap() }
    };
    run(CaseCommand::AcceptInvitation, system()).await;
    run(
        CaseCommand::CreateAccount {
            username: ActorId::parse("applicant-1").unwrap(),
            temporary_password_expires_at: respond_by(),
        },
        system(),
    )
    .await;
    run(CaseCommand::ChangePassword, applicant("applicant-1")).await;
    run(
        CaseCommand::DeclarePresence { in_canada: true },
        applicant("applicant-1"),
    )
    .await;
    run(
        CaseCommand::ConfirmAddress {
            residential: address(),
            mailing: None,
        },
        applicant("applicant-1"),
    )
    .await;
    run(
        CaseCommand::AddNote {
            text: Text::parse("Zoë called about her cousin Marguerite").unwrap(),
        },
        officer("officer.a"),
    )
    .await;
    (service, case)
}

const PERSONAL: [&str; 8] = [
    "Zoë",
    "Tremblay",
    "73519024",
    "E007351902",
    "1988-08-08",
    "family@example.ca",
    "Saint-Jean",
    "Marguerite",
];

async fn an_events_personal_fields_are_stored_sealed_and_load_back_in_the_clear(db: Database) {
    // Arrange
    let (service, case) = a_case_with_personal_data(&db).await;

    // Act
    let stored = stored_text(&db, &case).await;
    let loaded = service.load(&case).await.unwrap().unwrap().case;

    // Assert: nothing personal as stored (events, snapshots, the claim), all of it loaded.
    for value in PERSONAL {
        assert!(
            !stored.contains(value),
            "{value} stored in the clear:\n{stored}"
        );
    }
    assert!(stored.contains("pd1:"), "{stored}");
    let file = loaded.file.as_ref().unwrap();
    assert_eq!(file.given_name.as_str(), "Zoë");
    assert_eq!(file.uci.as_str(), "73519024");
    assert_eq!(file.email.as_str(), "family@example.ca");
    let history = service.history(&case).await.unwrap();
    assert!(history.iter().any(|e| matches!(
        &e.payload,
        prconfirm_domain::case::CaseEvent::AddressConfirmed { residential, .. }
            if *residential == crate::common::address()
    )));
    assert!(loaded.notes[0].text.as_str().contains("Marguerite"));
    // The claim is the blind index of both, 64 hex digits each.
    let claim = stored.lines().last().unwrap();
    assert_eq!(claim.len(), 128, "{claim}");
    assert!(claim.bytes().all(|b| b.is_ascii_hexdigit()), "{claim}");
}

async fn a_disposed_persons_case_still_loads_and_its_fields_name_nobody(db: Database) {
    // Arrange
    let (service, case) = a_case_with_personal_data(&db).await;
    let keys = crate::common::keys(&db);

    // Act: the key destroyed, the case read by a service that never saw it.
    keys.persons.destroy(&case, Utc::now()).await.unwrap();
    let (fresh, _clock) = crate::common::service(&db, 1);
    let loaded = fresh.load(&case).await.unwrap().unwrap();
    // On PostgreSQL the feed hands out an event once no older transaction of the cluster
    // is open (another test's may be): wait for all seven.
    let mut reader = db.dedicated().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let feed = loop {
        let feed = prconfirm_projections::feed::read_raw_on(
            &mut reader.conn(),
            &keys.persons,
            prconfirm_projections::FeedCursor::START,
            100,
        )
        .await
        .unwrap();
        if feed.len() == 7 || std::time::Instant::now() > deadline {
            break feed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    // Assert: it loads at its version, and neither it nor the feed names anybody.
    assert_eq!(
        loaded.version,
        service.load(&case).await.unwrap().unwrap().version
    );
    let file = loaded.case.file.as_ref().unwrap();
    assert_eq!(file.given_name.as_str(), "[disposed]");
    assert_eq!(file.uci.as_str(), "00000000");
    assert_eq!(loaded.case.notes[0].text.as_str(), "[disposed]");
    let text: String = feed.iter().map(|e| e.payload.clone()).collect();
    assert_eq!(feed.len(), 7, "the case's events");
    for value in PERSONAL {
        assert!(
            !text.contains(value),
            "{value} in the feed after disposal:\n{text}"
        );
    }
    assert!(text.contains("[disposed]"), "{text}");
}

async fn claims_from_before_the_blind_index_are_rewritten_to_it(db: Database) {
    // Arrange: a claim as the trigger wrote it for an event from before version 2.0.
    let insert = "INSERT INTO invited_people (application_number, uci, case_id) \
                  VALUES ('E001234567', '12345678', 'old-case')";
    on_db!(&db, |pool| sqlx::query(insert)
        .execute(pool)
        .await
        .map(drop))
    .unwrap();
    let keys = crate::common::keys(&db);

    // Act: twice, as two starts would.
    let first = prconfirm_commands::sealing::blind_invited_people(&db, &keys.blind_index)
        .await
        .unwrap();
    let second = prconfirm_commands::sealing::blind_invited_people(&db, &keys.blind_index)
        .await
        .unwrap();

    // Assert
    assert_eq!((first, second), (1, 0));
    let select = "SELECT application_number, uci FROM invited_people WHERE case_id = 'old-case'";
    let (number, uci): (String, String) =
        on_db!(&db, |pool| sqlx::query_as(select).fetch_one(pool).await).unwrap();
    assert_eq!(
        number,
        keys.blind_index
            .application_number_text("E001234567")
            .unwrap()
            .to_hex()
    );
    assert_eq!(uci, keys.blind_index.uci_text("12345678").unwrap().to_hex());
}
