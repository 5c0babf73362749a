//! The reactions to the log, measured through the real binary: how fast the outbox delivers
//! 10,000 queued e-mails (to `.eml` files and to a local SMTP server), and the lag from an
//! acceptance's commit to its credentials e-mail being delivered.
//!
//! Each figure is printed beside a reference measured in the same run: the outlet alone (the
//! same 10,000 messages written as files, or sent to the same relay eight at a time, with no
//! database at all). The binary is `PRCONFIRM_BENCH_BIN` (default: this build's `prconfirm`), so that
//! an earlier release can be measured in the same sitting for a before-and-after:
//!
//! `PRCONFIRM_BENCH_BIN=/tmp/prconfirm-before DATABASE_URL=postgres://... \
//!  cargo bench -p prconfirm-tests --bench reactions`
//!
//! Only what every release of the binary takes is used: `migrate`, `staff add`, `serve` and
//! the environment variables of the data directory, database, listen address and SMTP relay.
//! `BENCH_MESSAGES` (10,000), `BENCH_ACCEPTANCES` (300), `BENCH_CLIENTS` (4),
//! `PRCONFIRM_BENCH_BACKENDS` (`sqlite,postgres`). PostgreSQL: a scratch database of
//! `DATABASE_URL`'s cluster, dropped at the end. Server, database and this process share
//! the machine's cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{stream, StreamExt};
use hdrhistogram::Histogram;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use prconfirm_commands::accounts::mfa;
use prconfirm_migrations::{on_db, Database};
use prconfirm_tests::relay::{self, Shared};
use serde_json::{json, Value};

const PASSWORD: &str = "bench password of some length";
const SCRATCH: &str = "prconfirm_bench_reactions";
const BODY: &str = "Your account has been created.\r\n\r\nUsername: a-benchmark00\r\n\
    Temporary password: abcdefghjkmnpqrs\r\n\r\nThis temporary password expires at \
    2026-12-04 (UTC). You must change it when you first sign in.\r\n";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn binary() -> PathBuf {
    std::env::var("PRCONFIRM_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_prconfirm-blackbox")))
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

async fn admin(url: &str, sql: &str) {
    let db = Database::connect_postgres(url, 1).await.unwrap();
    if let Database::Postgres(pool) = &db {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    db.close().await;
}

/// A fresh store for one measurement, and the binary's environment for it.
struct Store {
    dir: tempfile::TempDir,
    url: Option<String>,
    db: Option<Database>,
}

impl Store {
    async fn new(postgres: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = if postgres {
            let server = std::env::var("DATABASE_URL").expect("DATABASE_URL");
            admin(
                &server,
                &format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"),
            )
            .await;
            admin(&server, &format!("CREATE DATABASE {SCRATCH}")).await;
            Some(with_database(&server, SCRATCH))
        } else {
            None
        };
        let mut store = Self { dir, url, db: None };
        store.run(&["migrate"], None);
        store.db = Some(match &store.url {
            Some(url) => Database::connect_postgres(url, 4).await.unwrap(),
            None => Database::open_sqlite(store.dir.path(), 4).await.unwrap(),
        });
        store
    }

    fn db(&self) -> &Database {
        self.db.as_ref().unwrap()
    }

    fn command(&self) -> Command {
        let mut c = Command::new(binary());
        c.env("PRCONFIRM_DATA_DIR", self.dir.path())
            .env("PRCONFIRM_AUDIT_CHECKPOINT_SECS", "0")
            .env("PRCONFIRM_LOG", "error")
            .env_remove("PRCONFIRM_SMTP_URL");
        match &self.url {
            Some(url) => c.env("DATABASE_URL", url),
            None => c.env_remove("DATABASE_URL"),
        };
        c
    }

    /// Runs the binary; answers what it printed on standard output.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        prconfirm_tests::run_cli(self.command(), args, stdin.unwrap_or_default())
    }

    async fn serve(&self, smtp: Option<&str>) -> (Server, String) {
        let port = relay::free_port();
        let mut command = self.command();
        command
            .arg("serve")
            .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = smtp {
            command.env("PRCONFIRM_SMTP_URL", url);
        }
        let child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (Server(child), base)
    }

    async fn finish(self) {
        if let Some(db) = &self.db {
            db.close().await;
        }
        if self.url.is_some() {
            let server = std::env::var("DATABASE_URL").unwrap();
            admin(
                &server,
                &format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"),
            )
            .await;
        }
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn scalar(db: &Database, sql: &str) -> i64 {
    on_db!(db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await).unwrap()
}

/// Queues `n` messages straight into the outbox, as the reactors leave them.
async fn queue(db: &Database, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut sql =
            String::from("INSERT INTO mail_outbox (id, recipient, subject, body) VALUES ");
        for (i, k) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('{:08x}-0000-4000-8000-{:012x}-3', 'person{k}@example.ca', \
                 'Your PR confirmation portal account', '{BODY}')",
                k, k
            ));
        }
        on_db!(db, |pool| sqlx::query(&sql).execute(pool).await.map(drop)).unwrap();
    }
}

