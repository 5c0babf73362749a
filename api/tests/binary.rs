//! The real `prconfirm` binary, started as a user would start it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_prconfirm");

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `prconfirm serve` on the embedded default in `data_dir`, with no DATABASE_URL,
/// and waits (bounded) until it answers.
async fn serve(data_dir: &std::path::Path) -> Server {
    let port = free_port();
    let child = Command::new(BIN)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("PRCONFIRM_DATA_DIR", data_dir)
        .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_ok()
        {
            return server;
        }
        assert!(Instant::now() < deadline, "server did not start in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn serve_on_the_embedded_default_answers_health_and_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;

    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "sqlite");

    assert!(dir.path().join("prconfirm.sqlite").exists());
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path()).await;
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn migrate_creates_the_schema_and_can_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = Command::new(BIN)
            .arg("migrate")
            .env_remove("DATABASE_URL")
            .env("PRCONFIRM_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("prconfirm.sqlite").exists());
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: prconfirm"), "{text}");
    }
}

#[test]
fn a_bad_database_url_fails_with_a_clear_message() {
    let out = Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", "postgres://nobody:hunter2@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connecting to PostgreSQL"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password must not be echoed: {err}"
    );
}

fn staff_add(dir: &std::path::Path, password: &str) -> std::process::Output {
    staff_add_with(dir, "officer.cli", password, &[])
}

fn staff_add_with(
    dir: &std::path::Path,
    username: &str,
    password: &str,
    more: &[&str],
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["staff", "add", "--username", username, "--role", "officer"])
        .arg("--password-stdin")
        .args(more)
        .env_remove("DATABASE_URL")
        .env("PRCONFIRM_DATA_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn staff_add_reads_the_password_from_stdin_and_refuses_a_taken_name_or_weak_password() {
    let dir = tempfile::tempdir().unwrap();
    let weak = staff_add(dir.path(), "short");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));
    let first = staff_add(dir.path(), "a long enough passphrase");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let again = staff_add(dir.path(), "a long enough passphrase");
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("taken"), "{err}");
    assert!(
        !err.contains("passphrase"),
        "the password must not be echoed: {err}"
    );
}

#[test]
fn staff_add_keeps_a_display_name_for_the_officers_signature() {
    let dir = tempfile::tempdir().unwrap();
    let passphrase = "a long enough passphrase";
    let named = staff_add_with(
        dir.path(),
        "officer.named",
        passphrase,
        &["--display-name", "Marie-Ève Tremblay"],
    );
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    let plain = staff_add_with(dir.path(), "officer.plain", passphrase, &[]);
    assert!(plain.status.success());
    let blank = staff_add_with(
        dir.path(),
        "officer.blank",
        passphrase,
        &["--display-name", " "],
    );
    assert!(!blank.status.success(), "a blank name is refused");
    assert!(String::from_utf8_lossy(&blank.stderr).contains("display name"));

    let names = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = prconfirm_migrations::Database::open_sqlite(dir.path(), 1)
            .await
            .unwrap();
        let sql = "SELECT username, display_name FROM accounts ORDER BY username";
        let rows: Vec<(String, Option<String>)> = match &db {
            prconfirm_migrations::Database::Sqlite(pool) => {
                sqlx::query_as(sql).fetch_all(pool).await.unwrap()
            }
            prconfirm_migrations::Database::Postgres(_) => unreachable!(),
        };
        db.close().await;
        rows
    });
    assert_eq!(
        names,
        vec![
            (
                "officer.named".to_owned(),
                Some("Marie-Ève Tremblay".to_owned())
            ),
            ("officer.plain".to_owned(), None),
        ]
    );
}

#[test]
fn a_bad_smtp_url_stops_the_server_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("PRCONFIRM_DATA_DIR", dir.path())
        .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("PRCONFIRM_SMTP_URL", "smtpz://relay:hunter2@127.0.0.1:25")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PRCONFIRM_SMTP_URL"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password must not be echoed: {err}"
    );
}
