//! Drills 1 and 2: a crash in the middle of keyed commands.
//!
//! - `kill`: the server is SIGKILLed while `n` keyed invitations are in flight, and started
//!   again on the same storage and port;
//! - `pg-crash`: PostgreSQL (a throwaway cluster) is stopped in immediate mode (as in a power
//!   cut: no checkpoint, recovery from the WAL at the next start) and started again, while
//!   the server runs on.
//!
//! The clients retry each command until it is answered. Then: every acknowledged command is
//! in the log exactly once, no case's sequence has a gap, `prconfirm audit verify` passes,
//! and the views (caught up) equal a rebuild from the log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::cluster::Cluster;
use super::harness::{self, Backend, Store};
use super::load;

/// What strikes in the middle of the load.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// SIGKILL of the server, then a restart.
    KillServer,
    /// `pg_ctl stop -m immediate`, a pause of this long, then `pg_ctl start`.
    CrashPostgres(Duration),
}

/// Runs the drill with `n` commands, `concurrency` at once, the fault striking once a third
/// of them are acknowledged.
///
/// # Errors
/// The property that failed.
pub async fn run(
    backend: Backend,
    fault: Fault,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<String> {
    let cluster = match fault {
        Fault::CrashPostgres(_) => Some(Cluster::start_new()?),
        Fault::KillServer => None,
    };
    let store = Store::new(backend, cluster.as_ref().map(Cluster::url).as_deref()).await?;
    let env = [("PRCONFIRM_AUDIT_CHECKPOINT_SECS", "1")];
    let mut server = store.serve(0, &env).await?;
    let officer = harness::staff(&store, &server, "officer.one", "officer").await?;
    let bases = Arc::new(vec![server.base.clone()]);
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let load = tokio::spawn({
        let (bases, acknowledged, officer) = (bases.clone(), acknowledged.clone(), officer.clone());
        async move {
            load::keyed_invites(
                bases,
                &officer,
                "crash",
                n,
                concurrency,
                Duration::from_secs(180),
                acknowledged,
            )
            .await
        }
    });
    // Strike once a third is acknowledged (bounded: a load that makes no progress fails).
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.load(Ordering::Relaxed) < n / 3 {
        anyhow::ensure!(
            Instant::now() < deadline && !load.is_finished(),
            "the load made no progress: {} acknowledged",
            acknowledged.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at = acknowledged.load(Ordering::Relaxed);
    let down = Instant::now();
    match fault {
        Fault::KillServer => {
            server.kill().await?;
            server = store.serve_at(0, server.port, &env).await?;
        }
        Fault::CrashPostgres(pause) => {
            let cluster = cluster.as_ref().context("no cluster")?;
            cluster.stop("immediate")?;
            tokio::time::sleep(pause).await;
            cluster.start()?;
        }
    }
    let outage = down.elapsed();
    let seen = load.await??;
    let elapsed = started.elapsed();

    let events = store.events().await?;
    load::each_once(&seen, &events, "crash")?;
    harness::no_sequence_gap(&events)?;
    harness::projections_caught_up(&store, Duration::from_secs(60)).await?;
    server.stop().await?;
    harness::log_and_views_hold(&store).await?;
    let report = format!(
        "{n} keyed commands on {backend}, fault after {at} acknowledged, down {:.1} s; all \
         acknowledged once in {:.1} s; answers {}; {} events, no gap; audit verify passed; \
         views equal a rebuild",
        outage.as_secs_f64(),
        elapsed.as_secs_f64(),
        seen.tally(),
        events.len()
    );
    store.finish().await;
    drop(cluster);
    Ok(report)
}
