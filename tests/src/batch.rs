//! The batch-invitation benchmark (`load --batch-rows N`): families (two adults, two minors
//! with the first adult as guardian) invited in one `POST /v1/invitations/batch` of `N`
//! NDJSON rows to the real binary, then another `N` people from a file by `prconfirm invite
//! --file`. It reports rows/s of each, the server's resident memory before and at its peak,
//! the command line's peak, how long the projections took to catch up, and on PostgreSQL
//! pgbench's one-row INSERT transactions/s at the batch's concurrency (4 rows at a time), in
//! the same run.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::{json, Value};

use crate::drills::harness::{self, Backend, Store};
use crate::load::memory_mb;

/// What one backend's run measured.
#[derive(Debug)]
pub struct BatchReport {
    pub backend: Backend,
    pub rows: usize,
    pub http: Duration,
    pub cli: Duration,
    pub server_rss_before_mb: f64,
    pub server_peak_mb: f64,
    pub cli_peak_mb: f64,
    pub catch_up: Duration,
    pub pgbench_tps: Option<f64>,
}

impl BatchReport {
    /// The run as text.
    pub fn render(&self) -> String {
        let per_s = |d: Duration| self.rows as f64 / d.as_secs_f64();
        let ratio = |r: f64| {
            self.pgbench_tps
                .map(|t| format!(" ({:.3} x pgbench's {t:.0} inserts/s at 4 clients)", r / t))
                .unwrap_or_default()
        };
        format!(
            "batch invitations on {}, {} rows each\n  \
             POST /v1/invitations/batch   {:>7.1} s  {:>6.0} rows/s{}\n  \
             prconfirm invite --file       {:>7.1} s  {:>6.0} rows/s{}\n  \
             server RSS {:.0} MB before, peak {:.0} MB; the command line's peak {:.0} MB\n  \
             projections caught up {:.0} ms after the last row\n",
            self.backend,
            self.rows,
            self.http.as_secs_f64(),
            per_s(self.http),
            ratio(per_s(self.http)),
            self.cli.as_secs_f64(),
            per_s(self.cli),
            ratio(per_s(self.cli)),
            self.server_rss_before_mb,
            self.server_peak_mb,
            self.cli_peak_mb,
            self.catch_up.as_secs_f64() * 1000.0,
        )
    }
}

/// Row `k` of a batch starting at person `first`: families of four under one application
/// number, the third and fourth members minors with the first as guardian.
fn row(first: usize, k: usize) -> Value {
    let person = first + k;
    let family = person / 4;
    let head = family * 4;
    let minor = person % 4 >= 2;
    let mut body = json!({
        "application_number": format!("E{:09}", 100_000_000 + family),
        "uci": format!("{:010}", 4_000_000_000u64 + person as u64),
        "given_name": "Ana",
        "family_name": "Silva",
        "date_of_birth": if minor { "2015-04-05" } else { "1988-04-05" },
        "email": format!("family{family}@example.ca"),
        "language": if family.is_multiple_of(2) { "en" } else { "fr" },
    });
    if minor {
        body["guardian_uci"] = json!(format!("{:010}", 4_000_000_000u64 + head as u64));
    }
    body
}

fn ndjson(first: usize, rows: usize) -> String {
    let mut out = String::with_capacity(rows * 220);
    for k in 0..rows {
        out += &row(first, k).to_string();
        out.push('\n');
    }
    out
}

/// Runs the benchmark on `backend` with `rows` rows (a multiple of four).
///
/// # Errors
/// If the server does not start or a row is not created.
pub async fn run(backend: Backend, rows: usize) -> anyhow::Result<BatchReport> {
    ensure!(
        rows > 0 && rows.is_multiple_of(4),
        "rows: a positive multiple of four"
    );
    let store = Store::new(backend, None).await?;
    let pgbench_tps = match &store.url {
        Some((_, cluster)) => Some(crate::load::pgbench(cluster, 4, 10).await?),
        None => None,
    };
    let instance = store.serve(0, &[]).await?;
    let officer = harness::staff(&store, &instance, "officer.batch", "officer").await?;
    let server_rss_before_mb = memory_mb(instance.pid(), "VmRSS:").unwrap_or(0.0);

    // Over HTTP.
    let body = ndjson(0, rows);
    let started = Instant::now();
    let response = harness::http()
        .post(instance.url("/v1/invitations/batch"))
        .bearer_auth(&officer)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    let http = started.elapsed();
    ensure!(status.is_success(), "the batch: {status} {answer}");
    let created = answer["rows"]
        .as_array()
        .context("no rows in the answer")?
        .iter()
        .filter(|r| r["status"] == "created")
        .count();
    ensure!(
        created == rows,
        "{created} of {rows} rows created over HTTP"
    );
    let server_peak_mb = memory_mb(instance.pid(), "VmHWM:").unwrap_or(0.0);

    // From the command line, beside the running server.
    let file = store.root.path().join("batch.ndjson");
    std::fs::write(&file, ndjson(rows, rows))?;
    let path = file
        .to_str()
        .context("a temporary path that is not UTF-8")?;
    let mut child = store
        .command(&store.data_dir(0))
        .args(["invite", "--file", path, "--officer", "officer.batch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let started = Instant::now();
    let pid = child.id();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            use std::io::Read;
            let _ = stdout.read_to_string(&mut out);
        }
        (child.wait(), out)
    });
    // VmHWM is a high-water mark: the last reading before the exit is the peak.
    let mut cli_peak_mb = 0.0f64;
    while !reader.is_finished() {
        if let Some(mb) = memory_mb(Some(pid), "VmHWM:") {
            cli_peak_mb = cli_peak_mb.max(mb);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cli = started.elapsed();
    let (exit, out) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    ensure!(exit?.success(), "prconfirm invite --file failed");
    let created = out.lines().filter(|l| l.contains("\"created\"")).count();
    ensure!(
        created == rows,
        "{created} of {rows} rows created by the CLI"
    );

    let caught = Instant::now();
    harness::projections_caught_up(&store, Duration::from_secs(600)).await?;
    let catch_up = caught.elapsed();
    drop(instance);
    store.finish().await;
    Ok(BatchReport {
        backend,
        rows,
        http,
        cli,
        server_rss_before_mb,
        server_peak_mb,
        cli_peak_mb,
        catch_up,
        pgbench_tps,
    })
}
