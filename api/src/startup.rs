//! Opening storage and serving HTTP.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use prconfirm_commands::accounts::mfa::MfaKey;
use prconfirm_commands::accounts::{Accounts, PasswordHasherPool};
use prconfirm_commands::audit::{self, AuditKey};
use prconfirm_commands::photo::BlobStore;
use prconfirm_commands::privacy::{self, BlindIndexKey, Kek, KekRing, PersonKeys, PrivacyKeys};
use prconfirm_commands::{CaseService, ServiceSettings, SystemClock};
use prconfirm_migrations::Database;
use prconfirm_projections::mail;
use prconfirm_projections::runtime::Signals;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::routes;
use crate::settings::Settings;
use crate::state::{ApiSettings, AppState};

/// How long `serve` waits for the pool's connections to close at exit.
const CLOSE: Duration = Duration::from_secs(1);

/// Opens the configured database (PostgreSQL if a URL is given, else the embedded SQLite
/// file) and brings its schema up to date.
///
/// # Errors
/// If the database cannot be opened or migrated.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    private_data_dir(settings)?;
    let db = connect(settings).await?;
    durable(&db).await?;
    db.migrate().await.context("migrating the schema")?;
    counter_past_the_log(&db).await?;
    tracing::info!(backend = %db.backend(), "database ready");
    Ok(db)
}

/// Creates the data directory at mode 0700, or narrows it to that: blobs, the mail spool and
/// keys live there whichever database holds the log.
fn private_data_dir(settings: &Settings) -> anyhow::Result<()> {
    prconfirm_migrations::private::create_dir(&settings.store.data_dir).with_context(|| {
        format!(
            "creating the data directory {}",
            settings.store.data_dir.display()
        )
    })
}

/// Refuses a PostgreSQL that would acknowledge a commit it could still lose: `fsync` or
/// `full_page_writes` off (a crash can corrupt the log), or `synchronous_commit` off for
/// this connection's database and role (a crash loses the last commits, which the API has
/// already acknowledged). SQLite's durability is set by the storage handle itself.
///
/// # Errors
/// If the server says so, or cannot be asked.
async fn durable(db: &Database) -> anyhow::Result<()> {
    let Database::Postgres(pool) = db else {
        return Ok(());
    };
    for (setting, unsafe_value, why) in [
        ("fsync", "off", "a crash can corrupt the event log"),
        (
            "full_page_writes",
            "off",
            "a crash can corrupt the event log",
        ),
        (
            "synchronous_commit",
            "off",
            "a crash loses commits the API has already acknowledged",
        ),
    ] {
        let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
            .fetch_one(pool)
            .await
            .with_context(|| format!("asking PostgreSQL for {setting}"))?;
        if value.eq_ignore_ascii_case(unsafe_value) {
            anyhow::bail!(
                "PostgreSQL has {setting} = {value}: {why}. Set it on (postgresql.conf, or \
                 ALTER DATABASE/ROLE ... RESET {setting}) before starting prconfirm"
            );
        }
    }
    Ok(())
}

/// Refuses a PostgreSQL cluster whose transaction counter has not passed the log's newest
/// `tx`. That happens when a dump is restored into another cluster (a new machine) whose
/// counter is behind the one the log came from: the restored events keep their `tx`, so the
/// gap-safe feed (rows below the snapshot's xmin) shows none of them until the counter
/// passes, and events appended meanwhile sort before them, behind every consumer's cursor,
/// where no view or reactor would ever see them. Names the `pg_resetwal` that mends it.
///
/// # Errors
/// If the cluster is behind the log, or cannot be asked.
async fn counter_past_the_log(db: &Database) -> anyhow::Result<()> {
    let Database::Postgres(pool) = db else {
        return Ok(());
    };
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT tx::text::bigint FROM events ORDER BY tx DESC, position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .context("reading the log's newest transaction")?;
    let next: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            .fetch_one(pool)
            .await
            .context("asking PostgreSQL for its next transaction")?;
    match newest {
        Some(newest) if newest >= next => {
            let (epoch, xid) = next_xid_past(newest.unsigned_abs());
            anyhow::bail!(
                "the event log holds transaction {newest} but this PostgreSQL cluster's next \
                 one is {next}: the database was restored into a cluster whose transaction \
                 counter is behind the one it came from, and the feed would hide the log from \
                 every consumer. Stop PostgreSQL, run `pg_resetwal -e {epoch} -x {xid} \
                 <its data directory>` as its owner, start it and try again \
                 (docs/operations.md, \"Backups and restore\")"
            )
        }
        _ => Ok(()),
    }
}

