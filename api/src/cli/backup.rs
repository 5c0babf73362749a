//! `prconfirm backup --to DIR`: a copy of the embedded database, consistent while the server
//! runs (`VACUUM INTO`: one read transaction, writers go on), and then of the blob store,
//! into a directory laid out as a data directory, so that a restore is that directory put in
//! the data directory's place with the key files beside it. In this order because a photo or
//! PDF is stored before the row or event that names it: a blob store copied after the
//! database holds every blob the copied database names. A plain copy of a live SQLite file
//! in WAL mode is not a backup (the WAL holds the latest commits, and the two files are
//! copied at different moments).
//!
//! On PostgreSQL the database is `pg_dump`'s (or a physical backup's) to copy, and this copies
//! the blob store only, after it (`--blobs-only`). The key files are never copied here: they
//! belong in a backup kept apart from the database's (docs/operations.md).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use prconfirm_commands::photo::BlobStore;
use prconfirm_migrations::{private, Database, SQLITE_FILE};

use crate::settings::Settings;
use crate::startup;

/// Where the copy goes and what it takes.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Directory to write the copy into (created at mode 0700). It must not hold a database
    /// copy already; an earlier backup's blobs there are kept and only new ones added.
    #[arg(long)]
    pub to: PathBuf,
    /// Copy the blob store only: on PostgreSQL, run it after `pg_dump`.
    #[arg(long)]
    pub blobs_only: bool,
}

/// Runs `prconfirm backup`.
///
/// # Errors
/// On PostgreSQL without `--blobs-only`; if there is no database to copy, the target already
/// holds one, or a copy fails.
pub async fn run(settings: &Settings, args: &BackupArgs) -> anyhow::Result<()> {
    if settings.store.database_url.is_some() && !args.blobs_only {
        bail!(
            "the log is on PostgreSQL: back its database up with `pg_dump -Fc -f DIR/prconfirm.dump \
             \"$DATABASE_URL\"` (or a physical backup) first, then copy the blob store with \
             `prconfirm backup --blobs-only --to DIR` (docs/operations.md, \"Backups and restore\")"
        );
    }
    private::create_dir(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    if !args.blobs_only {
        let copy = copy_database(settings, &args.to).await?;
        println!("database: {}", copy.display());
    }
    let from = BlobStore::new(settings.store.data_dir.join("blobs"));
    let into = BlobStore::new(args.to.join("blobs"));
    let (copied, present) = tokio::task::spawn_blocking(move || from.copy_into(&into))
        .await
        .context("the blob copy's task")?
        .context("copying the blob store")?;
    println!(
        "blobs: {copied} copied, {present} already there ({})",
        args.to.join("blobs").display()
    );
    println!(
        "not copied: the key files {}, {}, {} (the key-encryption key: without it this \
         backup holds no readable personal data) and {}; keep them in a backup of their own, \
         apart from this one",
        settings.audit_key_path().display(),
        settings.mfa_key_path().display(),
        settings.kek_path().display(),
        settings.blind_index_key_path().display()
    );
    Ok(())
}

/// `VACUUM INTO` a new file of mode 0600 in `dir`, synced; answers its path.
async fn copy_database(settings: &Settings, dir: &Path) -> anyhow::Result<PathBuf> {
    let source = settings.store.data_dir.join(SQLITE_FILE);
    if !source.is_file() {
        bail!(
            "no database at {}: is the data directory (PRCONFIRM_DATA_DIR) right?",
            source.display()
        );
    }
    let copy = dir.join(SQLITE_FILE);
    if std::fs::metadata(&copy).is_ok_and(|m| m.len() > 0) {
        bail!(
            "{} already holds a database copy: back up into a new directory",
            copy.display()
        );
    }
    // Created empty first, so that the copy has the service's mode (VACUUM INTO takes an
    // empty file).
    private::ensure_file(&copy).with_context(|| format!("creating {}", copy.display()))?;
    let target = copy.to_str().context("a backup path that is not UTF-8")?;
    let db = startup::connect(settings).await?;
    let Database::Sqlite(pool) = &db else {
        bail!("not the embedded database");
    };
    let vacuumed = sqlx::query("VACUUM INTO ?1")
        .bind(target)
        .execute(pool)
        .await;
    db.close().await;
    vacuumed.with_context(|| format!("copying the database into {target}"))?;
    std::fs::File::open(&copy)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::File::open(dir)?.sync_all())
        .with_context(|| format!("syncing {target}"))?;
    Ok(copy)
}
