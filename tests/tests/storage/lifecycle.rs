//! The case lifecycle through `CaseService` on a real store: every stage, the metadata on
//! every event, lost races, refusals that write nothing, snapshots and upcasting.

use chrono::Duration;
use prconfirm_commands::audit::chain::{event_hash, stamp, ChainHash, EventFields, StoredLink};
use prconfirm_commands::{CaseService, CommandError, RequestMeta};
use prconfirm_domain::case::{
    CaseCommand, CaseError, CaseEvent, PhotoState, Stage, StageName, UploadedPhoto,
};
use prconfirm_domain::photo_quality::QualityFlag;
use prconfirm_domain::values::{ActorId, Text};
use prconfirm_migrations::Database;
use serde_json::Value;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(
    a_family_of_two_goes_from_invitation_to_mailed_cards,
    every_event_carries_who_why_and_when,
    a_refused_command_writes_nothing,
    two_commands_racing_on_one_case_let_exactly_one_win,
    commands_on_an_unknown_case_are_not_found,
    snapshots_load_the_same_case_as_a_full_replay,
    an_address_stored_in_its_first_shape_still_loads,
    a_photo_stored_before_the_pre_check_still_loads,
    ecopr_document_numbers_are_unique,
);

/// Drives one case from invitation to the mailed card; returns its id.
pub(crate) async fn full_path(
    service: &CaseService,
    file_uci: &str,
    given: &str,
    user: &str,
) -> String {
    let o = officer("officer.tremblay");
    let a = applicant(user);
    let invited = service
        .invite(file("E001234567", file_uci, given), respond_by(), &o)
        .await
        .unwrap();
    assert_eq!(invited.version, 1);
    let id = invited.case_id;
    let run = |cmd: CaseCommand, meta: RequestMeta| {
        let id = id.clone();
        async move { service.execute(&id, cmd, &meta).await.unwrap() }
    };
    run(CaseCommand::AcceptInvitation, system()).await;
    run(
        CaseCommand::CreateAccount {
            username: ActorId::parse(user).unwrap(),
            temporary_password_expires_at: start() + Duration::hours(72),
        },
        system(),
    )
    .await;
    run(CaseCommand::ChangePassword, a.clone()).await;
    run(CaseCommand::DeclarePresence { in_canada: true }, a.clone()).await;
    run(
        CaseCommand::ConfirmAddress {
            residential: address(),
            mailing: None,
        },
        a.clone(),
    )
    .await;
    // The first photo is flagged by the pre-check and returned; the second is clean.
    run(
        CaseCommand::UploadPhoto {
            photo: photo(1),
            quality: flagged_quality(&[QualityFlag::Glare]),
        },
        a.clone(),
    )
    .await;
    run(
        CaseCommand::ReturnPhoto {
            reason: prconfirm_domain::case::ReturnReason::TooDark,
            note: None,
        },
        o.clone(),
    )
    .await;
    run(
        CaseCommand::UploadPhoto {
            photo: photo(2),
            quality: good_quality(),
        },
        a.clone(),
    )
    .await;
    let accepted = run(CaseCommand::AcceptPhoto, o.clone()).await;
    assert_eq!(accepted.version, 10);
    let granted = service.grant(&id, &o).await.unwrap();
    assert_eq!(granted.version, 12, "grant records PR and the eCoPR");
    assert!(matches!(granted.events[1], CaseEvent::EcoprIssued { .. }));
    run(CaseCommand::OrderPrCard, system()).await;
    let mailed = run(CaseCommand::RecordPrCardMailed, system()).await;
    assert_eq!(mailed.version, 14);
    id
}

