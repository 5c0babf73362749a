//! The drills' load: `n` invitations, each with an `Idempotency-Key` of its own, all sent at
//! once (up to `concurrency` in flight), each retried by the client until it is answered
//! (201, first or replayed), as a careful client does through a crash. What the clients saw
//! is kept, to be held against the log afterwards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use reqwest::StatusCode;
use tokio::sync::Semaphore;

use super::harness::{invite_body, EventRow, Tally};

/// What the load's clients saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// The case each key was acknowledged with (every 201 for it named this case).
    pub acknowledged: HashMap<String, String>,
    /// When each key's first 201 came back (after its commit, then).
    pub acknowledged_at: HashMap<String, Instant>,
    /// Answers by status (`"201"`, `"503"`, ...) and transport errors (`"transport"`), by
    /// the instance that gave them.
    pub by_instance: Vec<Tally>,
    /// Keys acknowledged with two different cases.
    pub inconsistent: Vec<String>,
    /// Answers no retry could mend (4xx other than 409, 5xx other than 503).
    pub refused: Vec<String>,
    /// Longest wait of a command for an answer that was not a transport error.
    pub slowest: Duration,
}

impl Seen {
    pub fn tally(&self) -> Tally {
        let mut all = Tally::default();
        for t in &self.by_instance {
            for (k, n) in &t.0 {
                *all.0.entry(k.clone()).or_default() += n;
            }
        }
        all
    }
}

/// The key of command `k` of a run tagged `tag`.
pub fn key(tag: &str, k: usize) -> String {
    format!("drill-{tag}-{k}")
}

/// Sends the `n` keyed invitations to `bases` (command `k` tries `bases[(k + attempt) %
/// len]`, so a dead instance's share moves to the others) as `token`, retrying each until it
/// is acknowledged or `within` has passed. `acknowledged` counts the 201s as they come, for
/// the drill to strike its fault at a point of its choosing.
///
/// # Errors
/// If some commands were never acknowledged within `within`.
pub async fn keyed_invites(
    bases: Arc<Vec<String>>,
    token: &str,
    tag: &str,
    n: usize,
    concurrency: usize,
    within: Duration,
    acknowledged: Arc<AtomicUsize>,
) -> anyhow::Result<Seen> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let seen = Arc::new(Mutex::new(Seen {
        by_instance: vec![Tally::default(); bases.len()],
        ..Seen::default()
    }));
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let deadline = Instant::now() + within;
    let mut tasks = Vec::with_capacity(n);
    for k in 0..n {
        let (http, bases, seen, gate, acknowledged) = (
            http.clone(),
            bases.clone(),
            seen.clone(),
            gate.clone(),
            acknowledged.clone(),
        );
        let (token, key) = (token.to_owned(), key(tag, k));
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let body = invite_body(k);
            let mut attempt = 0;
            while Instant::now() < deadline {
                let which = (k + attempt) % bases.len();
                attempt += 1;
                let started = Instant::now();
                let sent = http
                    .post(format!("{}/v1/cases", bases[which]))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .json(&body)
                    .send()
                    .await;
                let answer = match sent {
                    Ok(r) => {
                        let status = r.status();
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        Some((status, body))
                    }
                    Err(_) => None,
                };
                let waited = started.elapsed();
                if record(&seen, &acknowledged, which, &key, answer, waited) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let seen = Arc::try_unwrap(seen)
        .ok()
        .context("the load's clients are still running")?
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ensure!(
        seen.refused.is_empty(),
        "{} commands were refused for good, e.g. {}",
        seen.refused.len(),
        seen.refused[0]
    );
    ensure!(
        seen.inconsistent.is_empty(),
        "keys acknowledged with two different cases: {:?}",
        seen.inconsistent
    );
    ensure!(
        seen.acknowledged.len() == n,
        "{} of {n} commands acknowledged within {within:?} ({})",
        seen.acknowledged.len(),
        seen.tally()
    );
    Ok(seen)
}

/// Records one attempt's answer; answers whether the command is done with (acknowledged, or
/// refused for good).
fn record(
    seen: &Mutex<Seen>,
    acknowledged: &AtomicUsize,
    which: usize,
    key: &str,
    answer: Option<(StatusCode, serde_json::Value)>,
    waited: Duration,
) -> bool {
    let mut s = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some((status, body)) = answer else {
        s.by_instance[which].add("transport");
        return false;
    };
    s.slowest = s.slowest.max(waited);
    s.by_instance[which].add(status.as_str());
    if status == StatusCode::CREATED {
        let case = body["case_id"].as_str().unwrap_or_default().to_owned();
        match s.acknowledged.get(key) {
            Some(first) if *first != case => s.inconsistent.push(key.to_owned()),
            Some(_) => {}
            None => {
                s.acknowledged.insert(key.to_owned(), case);
                s.acknowledged_at.insert(key.to_owned(), Instant::now());
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        }
        return true;
    }
    if matches!(
        status,
        StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE
    ) {
        return false;
    }
    s.refused.push(format!("{key}: {status} {body}"));
    true
}

/// Every acknowledged command is in the log exactly once, as the case it was acknowledged
/// with, and nothing else carries the run's keys.
///
/// # Errors
/// Names the first command missing, repeated or misplaced.
pub fn each_once(seen: &Seen, events: &[EventRow], tag: &str) -> anyhow::Result<()> {
    let prefix = format!("drill-{tag}-");
    let mut found: HashMap<&str, Vec<&EventRow>> = HashMap::new();
    for e in events {
        if let Some(k) = e.key.as_deref().filter(|k| k.starts_with(&prefix)) {
            found.entry(k).or_default().push(e);
        }
    }
    for (key, case) in &seen.acknowledged {
        let rows = found
            .get(key.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        ensure!(
            rows.len() == 1,
            "acknowledged command {key} is in the log {} times",
            rows.len()
        );
        ensure!(
            rows[0].case == *case && rows[0].kind == "Invited" && rows[0].sequence == 1,
            "acknowledged command {key} (case {case}) is in the log as {} {} of case {}",
            rows[0].kind,
            rows[0].sequence,
            rows[0].case
        );
    }
    ensure!(
        found.len() == seen.acknowledged.len(),
        "{} keys in the log, {} acknowledged",
        found.len(),
        seen.acknowledged.len()
    );
    let invited = events.iter().filter(|e| e.kind == "Invited").count();
    ensure!(
        invited == seen.acknowledged.len(),
        "{invited} invitations in the log for {} commands",
        seen.acknowledged.len()
    );
    Ok(())
}