/// The `pg_resetwal -e EPOCH -x XID` that puts a cluster's next transaction past `newest`
/// (a full transaction id, epoch in the high 32 bits): on a multiple of 2^20, where a new
/// commit-log segment begins, as pg_resetwal's documentation asks; never the reserved ids
/// below 3.
fn next_xid_past(newest: u64) -> (u64, u64) {
    const SEGMENT: u64 = 1 << 20;
    let mut next = (newest / SEGMENT + 1) * SEGMENT;
    if next & 0xffff_ffff == 0 {
        next += SEGMENT;
    }
    (next >> 32, next & 0xffff_ffff)
}

/// Opens the configured database as it is, without migrating it (for readers such as
/// `audit verify`, which may run under a role that cannot change the schema).
///
/// # Errors
/// If the database cannot be opened.
pub async fn connect(settings: &Settings) -> anyhow::Result<Database> {
    let db = match &settings.store.database_url {
        Some(url) => {
            Database::connect_postgres(url.expose_secret(), settings.store.db_max_connections)
                .await
                .context("connecting to PostgreSQL")?
        }
        None => Database::open_sqlite(&settings.store.data_dir, settings.store.db_max_connections)
            .await
            .with_context(|| format!("opening SQLite in {}", settings.store.data_dir.display()))?,
    };
    Ok(db)
}

/// The key sealing staff second-factor secrets, created on first use.
///
/// # Errors
/// If the key file cannot be read or created.
pub fn mfa_key(settings: &Settings) -> anyhow::Result<MfaKey> {
    let path = settings.mfa_key_path();
    MfaKey::load_or_create(&path)
        .with_context(|| format!("loading the second-factor key {}", path.display()))
}

/// The key-encryption keys this instance holds: the current one (`PRCONFIRM_KEK_FILE`) and
/// the previous ones a rotation still moves keys from (`PRCONFIRM_KEK_PREVIOUS`). With
/// `create`, a missing current KEK is made, but only for a database that holds no data key
/// yet: a new KEK would open none of the keys there, and an instance that made its own
/// would wrap keys the others cannot open. Refused as well: a ring that cannot unwrap every
/// key in the database (the wrong file, or a rotation's old KEK dropped too soon).
///
/// # Errors
/// If a key file cannot be read or created, or the ring does not fit the database.
pub async fn kek_ring(settings: &Settings, db: &Database, create: bool) -> anyhow::Result<KekRing> {
    let ring = configured_ring(settings, db, create).await?;
    match privacy::check_ring(db, &ring).await {
        Ok(_) => Ok(ring),
        Err(e @ privacy::PrivacyError::KeksNotHeld(_)) => anyhow::bail!(
            "refusing to start: {e}; this instance holds {} ({}). Set PRCONFIRM_KEK_FILE to the \
             KEK that wraps them, or, while a rotation moves them, list it in \
             PRCONFIRM_KEK_PREVIOUS",
            ring.ids()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            settings.kek_path().display()
        ),
        Err(e) => Err(e).context("reading the person keys"),
    }
}