async fn a_family_of_two_goes_from_invitation_to_mailed_cards(db: Database) {
    let (service, _clock) = service(&db, 5);
    let parent = full_path(&service, "11112222", "Élise", "a-elise").await;
    let child = full_path(&service, "3333444455", "Noé", "a-noe").await;
    assert_ne!(parent, child);
    for id in [&parent, &child] {
        let loaded = service.load(id).await.unwrap().unwrap();
        assert_eq!(loaded.version, 14);
        assert_eq!(loaded.case.stage.name(), StageName::CardMailed);
        let granted = loaded.case.stage.granted().unwrap();
        assert_eq!(granted.photo, Some(photo(2)));
        let file = loaded.case.file.unwrap();
        assert_eq!(file.application_number.as_str(), "E001234567");
    }
    let history = service.history(&parent).await.unwrap();
    let types: Vec<&str> = history.iter().map(|e| e.payload.name()).collect();
    assert_eq!(
        types,
        [
            "Invited",
            "InvitationAccepted",
            "AccountCreated",
            "PasswordChanged",
            "PresenceDeclared",
            "AddressConfirmed",
            "PhotoUploaded",
            "PhotoReturned",
            "PhotoUploaded",
            "PhotoAccepted",
            "PermanentResidenceGranted",
            "EcoprIssued",
            "PrCardOrdered",
            "PrCardMailed"
        ]
    );
    // The pre-check's flags and measurements come back from storage as they were recorded.
    let uploads: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.payload {
            CaseEvent::PhotoUploaded {
                quality_flags,
                quality_measurements,
                ..
            } => Some((quality_flags.clone(), *quality_measurements)),
            _ => None,
        })
        .collect();
    let measured = Some(good_quality().measurements);
    assert_eq!(
        uploads,
        [(vec![QualityFlag::Glare], measured), (vec![], measured)]
    );
}

async fn every_event_carries_who_why_and_when(db: Database) {
    let (service, clock) = service(&db, 0);
    let mut meta = officer("officer.roy");
    meta.idempotency_key = Some("key-123".into());
    let invited = service
        .invite(file("E000000001", "12345678", "Ana"), respond_by(), &meta)
        .await
        .unwrap();
    clock.advance(Duration::minutes(5));
    let claim = service
        .execute(
            &invited.case_id,
            CaseCommand::Claim {
                until: start() + Duration::hours(1),
            },
            &officer("officer.roy"),
        )
        .await
        .unwrap();
    assert_eq!(claim.version, 2);
    let history = service.history(&invited.case_id).await.unwrap();
    let first = &history[0].metadata;
    assert_eq!(first["actor_id"], "officer.roy");
    assert_eq!(first["actor_role"], "officer");
    assert_eq!(first["correlation_id"], meta.correlation_id.to_string());
    assert_eq!(first["command"], "Invite");
    assert_eq!(first["occurred_at"], "2026-06-01T14:00:00.000000Z");
    assert_eq!(first["idempotency_key"], "key-123");
    let second = &history[1].metadata;
    assert_eq!(second["command"], "Claim");
    assert_eq!(second["occurred_at"], "2026-06-01T14:05:00.000000Z");
    assert!(!second.contains_key("idempotency_key"));
    assert_ne!(first["causation_id"], second["causation_id"]);
    assert_ne!(first["correlation_id"], second["correlation_id"]);
}

