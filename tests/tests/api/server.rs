//! The real server on a free port, and an HTTP client that speaks to it like a caller would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use prconfirm_api::cli::Cli;
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_commands::{ActorRole, SystemClock};
use prconfirm_migrations::{on_db, Database};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;

pub const STAFF_PASSWORD: &str = "staff password of some length";

pub struct TestServer {
    pub client: reqwest::Client,
    base: String,
    db: Database,
    mail_dir: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// The server over an open, migrated database, with a fresh data directory.
    pub async fn start(db: Database) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(db, dir).await
    }

    /// The server over a fresh SQLite file.
    pub async fn start_sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_sqlite(dir.path(), 8).await.unwrap();
        db.migrate().await.unwrap();
        Self::start_in(db, dir).await
    }

    async fn spawn(db: Database, dir: &std::path::Path) -> (String, tokio::task::JoinHandle<()>) {
        let data_dir = dir.to_str().unwrap().to_owned();
        // A loaded CI machine may take seconds to project a batch: reads with ?min_version
        // wait up to 8 s here (2 s in production) so tests do not race the runner.
        let cli = Cli::parse_from([
            "prconfirm",
            "--data-dir",
            &data_dir,
            "--min-version-wait-ms",
            "8000",
            "serve",
        ]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = cli.settings.clone();
        let task = tokio::spawn(async move {
            prconfirm_api::startup::serve_on(listener, &settings, db, std::future::pending())
                .await
                .unwrap();
        });
        (base, task)
    }

    async fn start_in(db: Database, dir: tempfile::TempDir) -> Self {
        let (base, task) = Self::spawn(db.clone(), dir.path()).await;
        Self {
            client: reqwest::Client::new(),
            base,
            db,
            mail_dir: dir.path().join("mail"),
            _dir: dir,
            task,
        }
    }

    /// The database, as its owner: for tests that tamper behind the application's back.
    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a JSON request; answers the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn call_if_match(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
        version: u64,
    ) -> StatusCode {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("If-Match", format!("\"{version}\""))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
        content_type: &str,
    ) -> StatusCode {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().await.unwrap().status()
    }

    /// Sends a JSON command with an `Idempotency-Key`; answers status, body and whether it
    /// was a replay.
    pub async fn call_with_key(
        &self,
        method: Method,
        path: &str,
        token: &str,
        key: &str,
        body: &Value,
    ) -> (StatusCode, Value, Option<String>) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            replayed,
        )
    }

    /// Stops this server and starts a new one on the same database and data directory.
    pub async fn restart(&mut self) {
        self.task.abort();
        let (base, task) = Self::spawn(self.db.clone(), self._dir.path()).await;
        self.base = base;
        self.task = task;
    }

    /// Uploads a photo with an `Idempotency-Key`; also answers the `Idempotent-Replayed` header.
    pub async fn upload_with_key(
        &self,
        token: &str,
        bytes: &[u8],
        content_type: &str,
        key: &str,
    ) -> (StatusCode, Value, Option<String>) {
        let response = self
            .client
            .put(self.url("/v1/my/case/photo"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .header("Idempotency-Key", key)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            replayed,
        )
    }

    /// Uploads a photo as the applicant holding `token`.
    pub async fn upload(
        &self,
        token: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .put(self.url("/v1/my/case/photo"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> (StatusCode, Value) {
        let body = serde_json::json!({"username": username, "password": password});
        self.call(Method::POST, "/v1/sessions", None, Some(body))
            .await
    }

    /// Creates a staff account as the operator's CLI would, signs in, answers the token.
    pub async fn staff(&self, username: &str, role: &str) -> String {
        let role = match role {
            "officer" => ActorRole::Officer,
            "auditor" => ActorRole::Auditor,
            _ => ActorRole::Analyst,
        };
        let accounts = Accounts::new(
            self.db.clone(),
            PasswordHasherPool::new().unwrap(),
            std::sync::Arc::new(SystemClock),
        );
        accounts
            .create_staff(username, role, STAFF_PASSWORD.to_owned())
            .await
            .unwrap();
        let (status, session) = self.sign_in(username, STAFF_PASSWORD).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        assert_eq!(session["must_change_password"], false);
        session["token"].as_str().unwrap().to_owned()
    }

    pub async fn officer(&self, username: &str) -> String {
        self.staff(username, "officer").await
    }

    /// An officer account with a display name (`staff add --display-name`), signed in.
    pub async fn officer_named(&self, username: &str, display_name: &str) -> String {
        let accounts = Accounts::new(
            self.db.clone(),
            PasswordHasherPool::new().unwrap(),
            std::sync::Arc::new(SystemClock),
        );
        let name = prconfirm_domain::values::PersonName::parse(display_name).unwrap();
        accounts
            .create_staff_named(
                username,
                ActorRole::Officer,
                STAFF_PASSWORD.to_owned(),
                Some(&name),
            )
            .await
            .unwrap();
        let (status, session) = self.sign_in(username, STAFF_PASSWORD).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        session["token"].as_str().unwrap().to_owned()
    }

    /// The e-mail about event `sequence` of `case_id` once delivered: its header lines and its
    /// body, decoded from quoted-printable as a mail reader would.
    pub async fn mail(&self, case_id: &str, sequence: u64) -> (String, String) {
        let path = self.mail_dir.join(format!("{case_id}-{sequence}.eml"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let (headers, body) = text.split_once("\r\n\r\n").unwrap();
                let body =
                    quoted_printable::decode(body, quoted_printable::ParseMode::Robust).unwrap();
                return (headers.to_owned(), String::from_utf8(body).unwrap());
            }
            assert!(Instant::now() < deadline, "no e-mail {path:?} within 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The rest of the line starting with `prefix` in the e-mail about event `sequence` of
    /// `case_id`, waiting (bounded) for the mail pipeline to deliver it.
    pub async fn mail_line(&self, case_id: &str, sequence: u32, prefix: &str) -> String {
        let path = self.mail_dir.join(format!("{case_id}-{sequence}.eml"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let line = text
                    .lines()
                    .find_map(|l| l.strip_prefix(prefix))
                    .unwrap_or_else(|| panic!("no line {prefix:?} in {text}"));
                return line.trim_end().to_owned();
            }
            assert!(Instant::now() < deadline, "no e-mail {path:?} within 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Messages whose body (and so any secret in it) is still in the outbox.
    pub async fn outbox_bodies_left(&self) -> i64 {
        let sql = "SELECT count(*) FROM mail_outbox WHERE body IS NOT NULL";
        on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await)
        .unwrap()
    }

    pub async fn count_events(&self) -> i64 {
        let sql = "SELECT count(*) FROM events";
        on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await)
        .unwrap()
    }
}