/// The configured KEKs (see [`kek_ring`]), not checked against the keys in the database:
/// for a rotation, which reports the keys it cannot unwrap one by one.
///
/// # Errors
/// If a key file cannot be read or created.
pub async fn configured_ring(
    settings: &Settings,
    db: &Database,
    create: bool,
) -> anyhow::Result<KekRing> {
    let path = settings.kek_path();
    let current = match Kek::load(&path) {
        Ok(kek) => kek,
        Err(e) if e.is_missing() && create => {
            let held = privacy::status(db)
                .await
                .context("reading the person keys")?;
            if held.live() > 0 {
                anyhow::bail!(
                    "refusing to start: {} personal data keys are wrapped by the key-encryption \
                     key(s) {}, and there is no key-encryption key at {}. Every instance must \
                     use the same KEK: set PRCONFIRM_KEK_FILE (--kek-file) to the file that \
                     holds it; a new one would open none of them",
                    held.live(),
                    held.by_kek.keys().cloned().collect::<Vec<_>>().join(", "),
                    path.display()
                );
            }
            let kek = Kek::load_or_create(&path)
                .with_context(|| format!("creating the key-encryption key {}", path.display()))?;
            tracing::info!(path = %path.display(), kek_id = %kek.id(), "created the key-encryption key");
            kek
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("loading the key-encryption key {}", path.display()))
        }
    };
    let previous = settings
        .privacy
        .previous_kek
        .iter()
        .map(|p| {
            Kek::load(p)
                .with_context(|| format!("loading the previous key-encryption key {}", p.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(KekRing::new(current, previous))
}

/// The keys that protect personal data, created on the first start (see [`kek_ring`]).
///
/// # Errors
/// If a key file cannot be read or created, or the KEKs do not fit the database.
pub async fn privacy_keys(settings: &Settings, db: &Database) -> anyhow::Result<PrivacyKeys> {
    let ring = kek_ring(settings, db, true).await?;
    let path = settings.blind_index_key_path();
    let blind_index = BlindIndexKey::load_or_create(&path)
        .with_context(|| format!("loading the blind-index key {}", path.display()))?;
    let rewritten = prconfirm_commands::sealing::blind_invited_people(db, &blind_index)
        .await
        .context("rewriting the plain claims of invited people to their blind index")?;
    if rewritten > 0 {
        tracing::info!(
            rewritten,
            "claims of invited people rewritten to their blind index"
        );
    }
    Ok(PrivacyKeys {
        persons: PersonKeys::new(db.clone(), ring, settings.key_cache()),
        blind_index,
    })
}

/// Builds the application state on an open database.
///
/// # Errors
/// If the password hasher cannot start.
pub fn state(settings: &Settings, db: Database, privacy: PrivacyKeys) -> anyhow::Result<AppState> {
    let clock = Arc::new(SystemClock);
    let service = CaseService::new(
        db.clone(),
        ServiceSettings {
            snapshot_every: settings.store.snapshot_every,
        },
        clock.clone(),
        &privacy,
    );
    let accounts = Accounts::new(
        db.clone(),
        PasswordHasherPool::new()?,
        clock,
        mfa_key(settings)?,
    );
    let projections = Signals::new(service.appended());
    Ok(AppState {
        db,
        cases: Arc::new(service),
        accounts,
        settings: Arc::new(ApiSettings {
            invitation_valid_for: chrono::Duration::days(settings.rules.invitation_days),
            temporary_password_valid_for: settings.temporary_password_valid_for(),
            min_version_wait: Duration::from_millis(settings.http.min_version_wait_ms),
            audit_key_path: settings.audit_key_path(),
            body_timeout: Duration::from_secs(settings.http.http_body_timeout_secs),
            operators: crate::state::Operators {
                networks: settings.http.operator_networks.clone(),
                token_sha256: settings.http.operator_token.as_ref().map(|t| {
                    use secrecy::ExposeSecret;
                    use sha2::Digest;
                    sha2::Sha256::digest(t.expose_secret().as_bytes()).into()
                }),
            },
        }),
        blobs: BlobStore::new(settings.store.data_dir.join("blobs")),
        projections,
        reach: crate::middleware::outage::Reachability::new(),
        privacy,
    })
}

/// Where e-mail goes: the SMTP relay when one is configured, else `.eml` files.
///
/// # Errors
/// If the SMTP URL is not one (the message never repeats it).
pub fn mail_outlet(settings: &Settings) -> anyhow::Result<mail::Outlet> {
    Ok(match &settings.workers.smtp_url {
        Some(url) => mail::Outlet::smtp(url.expose_secret())?,
        None => mail::Outlet::Files(settings.store.data_dir.join("mail")),
    })
}

/// Serves the API until SIGINT or SIGTERM, then drains in-flight requests and closes the pool.
///
/// # Errors
/// If the address cannot be bound or the server fails.
pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let db = open_database(settings).await?;
    let listener = TcpListener::bind(settings.http.listen)
        .await
        .with_context(|| format!("binding {}", settings.http.listen))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    serve_on(listener, settings, db.clone(), shutdown_signal()).await?;
    // Bounded: a handler cut off by the drain may still hold a pooled connection.
    if tokio::time::timeout(CLOSE, db.close()).await.is_err() {
        tracing::warn!("database connections still in use at exit; closing them");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves the API and its background work on `listener` over an open, migrated `db` until
/// `shutdown` completes. Tests use it to run the real server on a free port.
///
/// # Errors
/// If the state cannot be built or the server fails.
pub async fn serve_on(
    listener: TcpListener,
    settings: &Settings,
    db: Database,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    private_data_dir(settings)?;
    let outlet = mail_outlet(settings)?;
    // Whether serving ends or this future is dropped (a test, a benchmark): the background
    // tasks stop with it. Each is safe to cut short: a consumer's round keeps nothing until
    // its transaction commits, and is made again by whoever runs next; a checkpoint half
    // taken rolls back.
    let mut background = Background(
        spawn_checkpoints(settings, db.clone())
            .await?
            .into_iter()
            .collect(),
    );
    let privacy = privacy_keys(settings, &db).await?;
    // The views exist before the first request reads them: on a first start the read
    // models' tables are created here, not later by their consumers.
    {
        let mut owned = db.dedicated().await.context("opening a connection")?;
        for model in settings.read_models(&privacy.blind_index) {
            prconfirm_projections::runner::ensure(&mut owned.conn(), &model)
                .await
                .with_context(|| format!("registering the projection {}", model.name()))?;
        }
    }
    let state = state(settings, db.clone(), privacy)?;
    background
        .0
        .push(tokio::spawn(crate::middleware::outage::watch(
            db,
            state.reach.clone(),
        )));
    routes::prometheus();
    background
        .0
        .extend(crate::workers::runtime(settings, &state, outlet).spawn());
    let limits = crate::http::serve::Limits {
        max_connections: settings.http.http_max_connections as usize,
        header_timeout: Duration::from_millis(settings.http.http_header_timeout_ms),
    };
    let served = crate::http::serve::serve(listener, routes::router(state), limits, shutdown)
        .await
        .context("serving HTTP");
    drop(background);
    served
}

/// The server's background tasks, aborted when it is dropped.
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Signs an audit checkpoint over new events every `audit_checkpoint_secs` (and once at
/// start), in the background. `None` when turned off.
///
/// # Errors
/// If the signing key cannot be read or created, or is not the key that signed the log's
/// checkpoints ([`audit_signer`]): better not to serve than to serve a log nobody vouches
/// for, or one whose checkpoints no single key verifies.
async fn spawn_checkpoints(
    settings: &Settings,
    db: Database,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if settings.workers.audit_checkpoint_secs == 0 {
        return Ok(None);
    }
    let key = audit_signer(settings, &db).await?;
    let path = settings.audit_key_path();
    let every = Duration::from_secs(settings.workers.audit_checkpoint_secs);
    Ok(Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match audit::take_checkpoint(&db, &key, chrono::Utc::now()).await {
                Ok(_) => {}
                Err(e @ audit::AuditError::ForeignCheckpoint { .. }) => tracing::error!(
                    error = %e,
                    key = %path.display(),
                    "cannot take an audit checkpoint: another instance signs with another key; \
                     every instance must use the same PRCONFIRM_AUDIT_KEY"
                ),
                Err(e) => tracing::error!(error = %e, "cannot take an audit checkpoint"),
            }
        }
    })))
}

/// The key this server signs checkpoints with, refused if the log's checkpoints were signed
/// by another: several instances each holding a key of their own (each with its own data
/// directory, say) would sign checkpoints that no single trusted key verifies, and `audit
/// verify` would fail on every instance but one. Every instance must share one key file
/// (`PRCONFIRM_AUDIT_KEY`). A missing key is created only for a log without checkpoints.
///
/// # Errors
/// If the key cannot be read or created, or another key signed the log's checkpoints.
pub async fn audit_signer(settings: &Settings, db: &Database) -> anyhow::Result<AuditKey> {
    use prconfirm_commands::audit::checkpoint;
    let path = settings.audit_key_path();
    let held = match AuditKey::load(&path) {
        Ok(key) => Some(key),
        Err(e) if e.is_missing() => None,
        Err(e) => {
            return Err(e).with_context(|| format!("loading the audit key {}", path.display()))
        }
    };
    let Some(key) = held else {
        if let Some(cp) = checkpoint::newest(db)
            .await
            .context("reading the audit checkpoints")?
        {
            anyhow::bail!(
                "refusing to start: the log's audit checkpoints are signed by the key {} \
                 (checkpoint {}), and there is no audit key at {}. Every instance must sign \
                 with the same key: set PRCONFIRM_AUDIT_KEY (--audit-key) to the key file that \
                 signed them",
                cp.public_key,
                cp.count,
                path.display()
            );
        }
        return AuditKey::load_or_create(&path)
            .with_context(|| format!("loading the audit key {}", path.display()));
    };
    if let Some(cp) = checkpoint::signed_by_another(db, &key.verifying_key())
        .await
        .context("reading the audit checkpoints")?
    {
        anyhow::bail!(
            "refusing to start: audit checkpoint {} in the log was signed by the key {}, not by \
             this server's audit key {} (public key {}). Every instance must sign with the same \
             key: set PRCONFIRM_AUDIT_KEY (--audit-key) to the key file that signed the log's \
             checkpoints",
            cp.count,
            cp.public_key,
            path.display(),
            key.public_key_hex()
        );
    }
    Ok(key)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::next_xid_past;

    #[test]
    fn the_counter_is_put_past_the_log_on_a_commit_log_segment() {
        assert_eq!(next_xid_past(2_000), (0, 1 << 20));
        assert_eq!(next_xid_past(1 << 20), (0, 2 << 20));
        // The last segment of an epoch: the next begins the following epoch, past id 0.
        assert_eq!(next_xid_past((1 << 32) - 5), (1, 1 << 20));
        assert_eq!(next_xid_past((3 << 32) + 7), (3, 1 << 20));
    }
}
