//! Drill 5: three instances on one PostgreSQL, sharing the key files as they must; the one
//! that started first (and so runs the consumers of the log) is SIGKILLed in the middle of
//! `n` keyed commands spread over all three. The others keep serving (every answer they
//! give is a 201 or a 409 for a copy in flight, never an error, never a dropped
//! connection); the consumers move over to them; nothing is lost: every acknowledged
//! command in the log once, the views caught up with the whole log and equal to a rebuild,
//! every invitation e-mail sent, `audit verify` passing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use prconfirm_migrations::on_db;
use serde_json::Value;

use super::harness::{self, Backend, Instance, Store};
use super::load;

/// The consumers each instance runs here, from its `/readyz` detail.
async fn running_here(instance: &Instance) -> anyhow::Result<Vec<String>> {
    let detail: Value = reqwest::get(instance.url("/readyz")).await?.json().await?;
    Ok(detail["consumers"]
        .as_object()
        .map(|all| {
            all.iter()
                .filter(|(_, c)| c["running_here"] == true)
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default())
}

/// Every consumer's name, from an instance's `/readyz` detail.
async fn consumers(instance: &Instance) -> anyhow::Result<Vec<String>> {
    let detail: Value = reqwest::get(instance.url("/readyz")).await?.json().await?;
    Ok(detail["consumers"]
        .as_object()
        .map(|all| all.keys().cloned().collect())
        .unwrap_or_default())
}

/// Runs the drill with `n` commands, `concurrency` at once.
///
/// # Errors
/// The property that failed.
pub async fn run(n: usize, concurrency: usize) -> anyhow::Result<String> {
    let store = Store::new(Backend::Postgres, None).await?;
    let env = [("PRCONFIRM_AUDIT_CHECKPOINT_SECS", "1")];
    let mut first = store.serve(0, &env).await?;
    // The first holds every consumer before the others start.
    let all = consumers(&first).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while running_here(&first).await?.len() < all.len() {
        ensure!(
            Instant::now() < deadline,
            "the first instance never ran every consumer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let others = [store.serve(1, &env).await?, store.serve(2, &env).await?];
    let officer = harness::staff(&store, &first, "officer.one", "officer").await?;
    let bases = Arc::new(vec![
        first.base.clone(),
        others[0].base.clone(),
        others[1].base.clone(),
    ]);
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let load = tokio::spawn({
        let (bases, acknowledged, officer) = (bases.clone(), acknowledged.clone(), officer.clone());
        async move {
            load::keyed_invites(
                bases,
                &officer,
                "instances",
                n,
                concurrency,
                Duration::from_secs(180),
                acknowledged,
            )
            .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.load(Ordering::Relaxed) < n / 3 {
        ensure!(
            Instant::now() < deadline && !load.is_finished(),
            "the load made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().await?;
    let killed = Instant::now();
    // The consumers move over (each instance asks for a lease every second).
    let moved = loop {
        let mut here = running_here(&others[0]).await?;
        here.extend(running_here(&others[1]).await?);
        here.sort();
        if here.len() == all.len() {
            break killed.elapsed();
        }
        ensure!(
            killed.elapsed() < Duration::from_secs(15),
            "15 s after the kill the others run only {here:?} of {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let seen = load.await??;
    let elapsed = started.elapsed();
    for (i, tally) in seen.by_instance.iter().enumerate().skip(1) {
        let unexpected: usize = tally
            .0
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "201" | "409"))
            .map(|(_, n)| n)
            .sum();
        ensure!(
            unexpected == 0,
            "instance {i}, which stayed up, answered {tally}"
        );
    }
    let events = store.events().await?;
    load::each_once(&seen, &events, "instances")?;
    harness::no_sequence_gap(&events)?;
    harness::projections_caught_up(&store, Duration::from_secs(60)).await?;
    // Every invitation's e-mail queued and sent (by whichever instance runs delivery).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sql = "SELECT count(*) FILTER (WHERE sent_at IS NOT NULL), count(*) FROM mail_outbox";
        let (sent, queued): (i64, i64) =
            on_db!(store.db(), |pool| sqlx::query_as(sql).fetch_one(pool).await)?;
        if sent == queued && queued as usize == n {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{sent} of {queued} e-mails sent, {n} invitations"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for mut other in others {
        other.stop().await?;
    }
    harness::log_and_views_hold(&store).await?;
    store.finish().await;
    Ok(format!(
        "{n} keyed commands over 3 instances, the first killed after a third: consumers moved \
         in {:.1} s; all acknowledged once in {:.1} s; survivors answered {} and {}; every \
         e-mail sent; no gap; audit verify passed; views equal a rebuild",
        moved.as_secs_f64(),
        elapsed.as_secs_f64(),
        seen.by_instance[1],
        seen.by_instance[2]
    ))
}
