//! Opening storage and serving HTTP.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prconfirm_commands::audit::{self, AuditKey};
use prconfirm_commands::{CaseService, ServiceSettings, SystemClock};
use prconfirm_migrations::Database;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;

/// Opens the configured database (PostgreSQL if a URL is given, else the embedded SQLite
/// file) and brings its schema up to date.
///
/// # Errors
/// If the database cannot be opened or migrated.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = connect(settings).await?;
    db.migrate().await.context("migrating the schema")?;
    tracing::info!(backend = %db.backend(), "database ready");
    Ok(db)
}

/// Opens the configured database as it is, without migrating it (for readers such as
/// `audit verify`, which may run under a role that cannot change the schema).
///
/// # Errors
/// If the database cannot be opened.
pub async fn connect(settings: &Settings) -> anyhow::Result<Database> {
    let db = match &settings.database_url {
        Some(url) => Database::connect_postgres(url.expose_secret(), settings.db_max_connections)
            .await
            .context("connecting to PostgreSQL")?,
        None => Database::open_sqlite(&settings.data_dir, settings.db_max_connections)
            .await
            .with_context(|| format!("opening SQLite in {}", settings.data_dir.display()))?,
    };
    Ok(db)
}

/// Builds the application state on an open database.
pub fn state(settings: &Settings, db: Database) -> AppState {
    let service = CaseService::new(
        db.clone(),
        ServiceSettings {
            snapshot_every: settings.snapshot_every,
        },
        Arc::new(SystemClock),
    );
    AppState::new(db, service)
}

/// Serves the API until SIGINT or SIGTERM, then drains in-flight requests and closes the pool.
///
/// # Errors
/// If the address cannot be bound or the server fails.
pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let db = open_database(settings).await?;
    let checkpoints = spawn_checkpoints(settings, db.clone())?;
    let state = state(settings, db.clone());
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    if let Some(task) = checkpoints {
        // At worst this drops a checkpoint half taken: its transaction rolls back.
        task.abort();
    }
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Signs an audit checkpoint over new events every `audit_checkpoint_secs` (and once at
/// start), in the background. `None` when turned off.
///
/// # Errors
/// If the signing key cannot be read or created: better not to serve than to serve a log
/// nobody vouches for.
fn spawn_checkpoints(
    settings: &Settings,
    db: Database,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if settings.audit_checkpoint_secs == 0 {
        return Ok(None);
    }
    let path = settings.audit_key_path();
    let key = AuditKey::load_or_create(&path)
        .with_context(|| format!("loading the audit key {}", path.display()))?;
    let every = Duration::from_secs(settings.audit_checkpoint_secs);
    Ok(Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match audit::take_checkpoint(&db, &key, chrono::Utc::now()).await {
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot take an audit checkpoint"),
            }
        }
    })))
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
