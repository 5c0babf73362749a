//! What every drill starts and drives: the real binary (`prconfirm serve` with its own data
//! directory and port, killed or stopped as the drill says), its storage (a SQLite file, or
//! a scratch database on a PostgreSQL cluster: the one `DATABASE_URL` names or a throwaway
//! cluster of the drill's own, [`Cluster`]), its command line, and an HTTP client that signs
//! staff in with their one-time codes and walks applicants in, as the black-box tests do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use prconfirm_migrations::{on_db, Database};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The password every drill's staff and applicants use.
pub const PASSWORD: &str = "drill password of some length";

pub use crate::binary;

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Which backend a drill runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// One drill's storage: a data directory (blobs, mail, and SQLite's file) and, on
/// PostgreSQL, a scratch database dropped at the end. Keys live apart from the data
/// directories, so that several instances can share them as production must.
#[derive(Debug)]
pub struct Store {
    pub root: tempfile::TempDir,
    /// The scratch database's URL (PostgreSQL), and the cluster's for dropping it.
    pub url: Option<(String, String)>,
    db: Option<Database>,
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Store {
    /// A fresh store on `backend`; PostgreSQL in the cluster at `cluster_url`.
    ///
    /// # Errors
    /// If the scratch database cannot be made or migrated.
    pub async fn new(backend: Backend, cluster_url: Option<&str>) -> anyhow::Result<Self> {
        let mut store = Self::blank(backend, cluster_url).await?;
        store.cli(&store.data_dir(0), &["migrate"], "")?;
        store.open().await?;
        Ok(store)
    }

    /// A store with nothing in it yet, not opened: an empty data directory and, on
    /// PostgreSQL, an empty scratch database, for a restore to fill before [`Store::open`].
    ///
    /// # Errors
    /// If the scratch database cannot be made.
    pub async fn blank(backend: Backend, cluster_url: Option<&str>) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("prconfirm-drill")
            .tempdir()?;
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let cluster = cluster_url
                    .map(str::to_owned)
                    .or_else(|| std::env::var("DATABASE_URL").ok())
                    .context("the PostgreSQL drills need DATABASE_URL (a cluster to make a scratch database in)")?;
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("prconfirm_drill_{}_{n}", std::process::id());
                admin(
                    &cluster,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )
                .await?;
                admin(&cluster, &format!("CREATE DATABASE {name}")).await?;
                Some((with_database(&cluster, &name), cluster))
            }
        };
        Ok(Self {
            root,
            url,
            db: None,
        })
    }

    /// Opens the drill's own connection to the store ([`Store::db`]).
    ///
    /// # Errors
    /// If the database cannot be opened.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        self.db = Some(match &self.url {
            Some((url, _)) => Database::connect_postgres(url, 4).await?,
            None => Database::open_sqlite(&self.data_dir(0), 4).await?,
        });
        Ok(())
    }

    /// The data directory of instance `n` (created on first use). On SQLite every instance
    /// uses the first, which holds the database.
    pub fn data_dir(&self, n: usize) -> PathBuf {
        let n = if self.url.is_some() { n } else { 0 };
        self.root.path().join(format!("data-{n}"))
    }

    /// The shared key files (audit and second factor).
    pub fn keys(&self) -> PathBuf {
        self.root.path().join("keys")
    }

    /// The drill's own connection to the store, as its owner.
    ///
    /// # Panics
    /// Before [`Store::open`] (never once [`Store::new`] has returned).
    pub fn db(&self) -> &Database {
        self.db
            .as_ref()
            .unwrap_or_else(|| unreachable!("opened in new or open"))
    }

    /// The binary, set to this store (instance `n`'s data directory) and the shared keys
    /// (audit, MFA, the KEK and the blind-index key: every instance must hold the same).
    pub fn command(&self, data_dir: &Path) -> Command {
        let mut c = Command::new(binary());
        let keys = self.keys();
        c.env("PRCONFIRM_DATA_DIR", data_dir)
            .env("PRCONFIRM_AUDIT_KEY", keys.join("audit-ed25519.key"))
            .env("PRCONFIRM_MFA_KEY", keys.join("mfa-totp.key"))
            .env("PRCONFIRM_KEK_FILE", keys.join("kek.key"))
            .env("PRCONFIRM_BLIND_INDEX_KEY", keys.join("blind-index.key"))
            .env("PRCONFIRM_LOG", "warn")
            .env_remove("PRCONFIRM_SMTP_URL")
            .env_remove("PRCONFIRM_LISTEN");
        match &self.url {
            Some((url, _)) => c.env("DATABASE_URL", url),
            None => c.env_remove("DATABASE_URL"),
        };
        c
    }

    /// Runs `prconfirm ARGS` on this store; answers its standard output.
    ///
    /// # Errors
    /// If it cannot start or exits non-zero (with its standard error).
    pub fn cli(&self, data_dir: &Path, args: &[&str], input: &str) -> anyhow::Result<String> {
        let (ok, out, err) = self.try_cli(data_dir, args, input)?;
        ensure!(ok, "prconfirm {}: {err}", args.join(" "));
        Ok(out)
    }

    /// Runs `prconfirm ARGS`; answers whether it succeeded, its standard output and error.
    ///
    /// # Errors
    /// If it cannot start.
    pub fn try_cli(
        &self,
        data_dir: &Path,
        args: &[&str],
        input: &str,
    ) -> anyhow::Result<(bool, String, String)> {
        use std::io::Write;
        let mut child = self
            .command(data_dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary().display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Starts instance `n` (`prconfirm serve`) with extra environment, and waits until it
    /// answers `/healthz`.
    ///
    /// # Errors
    /// If it does not start within 60 s.
    pub async fn serve(&self, n: usize, env: &[(&str, &str)]) -> anyhow::Result<Instance> {
        self.serve_at(n, free_port(), env).await
    }

    /// [`Store::serve`] on `port` (a restart where clients expect the instance).
    ///
    /// # Errors
    /// If it does not start within 60 s.
    pub async fn serve_at(
        &self,
        n: usize,
        port: u16,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Instance> {
        let data_dir = self.data_dir(n);
        let log = self.root.path().join(format!("server-{n}-{port}.log"));
        let mut command = self.command(&data_dir);
        command
            .arg("serve")
            .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let child = command.spawn()?;
        let mut instance = Instance {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            port,
            log,
        };
        instance.wait_healthy(Duration::from_secs(60)).await?;
        Ok(instance)
    }

    /// Every event's `(aggregate_id, sequence, event_type, idempotency_key, payload)`, the
    /// payload's personal fields opened with the instances' KEK.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn events(&self) -> anyhow::Result<Vec<EventRow>> {
        use prconfirm_commands::privacy::payload::{self, Disposed, StoredEvent};
        let sql = "SELECT aggregate_id, sequence, event_type, event_version, \
                   CAST(metadata AS TEXT) AS metadata, CAST(payload AS TEXT) AS payload \
                   FROM events ORDER BY aggregate_id, sequence";
        let rows: Vec<(String, i64, String, String, String, String)> =
            on_db!(self.db(), |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        let keys = self.person_keys()?;
        let mut events = Vec::with_capacity(rows.len());
        for (case, sequence, kind, version, metadata, payload) in rows {
            let metadata: Value = serde_json::from_str(&metadata)?;
            let mut payload: Value = serde_json::from_str(&payload)?;
            let stored = StoredEvent {
                case_id: &case,
                sequence: sequence.unsigned_abs(),
                event_type: &kind,
                event_version: &version,
            };
            payload::open_with(&keys, &stored, &mut payload, Disposed::Marker).await?;
            events.push(EventRow {
                case,
                sequence,
                kind,
                key: metadata["idempotency_key"].as_str().map(str::to_owned),
                payload,
            });
        }
        Ok(events)
    }

    /// The person keys the instances share (under [`Store::keys`]), to open what they sealed.
    ///
    /// # Errors
    /// If the KEK cannot be read.
    pub fn person_keys(&self) -> anyhow::Result<prconfirm_commands::privacy::PersonKeys> {
        use prconfirm_commands::privacy::{CacheSettings, Kek, KekRing, PersonKeys};
        let kek = Kek::load(&self.keys().join("kek.key")).context("the instances' KEK")?;
        Ok(PersonKeys::new(
            self.db().clone(),
            KekRing::new(kek, Vec::new()),
            CacheSettings::default(),
        ))
    }

    /// Drops the scratch database (PostgreSQL).
    pub async fn finish(self) {
        if let Some(db) = &self.db {
            db.close().await;
        }
        if let Some((url, cluster)) = &self.url {
            let name = url.rsplit('/').next().unwrap_or_default();
            let name = name.split('?').next().unwrap_or_default();
            let _ = admin(
                cluster,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// One row of the log, as the drills check it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub case: String,
    pub sequence: i64,
    pub kind: String,
    pub key: Option<String>,
    pub payload: Value,
}

/// Checks that every case's sequences run 1, 2, ... with no gap or repeat.
///
/// # Errors
/// Names the first case with a gap.
pub fn no_sequence_gap(events: &[EventRow]) -> anyhow::Result<()> {
    let mut last: Option<(&str, i64)> = None;
    for e in events {
        let expected = match last {
            Some((case, n)) if case == e.case => n + 1,
            _ => 1,
        };
        ensure!(
            e.sequence == expected,
            "case {} has sequence {} where {expected} was due",
            e.case,
            e.sequence
        );
        last = Some((&e.case, e.sequence));
    }
    Ok(())
}

/// Runs one statement on the cluster at `url` (as its owner).
async fn admin(url: &str, sql: &str) -> anyhow::Result<()> {
    let db = Database::connect_postgres(url, 1).await?;
    if let Database::Postgres(pool) = &db {
        sqlx::query(sql).execute(pool).await?;
    }
    db.close().await;
    Ok(())
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

/// A running `prconfirm serve`.
#[derive(Debug)]
pub struct Instance {
    child: Option<Child>,
    pub base: String,
    pub port: u16,
    pub log: PathBuf,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    async fn wait_healthy(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(self.url("/healthz")).send().await {
                if r.status() == StatusCode::OK {
                    return Ok(());
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "the server exited ({status}) before serving: {}",
                        self.logs()
                    );
                }
            }
            ensure!(
                Instant::now() < deadline,
                "the server did not answer in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (`KILL`, `TERM`).
    ///
    /// # Errors
    /// If `kill` cannot run.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        if let Some(pid) = self.pid() {
            let status = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .status()?;
            ensure!(status.success(), "kill -{signal} {pid} failed");
        }
        Ok(())
    }

    /// Waits for the process to end; answers how long it took and whether it succeeded.
    ///
    /// # Errors
    /// If it is still running after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> anyhow::Result<(Duration, bool)> {
        let started = Instant::now();
        let Some(child) = self.child.as_mut() else {
            return Ok((Duration::ZERO, true));
        };
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok((started.elapsed(), status.success()));
            }
            ensure!(started.elapsed() < within, "still running {within:?} later");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    ///
    /// # Errors
    /// If it cannot be killed.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.signal("KILL")?;
        self.wait_exit(Duration::from_secs(10)).await.map(drop)
    }

    /// SIGTERM, and waits (up to 30 s) for the process to end; answers how long it took.
    ///
    /// # Errors
    /// If it does not end.
    pub async fn stop(&mut self) -> anyhow::Result<Duration> {
        self.signal("TERM")?;
        self.wait_exit(Duration::from_secs(30))
            .await
            .map(|(d, _)| d)
    }

    /// What the server wrote to its standard error.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // For a drill's author: what the server said.
        if std::env::var_os("PRCONFIRM_DRILL_LOGS").is_some() {
            eprintln!("--- {} ---\n{}", self.log.display(), self.logs());
        }
    }
}

/// An HTTP client for the drills: no overall time-out unless the drill sets one per call.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

/// Creates a staff account with the binary's CLI (as an operator does) and signs it in with
/// its password and the one-time code of its enrolment; answers the session token.
///
/// # Errors
/// If the account cannot be made or the sign-in fails.
pub async fn staff(
    store: &Store,
    instance: &Instance,
    username: &str,
    role: &str,
) -> anyhow::Result<String> {
    let printed = store.cli(
        &store.data_dir(0),
        &[
            "staff",
            "add",
            "--username",
            username,
            "--role",
            role,
            "--password-stdin",
        ],
        PASSWORD,
    )?;
    let uri = printed
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .context("staff add printed no enrolment URI")?;
    let otp = prconfirm_commands::accounts::mfa::code_for(uri, chrono::Utc::now())
        .context("no code for the enrolment URI")?;
    let (status, session) = call(
        &http(),
        reqwest::Method::POST,
        &instance.url("/v1/sessions"),
        None,
        Some(json!({"username": username, "password": PASSWORD, "otp": otp})),
    )
    .await?;
    ensure!(
        status == StatusCode::CREATED,
        "staff sign-in: {status} {session}"
    );
    session["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the session")
}

/// Sends a JSON request; answers the status and the JSON body (Null if none).
///
/// # Errors
/// Transport errors.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = http.request(method, url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// A PNG photo the rules take, all of one grey (each grey another photo).
///
/// # Errors
/// If it cannot be encoded.
pub fn photo(grey: u8) -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_pixel(1000, 1400, image::Rgb([grey, grey, grey]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

/// Where the blob store under `root` keeps the blob `digest`.
pub fn blob_path(root: &Path, digest: &str) -> PathBuf {
    root.join("sha256")
        .join(digest.get(..2).unwrap_or(""))
        .join(digest)
}

/// The photo digest a `PhotoUploaded` event names.
///
/// # Errors
/// If the event names none.
pub fn photo_digest(event: &EventRow) -> anyhow::Result<&str> {
    event
        .payload
        .pointer("/PhotoUploaded/photo/sha256")
        .and_then(|d| d.as_str())
        .with_context(|| format!("no photo digest in {}", event.payload))
}

/// An invitation of person `k` (a UCI and e-mail of its own).
pub fn invite_body(k: usize) -> Value {
    json!({
        "application_number": "E001234567",
        "uci": format!("{:08}", 30_000_000 + k),
        "given_name": "Ana",
        "family_name": "Silva",
        "date_of_birth": "1990-04-05",
        "email": format!("person{k}@example.ca"),
        "language": "en",
    })
}

/// The rest of the line starting with `prefix` in the e-mail about event `sequence` of
/// `case_id` (written under `mail_dir` when no relay is set), waiting up to 30 s.
///
/// # Errors
/// If no such e-mail arrives.
pub async fn mail_line(
    mail_dir: &Path,
    case_id: &str,
    sequence: u32,
    prefix: &str,
) -> anyhow::Result<String> {
    let path = mail_dir.join(format!("{case_id}-{sequence}.eml"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .map(|l| l.trim_end().to_owned())
                .with_context(|| format!("no line {prefix:?} in {}", path.display()));
        }
        ensure!(
            Instant::now() < deadline,
            "no e-mail {} in 30 s",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Invites person `k` and walks them in (acceptance, credentials from the e-mail, the new
/// password, presence and address), ready to upload a photo; answers their token and case.
///
/// # Errors
/// If a step fails.
pub async fn applicant(
    store: &Store,
    instance: &Instance,
    officer: &str,
    k: usize,
) -> anyhow::Result<(String, String)> {
    let http = http();
    let mail = store.data_dir(0).join("mail");
    let (status, invited) = call(
        &http,
        reqwest::Method::POST,
        &instance.url("/v1/cases"),
        Some(officer),
        Some(invite_body(k)),
    )
    .await?;
    ensure!(status == StatusCode::CREATED, "invite: {status} {invited}");
    let case_id = invited["case_id"]
        .as_str()
        .context("no case id")?
        .to_owned();
    let code = mail_line(&mail, &case_id, 1, "Invitation code: ").await?;
    let (status, accepted) = call(
        &http,
        reqwest::Method::POST,
        &instance.url(&format!("/v1/invitations/{code}/acceptance")),
        None,
        None,
    )
    .await?;
    ensure!(status == StatusCode::OK, "accept: {status} {accepted}");
    let username = mail_line(&mail, &case_id, 3, "Username: ").await?;
    let temporary = mail_line(&mail, &case_id, 3, "Temporary password: ").await?;
    let (status, session) = call(
        &http,
        reqwest::Method::POST,
        &instance.url("/v1/sessions"),
        None,
        Some(json!({"username": username, "password": temporary})),
    )
    .await?;
    ensure!(status == StatusCode::CREATED, "sign-in: {status} {session}");
    let token = session["token"].as_str().context("no token")?.to_owned();
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            "/v1/me/password",
            json!({"current_password": temporary, "new_password": PASSWORD}),
        ),
        (
            reqwest::Method::PUT,
            "/v1/my/case/presence",
            json!({"in_canada": true}),
        ),
        (
            reqwest::Method::PUT,
            "/v1/my/case/address",
            json!({"residential": {"line1": "1 Main St", "city": "Ottawa",
                                   "province": "ON", "postal_code": "K1A 0B1"}}),
        ),
    ] {
        let (status, answer) =
            call(&http, method, &instance.url(path), Some(&token), Some(body)).await?;
        ensure!(status.is_success(), "{path}: {status} {answer}");
    }
    Ok((token, case_id))
}

/// Waits until every projection has applied every event of the log (up to `within`).
///
/// # Errors
/// If they do not catch up, or on storage errors.
pub async fn projections_caught_up(store: &Store, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let total = prconfirm_projections::runner::feed_length(store.db()).await?;
        let status = prconfirm_projections::runner::status(store.db()).await?;
        let behind: Vec<_> = status
            .iter()
            .filter(|s| s.live && s.events_applied != total)
            .map(|s| format!("{} at {} of {total}", s.name, s.events_applied))
            .collect();
        if behind.is_empty() && !status.is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "projections behind after {within:?}: {}",
            behind.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The log's integrity and the views' equality with a rebuild, checked with the binary:
/// `audit verify` passes; the live views (caught up) equal those `projections rebuild all`
/// makes from the log. Run with no server on the store, or one that is idle.
///
/// # Errors
/// What fails.
pub async fn log_and_views_hold(store: &Store) -> anyhow::Result<()> {
    let data = store.data_dir(0);
    let (ok, out, err) = store.try_cli(&data, &["audit", "verify"], "")?;
    ensure!(ok, "audit verify failed: {out} {err}");
    projections_caught_up(store, Duration::from_secs(60)).await?;
    let live = prconfirm_projections::reads::dump_views(store.db()).await?;
    store.cli(&data, &["projections", "rebuild", "all"], "")?;
    let rebuilt = prconfirm_projections::reads::dump_views(store.db()).await?;
    if live != rebuilt {
        for (i, (a, b)) in live.iter().zip(&rebuilt).enumerate() {
            if a != b {
                let view = prconfirm_projections::reads::VIEWS[i].0;
                bail!(
                    "view {view} differs from its rebuild: {} live rows, {} rebuilt; first live \
                     {:?}, first rebuilt {:?}",
                    a.len(),
                    b.len(),
                    a.iter().find(|r| !b.contains(r)),
                    b.iter().find(|r| !a.contains(r))
                );
            }
        }
    }
    Ok(())
}

/// Tallies of answers by status (and transport errors), for the drills' reports.
#[derive(Debug, Default, Clone)]
pub struct Tally(pub std::collections::BTreeMap<String, usize>);

impl Tally {
    pub fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }

    pub fn count(&self, what: &str) -> usize {
        self.0.get(what).copied().unwrap_or(0)
    }

    /// Answers 500-599 other than 503.
    pub fn server_errors(&self) -> usize {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with('5') && k.as_str() != "503")
            .map(|(_, n)| n)
            .sum()
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        f.write_str(&parts.join(", "))
    }
}
