//! Drill 3: PostgreSQL out of reach for a while (a throwaway cluster stopped, then started).
//! Throughout: `/healthz` 200; `/readyz` 503 within 5 s of the stop; every command answered
//! (no hang) 503 with `Retry-After` within 3 s (at once once the server has seen the
//! outage); no 500 at all. Within 10 s of PostgreSQL's return, without a restart: a command
//! acknowledged, its effect read back through a view (`?min_version`), and `/readyz` 200.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::ensure;
use reqwest::{Method, StatusCode};

use super::cluster::Cluster;
use super::harness::{self, call, http, invite_body, Backend, Store, Tally};

/// One command's answer during the drill.
#[derive(Debug, Clone)]
struct Answer {
    sent: Instant,
    took: Duration,
    status: Option<StatusCode>,
    retry_after: bool,
}

/// Runs the drill with PostgreSQL down for `down`.
///
/// # Errors
/// The property that failed.
pub async fn run(down: Duration) -> anyhow::Result<String> {
    let cluster = Cluster::start_new()?;
    let store = Store::new(Backend::Postgres, Some(&cluster.url())).await?;
    let mut server = store.serve(0, &[]).await?;
    let officer = harness::staff(&store, &server, "officer.one", "officer").await?;
    let client = http();
    let (status, _) = call(
        &client,
        Method::POST,
        &server.url("/v1/cases"),
        Some(&officer),
        Some(invite_body(0)),
    )
    .await?;
    ensure!(status == StatusCode::CREATED, "before the outage: {status}");

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let health = Arc::new(Mutex::new(Tally::default()));
    let ready: Arc<Mutex<Vec<(Instant, StatusCode)>>> = Arc::default();
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let mut probes = Vec::new();
    // /healthz and /readyz, every 100 ms.
    for path in ["/healthz", "/readyz"] {
        let (client, url, stop, health, ready) = (
            client.clone(),
            server.url(path),
            stop.clone(),
            health.clone(),
            ready.clone(),
        );
        probes.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answered = client
                    .get(&url)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let status = answered.as_ref().map(reqwest::Response::status).ok();
                if path == "/healthz" {
                    let mut h = health
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    h.add(status.map_or("transport".to_owned(), |s| s.as_str().to_owned()));
                } else if let Some(s) = status {
                    ready
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((Instant::now(), s));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    // Four clients inviting one after another, each waiting at most 15 s for an answer.
    for c in 0..4 {
        let (client, url, stop, answers, officer) = (
            client.clone(),
            server.url("/v1/cases"),
            stop.clone(),
            answers.clone(),
            officer.clone(),
        );
        probes.push(tokio::spawn(async move {
            let mut k = 1 + c;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let answered = client
                    .post(&url)
                    .bearer_auth(&officer)
                    .json(&invite_body(k))
                    .timeout(Duration::from_secs(15))
                    .send()
                    .await;
                k += 4;
                let answer = Answer {
                    sent,
                    took: sent.elapsed(),
                    status: answered.as_ref().ok().map(reqwest::Response::status),
                    retry_after: answered
                        .as_ref()
                        .is_ok_and(|r| r.headers().contains_key("retry-after")),
                };
                answers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(answer);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = Instant::now();
    cluster.stop("fast")?;
    // From here PostgreSQL is down (pg_ctl waited for it), until `starting`.
    let down_at = Instant::now();
    tokio::time::sleep(down).await;
    let starting = Instant::now();
    cluster.start()?;
    let back = Instant::now();

    // Full service: a command acknowledged and read back through a view, and /readyz 200.
    let deadline = back + Duration::from_secs(10);
    let mut k = 1_000_000;
    let recovered = loop {
        k += 1;
        let (status, invited) = call(
            &client,
            Method::POST,
            &server.url("/v1/cases"),
            Some(&officer),
            Some(invite_body(k)),
        )
        .await?;
        if status == StatusCode::CREATED {
            let case = invited["case_id"].as_str().unwrap_or_default();
            let (status, view) = call(
                &client,
                Method::GET,
                &server.url(&format!("/v1/queue?case_id={case}&min_version=1")),
                Some(&officer),
                None,
            )
            .await?;
            let (ready, _) = call(&client, Method::GET, &server.url("/readyz"), None, None).await?;
            if status == StatusCode::OK && ready == StatusCode::OK {
                break back.elapsed();
            }
            ensure!(
                Instant::now() < deadline,
                "not fully back 10 s after PostgreSQL: the view answers {status} {view}, /readyz {ready}"
            );
        }
        ensure!(
            Instant::now() < deadline,
            "commands not back 10 s after PostgreSQL: {status} {invited}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in probes {
        p.await?;
    }

    let health = health
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    ensure!(
        health.0.len() == 1 && health.count("200") > 0,
        "/healthz during the drill: {health}"
    );
    let ready = ready
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let first_503 = ready
        .iter()
        .find(|(at, s)| *at > stopped && *s == StatusCode::SERVICE_UNAVAILABLE)
        .map(|(at, _)| at.duration_since(stopped));
    ensure!(
        first_503.is_some_and(|d| d <= Duration::from_secs(5)),
        "/readyz said 503 after {first_503:?}, not within 5 s"
    );
    let answers = answers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut tally = Tally::default();
    for a in &answers {
        tally.add(
            a.status
                .map_or("transport".to_owned(), |s| s.as_str().to_owned()),
        );
    }
    ensure!(
        tally.server_errors() == 0,
        "answers other than 503 among 5xx: {tally}"
    );
    ensure!(
        tally.count("transport") == 0,
        "commands without an answer: {tally}"
    );
    // The outage as the server saw it: from its first 503 to PostgreSQL's return.
    let seen = first_503.map_or(stopped, |d| stopped + d);
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent > stopped && a.sent < starting)
        .collect();
    ensure!(!during.is_empty(), "no command was sent during the outage");
    let mut slowest_after_seen = Duration::ZERO;
    let mut slowest = Duration::ZERO;
    let mut refused = 0;
    for a in &during {
        // Sent once PostgreSQL was down, and answered before it was started again.
        if a.sent > down_at && a.sent + a.took < starting {
            ensure!(
                a.status == Some(StatusCode::SERVICE_UNAVAILABLE),
                "a command sent during the outage was answered {:?}",
                a.status
            );
        }
        if a.status == Some(StatusCode::SERVICE_UNAVAILABLE) {
            ensure!(a.retry_after, "a 503 without Retry-After");
            refused += 1;
        }
        slowest = slowest.max(a.took);
        if a.sent > seen {
            slowest_after_seen = slowest_after_seen.max(a.took);
        }
    }
    ensure!(
        slowest <= Duration::from_secs(3),
        "a command took {slowest:?} to be answered during the outage"
    );
    server.stop().await?;
    let report = format!(
        "PostgreSQL down {:.1} s: /healthz {health}; /readyz 503 after {:.2} s; {} commands \
         during the outage, {refused} answered 503 with Retry-After, slowest {:.2} s ({:.3} s \
         once seen); answers {tally}; full service {:.2} s after PostgreSQL was back",
        back.duration_since(stopped).as_secs_f64(),
        first_503.unwrap_or_default().as_secs_f64(),
        during.len(),
        slowest.as_secs_f64(),
        slowest_after_seen.as_secs_f64(),
        recovered.as_secs_f64()
    );
    store.finish().await;
    drop(cluster);
    Ok(report)
}
