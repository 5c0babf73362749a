//! Drill 4: many conflicting commands on one case at once. For each of `rounds` invited
//! cases, `racers` officers' commands (withdrawals and referrals, each closing the case)
//! are sent together, half with `If-Match` naming the version all of them read, half
//! without: exactly one wins (200), every other is refused (409 or 412, never 5xx), and the
//! case holds exactly one more event.

use std::time::Instant;

use anyhow::ensure;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::harness::{self, call, http, invite_body, Backend, Store, Tally};

/// Runs the drill.
///
/// # Errors
/// The property that failed.
pub async fn run(backend: Backend, rounds: usize, racers: usize) -> anyhow::Result<String> {
    let store = Store::new(backend, None).await?;
    let mut server = store.serve(0, &[]).await?;
    let officer = harness::staff(&store, &server, "officer.one", "officer").await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(racers)
        .build()?;
    let mut tally = Tally::default();
    let started = Instant::now();
    for round in 0..rounds {
        let (status, invited) = call(
            &http(),
            Method::POST,
            &server.url("/v1/cases"),
            Some(&officer),
            Some(invite_body(round)),
        )
        .await?;
        ensure!(status == StatusCode::CREATED, "invite: {status} {invited}");
        let case = invited["case_id"].as_str().unwrap_or_default().to_owned();
        let version = invited["version"].as_u64().unwrap_or_default();
        let sends = (0..racers).map(|r| {
            let what = if r % 2 == 0 { "withdrawal" } else { "referral" };
            let mut request = client
                .post(server.url(&format!("/v1/cases/{case}/{what}")))
                .bearer_auth(&officer)
                .json(&json!({"reason": format!("racer {r}")}));
            if r % 4 < 2 {
                request = request.header("If-Match", format!("\"{version}\""));
            }
            request.send()
        });
        let answers = futures::future::join_all(sends).await;
        let mut winners = 0;
        for answer in answers {
            let status = answer?.status();
            tally.add(status.as_str());
            match status {
                StatusCode::OK => winners += 1,
                StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => {}
                other => anyhow::bail!("case {case}: a racer was answered {other}"),
            }
        }
        ensure!(winners == 1, "case {case}: {winners} winners of {racers}");
        let events: Vec<_> = store
            .events()
            .await?
            .into_iter()
            .filter(|e| e.case == case)
            .collect();
        ensure!(
            events.len() as u64 == version + 1,
            "case {case}: {} events after one winner ({:?})",
            events.len(),
            events.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
    }
    let elapsed = started.elapsed();
    harness::projections_caught_up(&store, std::time::Duration::from_secs(60)).await?;
    server.stop().await?;
    harness::log_and_views_hold(&store).await?;
    store.finish().await;
    Ok(format!(
        "{rounds} cases on {backend}, {racers} racers each: one winner and one event each \
         ({tally}) in {:.1} s; audit verify passed; views equal a rebuild",
        elapsed.as_secs_f64()
    ))
}
