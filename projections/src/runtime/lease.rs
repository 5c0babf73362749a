//! Leases: one instance runs each consumer. On PostgreSQL a consumer's lease is a session
//! advisory lock taken on the consumer's own connection, so it is held exactly as long as
//! that connection lives: an instance that dies, or loses its connection, loses its leases,
//! and another instance takes them within a second. SQLite is one process's embedded file:
//! its consumers always hold their leases.

use crate::store::Conn;

/// A stable 63-bit advisory-lock key per consumer name (FNV-1a), in a range of its own.
pub(crate) fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"prconfirm.projection.".iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::try_from(h >> 1).unwrap_or(0)
}

/// The session advisory lock a rebuild of projection `name` holds on PostgreSQL, so that two
/// cannot run at once.
pub fn rebuild_lock_key(name: &str) -> i64 {
    lock_key(&format!("rebuild.{name}"))
}

/// Takes the lease of consumer `name` on `conn` if no other session holds it; answers
/// whether this connection holds it now. Asking again while holding it answers `true` (and
/// takes the lock once more, which the connection's end releases with the rest).
///
/// # Errors
/// Storage errors.
pub(crate) async fn try_take(conn: &mut Conn<'_>, name: &str) -> Result<bool, sqlx::Error> {
    match conn {
        Conn::Pg(c) => {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(lock_key(name))
                .fetch_one(&mut **c)
                .await
        }
        Conn::Sqlite(_) => Ok(true),
    }
}
