//! The schema of both backends (SQL files under `postgres/` and `sqlite/`, embedded at build
//! time) and the one handle to whichever database is configured.
//!
//! Depends on sqlx only (and tokio's mutex, for SQLite's write gate). `commands`,
//! `projections` and `api` all open storage through [`Database`], so that pool settings
//! (durability, timeouts) and SQLite's one writer ([`gate`]) are decided once, here.

mod conn;
mod cursor;
pub mod gate;
pub mod private;

pub use conn::{Conn, Owned};
pub use cursor::{BadCursor, FeedCursor};
pub use gate::{sqlite_write_gate, WriteTurn};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// PostgreSQL schema migrations.
pub static POSTGRES: Migrator = sqlx::migrate!("./postgres");
/// SQLite schema migrations.
pub static SQLITE: Migrator = sqlx::migrate!("./sqlite");

/// Name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "prconfirm.sqlite";

/// How long a caller waits for a pooled connection before the database counts as unavailable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a SQLite connection waits for the file's write lock before it answers busy.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A failure to open or migrate storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// Whether `e` means the database is out of reach (down, refusing connections, a connection
/// cut, too busy) rather than a fault in what was asked: callers answer such errors with
/// "unavailable, retry shortly" instead of an internal error.
pub fn is_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                // 08: connection exception; 57P01-03: shut down by an administrator, a crash,
                // or not accepting connections yet; 53300: too many connections; 55000 when
                // the database refuses connections (ALTER DATABASE ... ALLOW_CONNECTIONS false).
                code.starts_with("08")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
                    || (code == "55000" && pg.message().contains("accepting connections"))
            } else {
                // SQLite: SQLITE_BUSY (5) or SQLITE_LOCKED (6), in any extended form, after
                // the busy time-out: another writer holds the file.
                db.code()
                    .and_then(|c| c.parse::<u32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

/// The configured storage: PostgreSQL in production, SQLite embedded by default.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same sqlx code on whichever pool `db` holds: `on_db!(db, |pool| body)`. The
/// body is compiled once per backend, so queries written in the SQL both share (`$1`
/// placeholders, types both decode) need writing only once.
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Database::Postgres($pool) => $body,
            $crate::Database::Sqlite($pool) => $body,
        }
    };
}

/// Which backend a [`Database`] is, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgres => "postgresql",
            Self::Sqlite => "sqlite",
        })
    }
}

impl Database {
    /// Connects to PostgreSQL at `url` with at most `max_connections`.
    ///
    /// # Errors
    /// [`StorageError::Connect`] if the URL is malformed or the server cannot be reached.
    pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url).map_err(StorageError::Connect)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StorageError::Connect)?;
        Ok(Self::Postgres(pool))
    }

    /// Opens (creating if needed) the SQLite file in `data_dir`: WAL journal and
    /// `synchronous=FULL`, so that an acknowledged append survives a power loss. The
    /// directory is kept at mode 0700 and the database's files at 0600 ([`private`]).
    ///
    /// # Errors
    /// [`StorageError::DataDir`] if the directory cannot be created, [`StorageError::Connect`]
    /// if the file cannot be opened.
    pub async fn open_sqlite(data_dir: &Path, max_connections: u32) -> Result<Self, StorageError> {
        let file = data_dir.join(SQLITE_FILE);
        private::create_dir(data_dir)
            .and_then(|()| private::ensure_file(&file))
            .and_then(|()| {
                // Left by an older version with a wider mode: SQLite keeps a file's mode.
                ["-wal", "-shm"].iter().try_for_each(|suffix| {
                    let side = data_dir.join(format!("{SQLITE_FILE}{suffix}"));
                    match private::narrow(&side, private::FILE_MODE) {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                        other => other,
                    }
                })
            })
            .map_err(|source| StorageError::DataDir {
                path: data_dir.to_owned(),
                source,
            })?;
        // The WAL and shared-memory files SQLite creates next to it take this file's mode.
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Deleted and overwritten content is zeroed, not left in free pages: a destroyed
            // data key or a disposed person's read-model row must not linger in the file.
            .pragma("secure_delete", "ON")
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StorageError::Connect)?;
        Ok(Self::Sqlite(pool))
    }

    /// Applies every migration not yet applied. Safe to run at every start.
    ///
    /// # Errors
    /// [`StorageError::Migrate`] if a migration fails or the applied ones were edited.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Self::Postgres(pool) => POSTGRES.run(pool).await?,
            Self::Sqlite(pool) => SQLITE.run(pool).await?,
        }
        Ok(())
    }

    /// Answers whether the database takes a trivial query.
    ///
    /// # Errors
    /// The driver's error when the database cannot be reached.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Self::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// The statement that opens a transaction that will write. On SQLite a plain (deferred)
    /// `BEGIN` that reads before it writes fails at once with `SQLITE_BUSY` if another
    /// connection wrote in between; `BEGIN IMMEDIATE` takes the write lock first, waiting
    /// (busy time-out) instead. Use with `pool.begin_with(...)`.
    pub fn begin_write(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "BEGIN",
            Self::Sqlite(_) => "BEGIN IMMEDIATE",
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Closes every pooled connection (SQLite checkpoints its WAL on the last close).
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}
