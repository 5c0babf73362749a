//! `prconfirm privacy status | new-kek | rotate-key`: the key-encryption keys as an operator
//! handles them. See docs/operations.md, "Keys", for the order of a rotation.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use prconfirm_commands::privacy::{self, Kek};

use crate::settings::Settings;
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// How many personal data keys each key-encryption key (KEK) wraps, whether this
    /// configuration holds it, and how many keys were destroyed by disposals.
    Status,
    /// Make a new KEK file (mode 0600) and print its id, for a rotation while serving: give
    /// it to every instance as PRCONFIRM_KEK_FILE, the old one as PRCONFIRM_KEK_PREVIOUS,
    /// then run `rotate-key`.
    NewKek {
        /// Where to write it; refused if the file exists.
        file: PathBuf,
    },
    /// Re-wrap every data key under a new KEK, in batches of one transaction each. Safe to
    /// stop and run again: it takes up the keys not yet under the new KEK. Prints what it
    /// did; fails if any key could not be re-wrapped.
    RotateKey {
        /// The KEK to wrap every key with (made, mode 0600, if the file does not exist).
        /// Default: the configured PRCONFIRM_KEK_FILE, moving keys from the KEKs in
        /// PRCONFIRM_KEK_PREVIOUS.
        #[arg(long)]
        new_kek: Option<PathBuf>,
        /// Keys per transaction.
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
}

/// Runs a `privacy` command.
///
/// # Errors
/// Storage errors, a key file that cannot be read or written, a rotation left incomplete.
pub async fn run(settings: &Settings, command: PrivacyCommand) -> anyhow::Result<()> {
    // `new-kek` only writes a file: it needs no database.
    let rotation = match command {
        PrivacyCommand::NewKek { file } => return new_kek(&file),
        PrivacyCommand::Status => None,
        PrivacyCommand::RotateKey { new_kek, batch } => Some((new_kek, batch)),
    };
    let db = startup::open_database(settings).await?;
    let outcome = match rotation {
        None => status(settings, &db).await,
        Some((new_kek, batch)) => rotate(settings, &db, new_kek, batch).await,
    };
    db.close().await;
    outcome
}

fn new_kek(file: &std::path::Path) -> anyhow::Result<()> {
    if file.exists() {
        anyhow::bail!(
            "{} exists: a new KEK is never written over a file",
            file.display()
        );
    }
    let kek = Kek::load_or_create(file)
        .with_context(|| format!("creating the key-encryption key {}", file.display()))?;
    println!("created KEK {} at {}", kek.id(), file.display());
    Ok(())
}

async fn status(settings: &Settings, db: &prconfirm_migrations::Database) -> anyhow::Result<()> {
    let counts = privacy::status(db).await?;
    // Which KEKs this configuration holds, without creating or refusing anything.
    let mut held = Vec::new();
    for path in std::iter::once(settings.kek_path()).chain(settings.privacy.previous_kek.clone()) {
        match Kek::load(&path) {
            Ok(kek) => held.push((kek.id().to_string(), path)),
            Err(e) if e.is_missing() => println!("no KEK at {}", path.display()),
            Err(e) => return Err(e.into()),
        }
    }
    let current = held.first().map(|(id, _)| id.clone());
    println!("kek_id            keys  held");
    let mut ids: Vec<&String> = counts.by_kek.keys().collect();
    for (id, _) in &held {
        if !counts.by_kek.contains_key(id) {
            ids.push(id);
        }
    }
    for id in ids {
        let n = counts.by_kek.get(id).copied().unwrap_or(0);
        let where_ = match held.iter().find(|(h, _)| h == id) {
            Some((_, path)) if current.as_ref() == Some(id) => {
                format!("current ({})", path.display())
            }
            Some((_, path)) => format!("previous ({})", path.display()),
            None => "NOT HELD".to_owned(),
        };
        println!("{id:<16} {n:>5}  {where_}");
    }
    println!("disposed of: {}", counts.disposed);
    Ok(())
}

async fn rotate(
    settings: &Settings,
    db: &prconfirm_migrations::Database,
    new_kek: Option<PathBuf>,
    batch: u32,
) -> anyhow::Result<()> {
    // Not checked against the database: the keys the ring cannot unwrap are reported by the
    // rotation itself.
    let ring = startup::configured_ring(settings, db, false).await?;
    let (target, target_path) = match new_kek {
        Some(path) => {
            let kek = Kek::load_or_create(&path)
                .with_context(|| format!("loading the new KEK {}", path.display()))?;
            (kek, path)
        }
        None => (
            Kek::load(&settings.kek_path()).context("loading the current KEK")?,
            settings.kek_path(),
        ),
    };
    println!("re-wrapping every data key under KEK {}", target.id());
    let done = privacy::rotate(db, &ring, &target, batch, chrono::Utc::now(), |n| {
        tracing::info!(rewrapped = n, "rotation under way");
    })
    .await?;
    println!(
        "re-wrapped {} key(s) under KEK {}",
        done.rewrapped,
        target.id()
    );
    if !done.is_complete() {
        for (kek, n) in &done.not_held {
            println!("{n} key(s) left under KEK {kek}, which this configuration does not hold");
        }
        if done.damaged > 0 {
            println!(
                "{} key(s) left that do not open under their KEK",
                done.damaged
            );
        }
        anyhow::bail!("the rotation is incomplete: see above, then run it again");
    }
    println!(
        "every data key is now under KEK {}. Set PRCONFIRM_KEK_FILE={} on every instance and \
         restart them; keep each old KEK as long as the backups taken before now",
        target.id(),
        target_path.display()
    );
    Ok(())
}
