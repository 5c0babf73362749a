//! Projections across real processes: the runner killed with SIGKILL in the middle of its
//! work leaves views that, once restarted and caught up, equal a rebuild from scratch row for
//! row (PostgreSQL and SQLite); and two instances on one PostgreSQL apply every event exactly
//! once to each projection, the survivor taking over when the lease holder is killed.
//!
//! Needs `DATABASE_URL` (a PostgreSQL server where it may create databases), as the whole
//! suite does (scripts/test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prconfirm_migrations::Database;
use prconfirm_projections::reads;
use prconfirm_projections::runner;

const BIN: &str = env!("CARGO_BIN_EXE_prconfirm");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where a test's service keeps its data: a data directory, and a PostgreSQL database of its
/// own when `postgres` is set (dropped at the end).
struct Store {
    dir: tempfile::TempDir,
    url: Option<String>,
    db: Database,
}

impl Store {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_sqlite(dir.path(), 4).await.unwrap();
        db.migrate().await.unwrap();
        Self { dir, url: None, db }
    }

    async fn postgres() -> Self {
        let server = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must name a PostgreSQL server (see scripts/test)");
        let name = format!("prconfirm_proc_{}", uuid_like());
        let admin = Database::connect_postgres(&server, 1).await.unwrap();
        if let Database::Postgres(pool) = &admin {
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(pool)
                .await
                .unwrap();
        }
        admin.close().await;
        let url = with_database(&server, &name);
        let db = Database::connect_postgres(&url, 4).await.unwrap();
        db.migrate().await.unwrap();
        Self {
            dir: tempfile::tempdir().unwrap(),
            url: Some(url),
            db,
        }
    }

    fn command(&self, data_dir: &Path) -> Command {
        let mut c = Command::new(BIN);
        // Every instance holds the same personal-data keys (they must: each would otherwise
        // make its own and open nothing the others sealed).
        let keys = self.dir.path().join("shared-keys");
        c.env("PRCONFIRM_DATA_DIR", data_dir)
            .env("PRCONFIRM_KEK_FILE", keys.join("kek.key"))
            .env("PRCONFIRM_BLIND_INDEX_KEY", keys.join("blind-index.key"))
            .env("PRCONFIRM_AUDIT_CHECKPOINT_SECS", "0")
            .env("PRCONFIRM_LOG", "warn");
        match &self.url {
            Some(url) => c.env("DATABASE_URL", url),
            None => c.env_remove("DATABASE_URL"),
        };
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command(self.dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "prconfirm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `prconfirm serve` with small projection batches; waits until it answers.
    async fn serve(&self, data_dir: &Path) -> (Server, String) {
        let port = free_port();
        let child = self
            .command(data_dir)
            .arg("serve")
            .env("PRCONFIRM_LISTEN", format!("127.0.0.1:{port}"))
            .env("PRCONFIRM_PROJECTION_BATCH", "100")
            // No scheduler: it would append events after the last wait for the views, and
            // the comparison with a rebuild needs a log that stands still (the scheduler has
            // its own tests).
            .env("PRCONFIRM_SCHEDULER_INTERVAL_MS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (Server(child), base)
    }

    /// Events applied by each live projection.
    async fn applied(&self) -> Vec<i64> {
        runner::status(&self.db)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.live)
            .map(|s| s.events_applied)
            .collect()
    }

    async fn total(&self) -> i64 {
        runner::feed_length(&self.db).await.unwrap()
    }

    /// Waits (bounded) until every projection has applied every event.
    async fn wait_caught_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            // Applied first: the log only grows (the scheduler appends too), so an applied
            // count above a total read after it can only mean an event applied twice.
            let applied = self.applied().await;
            let total = self.total().await;
            if applied.len() == 3 && applied.iter().all(|a| *a == total) {
                return;
            }
            assert!(
                applied.iter().all(|a| *a <= total),
                "an event was applied twice: {applied:?} of {total}"
            );
            assert!(
                Instant::now() < deadline,
                "not caught up: {applied:?} of {total}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The views now, then after `projections rebuild all`: they must be equal.
    async fn assert_equal_to_a_rebuild(&self) {
        let live = reads::dump_views(&self.db).await.unwrap();
        assert!(!live[0].is_empty(), "case_status is empty");
        self.run(&["projections", "rebuild", "all", "--batch", "1000"]);
        let rebuilt = reads::dump_views(&self.db).await.unwrap();
        for (i, (view, _)) in reads::VIEWS.iter().enumerate() {
            assert_eq!(live[i].len(), rebuilt[i].len(), "{view}: row count");
            assert!(live[i] == rebuilt[i], "{view} differs from a rebuild");
        }
    }

    async fn finish(self) {
        self.db.close().await;
        if let Some(url) = &self.url {
            let name = url.rsplit('/').next().unwrap().to_owned();
            let server = std::env::var("DATABASE_URL").unwrap();
            let admin = Database::connect_postgres(&server, 1).await.unwrap();
            if let Database::Postgres(pool) = &admin {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(pool)
                    .await;
            }
            admin.close().await;
        }
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
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

/// A running `prconfirm serve`, killed when dropped, so that a failing test leaves no server
/// behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigkill(server: &mut Server) {
    // std's kill() is SIGKILL on Unix: no shutdown path runs. Killing twice is harmless.
    let _ = server.0.kill();
    server.0.wait().unwrap();
}

async fn a_runner_killed_mid_batch_recovers_to_a_full_rebuild(store: Store) {
    store.run(&[
        "generate", "--cases", "2500", "--seed", "7", "--chunk", "2000",
    ]);
    let total = store.total().await;
    assert!(total > 15_000, "{total} events");
    let (mut child, _) = store.serve(store.dir.path()).await;
    // Kill it while the projections are part-way: some events applied, not all.
    let deadline = Instant::now() + Duration::from_secs(60);
    let applied_at_kill = loop {
        let applied = store.applied().await;
        if applied.iter().any(|a| *a > 0 && *a < total) {
            sigkill(&mut child);
            break store.applied().await;
        }
        assert!(
            Instant::now() < deadline,
            "never caught mid-way: {applied:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        applied_at_kill.iter().any(|a| *a < total),
        "killed after the end: {applied_at_kill:?}"
    );
    // Restart: it resumes from the checkpoints and reaches the end, exactly once.
    let (mut child, _) = store.serve(store.dir.path()).await;
    store.wait_caught_up().await;
    sigkill(&mut child);
    store.assert_equal_to_a_rebuild().await;
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_runner_killed_mid_batch_recovers_to_a_full_rebuild() {
    a_runner_killed_mid_batch_recovers_to_a_full_rebuild(Store::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_runner_killed_mid_batch_recovers_to_a_full_rebuild() {
    a_runner_killed_mid_batch_recovers_to_a_full_rebuild(Store::postgres().await).await;
}

/// Which of the servers at `bases` runs each consumer of the log, by their `/readyz`.
async fn holders(bases: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for base in bases {
        let ready: serde_json::Value = reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut held: Vec<String> = ready["consumers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, h)| h["running_here"] == true)
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default();
        held.sort();
        out.push(held);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_consumers_and_the_survivor_takes_over() {
    // Every consumer but the clock, which these servers do not run.
    let mut sorted: Vec<String> = prconfirm_api::workers::ALL
        .iter()
        .filter(|c| **c != "clock")
        .map(|c| (*c).to_owned())
        .collect();
    sorted.sort();
    let store = Store::postgres().await;
    store.run(&["generate", "--cases", "1000", "--seed", "11"]);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, base_a) = store.serve(dir_a.path()).await;
    let (mut b, base_b) = store.serve(dir_b.path()).await;
    // Load while both run.
    store.run(&["generate", "--cases", "1000", "--seed", "12"]);
    store.wait_caught_up().await;
    let held = holders(&[&base_a, &base_b]).await;
    let mut all: Vec<String> = held.concat();
    all.sort();
    assert_eq!(all, sorted, "each runs in exactly one: {held:?}");

    // Kill whichever holds case_views; the other takes it over and carries on.
    let (victim, survivor) = if held[0].contains(&"case_views".to_owned()) {
        (&mut a, base_b.as_str())
    } else {
        (&mut b, base_a.as_str())
    };
    sigkill(victim);
    store.run(&["generate", "--cases", "1000", "--seed", "13"]);
    store.wait_caught_up().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = holders(&[survivor]).await;
        if held[0] == sorted {
            break;
        }
        assert!(Instant::now() < deadline, "no take-over: {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sigkill(&mut a);
    sigkill(&mut b);
    store.assert_equal_to_a_rebuild().await;
    store.finish().await;
}
