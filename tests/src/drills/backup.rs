//! Drill 8: a backup taken while the server writes, restored onto fresh storage as
//! docs/operations.md says, and served again.
//!
//! Families are walked in (invitation, acceptance, credentials, presence, address, a photo),
//! then `n` keyed invitations run, and once a third are acknowledged the backup is taken
//! while they go on: on SQLite `prconfirm backup` (`VACUUM INTO`, then the blob store), on
//! PostgreSQL `pg_dump -Fc` then `prconfirm backup --blobs-only`; the key files are copied
//! apart, as from their own backup. The restore goes onto a new data directory, and on
//! PostgreSQL onto a new cluster whose transaction counter is behind the source's (as a new
//! machine's is): the server must refuse it, naming the `pg_resetwal` that mends it, and
//! work once that has run. Then: every command acknowledged before the backup began is in
//! the restored log once (and nothing the clients were not acknowledged), no sequence gap,
//! every photo the log names is in the restored blob store, the restored server serves the
//! families' status, an officer their photos, and a new command read back through a view,
//! `prconfirm audit verify` passes (checkpoints signed under the restored key), and the
//! views equal a rebuild.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use reqwest::{Method, StatusCode};

use super::cluster::{pg_bin, Cluster};
use super::harness::{self, call, http, Backend, EventRow, Instance, Store};
use super::load::{self, Seen};

/// The first family member's person number, clear of the load's (one open case a person).
const FAMILY: usize = 1_000_000;

/// The source cluster's next transaction, as if it had served a while: past where a new
/// cluster starts, so that the restore onto a new one meets the counter every time.
const SOURCE_XID: u64 = 2 << 20;

/// The load's tag (its keys are `drill-backup-K`).
const TAG: &str = "backup";

