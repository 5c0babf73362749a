//! `prconfirm audit ...` as an operator runs it, on the embedded SQLite default: sign and
//! export checkpoints, verify, export events, and fail loudly, naming the first bad event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use prconfirm_commands::privacy::PrivacyKeys;
use prconfirm_commands::{
    Actor, ActorRole, CaseService, ManualClock, RequestMeta, ServiceSettings,
};
use prconfirm_domain::values::ActorId;
use prconfirm_migrations::Database;

const BIN: &str = env!("CARGO_BIN_EXE_prconfirm");

fn prconfirm(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("PRCONFIRM_AUDIT_KEY")
        .env("PRCONFIRM_DATA_DIR", dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `cases` invited cases into the SQLite file of `dir`; returns their ids.
async fn write_cases(dir: &Path, cases: usize) -> Vec<String> {
    let db = Database::open_sqlite(dir, 2).await.unwrap();
    db.migrate().await.unwrap();
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 14, 0, 0).unwrap();
    let service = CaseService::new(
        db.clone(),
        ServiceSettings::default(),
        Arc::new(ManualClock::new(start)),
        &PrivacyKeys::in_data_dir(&db, dir).unwrap(),
    );
    let officer = RequestMeta::new(Actor::new(
        ActorId::parse("officer.a").unwrap(),
        ActorRole::Officer,
    ));
    let mut ids = Vec::new();
    for i in 0..cases {
        let file =
            prconfirm_domain::fixtures::case_file("E000000001", &format!("1000000{i}"), "Ana");
        let invited = service
            .invite(file, start + chrono::Duration::days(30), &officer)
            .await
            .unwrap();
        ids.push(invited.case_id);
    }
    db.close().await;
    ids
}

/// Runs SQL on the SQLite file as its owner, with the append-only triggers dropped.
async fn tamper(dir: &Path, sql: &str) {
    let db = Database::open_sqlite(dir, 1).await.unwrap();
    let Database::Sqlite(pool) = &db else {
        unreachable!()
    };
    sqlx::raw_sql(
        "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(sql).execute(pool).await.unwrap();
    db.close().await;
}

#[tokio::test]
async fn an_operator_signs_exports_and_verifies_and_a_deleted_event_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_cases(dir.path(), 3).await;

    let signed = prconfirm(dir.path(), &["audit", "checkpoint"]);
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let checkpoint: serde_json::Value = serde_json::from_slice(&signed.stdout).unwrap();
    assert_eq!(checkpoint["count"], 3);
    let key = dir.path().join("keys").join("audit-ed25519.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let public = std::fs::read_to_string(dir.path().join("keys/audit-ed25519.key.pub")).unwrap();
    assert_eq!(checkpoint["public_key"], public.trim());

    let exported = prconfirm(
        dir.path(),
        &["audit", "checkpoints", "export", "--out", "cp.jsonl"],
    );
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let lines = std::fs::read_to_string(dir.path().join("cp.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1);

    let events = prconfirm(
        dir.path(),
        &[
            "audit",
            "export",
            "--out",
            "events.jsonl",
            "--case",
            &ids[1],
        ],
    );
    assert!(events.status.success(), "{}", text(&events.stderr));
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert_eq!(events.lines().count(), 1);
    assert!(events.contains(&ids[1]));

    let verified = prconfirm(
        dir.path(),
        &["audit", "verify", "--checkpoints", "cp.jsonl"],
    );
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["events_checked"], 3);
    assert_eq!(report["checkpoints_checked"], 1);

    // The newest event goes, and with it the stored checkpoint's count no longer holds.
    tamper(
        dir.path(),
        "DELETE FROM events WHERE position = (SELECT max(position) FROM events)",
    )
    .await;
    let failed = prconfirm(
        dir.path(),
        &["audit", "verify", "--checkpoints", "cp.jsonl"],
    );
    assert!(!failed.status.success());
    let report: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report["verified"], false);
    assert_eq!(report["first_bad"]["reason"]["code"], "checkpoint_mismatch");
    let err = text(&failed.stderr);
    assert!(err.contains("checkpoint at position"), "{err}");
    assert!(err.contains("events are missing"), "{err}");
}

#[tokio::test]
async fn a_changed_event_is_named_by_case_sequence_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_cases(dir.path(), 2).await;
    tamper(
        dir.path(),
        // The answer date: the person's fields are sealed, and a changed byte of theirs
        // would fail to open before the chain's check.
        "UPDATE events SET payload = replace(payload, '\"respond_by\":\"20', '\"respond_by\":\"21') \
         WHERE sequence = 1 AND position = (SELECT max(position) FROM events)",
    )
    .await;
    let failed = prconfirm(dir.path(), &["audit", "verify"]);
    assert!(!failed.status.success());
    let report: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report["first_bad"]["case"], ids[1].as_str());
    assert_eq!(report["first_bad"]["sequence"], 1);
    assert_eq!(report["first_bad"]["reason"]["code"], "hash_mismatch");
    let err = text(&failed.stderr);
    assert!(
        err.contains(&format!("case {}, event 1, position 2", ids[1])),
        "{err}"
    );
}

#[test]
fn every_audit_command_has_help() {
    for args in [
        &["audit", "--help"][..],
        &["audit", "verify", "--help"],
        &["audit", "export", "--help"],
        &["audit", "checkpoint", "--help"],
        &["audit", "checkpoints", "export", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: prconfirm audit"));
    }
}

#[tokio::test]
async fn the_server_signs_checkpoints_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    write_cases(dir.path(), 2).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(BIN)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("PRCONFIRM_AUDIT_KEY")
        .env("PRCONFIRM_DATA_DIR", dir.path())
        .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{port}"))
        .env("PRCONFIRM_AUDIT_CHECKPOINT_SECS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = Database::open_sqlite(dir.path(), 1).await.unwrap();
    let Database::Sqlite(pool) = &db else {
        unreachable!()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let count = loop {
        let count: Option<i64> = sqlx::query_scalar("SELECT max(count) FROM audit_checkpoints")
            .fetch_one(pool)
            .await
            .unwrap_or(None);
        if count.is_some() || std::time::Instant::now() > deadline {
            break count;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    server.kill().unwrap();
    server.wait().unwrap();
    db.close().await;
    assert_eq!(count, Some(2), "no checkpoint signed within 30 s");
}