/// Delivers the queued outbox with the binary; answers messages per second from the moment
/// the server answers `/healthz` to the last delivery, and the seconds from the process's
/// start to the last.
async fn deliver(store: &Store, smtp: Option<&str>, n: usize) -> (f64, f64) {
    let db = store.db();
    let started = Instant::now();
    let (_server, _) = store.serve(smtp).await;
    let ready = Instant::now();
    let pending = "SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL";
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left = scalar(db, pending).await;
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} still queued after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = Instant::now();
    (
        n as f64 / (done - ready).as_secs_f64(),
        (done - started).as_secs_f64(),
    )
}

/// The outlet alone: `n` messages written as `.eml` files by rename, as the sender does.
fn files_reference(n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    for k in 0..n {
        let message = message(k);
        let path = dir.path().join(format!("{k}.eml"));
        let partial = dir.path().join(format!(".{k}.eml.partial"));
        std::fs::write(&partial, message.formatted()).unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn message(k: usize) -> Message {
    let from: Mailbox = "Confirmation of PR <no-reply@prconfirm.example>"
        .parse()
        .unwrap();
    Message::builder()
        .from(from)
        .to(format!("person{k}@example.ca").parse().unwrap())
        .subject("Your PR confirmation portal account")
        .body(BODY.to_owned())
        .unwrap()
}

/// The outlet alone: `n` messages to the relay over lettre's pooled transport, eight at a
/// time, as the sender hands them over.
async fn smtp_reference(url: &str, n: usize) -> f64 {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .unwrap()
        .build();
    let started = Instant::now();
    stream::iter(0..n)
        .map(|k| {
            let transport = &transport;
            async move { transport.send(message(k)).await.unwrap() }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    n as f64 / started.elapsed().as_secs_f64()
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Acceptances of `n` invitations by `clients` at once; answers the lag from each
/// acceptance's request leaving the client to its credentials e-mail's delivery (the
/// outbox's `sent_at`: what the applicant waits for, whether the account is made in the
/// request or after it), and the acceptance's own latency as the client saw it (µs).
async fn acceptance_lag(
    store: &Store,
    n: usize,
    clients: usize,
) -> (Histogram<u64>, Histogram<u64>, f64) {
    // Releases with a staff second factor print its enrolment URI; older ones print nothing
    // and take no code.
    let printed = store.run(
        &[
            "staff",
            "add",
            "--username",
            "officer.bench",
            "--role",
            "officer",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    let (_server, base) = store.serve(None).await;
    let http = reqwest::Client::new();
    let mut sign_in = json!({"username": "officer.bench", "password": PASSWORD});
    if let Some(uri) = printed.lines().find(|l| l.starts_with("otpauth://")) {
        sign_in["otp"] = json!(mfa::code_for(uri, chrono::Utc::now()).unwrap());
    }
    let session: Value = http
        .post(format!("{base}/v1/sessions"))
        .json(&sign_in)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let mut cases = Vec::with_capacity(n);
    for k in 0..n {
        let body = json!({
            "application_number": "E001234567", "uci": format!("{:08}", 20_000_000 + k),
            "given_name": "Ana", "family_name": "Silva", "date_of_birth": "1990-04-05",
            "email": format!("person{k}@example.ca"), "language": "en",
        });
        let invited: Value = http
            .post(format!("{base}/v1/cases"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        cases.push(invited["case_id"].as_str().unwrap().to_owned());
    }
    let mail = store.dir.path().join("mail");
    let mut codes = Vec::with_capacity(n);
    for case in cases {
        let code = code(&mail, &case).await;
        codes.push((case, code));
    }
    let work = Arc::new(tokio::sync::Mutex::new(codes));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let work = work.clone();
        let http = http.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new(3).unwrap();
            let mut sent_at = Vec::new();
            loop {
                let Some((case, code)) = work.lock().await.pop() else {
                    return (latency, sent_at);
                };
                sent_at.push((case, Utc::now()));
                let sent = Instant::now();
                let status = http
                    .post(format!("{base}/v1/invitations/{code}/acceptance"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert!(status.is_success(), "{status}");
                latency.record(sent.elapsed().as_micros() as u64).unwrap();
            }
        }));
    }
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut requested = std::collections::HashMap::new();
    for task in tasks {
        let (h, sent_at) = task.await.unwrap();
        latency.add(h).unwrap();
        requested.extend(sent_at);
    }
    let db = store.db();
    let deadline = Instant::now() + Duration::from_secs(300);
    let sql = "SELECT COUNT(*) FROM mail_outbox WHERE id LIKE '%-3' AND sent_at IS NOT NULL";
    while scalar(db, sql).await < n as i64 {
        assert!(Instant::now() < deadline, "credentials not all delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sql = "SELECT id, sent_at FROM mail_outbox WHERE id LIKE '%-3'";
    let rows: Vec<(String, DateTime<Utc>)> =
        on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await).unwrap();
    assert_eq!(rows.len(), n);
    let first = requested.values().min().copied().unwrap();
    let last = rows.iter().map(|(_, sent)| *sent).max().unwrap();
    let span = (last - first).num_milliseconds() as f64 / 1000.0;
    let mut lag = Histogram::<u64>::new(3).unwrap();
    for (id, sent) in rows {
        let case = id.strip_suffix("-3").unwrap();
        let us = (sent - requested[case])
            .num_microseconds()
            .unwrap_or(0)
            .max(0);
        lag.record(us as u64).unwrap();
    }
    (lag, latency, span)
}

/// The invitation code from the e-mail of `case`, once written.
async fn code(mail: &Path, case: &str) -> String {
    let path = mail.join(format!("{case}-1.eml"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text
                .lines()
                .find_map(|l| l.strip_prefix("Invitation code: "))
                .unwrap()
                .trim()
                .to_owned();
        }
        assert!(Instant::now() < deadline, "no invitation for {case}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() {
    let messages = env_usize("BENCH_MESSAGES", 10_000);
    let acceptances = env_usize("BENCH_ACCEPTANCES", 300);
    let clients = env_usize("BENCH_CLIENTS", 4);
    let backends =
        std::env::var("PRCONFIRM_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!("binary: {}", binary().display());
    println!(
        "machine: {} cores; server, database and client share them",
        num_cores()
    );

    let port = relay::free_port();
    relay::start_relay(port, Arc::new(Shared::default()));
    let smtp_url = relay::url(port);
    let files_ref = files_reference(messages);
    let smtp_ref = smtp_reference(&smtp_url, messages).await;
    println!(
        "reference, the outlet alone ({messages} messages): files {files_ref:.0}/s, SMTP {smtp_ref:.0}/s"
    );
    for backend in backends.split(',') {
        let postgres = backend.trim() == "postgres";
        if postgres && std::env::var("DATABASE_URL").is_err() {
            println!("{backend}: skipped (no DATABASE_URL)");
            continue;
        }
        for (outlet, smtp, reference) in [
            ("files", None, files_ref),
            ("SMTP", Some(smtp_url.as_str()), smtp_ref),
        ] {
            let store = Store::new(postgres).await;
            queue(store.db(), messages).await;
            let (rate, total) = deliver(&store, smtp, messages).await;
            println!(
                "{backend:<8} outbox → {outlet:<5} {rate:>8.0} messages/s ({:.2}x the outlet alone; \
                 {total:.1} s from start)",
                rate / reference
            );
            store.finish().await;
        }
        let store = Store::new(postgres).await;
        let (lag, latency, span) = acceptance_lag(&store, acceptances, clients).await;
        println!(
            "{backend:<8} acceptance → credentials delivered: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
             ({acceptances} acceptances, {clients} clients; the last delivered {span:.2} s after the \
             first was sent); the acceptance answered in p50 {:.1} ms, p99 {:.1} ms",
            ms(&lag, 0.5),
            ms(&lag, 0.99),
            lag.max() as f64 / 1000.0,
            ms(&latency, 0.5),
            ms(&latency, 0.99),
        );
        store.finish().await;
    }
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