/// Runs the drill: `families` walked in, then `n` keyed commands, `concurrency` at once.
///
/// # Errors
/// The property that failed.
pub async fn run(
    backend: Backend,
    families: usize,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<String> {
    let source = match backend {
        Backend::Postgres => {
            let cluster = Cluster::start_new()?;
            cluster.reset_xid(0, SOURCE_XID)?;
            Some(cluster)
        }
        Backend::Sqlite => None,
    };
    let store = Store::new(backend, source.as_ref().map(Cluster::url).as_deref()).await?;
    let env = [("PRCONFIRM_AUDIT_CHECKPOINT_SECS", "1")];
    let mut server = store.serve(0, &env).await?;
    let officer = harness::staff(&store, &server, "officer.one", "officer").await?;
    let mut walked = Vec::with_capacity(families);
    for i in 0..families {
        let (token, case) = harness::applicant(&store, &server, &officer, FAMILY + i).await?;
        let grey = u8::try_from(60 + i % 100).unwrap_or(60);
        let answer = http()
            .put(server.url("/v1/my/case/photo"))
            .bearer_auth(&token)
            .header("content-type", "image/png")
            .timeout(Duration::from_secs(30))
            .body(harness::photo(grey)?)
            .send()
            .await?;
        ensure!(
            answer.status() == StatusCode::OK,
            "a family's photo upload: {}",
            answer.status()
        );
        walked.push((token, case));
    }

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn({
        let bases = Arc::new(vec![server.base.clone()]);
        let (acknowledged, officer) = (acknowledged.clone(), officer.clone());
        async move {
            load::keyed_invites(
                bases,
                &officer,
                TAG,
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
            "the load made no progress: {} acknowledged",
            acknowledged.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at = acknowledged.load(Ordering::Relaxed);
    let backup = store.root.path().join("backup");
    let began = Instant::now();
    // The load's clients go on meanwhile on the runtime's other threads.
    tokio::task::block_in_place(|| take_backup(&store, &backup))?;
    let took = began.elapsed();
    let by_then = acknowledged.load(Ordering::Relaxed);
    ensure!(
        by_then < n && !load.is_finished(),
        "the load was over before the backup was: not a backup under writes (make it larger)"
    );
    let seen = load.await??;
    let during = seen
        .acknowledged_at
        .values()
        .filter(|t| **t >= began && **t < began + took)
        .count();
    server.stop().await?;

    let target = match backend {
        Backend::Postgres => Some(Cluster::start_new()?),
        Backend::Sqlite => None,
    };
    let mut restored = Store::blank(backend, target.as_ref().map(Cluster::url).as_deref()).await?;
    let counter = restore(&backup, &store, &restored, target.as_ref()).await?;
    restored.open().await?;

    let events = restored.events().await?;
    harness::no_sequence_gap(&events)?;
    let (before, after) = acknowledged_in(&seen, &events, began)?;
    let photos = photos_stored(&events, &restored.data_dir(0).join("blobs"), &walked)?;
    let served = serve_restore(&restored, &env, &officer, &walked, &seen, began).await?;
    harness::log_and_views_hold(&restored).await?;
    restored.finish().await;
    store.finish().await;
    drop((source, target));
    Ok(format!(
        "{backend}: families walked in: {families}, then {n} keyed commands ({concurrency} \
         at once); backup began after {at} acknowledged and took {:.2} s, {during} more \
         acknowledged meanwhile, {} still to come; restored onto {}{counter}: all {before} acknowledged before \
         it present once, {after} later ones too, nothing unacknowledged, {} events, no gap; \
         photos: {photos}, each in the restored blob store; {served}; audit verify passed; \
         views equal a rebuild",
        took.as_secs_f64(),
        n - by_then,
        match backend {
            Backend::Sqlite => "a new data directory",
            Backend::Postgres => "a new cluster",
        },
        events.len()
    ))
}

/// The operator's backup into `dir`: the database, then the blob store (keys apart).
fn take_backup(store: &Store, dir: &Path) -> anyhow::Result<()> {
    let data = store.data_dir(0);
    let to = path(dir)?;
    match &store.url {
        None => {
            store.cli(&data, &["backup", "--to", to], "")?;
        }
        Some((url, cluster)) => {
            std::fs::create_dir_all(dir)?;
            let dump = dir.join("prconfirm.dump");
            tool("pg_dump", &["-Fc", "-f", path(&dump)?, url])?;
            // Roles are the cluster's, not the database's: the dump has the grants only.
            let roles = dir.join("roles.sql");
            tool(
                "pg_dumpall",
                &["--roles-only", "-f", path(&roles)?, "-d", cluster],
            )?;
            store.cli(&data, &["backup", "--blobs-only", "--to", to], "")?;
        }
    }
    Ok(())
}

/// The operator's restore of `backup` onto `restored` (empty), with the key files of `from`;
/// on PostgreSQL into the cluster `target`. Answers what the counter check did, for the
/// report.
async fn restore(
    backup: &Path,
    from: &Store,
    restored: &Store,
    target: Option<&Cluster>,
) -> anyhow::Result<String> {
    let data = restored.data_dir(0);
    prconfirm_migrations::private::create_dir(&data)?;
    copy(&from.keys(), &restored.keys())?;
    copy(&backup.join("blobs"), &data.join("blobs"))?;
    let (Some((url, cluster_url)), Some(target)) = (&restored.url, target) else {
        copy(
            &backup.join(prconfirm_migrations::SQLITE_FILE),
            &data.join(prconfirm_migrations::SQLITE_FILE),
        )?;
        return Ok(String::new());
    };
    // Every role but the one the new cluster was made with is new there (that one's
    // CREATE ROLE fails, and psql goes on).
    tool(
        "psql",
        &[
            "-q",
            "-d",
            cluster_url,
            "-f",
            path(&backup.join("roles.sql"))?,
        ],
    )?;
    tool(
        "pg_restore",
        &[
            "--exit-on-error",
            "-d",
            url,
            path(&backup.join("prconfirm.dump"))?,
        ],
    )?;
    let (ok, _, err) = restored.try_cli(&data, &["migrate"], "")?;
    ensure!(
        !ok,
        "a restore onto a cluster whose transaction counter is behind the log's was taken"
    );
    let (epoch, xid) = resetwal_named(&err).with_context(|| {
        format!("the refusal of a cluster behind the log names no pg_resetwal: {err}")
    })?;
    target.reset_xid(epoch, xid)?;
    restored.cli(&data, &["migrate"], "")?;
    Ok(format!(
        " (refused while its counter was behind the log's, taken after pg_resetwal -e {epoch} \
         -x {xid})"
    ))
}

/// The `-e EPOCH -x XID` of the `pg_resetwal` a refusal names.
fn resetwal_named(message: &str) -> Option<(u64, u64)> {
    let rest = &message[message.find("pg_resetwal -e ")? + "pg_resetwal -e ".len()..];
    let mut words = rest.split_whitespace();
    let epoch = words.next()?.parse().ok()?;
    (words.next()? == "-x").then_some(())?;
    let xid = words.next()?.parse().ok()?;
    Some((epoch, xid))
}

/// Every key acknowledged before `began` is in the restored log once, as the case it was
/// acknowledged with; every key there was acknowledged (with that case). Answers how many
/// were acknowledged before, and how many acknowledged later are there too.
fn acknowledged_in(
    seen: &Seen,
    events: &[EventRow],
    began: Instant,
) -> anyhow::Result<(usize, usize)> {
    let prefix = format!("drill-{TAG}-");
    let mut found: HashMap<&str, Vec<&EventRow>> = HashMap::new();
    for e in events {
        if let Some(k) = e.key.as_deref().filter(|k| k.starts_with(&prefix)) {
            found.entry(k).or_default().push(e);
        }
    }
    for (key, rows) in &found {
        ensure!(
            rows.len() == 1,
            "command {key} is in the restored log {} times",
            rows.len()
        );
        let Some(case) = seen.acknowledged.get(*key) else {
            bail!("command {key} is in the restored log but was never acknowledged");
        };
        ensure!(
            rows[0].case == *case && rows[0].kind == "Invited" && rows[0].sequence == 1,
            "command {key} (acknowledged as case {case}) is in the restored log as {} {} of \
             case {}",
            rows[0].kind,
            rows[0].sequence,
            rows[0].case
        );
    }
    let mut before = 0;
    for (key, at) in &seen.acknowledged_at {
        if *at < began {
            before += 1;
            ensure!(
                found.contains_key(key.as_str()),
                "command {key}, acknowledged before the backup began, is not in the restore"
            );
        }
    }
    Ok((before, found.len() - before))
}

/// Every photo the restored log names is in the restored blob store, and each family's is
/// among them. Answers how many photos the log names.
fn photos_stored(
    events: &[EventRow],
    blobs: &Path,
    walked: &[(String, String)],
) -> anyhow::Result<usize> {
    let mut named = 0;
    for e in events.iter().filter(|e| e.kind == "PhotoUploaded") {
        let digest = harness::photo_digest(e)?;
        ensure!(
            harness::blob_path(blobs, digest).is_file(),
            "event {} of case {} names photo {digest}, which the restored blob store lacks",
            e.sequence,
            e.case
        );
        named += 1;
    }
    for (_, case) in walked {
        ensure!(
            events
                .iter()
                .any(|e| e.case == *case && e.kind == "PhotoUploaded"),
            "family case {case}'s photo is not in the restored log"
        );
    }
    Ok(named)
}

/// Starts a server on the restore and reads through it: each family's status (their
/// sessions came back with the database), each family's photo as an officer, a case
/// acknowledged before the backup, and a new invitation through its view (`?min_version`:
/// the feed works on the restore). Stops it; answers what it served, for the report.
async fn serve_restore(
    restored: &Store,
    env: &[(&str, &str)],
    officer: &str,
    walked: &[(String, String)],
    seen: &Seen,
    began: Instant,
) -> anyhow::Result<String> {
    let mut server = restored.serve(0, env).await?;
    let client = http();
    let get = |path: String, token: String| {
        let client = client.clone();
        let url = server.url(&path);
        async move { call(&client, Method::GET, &url, Some(&token), None).await }
    };
    for (token, case) in walked {
        let (status, view) = get("/v1/my/case".into(), token.clone()).await?;
        ensure!(
            status == StatusCode::OK && view["case_id"] == case.as_str(),
            "the restored server answered a family's status with {status} {view}"
        );
        let photo = client
            .get(server.url(&format!("/v1/cases/{case}/photo")))
            .bearer_auth(officer)
            .send()
            .await?;
        ensure!(
            photo.status() == StatusCode::OK && !photo.bytes().await?.is_empty(),
            "the restored server did not serve case {case}'s photo"
        );
    }
    let early = seen
        .acknowledged_at
        .iter()
        .filter(|(_, at)| **at < began)
        .find_map(|(key, _)| seen.acknowledged.get(key))
        .context("no command was acknowledged before the backup")?;
    let (status, view) = get(
        format!("/v1/queue?case_id={early}&min_version=1"),
        officer.to_owned(),
    )
    .await?;
    ensure!(
        status == StatusCode::OK,
        "the restored server's queue answered {status} {view} for case {early}"
    );
    let invited = invite_and_read(&server, officer).await?;
    // The other views apply the new invitation too before the server goes.
    harness::projections_caught_up(restored, Duration::from_secs(60)).await?;
    server.stop().await?;
    Ok(format!(
        "the restored server served the families' status and photos ({}), an early case, and \
         a new invitation through its view ({invited})",
        walked.len()
    ))
}

/// A new invitation on the restored server, read back through the officers' queue.
async fn invite_and_read(server: &Instance, officer: &str) -> anyhow::Result<String> {
    let client = http();
    let (status, invited) = call(
        &client,
        Method::POST,
        &server.url("/v1/cases"),
        Some(officer),
        Some(harness::invite_body(2 * FAMILY)),
    )
    .await?;
    ensure!(
        status == StatusCode::CREATED,
        "an invitation on the restored server: {status} {invited}"
    );
    let case = invited["case_id"].as_str().context("no case id")?;
    let (status, view) = call(
        &client,
        Method::GET,
        &server.url(&format!("/v1/queue?case_id={case}&min_version=1")),
        Some(officer),
        None,
    )
    .await?;
    ensure!(
        status == StatusCode::OK,
        "a new invitation on the restored server never reached its view: {status} {view}"
    );
    Ok(format!("case {case}"))
}

/// `cp -a FROM TO` (what an operator copies with).
fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
    ensure!(
        status.success(),
        "cp -a {} {} failed",
        from.display(),
        to.display()
    );
    Ok(())
}

/// Runs a PostgreSQL client program (`pg_dump`, `pg_restore`) from [`pg_bin`] or `PATH`.
fn tool(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let exe = pg_bin().join(program);
    let exe = if exe.is_file() { exe } else { program.into() };
    let out = Command::new(&exe)
        .args(args)
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    ensure!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("a path that is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::resetwal_named;

    #[test]
    fn the_pg_resetwal_of_a_refusal_is_read_from_its_message() {
        let message = "Error: ... run `pg_resetwal -e 0 -x 3145728 <its data directory>` as ...";
        assert_eq!(resetwal_named(message), Some((0, 3_145_728)));
        assert_eq!(resetwal_named("no such advice"), None);
    }
}
