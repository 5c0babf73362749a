//! What several instances on one log must share: the audit key. An instance holding a key of
//! its own would sign checkpoints that the others' `audit verify` refuses ("signed by another
//! key"), so a server refuses to start when the log's checkpoints were signed by a key it
//! does not hold, and says which setting to fix.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::server::TestServer;

on_both_backends!(a_server_whose_audit_key_did_not_sign_the_log_refuses_to_start,);

/// Starts `command` as `prconfirm serve` on a free port; answers its exit and standard
/// error if it stopped, or `None` (after stopping it) once it serves; panics if it does
/// neither within 30 s. Never blocks the test's runtime: the first instance serves on it
/// (on PostgreSQL, a runtime of one thread), and a stalled first instance would hold the
/// locks the second one waits for.
pub(crate) async fn serve_briefly(mut command: Command) -> Option<(bool, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = command
        .arg("serve")
        .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // The port is bound before the start-up checks: only an answer proves it serves.
    let health = format!("http://127.0.0.1:{port}/healthz");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some((
                status.success(),
                std::fs::read_to_string(log.path()).unwrap(),
            ));
        }
        let served = reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
        if served || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            assert!(served, "neither served nor stopped within 30 s");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_server_whose_audit_key_did_not_sign_the_log_refuses_to_start(server: TestServer) {
    // Arrange: the first instance's log holds an event and a checkpoint signed by its key.
    let officer = server.officer("officer.a").await;
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/cases",
            Some(&officer),
            Some(crate::invite_body("12345678", "Ana", "ana@example.ca")),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    // On PostgreSQL the feed holds an event back while an older transaction of the cluster
    // is open (other tests'): sign until the checkpoint covers it (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        server.cli(&["audit", "checkpoint"]).await;
        let sql = "SELECT count(*) FROM audit_checkpoints";
        let signed: i64 = prconfirm_migrations::on_db!(server.db(), |pool| {
            sqlx::query_scalar(sql).fetch_one(pool).await
        })
        .unwrap();
        if signed > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint signed in 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let keys = tempfile::tempdir().unwrap();
    let other = keys.path().join("other-instance.key");
    // A second instance with a data directory of its own (PostgreSQL); on SQLite the log
    // lives in the data directory, so only the key's setting differs.
    let second = || async {
        let mut command = server.binary().await;
        command.env("PRCONFIRM_AUDIT_KEY", &other);
        // The first instance's personal-data keys, which every instance must share.
        command
            .env(
                "PRCONFIRM_KEK_FILE",
                prconfirm_commands::privacy::kek::default_key_path(server.data_dir()),
            )
            .env(
                "PRCONFIRM_BLIND_INDEX_KEY",
                prconfirm_commands::privacy::blind::default_key_path(server.data_dir()),
            );
        if matches!(server.db(), prconfirm_migrations::Database::Postgres(_)) {
            command.env("PRCONFIRM_DATA_DIR", keys.path().join("data"));
        }
        command
    };

    // Act and assert: without a key, it refuses, names the setting, and makes no key.
    let (ok, log) = serve_briefly(second().await)
        .await
        .expect("it must not serve without the key");
    assert!(!ok, "{log}");
    assert!(log.contains("PRCONFIRM_AUDIT_KEY"), "{log}");
    assert!(!other.exists(), "a key nobody can use was created");

    // With a key of its own (what it made for itself before this check), likewise.
    let own = prconfirm_commands::audit::AuditKey::load_or_create(&other).unwrap();
    let (ok, log) = serve_briefly(second().await)
        .await
        .expect("it must not serve with another key");
    assert!(!ok, "{log}");
    assert!(log.contains("PRCONFIRM_AUDIT_KEY"), "{log}");
    assert!(
        log.contains(&own.public_key_hex()),
        "names its own key: {log}"
    );

    // With the first instance's key file, it serves.
    let shared = prconfirm_commands::audit::keys::default_key_path(server.data_dir());
    let mut command = second().await;
    command.env("PRCONFIRM_AUDIT_KEY", &shared);
    assert_eq!(
        serve_briefly(command).await,
        None,
        "the shared key must serve"
    );
}
