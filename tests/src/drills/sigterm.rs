//! Drill 6: SIGTERM under load. `slow` invitations are in flight, each with its head sent and
//! half its body (the server is inside them, waiting for the rest), while `clients` others
//! invite as fast as they can; then SIGTERM. The rest of each slow body follows a second
//! later: every slow request must still be answered 201 (in-flight requests finish), and be
//! in the log; no answer of any client is a 5xx; the process exits, successfully, within
//! 10 s of the signal, although one more client never sends the rest of its body; and
//! `audit verify` passes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::{self, invite_body, Backend, Store, Tally};

/// Sends one invitation by hand over its own connection: the head and half the body, then
/// (once `go` is set) the rest; answers the status line's code and the body.
async fn slow_invite(
    port: u16,
    token: &str,
    k: usize,
    go: Arc<tokio::sync::Notify>,
) -> anyhow::Result<(u16, String)> {
    let body = invite_body(k).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "POST /v1/cases HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(first.as_bytes()).await?;
    go.notified().await;
    stream.write_all(rest.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {answer:?}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Runs the drill.
///
/// # Errors
/// The property that failed.
pub async fn run(backend: Backend, slow: usize, clients: usize) -> anyhow::Result<String> {
    let store = Store::new(backend, None).await?;
    let mut server = store.serve(0, &[]).await?;
    let officer = harness::staff(&store, &server, "officer.one", "officer").await?;

    // The fast clients.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut fast = Vec::new();
    for c in 0..clients {
        let (stop, tally, url, officer) = (
            stop.clone(),
            tally.clone(),
            server.url("/v1/cases"),
            officer.clone(),
        );
        fast.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut k = 100_000 + c;
            while !stop.load(Ordering::Relaxed) {
                let answer = http
                    .post(&url)
                    .bearer_auth(&officer)
                    .json(&invite_body(k))
                    .timeout(Duration::from_secs(15))
                    .send()
                    .await;
                k += clients;
                let what = match answer {
                    Ok(r) => r.status().as_str().to_owned(),
                    Err(_) => "transport".to_owned(),
                };
                tally
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .add(what.clone());
                if what == "transport" {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    // The slow ones, inside the server when the signal comes.
    let go = Arc::new(tokio::sync::Notify::new());
    let mut slow_tasks = Vec::new();
    for k in 0..slow {
        let (go, officer, port) = (go.clone(), officer.clone(), server.port);
        slow_tasks.push(tokio::spawn(async move {
            slow_invite(port, &officer, k, go).await
        }));
    }
    // And one that never sends the rest of its body: it must not hold the exit past 10 s.
    let never = Arc::new(tokio::sync::Notify::new());
    let straggler = tokio::spawn({
        let (never, officer, port) = (never.clone(), officer.clone(), server.port);
        async move { slow_invite(port, &officer, slow, never).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.signal("TERM")?;
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    go.notify_waiters();
    let mut acknowledged = Vec::new();
    for task in slow_tasks {
        let (code, body) = task.await??;
        ensure!(
            code == 201,
            "an in-flight request was answered {code} {body}"
        );
        let answer: serde_json::Value = serde_json::from_str(&body)?;
        acknowledged.push(answer["case_id"].as_str().unwrap_or_default().to_owned());
    }
    let (_, ok) = server
        .wait_exit(Duration::from_secs(10).saturating_sub(signalled.elapsed()))
        .await
        .context("the server was still running 10 s after SIGTERM")?;
    let took = signalled.elapsed();
    ensure!(ok, "the server exited with a failure: {}", server.logs());
    straggler.abort();
    stop.store(true, Ordering::Relaxed);
    for f in fast {
        f.await?;
    }
    let tally = tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let fivexx: usize = tally
        .0
        .iter()
        .filter(|(k, _)| k.starts_with('5'))
        .map(|(_, n)| n)
        .sum();
    ensure!(fivexx == 0, "answers during the shutdown: {tally}");
    let events = store.events().await?;
    for case in &acknowledged {
        ensure!(
            events.iter().any(|e| e.case == *case),
            "acknowledged case {case} is not in the log"
        );
    }
    harness::no_sequence_gap(&events)?;
    let (ok, out, err) = store.try_cli(&store.data_dir(0), &["audit", "verify"], "")?;
    ensure!(ok, "audit verify failed: {out} {err}");
    store.finish().await;
    Ok(format!(
        "SIGTERM on {backend} with {slow} requests in flight and {clients} clients: all {slow} \
         answered 201 and in the log; exit after {:.2} s; other answers {tally}",
        took.as_secs_f64()
    ))
}
