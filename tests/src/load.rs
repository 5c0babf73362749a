//! The load generator (`load`, `src/bin/load.rs`): drives the real binary over HTTP with many
//! connections, closed-loop (N connections, each sending its next request when the last is
//! answered) or at a constant arrival rate (requests sent at their intended times whatever
//! the server does, latency counted from the intended time, so a stall is not hidden:
//! no coordinated omission). It reports calls/s, latency quantiles (HdrHistogram), answers by
//! status, the server's peak RSS and CPU, how long the projections took to catch up after
//! the last call and, on PostgreSQL, pgbench's one-row INSERT transactions/s on the same
//! cluster at the same concurrency, measured in the same run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use hdrhistogram::Histogram;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::drills::harness::{self, applicant, call, http, Backend, Instance, Store, PASSWORD};

/// What each connection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// An applicant correcting their address: one event per command.
    Address,
    /// Officers inviting people: one case and one event per command.
    Invite,
    /// Applicants reading their status (`GET /v1/my/case`).
    Status,
    /// Officers reading their queue (`GET /v1/queue`).
    Queue,
    /// Applicants signing in (an Argon2 hash each).
    SignIn,
    /// Families through the whole lifecycle: invited, accepted, signed in, password changed,
    /// presence, address, photo, review (one in four returned and uploaded again), approval;
    /// each step followed by the applicant's status read, and an officer's queue read.
    Lifecycle,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Address => "address correction",
            Self::Invite => "invitation",
            Self::Status => "applicant status read",
            Self::Queue => "officer queue read",
            Self::SignIn => "applicant sign-in",
            Self::Lifecycle => "family lifecycle",
        })
    }
}

/// One run's plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub backend: Backend,
    pub scenario: Scenario,
    pub connections: usize,
    pub duration: Duration,
    /// Requests per second at constant arrival; `None`: closed loop.
    pub rate: Option<f64>,
    /// Cases generated (`prconfirm generate`) before the server starts.
    pub existing_cases: u64,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    pub plan: Plan,
    /// Per kind of call: its latencies in microseconds.
    pub calls: BTreeMap<&'static str, Histogram<u64>>,
    pub statuses: BTreeMap<String, usize>,
    pub elapsed: Duration,
    /// Calls that are commands (they write events), of all calls.
    pub commands: usize,
    pub reads: usize,
    pub peak_rss_mb: Option<f64>,
    /// CPU seconds the server used per second of the run (1.0: one core busy).
    pub cpu_cores: Option<f64>,
    /// How long after the last call every projection had applied every event.
    pub catch_up: Duration,
    /// pgbench one-row INSERT transactions/s, same cluster, same concurrency (PostgreSQL).
    pub pgbench_tps: Option<f64>,
}

impl Report {
    /// The report as text, one measure a line.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mode = self
            .plan
            .rate
            .map_or_else(|| "closed loop".to_owned(), |r| format!("{r:.0}/s arrival"));
        let mut out = format!(
            "{} on {}, {} connections, {mode}, {:.0} s, {} existing cases\n",
            self.plan.scenario,
            self.plan.backend,
            self.plan.connections,
            secs,
            self.plan.existing_cases
        );
        let ratio = |per_s: f64| {
            self.pgbench_tps
                .map(|tps| format!(" ({:.3} x pgbench's {tps:.0} inserts/s)", per_s / tps))
                .unwrap_or_default()
        };
        let commands = self.commands as f64 / secs;
        let reads = self.reads as f64 / secs;
        if self.commands > 0 {
            out += &format!("  commands/s {commands:.0}{}\n", ratio(commands));
        }
        if self.reads > 0 {
            out += &format!("  reads/s {reads:.0}{}\n", ratio(reads));
        }
        for (kind, h) in &self.calls {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            out += &format!(
                "  {kind:<28} n {:>7}  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms\n",
                h.len(),
                ms(0.5),
                ms(0.9),
                ms(0.99),
                h.max() as f64 / 1000.0
            );
        }
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        out += &format!("  answers {}\n", statuses.join(", "));
        if let (Some(rss), Some(cpu)) = (self.peak_rss_mb, self.cpu_cores) {
            out += &format!(
                "  server peak RSS {rss:.0} MB, CPU {:.0} % of one core\n",
                cpu * 100.0
            );
        }
        out += &format!(
            "  projections caught up {:.0} ms after the last call\n",
            self.catch_up.as_secs_f64() * 1000.0
        );
        out
    }
}

