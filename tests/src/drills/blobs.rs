//! Drill 7: the blob store read-only, then full, during photo uploads. An upload that cannot
//! store its photo must be refused clearly (503 for a store that cannot be written, 507 for
//! one that is full, never a 500) and leave the case as it was; once the store is mended
//! the same upload succeeds; and no event in the log points at a photo that was not stored.
//!
//! The store is a small tmpfs mounted on `<data dir>/blobs` (root can mount one; as root a
//! plain `chmod` does not stop writes), remounted read-only for the first part and filled up
//! for the second. Without mount rights the full part is skipped, saying so, and read-only
//! is played with `chmod` (not root) or a file in the directory's place (root).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::ensure;
use reqwest::StatusCode;

use super::harness::{self, blob_path, photo, Backend, Store};

/// The blob store's directory, and whether it is a tmpfs of the drill's (unmounted on drop).
struct BlobDir {
    path: PathBuf,
    mounted: bool,
    /// Root without mount rights: `chmod` does not stop root, so "read-only" is played by a
    /// file in the directory's place (every write fails, as on a store that is gone).
    root: bool,
}

impl BlobDir {
    fn new(path: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&path)?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|o| o.status.success());
        let root = !mounted
            && Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        Ok(Self {
            path,
            mounted,
            root,
        })
    }

    /// How "read-only" is played, for the report.
    fn how(&self) -> &'static str {
        if self.mounted {
            "a tmpfs remounted read-only"
        } else if self.root {
            "a file in the directory's place (root without mount rights)"
        } else {
            "chmod a-w"
        }
    }

    fn remount(&self, how: &str) -> anyhow::Result<()> {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{how}")])
            .arg(&self.path)
            .status()?;
        ensure!(status.success(), "cannot remount the blob store {how}");
        Ok(())
    }

    /// Makes the store read-only (`true`) or writable again.
    fn read_only(&self, on: bool) -> anyhow::Result<()> {
        if self.mounted {
            return self.remount(if on { "ro" } else { "rw" });
        }
        if self.root {
            let saved = self.path.with_extension("saved");
            if on {
                std::fs::rename(&self.path, &saved)?;
                std::fs::write(&self.path, b"not a directory")?;
            } else {
                std::fs::remove_file(&self.path)?;
                std::fs::rename(&saved, &self.path)?;
            }
            return Ok(());
        }
        let mode = if on { "a-w" } else { "u+w" };
        let status = Command::new("chmod")
            .args(["-R", mode])
            .arg(&self.path)
            .status()?;
        ensure!(status.success(), "chmod {mode} failed");
        Ok(())
    }

    /// Fills the store to the last byte.
    fn fill(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path.join("filler"))?;
        let chunk = vec![0u8; 4096];
        while filler.write_all(&chunk).is_ok() {}
        let _ = filler.sync_all();
        Ok(())
    }

    fn empty(&self) -> anyhow::Result<()> {
        Ok(std::fs::remove_file(self.path.join("filler"))?)
    }
}

impl Drop for BlobDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        } else {
            let _ = Command::new("chmod")
                .args(["-R", "u+w"])
                .arg(&self.path)
                .status();
        }
    }
}

/// Runs the drill.
///
/// # Errors
/// The property that failed.
pub async fn run(backend: Backend, uploads: usize) -> anyhow::Result<String> {
    let store = Store::new(backend, None).await?;
    let blobs = BlobDir::new(store.data_dir(0).join("blobs"))?;
    let mut server = store.serve(0, &[]).await?;
    let officer = harness::staff(&store, &server, "officer.one", "officer").await?;
    let (token, case) = harness::applicant(&store, &server, &officer, 1).await?;
    let http = harness::http();
    let upload = |bytes: Vec<u8>| {
        http.put(server.url("/v1/my/case/photo"))
            .bearer_auth(&token)
            .header("content-type", "image/png")
            .timeout(Duration::from_secs(30))
            .body(bytes)
            .send()
    };
    let events_of_case = || async {
        anyhow::Ok(
            store
                .events()
                .await?
                .into_iter()
                .filter(|e| e.case == case)
                .count(),
        )
    };
    let mut report = Vec::new();

    // `uploads` at once while the store is broken, each refused with `expect` and no event;
    // then, mended, `uploads` more (other photos), each stored.
    let mut acknowledged = 0;
    let mut phase =
        async |grey: u8, expect: StatusCode, mended: &dyn Fn() -> anyhow::Result<()>| {
            let before = events_of_case().await?;
            let photos = (0..uploads)
                .map(|i| photo(grey.wrapping_add(i as u8)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let answers = futures::future::join_all(photos.iter().cloned().map(upload)).await;
            mended()?;
            for answer in answers {
                let answer = answer?;
                let (status, problem) = (answer.status(), answer.text().await?);
                ensure!(
                    status == expect,
                    "the broken blob store answered {status} {problem}"
                );
            }
            ensure!(
                events_of_case().await? == before,
                "a refused upload wrote an event"
            );
            for bytes in photos {
                let stored = upload(bytes).await?;
                ensure!(
                    stored.status() == StatusCode::OK,
                    "after the store was mended: {}",
                    stored.status()
                );
                acknowledged += 1;
            }
            anyhow::Ok(())
        };
    blobs.read_only(true)?;
    phase(100, StatusCode::SERVICE_UNAVAILABLE, &|| {
        blobs.read_only(false)
    })
    .await?;
    report.push(format!(
        "read-only ({}): {uploads} uploads 503, no event; mended: {uploads} stored",
        blobs.how()
    ));
    if blobs.mounted {
        blobs.fill()?;
        phase(160, StatusCode::INSUFFICIENT_STORAGE, &|| blobs.empty()).await?;
        report.push(format!(
            "full: {uploads} uploads 507, no event; emptied: {uploads} stored"
        ));
    } else {
        report.push("full: SKIPPED (no mount rights for a small tmpfs)".to_owned());
    }

    // Every photo an event names is in the store.
    let mut named = 0;
    for e in store.events().await? {
        if e.kind == "PhotoUploaded" {
            let digest = harness::photo_digest(&e)?;
            ensure!(
                blob_path(&blobs.path, digest).exists(),
                "event {} of case {} names photo {digest}, which is not stored",
                e.sequence,
                e.case
            );
            named += 1;
        }
    }
    ensure!(
        named == acknowledged,
        "{named} photo events, {acknowledged} uploads acknowledged"
    );
    server.stop().await?;
    drop(blobs);
    store.finish().await;
    Ok(format!(
        "{backend}: {}; every photo the log names is stored",
        report.join("; ")
    ))
}
