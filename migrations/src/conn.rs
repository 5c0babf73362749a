//! One open connection of either backend, borrowed ([`Conn`]) or owned ([`Owned`]), so that
//! code on both sides (a read model's batch, a reactor's effect, an account written with a
//! reactor's checkpoint) can run inside one transaction whichever database is configured.

use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::Database;

/// One open connection (usually inside a transaction) of either backend.
#[derive(Debug)]
pub enum Conn<'c> {
    Pg(&'c mut PgConnection),
    Sqlite(&'c mut SqliteConnection),
}

/// Runs the same sqlx code on whichever connection `conn` holds:
/// `on_conn!(conn, |c| sqlx::query(sql).execute(&mut **c).await)`.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Pg($c) => $body,
            $crate::Conn::Sqlite($c) => $body,
        }
    };
}

impl Conn<'_> {
    /// Runs one statement without parameters (DDL, transaction control and the like).
    ///
    /// # Errors
    /// The driver's error.
    pub async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        // Not `sqlx::raw_sql`: its future is not provably `Send` inside the runtime's loop.
        on_conn!(self, |c| sqlx::Executor::execute(&mut **c, sql)
            .await
            .map(drop))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Pg(_))
    }

    /// The statement that opens a transaction that will write (see
    /// [`Database::begin_write`]).
    pub fn begin_write(&self) -> &'static str {
        if self.is_postgres() {
            "BEGIN"
        } else {
            "BEGIN IMMEDIATE"
        }
    }

    /// A shorter borrow of the same connection.
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Self::Pg(c) => Conn::Pg(c),
            Self::Sqlite(c) => Conn::Sqlite(c),
        }
    }
}

/// A connection of its own, outside the pool: session-level state (advisory locks, an open
/// transaction, `SET` options) lives and ends with it. Dropped, it closes; the server rolls
/// back whatever it left open and releases its locks.
#[derive(Debug)]
pub enum Owned {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl Owned {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Pg(c) => Conn::Pg(c),
            Self::Sqlite(c) => Conn::Sqlite(c),
        }
    }

    /// Whether the server still answers on this connection.
    ///
    /// # Errors
    /// The driver's error when it does not.
    pub async fn ping(&mut self) -> Result<(), sqlx::Error> {
        match self {
            Self::Pg(c) => c.ping().await,
            Self::Sqlite(c) => c.ping().await,
        }
    }
}

impl Database {
    /// Opens a connection of its own to the configured database, with the pool's settings.
    ///
    /// # Errors
    /// The driver's error.
    pub async fn dedicated(&self) -> Result<Owned, sqlx::Error> {
        Ok(match self {
            Self::Postgres(pool) => {
                Owned::Pg(PgConnection::connect_with(&pool.connect_options()).await?)
            }
            Self::Sqlite(pool) => {
                Owned::Sqlite(SqliteConnection::connect_with(&pool.connect_options()).await?)
            }
        })
    }
}
