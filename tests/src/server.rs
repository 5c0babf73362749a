//! The real server on a free port, and an HTTP client that speaks to it like a caller would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prconfirm_api::settings::Settings;
use prconfirm_commands::accounts::mfa::{self, MfaKey};
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_commands::{ActorRole, SystemClock};
use prconfirm_migrations::{on_db, Database};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;

pub const STAFF_PASSWORD: &str = "staff password of some length";

#[derive(Debug)]
pub struct TestServer {
    pub client: reqwest::Client,
    base: String,
    db: Database,
    mail_dir: PathBuf,
    _dir: tempfile::TempDir,
    running: Running,
    /// Extra command-line settings the server was started with.
    args: Vec<String>,
}

/// How the server under test runs: in this process, or as the real binary.
#[derive(Debug)]
enum Running {
    Task(tokio::task::JoinHandle<()>),
    Process { child: Child, log: PathBuf },
}

impl Drop for TestServer {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Task(task) => task.abort(),
            Running::Process { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Where a test's server keeps its data: PostgreSQL (a throwaway database from
/// `#[sqlx::test]`) or a fresh SQLite file. For tests that start the server their own way.
#[derive(Debug)]
pub enum TestDb {
    Postgres(sqlx::PgPool),
    Sqlite,
}

impl TestDb {
    /// The server in this process, with extra settings (`["--smtp-url", "..."]`).
    pub async fn serve(self, args: &[&str]) -> TestServer {
        let (db, dir) = self.open().await;
        TestServer::start_in(db, dir, args).await
    }

    /// The real binary, with extra environment variables; its standard error is kept for
    /// [`TestServer::logs`].
    pub async fn serve_binary(self, env: &[(&str, &str)]) -> TestServer {
        let url = match &self {
            Self::Postgres(pool) => Some(database_url(pool).await),
            Self::Sqlite => None,
        };
        let (db, dir) = self.open().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("server.log");
        let mut command = Command::new(crate::binary());
        command
            .arg("serve")
            .env("PRCONFIRM_DATA_DIR", dir.path())
            .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{port}"))
            .env("PRCONFIRM_MIN_VERSION_WAIT_MS", "8000")
            .env_remove("PRCONFIRM_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        match url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        let child = command.spawn().unwrap();
        let server = TestServer {
            client: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
            db,
            mail_dir: dir.path().join("mail"),
            _dir: dir,
            running: Running::Process { child, log },
            args: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the binary did not answer in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    async fn open(self) -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = match self {
            Self::Postgres(pool) => Database::Postgres(pool),
            Self::Sqlite => {
                let db = Database::open_sqlite(dir.path(), 8).await.unwrap();
                db.migrate().await.unwrap();
                db
            }
        };
        (db, dir)
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl TestServer {
    /// The server over an open, migrated database, with a fresh data directory.
    pub async fn start(db: Database) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(db, dir, &[]).await
    }

    /// The server over a fresh SQLite file.
    pub async fn start_sqlite() -> Self {
        TestDb::Sqlite.serve(&[]).await
    }

    async fn spawn(
        db: Database,
        dir: &std::path::Path,
        args: &[String],
    ) -> (String, tokio::task::JoinHandle<()>) {
        let data_dir = dir.to_str().unwrap().to_owned();
        // A loaded CI machine may take seconds to project a batch: reads with ?min_version
        // wait up to 8 s here (2 s in production) so tests do not race the runner.
        let mut argv: Vec<String> = ["--data-dir", &data_dir, "--min-version-wait-ms", "8000"]
            .map(str::to_owned)
            .to_vec();
        argv.extend(args.iter().cloned());
        let settings = Settings::from_args(argv).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            prconfirm_api::startup::serve_on(listener, &settings, db, std::future::pending())
                .await
                .unwrap();
        });
        (base, task)
    }

    async fn start_in(db: Database, dir: tempfile::TempDir, args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let (base, task) = Self::spawn(db.clone(), dir.path(), &args).await;
        Self {
            client: reqwest::Client::new(),
            base,
            db,
            mail_dir: dir.path().join("mail"),
            _dir: dir,
            running: Running::Task(task),
            args,
        }
    }

    /// Everything the server wrote to its standard error so far (binary only).
    pub fn logs(&self) -> String {
        match &self.running {
            Running::Process { log, .. } => std::fs::read_to_string(log).unwrap(),
            Running::Task(_) => panic!("only the binary's logs are kept"),
        }
    }

    /// Stops the binary (SIGTERM, then waits), so that its log is complete.
    pub async fn stop(&mut self) {
        if let Running::Process { child, .. } = &mut self.running {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "still running 10 s after SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Where the server writes e-mail when no SMTP relay is set.
    pub fn mail_dir(&self) -> &std::path::Path {
        &self.mail_dir
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
        keyed_answer(response).await
    }

    /// Stops this server and starts a new one on the same database and data directory.
    pub async fn restart(&mut self) {
        let args = self.args.clone();
        self.restart_with(&args).await;
    }

    /// Drops this server's task (its background work ends where it stands, as in a crash of
    /// the process) and starts a new one on the same storage with other settings.
    pub async fn restart_with(&mut self, args: &[String]) {
        let Running::Task(task) = &self.running else {
            panic!("restart runs the server in this process");
        };
        task.abort();
        self.args = args.to_vec();
        let (base, task) = Self::spawn(self.db.clone(), self._dir.path(), &self.args).await;
        self.base = base;
        self.running = Running::Task(task);
    }

    /// Accepts the invitation with `code`, as the applicant's portal does (no session).
    pub async fn accept(&self, code: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/v1/invitations/{code}/acceptance"),
            None,
            None,
        )
        .await
    }

    /// Runs the real binary's command line (`prconfirm ARGS`) on this server's storage, as an
    /// operator would; answers its standard output.
    pub async fn cli(&self, args: &[&str]) -> String {
        self.cli_with_input(args, "").await
    }

    /// Runs the real binary's CLI on this server's database and data directory, with
    /// `input` on its standard input; answers its standard output and asserts it succeeded.
    pub async fn cli_with_input(&self, args: &[&str], input: &str) -> String {
        crate::run_cli(self.binary().await, args, input)
    }

    /// The real binary, set to this server's database and data directory (its log at
    /// `warn`): another instance on the same storage, or the operator's command line.
    pub async fn binary(&self) -> Command {
        let mut command = Command::new(crate::binary());
        command
            .env("PRCONFIRM_DATA_DIR", self._dir.path())
            .env("PRCONFIRM_LOG", "warn");
        match &self.db {
            Database::Postgres(pool) => {
                command.env("DATABASE_URL", database_url(pool).await);
            }
            Database::Sqlite(_) => {
                command.env_remove("DATABASE_URL");
            }
        }
        command
    }

    /// This server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
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
        keyed_answer(response).await
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

    /// Signs a staff member in with the code their authenticator shows now (`uri`: the
    /// enrolment `staff add` printed).
    pub async fn sign_in_staff(
        &self,
        username: &str,
        password: &str,
        uri: &str,
    ) -> (StatusCode, Value) {
        let otp = mfa::code_for(uri, chrono::Utc::now()).unwrap();
        let body = serde_json::json!({"username": username, "password": password, "otp": otp});
        self.call(Method::POST, "/v1/sessions", None, Some(body))
            .await
    }

    /// The server's credential store, as the operator's CLI opens it (the same database and
    /// second-factor key).
    pub fn accounts(&self) -> Accounts {
        let key = MfaKey::load_or_create(&mfa::default_key_path(self._dir.path())).unwrap();
        Accounts::new(
            self.db.clone(),
            PasswordHasherPool::new().unwrap(),
            std::sync::Arc::new(SystemClock),
            key,
        )
    }

    /// Creates a staff account as the operator's CLI would; answers its enrolment URI.
    pub async fn enrol_staff(&self, username: &str, role: &str) -> String {
        let role = match role {
            "officer" => ActorRole::Officer,
            "auditor" => ActorRole::Auditor,
            _ => ActorRole::Analyst,
        };
        let enrolment = self
            .accounts()
            .create_staff(username, role, STAFF_PASSWORD.to_owned())
            .await
            .unwrap();
        enrolment.uri().to_owned()
    }

    /// Creates a staff account as the operator's CLI would, signs in with its password and
    /// one-time code, answers the token.
    pub async fn staff(&self, username: &str, role: &str) -> String {
        let uri = self.enrol_staff(username, role).await;
        let (status, session) = self.sign_in_staff(username, STAFF_PASSWORD, &uri).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        assert_eq!(session["must_change_password"], false);
        session["token"].as_str().unwrap().to_owned()
    }

    pub async fn officer(&self, username: &str) -> String {
        self.staff(username, "officer").await
    }

    /// An officer account with a display name (`staff add --display-name`), signed in.
    pub async fn officer_named(&self, username: &str, display_name: &str) -> String {
        let name = prconfirm_domain::values::PersonName::parse(display_name).unwrap();
        let enrolment = self
            .accounts()
            .create_staff_named(
                username,
                ActorRole::Officer,
                STAFF_PASSWORD.to_owned(),
                Some(&name),
            )
            .await
            .unwrap();
        let (status, session) = self
            .sign_in_staff(username, STAFF_PASSWORD, enrolment.uri())
            .await;
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

/// A keyed command's answer: its status, its JSON body (Null if none) and whether it was an
/// idempotent replay (`Idempotent-Replayed`).
async fn keyed_answer(response: reqwest::Response) -> (StatusCode, Value, Option<String>) {
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

/// The URL the real binary reaches the test database at: `DATABASE_URL`'s cluster, the
/// pool's database.
async fn database_url(pool: &sqlx::PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    with_database(&server, &name)
}