/// The header of [`Report::row`]'s table.
pub const TABLE_HEADER: &str = "| scenario | backend | connections | existing cases | calls/s | \
pgbench inserts/s | ratio | p50 ms | p90 ms | p99 ms | max ms | non-2xx | server peak RSS MB | \
server CPU (cores) | catch-up ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

impl Report {
    /// The run as one markdown table row (all calls together).
    pub fn row(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mut all: Option<Histogram<u64>> = None;
        for h in self.calls.values() {
            match all.as_mut() {
                Some(a) => {
                    let _ = a.add(h);
                }
                None => all = Some(h.clone()),
            }
        }
        let q = |x: f64| {
            all.as_ref()
                .map_or(0.0, |h| h.value_at_quantile(x) as f64 / 1000.0)
        };
        let max = all.as_ref().map_or(0.0, |h| h.max() as f64 / 1000.0);
        let per_s = (self.commands + self.reads) as f64 / secs;
        let failed: usize = self
            .statuses
            .iter()
            .filter(|(s, _)| !s.starts_with('2'))
            .map(|(_, n)| n)
            .sum();
        let (tps, ratio) = self.pgbench_tps.map_or_else(
            || ("—".to_owned(), "—".to_owned()),
            |t| (format!("{t:.0}"), format!("{:.3}", per_s / t)),
        );
        let mode = self
            .plan
            .rate
            .map_or_else(String::new, |r| format!(" at {r:.0}/s"));
        format!(
            "| {}{mode} | {} | {} | {} | {per_s:.0} | {tps} | {ratio} | {:.1} | {:.1} | {:.1} | {max:.1} | {failed} | {} | {} | {:.0} |",
            self.plan.scenario,
            self.plan.backend,
            self.plan.connections,
            self.plan.existing_cases,
            q(0.5),
            q(0.9),
            q(0.99),
            self.peak_rss_mb.map_or_else(|| "—".to_owned(), |m| format!("{m:.0}")),
            self.cpu_cores.map_or_else(|| "—".to_owned(), |c| format!("{c:.2}")),
            self.catch_up.as_secs_f64() * 1000.0,
        )
    }
}

/// The calls a connection makes, with what it needs (its applicant's session and case).
#[derive(Debug, Clone)]
struct Seat {
    token: Option<String>,
    username: Option<String>,
}

#[derive(Debug, Default)]
struct Tallies {
    calls: BTreeMap<&'static str, Histogram<u64>>,
    statuses: BTreeMap<String, usize>,
    commands: usize,
    reads: usize,
}

impl Tallies {
    fn record(&mut self, kind: &'static str, took: Duration, status: &str, command: bool) {
        let h = self.calls.entry(kind).or_insert_with(|| {
            Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| {
                unreachable!("1 us to 10 min at 3 significant figures is a valid histogram")
            })
        });
        let _ = h.record((took.as_micros() as u64).max(1));
        *self.statuses.entry(status.to_owned()).or_default() += 1;
        if command {
            self.commands += 1;
        } else {
            self.reads += 1;
        }
    }

    fn merge(&mut self, other: Tallies) {
        for (kind, h) in other.calls {
            match self.calls.get_mut(kind) {
                Some(mine) => {
                    let _ = mine.add(&h);
                }
                None => {
                    self.calls.insert(kind, h);
                }
            }
        }
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.commands += other.commands;
        self.reads += other.reads;
    }
}

/// Everything the calls share.
#[derive(Debug)]
struct World {
    store: Store,
    instance: Instance,
    officer: String,
    http: reqwest::Client,
    next: AtomicUsize,
    photo: Vec<u8>,
}