async fn a_refused_command_writes_nothing(db: Database) {
    let (service, _clock) = service(&db, 0);
    let invited = invite(&service, "E000000002", "12345678").await;
    let refused = service
        .execute(
            &invited.case_id,
            CaseCommand::UploadPhoto {
                photo: photo(1),
                quality: good_quality(),
            },
            &applicant("a-ana"),
        )
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Rejected(CaseError::InvalidTransition {
            command: "UploadPhoto",
            stage: StageName::Invited
        }))
    ));
    assert_eq!(service.history(&invited.case_id).await.unwrap().len(), 1);
    assert_eq!(
        service
            .load(&invited.case_id)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

async fn two_commands_racing_on_one_case_let_exactly_one_win(db: Database) {
    let (service, _clock) = service(&db, 0);
    let service = std::sync::Arc::new(service);
    let invited = invite(&service, "E000000003", "12345678").await;
    // Many officers try to claim the same case at once: the log must end with exactly one
    // claim per surviving command, and every loser must see a conflict or the winner's claim.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let service = service.clone();
        let id = invited.case_id.clone();
        tasks.push(tokio::spawn(async move {
            service
                .execute(
                    &id,
                    CaseCommand::Claim {
                        until: start() + Duration::hours(1),
                    },
                    &officer(&format!("officer.{i}")),
                )
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(c) => {
                won += 1;
                assert_eq!(c.version, 2);
            }
            Err(CommandError::Conflict) => {}
            Err(CommandError::Rejected(CaseError::ClaimedByAnother { .. })) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one officer holds the case");
    assert_eq!(service.history(&invited.case_id).await.unwrap().len(), 2);
}

async fn commands_on_an_unknown_case_are_not_found(db: Database) {
    let (service, _clock) = service(&db, 0);
    let outcome = service
        .execute("no-such-case", CaseCommand::AcceptInvitation, &system())
        .await;
    assert!(matches!(outcome, Err(CommandError::NotFound(id)) if id == "no-such-case"));
    assert_eq!(service.load("no-such-case").await.unwrap(), None);
}

async fn snapshots_load_the_same_case_as_a_full_replay(db: Database) {
    let (snapshotting, _c) = service(&db, 2);
    let id = full_path(&snapshotting, "12345678", "Ana", "a-ana").await;
    let table_rows: i64 = match &db {
        Database::Postgres(p) => sqlx::query_scalar("SELECT count(*) FROM snapshots")
            .fetch_one(p)
            .await
            .unwrap(),
        Database::Sqlite(p) => sqlx::query_scalar("SELECT count(*) FROM snapshots")
            .fetch_one(p)
            .await
            .unwrap(),
    };
    assert_eq!(table_rows, 1, "one snapshot row per case, updated in place");
    // Events applied after the last snapshot, including ones whose apply is not idempotent
    // (an amendment moves the old number to the superseded list).
    snapshotting
        .execute(
            &id,
            CaseCommand::RequestAmendment {
                details: Text::parse("given name misspelt").unwrap(),
            },
            &applicant("a-ana"),
        )
        .await
        .unwrap();
    let amended = snapshotting
        .execute(
            &id,
            CaseCommand::AmendEcopr {
                document_number: prconfirm_domain::values::DocumentNumber::from_serial(999_999),
                correction: Text::parse("given name corrected").unwrap(),
            },
            &officer("officer.tremblay"),
        )
        .await
        .unwrap();
    assert_eq!(amended.version, 16, "a snapshot is due at 16");
    let (replaying, _c) = service(&db, 0);
    let from_snapshot = snapshotting.load(&id).await.unwrap().unwrap();
    assert_eq!(
        Some(from_snapshot.clone()),
        replaying.load(&id).await.unwrap()
    );
    let ecopr = from_snapshot
        .case
        .stage
        .granted()
        .unwrap()
        .ecopr
        .clone()
        .unwrap();
    assert_eq!(ecopr.superseded.len(), 1, "{ecopr:?}");
}

async fn an_address_stored_in_its_first_shape_still_loads(db: Database) {
    let (service, _clock) = service(&db, 0);
    let invited = invite(&service, "E000000004", "12345678").await;
    let id = invited.case_id.clone();
    for cmd in [CaseCommand::AcceptInvitation] {
        service.execute(&id, cmd, &system()).await.unwrap();
    }
    service
        .execute(
            &id,
            CaseCommand::CreateAccount {
                username: ActorId::parse("a-ana").unwrap(),
                temporary_password_expires_at: start() + Duration::hours(1),
            },
            &system(),
        )
        .await
        .unwrap();
    service
        .execute(&id, CaseCommand::ChangePassword, &applicant("a-ana"))
        .await
        .unwrap();
    // An AddressConfirmed as the first release wrote it: version 1.0, one `address`.
    let payload = serde_json::json!({"AddressConfirmed": {
        "address": {"line1": "1 Main St", "city": "Ottawa", "province": "ON", "postal_code": "K1A 0B1"},
        "at": "2026-06-01T14:00:00Z"
    }});
    let metadata = serde_json::json!({"actor_id": "a-ana", "actor_role": "applicant"});
    insert_raw(&db, &id, 5, "AddressConfirmed", "1.0", &payload, &metadata).await;
    let loaded = service.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 5);
    let Stage::Confirming(progress) = loaded.case.stage else {
        panic!("stage {:?}", loaded.case.stage)
    };
    let addresses = progress.address.expect("address upcast from 1.0");
    assert_eq!(addresses.residential.city(), "Ottawa");
    assert_eq!(addresses.mailing, None);
    assert_eq!(progress.photo, PhotoState::Missing);
    // And the case keeps working on top of the old event.
    service
        .execute(
            &id,
            CaseCommand::Withdraw {
                reason: Text::parse("moved").unwrap(),
            },
            &applicant("a-ana"),
        )
        .await
        .unwrap();
}

async fn a_photo_stored_before_the_pre_check_still_loads(db: Database) {
    let (service, _clock) = service(&db, 0);
    let id = invite(&service, "E000000005", "12345678").await.case_id;
    service
        .execute(&id, CaseCommand::AcceptInvitation, &system())
        .await
        .unwrap();
    service
        .execute(
            &id,
            CaseCommand::CreateAccount {
                username: ActorId::parse("a-ana").unwrap(),
                temporary_password_expires_at: start() + Duration::hours(1),
            },
            &system(),
        )
        .await
        .unwrap();
    service
        .execute(&id, CaseCommand::ChangePassword, &applicant("a-ana"))
        .await
        .unwrap();
    // A PhotoUploaded as the first release wrote it: version 1.0, no pre-check.
    let payload = serde_json::json!({"PhotoUploaded": {
        "photo": {"sha256": "03".repeat(32), "format": "jpeg", "width": 1200, "height": 1680, "bytes": 812345},
        "at": "2026-06-01T14:00:00Z"
    }});
    let metadata = serde_json::json!({"actor_id": "a-ana", "actor_role": "applicant"});
    insert_raw(&db, &id, 5, "PhotoUploaded", "1.0", &payload, &metadata).await;
    let loaded = service.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 5);
    let Stage::Confirming(progress) = &loaded.case.stage else {
        panic!("stage {:?}", loaded.case.stage)
    };
    assert_eq!(
        progress.photo,
        PhotoState::AwaitingReview(UploadedPhoto {
            reference: photo(3),
            quality_flags: vec![],
        })
    );
    let history = service.history(&id).await.unwrap();
    assert!(matches!(
        &history[4].payload,
        CaseEvent::PhotoUploaded {
            quality_measurements: None,
            ..
        }
    ));
    // And an officer can review it as any other.
    service
        .execute(&id, CaseCommand::AcceptPhoto, &officer("officer.a"))
        .await
        .unwrap();
}

async fn ecopr_document_numbers_are_unique(db: Database) {
    let (service, _clock) = service(&db, 0);
    let a = full_path(&service, "12345678", "Ana", "a-ana").await;
    let b = full_path(&service, "87654321", "Bo", "a-bo").await;
    let number = |id: String| {
        let service = &service;
        async move {
            let case = service.load(&id).await.unwrap().unwrap().case;
            let granted = case.stage.granted().cloned().unwrap();
            granted.ecopr.unwrap().document_number
        }
    };
    assert_ne!(number(a).await, number(b).await);
}

/// Writes an event row directly, as an older release of the service would have (one that
/// already chained its events: the row carries its link).
pub async fn insert_raw(
    db: &Database,
    id: &str,
    sequence: i64,
    event_type: &str,
    version: &str,
    payload: &Value,
    metadata: &Value,
) {
    let prev = if sequence == 1 {
        ChainHash::ZERO
    } else {
        stored_link(db, id, sequence - 1).await.hash
    };
    let mut metadata = metadata.clone();
    let hash = event_hash(
        &prev,
        &EventFields {
            aggregate_type: "case",
            aggregate_id: id,
            sequence,
            event_type,
            event_version: version,
            payload,
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
    let metadata = &metadata;
    const SQL: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                       event_version, payload, metadata) VALUES ('case', $1, $2, $3, $4, $5, $6)";
    match db {
        Database::Postgres(pool) => {
            sqlx::query(SQL)
                .bind(id)
                .bind(sequence)
                .bind(event_type)
                .bind(version)
                .bind(payload)
                .bind(metadata)
                .execute(pool)
                .await
                .unwrap();
        }
        Database::Sqlite(pool) => {
            sqlx::query(SQL)
                .bind(id)
                .bind(sequence)
                .bind(event_type)
                .bind(version)
                .bind(payload.to_string())
                .bind(metadata.to_string())
                .execute(pool)
                .await
                .unwrap();
        }
    }
}
