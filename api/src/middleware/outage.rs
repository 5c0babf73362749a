//! Failing fast while PostgreSQL refuses connections.
//!
//! sqlx's pool retries a refused connection (`ECONNREFUSED`, "the database system is starting
//! up / shutting down") with back-off until its acquire time-out (3 s), so during an outage
//! every request would wait those 3 s for an answer that was known at once. Instead one task
//! ([`watch`]) keeps a connection of its own and pings it every [`INTERVAL`]; when the ping
//! fails it reconnects at once, and if PostgreSQL refuses (or does not answer within
//! [`PROBE_TIMEOUT`]) the database counts as down until a reconnection succeeds. While it is
//! down, [`refuse_while_down`] answers every request that needs it 503 `unavailable` with
//! `Retry-After` without touching the pool, and those in progress when it went down at that
//! moment (instead of when the pool's acquire time-out ends).
//!
//! Only refusals count: a full server (too many connections) or a refused password leave
//! the gate open, since the pool's own connections may still work. SQLite has no connection
//! to lose; the watch does nothing there.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prconfirm_migrations::Database;
use sqlx::{Connection, PgConnection};

use crate::http::ApiError;

/// How often the watch pings its connection, and tries again while the database is down.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// The longest a ping or a connection attempt of the watch may take before the database
/// counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Routes that never touch the database, served whatever its state.
const WITHOUT_DATABASE: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// Whether the database refuses connections, as the watch last saw it.
#[derive(Debug)]
pub struct Reachability {
    down: tokio::sync::watch::Sender<bool>,
}

impl Reachability {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            down: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Whether the database refused the watch's last attempt to reach it.
    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Completes when the database is (or goes) down.
    async fn gone(&self) {
        let mut down = self.down.subscribe();
        if down.wait_for(|d| *d).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn set_down(&self, down: bool, why: &dyn std::fmt::Display) {
        if self.down.send_replace(down) != down {
            if down {
                tracing::warn!(error = %why, "the database refuses connections; answering 503 until it is back");
            } else {
                tracing::info!("the database takes connections again");
            }
        }
    }
}

/// Answers 503 at once, without touching the pool, while the database is down; a request
/// in progress when it goes down is answered 503 then too, rather than when the pool gives
/// up. Such a request cannot commit any more, and one whose commit raced the outage has an
/// unknown outcome either way: the client retries, with its `Idempotency-Key`.
pub async fn refuse_while_down(
    State(reach): State<Arc<Reachability>>,
    request: Request,
    next: Next,
) -> Response {
    if WITHOUT_DATABASE.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    if reach.is_down() {
        return ApiError::Unavailable.into_response();
    }
    tokio::select! {
        response = next.run(request) => response,
        () = reach.gone() => ApiError::Unavailable.into_response(),
    }
}

/// Whether a failed connection attempt means the server refuses connections (down,
/// starting up, shutting down, unreachable), rather than a refusal of this client.
fn refused(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Watches `db` (PostgreSQL only) for as long as the task runs, keeping `reach` up to date.
pub async fn watch(db: Database, reach: Arc<Reachability>) {
    let Database::Postgres(pool) = db else {
        return;
    };
    let options = pool.connect_options();
    let mut conn: Option<PgConnection> = None;
    loop {
        match conn.as_mut() {
            Some(c) => match tokio::time::timeout(PROBE_TIMEOUT, c.ping()).await {
                Ok(Ok(())) => {
                    reach.set_down(false, &"");
                    tokio::time::sleep(INTERVAL).await;
                }
                // Lost: reconnect at once, which tells a restart from an outage.
                Ok(Err(_)) | Err(_) => conn = None,
            },
            None => {
                match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&options))
                    .await
                {
                    Ok(Ok(c)) => {
                        conn = Some(c);
                        reach.set_down(false, &"");
                        continue;
                    }
                    Ok(Err(e)) if refused(&e) => reach.set_down(true, &e),
                    Ok(Err(e)) => tracing::debug!(error = %e, "the database watch cannot connect"),
                    Err(_) => reach.set_down(true, &"no answer within 2 s"),
                }
                tokio::time::sleep(INTERVAL).await;
            }
        }
    }
}