/// Runs `plan` against a fresh store and instance; answers what it measured.
///
/// # Errors
/// If the set-up fails (the server does not start, onboarding fails).
pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    let store = Store::new(plan.backend, None).await?;
    if plan.existing_cases > 0 {
        let data = store.data_dir(0);
        let cases = plan.existing_cases.to_string();
        store.cli(&data, &["generate", "--cases", &cases], "")?;
    }
    let pgbench_tps = match &store.url {
        Some((_, cluster)) => Some(pgbench(cluster, plan.connections, 10).await?),
        None => None,
    };
    let instance = store
        .serve(0, &[("PRCONFIRM_DB_MAX_CONNECTIONS", "32")])
        .await?;
    let officer = harness::staff(&store, &instance, "officer.load", "officer").await?;
    let world = Arc::new(World {
        store,
        instance,
        officer,
        http: http(),
        next: AtomicUsize::new(1_000_000),
        photo: photo_png()?,
    });
    let seats = seats(&world, &plan).await?;
    let cpu_before = cpu_seconds(world.instance.pid());
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut tallies = Tallies::default();
    match plan.rate {
        None => {
            let mut tasks = Vec::new();
            for seat in seats {
                let world = Arc::clone(&world);
                let scenario = plan.scenario;
                tasks.push(tokio::spawn(async move {
                    let mut t = Tallies::default();
                    while Instant::now() < deadline {
                        one(&world, scenario, &seat, &mut t, Instant::now()).await;
                    }
                    t
                }));
            }
            for task in tasks {
                tallies.merge(task.await?);
            }
        }
        Some(rate) => {
            ensure!(rate > 0.0, "the arrival rate must be positive");
            let gap = Duration::from_secs_f64(1.0 / rate);
            let mut tasks = Vec::new();
            let mut k = 0usize;
            loop {
                let intended = started + gap.mul_f64(k as f64);
                if intended >= deadline {
                    break;
                }
                tokio::time::sleep_until(intended.into()).await;
                let world = Arc::clone(&world);
                let seat = seats[k % seats.len()].clone();
                let scenario = plan.scenario;
                tasks.push(tokio::spawn(async move {
                    let mut t = Tallies::default();
                    one(&world, scenario, &seat, &mut t, intended).await;
                    t
                }));
                k += 1;
            }
            for task in tasks {
                tallies.merge(task.await?);
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu_cores = cpu_before
        .zip(cpu_seconds(world.instance.pid()))
        .map(|(a, b)| (b - a) / elapsed.as_secs_f64());
    let peak_rss_mb = peak_rss_mb(world.instance.pid());
    let caught = Instant::now();
    harness::projections_caught_up(&world.store, Duration::from_secs(300)).await?;
    let catch_up = caught.elapsed();
    Ok(Report {
        plan,
        calls: tallies.calls,
        statuses: tallies.statuses,
        elapsed,
        commands: tallies.commands,
        reads: tallies.reads,
        peak_rss_mb,
        cpu_cores,
        catch_up,
        pgbench_tps,
    })
}

/// One seat per connection: an applicant of their own where the scenario needs one.
async fn seats(world: &Arc<World>, plan: &Plan) -> anyhow::Result<Vec<Seat>> {
    let needs_applicant = matches!(
        plan.scenario,
        Scenario::Address | Scenario::Status | Scenario::SignIn
    );
    let mut seats = Vec::with_capacity(plan.connections);
    // Onboarding hashes passwords (Argon2): four applicants at a time.
    for chunk in (0..plan.connections).collect::<Vec<_>>().chunks(4) {
        let mut made = Vec::new();
        for &k in chunk {
            let world = Arc::clone(world);
            made.push(tokio::spawn(async move {
                if needs_applicant {
                    let (token, case_id) =
                        applicant(&world.store, &world.instance, &world.officer, k).await?;
                    let mail = world.store.data_dir(0).join("mail");
                    let username = harness::mail_line(&mail, &case_id, 3, "Username: ").await?;
                    Ok::<_, anyhow::Error>(Seat {
                        token: Some(token),
                        username: Some(username),
                    })
                } else {
                    Ok(Seat {
                        token: None,
                        username: None,
                    })
                }
            }));
        }
        for m in made {
            seats.push(m.await??);
        }
    }
    Ok(seats)
}

/// Sends one call of `scenario` (or one family's walk) and records it, latency from `from`.
async fn one(world: &World, scenario: Scenario, seat: &Seat, t: &mut Tallies, from: Instant) {
    let token = seat.token.as_deref();
    match scenario {
        Scenario::Address => {
            let n = world.next.fetch_add(1, Ordering::Relaxed);
            let line1 = format!("{} Main St", 1 + n % 999);
            let body = json!({"residential": {"line1": line1, "city": "Ottawa",
                                              "province": "ON", "postal_code": "K1A 0B1"}});
            timed(
                world,
                t,
                "PUT /v1/my/case/address",
                true,
                from,
                Method::PUT,
                "/v1/my/case/address",
                token,
                Some(body),
            )
            .await;
        }
        Scenario::Invite => {
            let n = world.next.fetch_add(1, Ordering::Relaxed);
            timed(
                world,
                t,
                "POST /v1/cases",
                true,
                from,
                Method::POST,
                "/v1/cases",
                Some(&world.officer),
                Some(invite(n)),
            )
            .await;
        }
        Scenario::Status => {
            timed(
                world,
                t,
                "GET /v1/my/case",
                false,
                from,
                Method::GET,
                "/v1/my/case",
                token,
                None,
            )
            .await;
        }
        Scenario::Queue => {
            timed(
                world,
                t,
                "GET /v1/queue",
                false,
                from,
                Method::GET,
                "/v1/queue?limit=50",
                Some(&world.officer),
                None,
            )
            .await;
        }
        Scenario::SignIn => {
            let body = json!({"username": seat.username, "password": PASSWORD});
            timed(
                world,
                t,
                "POST /v1/sessions",
                false,
                from,
                Method::POST,
                "/v1/sessions",
                None,
                Some(body),
            )
            .await;
        }
        Scenario::Lifecycle => {
            if let Err(e) = family(world, t).await {
                *t.statuses
                    .entry(format!("family failed: {e:#}"))
                    .or_default() += 1;
            }
        }
    }
}

/// Sends a call and records its latency (from `from`) and status.
#[allow(clippy::too_many_arguments)]
async fn timed(
    world: &World,
    t: &mut Tallies,
    kind: &'static str,
    command: bool,
    from: Instant,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Option<(StatusCode, Value)> {
    let outcome = call(&world.http, method, &world.instance.url(path), token, body).await;
    let took = from.elapsed();
    match outcome {
        Ok((status, answer)) => {
            t.record(kind, took, status.as_str(), command);
            Some((status, answer))
        }
        Err(e) => {
            let what = if e.to_string().contains("timed out") {
                "timeout"
            } else {
                "transport error"
            };
            t.record(kind, took, what, command);
            None
        }
    }
}

/// Person `n`'s invitation: an application and a UCI of their own.
fn invite(n: usize) -> Value {
    json!({
        "application_number": format!("E{:09}", n % 1_000_000_000),
        "uci": format!("{:010}", 1_000_000_000 + n),
        "given_name": "Ana",
        "family_name": "Silva",
        "date_of_birth": "1990-04-05",
        "email": format!("load{n}@example.ca"),
        "language": "en",
    })
}

/// One family member walked from invitation to eCoPR, each step timed, each followed by a
/// status read; one photo in four returned and uploaded again.
async fn family(world: &World, t: &mut Tallies) -> anyhow::Result<()> {
    let n = world.next.fetch_add(1, Ordering::Relaxed);
    let mail = world.store.data_dir(0).join("mail");
    let officer = Some(world.officer.as_str());
    let (status, invited) = timed(
        world,
        t,
        "POST /v1/cases",
        true,
        Instant::now(),
        Method::POST,
        "/v1/cases",
        officer,
        Some(invite(n)),
    )
    .await
    .context("invite: transport")?;
    ensure!(status == StatusCode::CREATED, "invite: {status} {invited}");
    let case_id = invited["case_id"]
        .as_str()
        .context("no case id")?
        .to_owned();
    let code = harness::mail_line(&mail, &case_id, 1, "Invitation code: ").await?;
    let accept = format!("/v1/invitations/{code}/acceptance");
    let (status, _) = timed(
        world,
        t,
        "POST acceptance",
        true,
        Instant::now(),
        Method::POST,
        &accept,
        None,
        None,
    )
    .await
    .context("accept: transport")?;
    ensure!(status == StatusCode::OK, "accept: {status}");
    let username = harness::mail_line(&mail, &case_id, 3, "Username: ").await?;
    let temporary = harness::mail_line(&mail, &case_id, 3, "Temporary password: ").await?;
    let sign_in = json!({"username": username, "password": temporary});
    let (status, session) = timed(
        world,
        t,
        "POST /v1/sessions",
        false,
        Instant::now(),
        Method::POST,
        "/v1/sessions",
        None,
        Some(sign_in),
    )
    .await
    .context("sign-in: transport")?;
    ensure!(status == StatusCode::CREATED, "sign-in: {status} {session}");
    let token = session["token"].as_str().context("no token")?.to_owned();
    let me = Some(token.as_str());
    let change = json!({"current_password": temporary, "new_password": PASSWORD});
    step(
        world,
        t,
        "PUT /v1/me/password",
        Method::PUT,
        "/v1/me/password",
        me,
        Some(change),
    )
    .await?;
    step(
        world,
        t,
        "PUT /v1/my/case/presence",
        Method::PUT,
        "/v1/my/case/presence",
        me,
        Some(json!({"in_canada": true})),
    )
    .await?;
    let address = json!({"residential": {"line1": "1 Main St", "city": "Ottawa", "province": "ON", "postal_code": "K1A 0B1"}});
    step(
        world,
        t,
        "PUT /v1/my/case/address",
        Method::PUT,
        "/v1/my/case/address",
        me,
        Some(address),
    )
    .await?;
    let rounds = if n.is_multiple_of(4) { 2 } else { 1 };
    for round in 0..rounds {
        upload(world, t, &token).await?;
        let claim = format!("/v1/cases/{case_id}/claim");
        step(world, t, "POST claim", Method::POST, &claim, officer, None).await?;
        let review = format!("/v1/cases/{case_id}/photo-review");
        let decision = if round + 1 < rounds {
            json!({"decision": "return", "reason": "too_dark"})
        } else {
            json!({"decision": "accept"})
        };
        step(
            world,
            t,
            "POST photo-review",
            Method::POST,
            &review,
            officer,
            Some(decision),
        )
        .await?;
        if round + 1 < rounds {
            step(
                world,
                t,
                "DELETE claim",
                Method::DELETE,
                &claim,
                officer,
                None,
            )
            .await?;
        }
    }
    let approval = format!("/v1/cases/{case_id}/approval");
    step(
        world,
        t,
        "POST approval",
        Method::POST,
        &approval,
        officer,
        None,
    )
    .await?;
    timed(
        world,
        t,
        "GET /v1/queue",
        false,
        Instant::now(),
        Method::GET,
        "/v1/queue?limit=50",
        officer,
        None,
    )
    .await;
    Ok(())
}

/// A command of the walk, then the applicant's status read.
#[allow(clippy::too_many_arguments)]
async fn step(
    world: &World,
    t: &mut Tallies,
    kind: &'static str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<()> {
    let (status, answer) = timed(
        world,
        t,
        kind,
        true,
        Instant::now(),
        method,
        path,
        token,
        body,
    )
    .await
    .with_context(|| format!("{kind}: transport"))?;
    ensure!(status.is_success(), "{kind}: {status} {answer}");
    Ok(())
}

async fn upload(world: &World, t: &mut Tallies, token: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let response = world
        .http
        .put(world.instance.url("/v1/my/case/photo"))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(world.photo.clone())
        .send()
        .await?;
    let status = response.status();
    let _ = response.bytes().await;
    t.record(
        "PUT /v1/my/case/photo",
        started.elapsed(),
        status.as_str(),
        true,
    );
    ensure!(status.is_success(), "photo: {status}");
    Ok(())
}

/// A photo the pre-check takes: 800 x 1120, a light face on a white background.
fn photo_png() -> anyhow::Result<Vec<u8>> {
    let (w, h) = (800u32, 1120u32);
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f64 - 400.0, y as f64 - 500.0);
        let face = (dx / 220.0).powi(2) + (dy / 300.0).powi(2) < 1.0;
        let shade = if face {
            150 + ((x * 7 + y * 3) % 40) as u8
        } else {
            245
        };
        image::Luma([shade])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)?;
    Ok(bytes.into_inner())
}

/// pgbench's one-row INSERT transactions/s on the cluster at `url`, `clients` at once, for
/// `seconds`: the reference beside every PostgreSQL figure.
///
/// # Errors
/// If pgbench cannot run or prints no rate.
pub async fn pgbench(url: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let name = format!("prconfirm_pgbench_{}", std::process::id());
    let db = harness::with_database(url, &name);
    let admin = |sql: String| {
        let url = url.to_owned();
        async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            sqlx::query(&sql).execute(&mut conn).await?;
            Ok::<_, anyhow::Error>(())
        }
    };
    admin(format!("DROP DATABASE IF EXISTS {name}")).await?;
    admin(format!("CREATE DATABASE {name}")).await?;
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db).await?;
        sqlx::query(
            "CREATE TABLE one_row (id bigserial PRIMARY KEY, case_id text NOT NULL, \
             payload jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())",
        )
        .execute(&mut conn)
        .await?;
    }
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO one_row (case_id, payload) VALUES (:client_id, '{\"line1\":\"1 Main St\"}');\n",
    )?;
    let out = pgbench_command(&script, &db, clients, seconds).output()?;
    admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    if !out.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .context("no tps line in pgbench's output")
}

fn pgbench_command(script: &Path, url: &str, clients: usize, seconds: u64) -> Command {
    let mut c = Command::new("pgbench");
    c.args([
        "-n",
        "-c",
        &clients.to_string(),
        "-j",
        &clients.min(2).to_string(),
    ])
    .args(["-T", &seconds.to_string(), "-f"])
    .arg(script)
    .arg(url);
    c
}

/// The server's user and system CPU seconds so far (`/proc/PID/stat`).
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The server's peak resident memory (`VmHWM`), in MB.
fn peak_rss_mb(pid: Option<u32>) -> Option<f64> {
    memory_mb(pid, "VmHWM:")
}

/// A process's memory line of `/proc/PID/status` (`VmRSS:`, `VmHWM:`...), in MB.
pub(crate) fn memory_mb(pid: Option<u32>, line: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(line))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
