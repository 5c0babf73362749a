//! Parked items: what a reactor could not handle, kept with its error while the items behind
//! it go on (table `consumer_parked`).
//!
//! An item failed for a reason that may pass (`refused = false`) is tried again after a
//! back-off that doubles from [`FIRST_RETRY`] up to [`LAST_RETRY`]; one refused for good is
//! not, until an operator asks (`prconfirm consumers retry`). Either kind counts against the
//! instance's readiness once it is refused or has failed [`ALERT_AFTER`] times.

use chrono::{DateTime, Utc};
use prconfirm_migrations::{on_conn, on_db, Database};
use serde::Serialize;

use crate::store::Conn;

/// First wait before an item that failed is tried again.
pub const FIRST_RETRY: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest wait between tries of an item that keeps failing.
pub const LAST_RETRY: std::time::Duration = std::time::Duration::from_secs(300);
/// Failed attempts after which a parked item makes the instance report itself degraded.
pub const ALERT_AFTER: i32 = 5;

/// One parked item as stored. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Parked {
    pub consumer: String,
    pub item: String,
    pub case_id: String,
    pub sequence: i64,
    /// Failed attempts (0: waiting behind an earlier parked item of the same case).
    pub attempts: i32,
    pub refused: bool,
    pub error: String,
    pub first_failed_at: i64,
    pub last_failed_at: i64,
    pub next_attempt_at: i64,
}

/// Why an item is parked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It failed; it may succeed later.
    Failed(String),
    /// It can never succeed as it is.
    Refused(String),
    /// An earlier item of its case is parked (`item`).
    Behind(String),
}

/// Milliseconds since the epoch.
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The wait before attempt `attempts + 1`, after `attempts` failures.
pub fn backoff(attempts: i32) -> std::time::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(LAST_RETRY)
}

fn backoff_ms(attempts: i32) -> i64 {
    i64::try_from(backoff(attempts).as_millis()).unwrap_or(i64::MAX)
}

/// Parks `item` (of `case_id`, event `sequence`) for `consumer` after `attempts_before`
/// failed attempts (0 the first time), or records its new failure if it is parked already.
///
/// # Errors
/// Storage errors.
pub async fn park(
    conn: &mut Conn<'_>,
    consumer: &str,
    item: &str,
    (case_id, sequence): (&str, i64),
    why: &Why,
    attempts_before: i32,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let now = millis(now);
    let attempts = attempts_before.saturating_add(1);
    let (attempts, refused, error, next) = match why {
        Why::Failed(e) => (attempts, false, e.clone(), now + backoff_ms(attempts)),
        Why::Refused(e) => (attempts, true, e.clone(), now),
        Why::Behind(head) => (0, false, format!("waits behind {head}"), now),
    };
    let sql = "INSERT INTO consumer_parked (consumer, item, case_id, sequence, attempts, refused, \
               error, first_failed_at, last_failed_at, next_attempt_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
               ON CONFLICT (consumer, item) DO UPDATE SET attempts = excluded.attempts, \
               refused = excluded.refused, error = excluded.error, \
               last_failed_at = excluded.last_failed_at, next_attempt_at = excluded.next_attempt_at";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(consumer)
        .bind(item)
        .bind(case_id)
        .bind(sequence)
        .bind(attempts)
        .bind(refused)
        .bind(&error)
        .bind(now)
        .bind(next)
        .execute(&mut **c)
        .await
        .map(drop))
}

/// Records another failed attempt of a parked item (`attempts` so far before this one).
///
/// # Errors
/// Storage errors.
pub async fn failed_again(
    conn: &mut Conn<'_>,
    parked: &Parked,
    why: &Why,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let now = millis(now);
    let attempts = parked.attempts.saturating_add(1);
    let (refused, error) = match why {
        Why::Failed(e) => (false, e.clone()),
        Why::Refused(e) => (true, e.clone()),
        Why::Behind(head) => (false, format!("waits behind {head}")),
    };
    let sql = "UPDATE consumer_parked SET attempts = $3, refused = $4, error = $5, \
               last_failed_at = $6, next_attempt_at = $7 WHERE consumer = $1 AND item = $2";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(&parked.consumer)
        .bind(&parked.item)
        .bind(attempts)
        .bind(refused)
        .bind(&error)
        .bind(now)
        .bind(now + backoff_ms(attempts))
        .execute(&mut **c)
        .await
        .map(drop))
}

/// Forgets a parked item (it succeeded).
///
/// # Errors
/// Storage errors.
pub async fn remove(conn: &mut Conn<'_>, consumer: &str, item: &str) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM consumer_parked WHERE consumer = $1 AND item = $2";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(consumer)
        .bind(item)
        .execute(&mut **c)
        .await
        .map(drop))
}

/// The cases with a parked item of `consumer` (their later items park behind it).
///
/// # Errors
/// Storage errors.
pub async fn cases(
    conn: &mut Conn<'_>,
    consumer: &str,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let sql = "SELECT DISTINCT case_id FROM consumer_parked WHERE consumer = $1";
    let ids: Vec<String> = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(consumer)
        .fetch_all(&mut **c)
        .await)?;
    Ok(ids.into_iter().collect())
}

/// Up to `limit` cases whose first parked item is due for another try at `now`.
///
/// # Errors
/// Storage errors.
pub async fn due_cases(
    conn: &mut Conn<'_>,
    consumer: &str,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT p.case_id FROM consumer_parked p \
               WHERE p.consumer = $1 AND NOT p.refused AND p.next_attempt_at <= $2 \
               AND p.sequence = (SELECT MIN(q.sequence) FROM consumer_parked q \
                                 WHERE q.consumer = p.consumer AND q.case_id = p.case_id) \
               ORDER BY p.next_attempt_at LIMIT $3";
    on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(consumer)
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&mut **c)
        .await)
}

const COLUMNS: &str = "consumer, item, case_id, sequence, attempts, refused, error, \
                       first_failed_at, last_failed_at, next_attempt_at";

/// The parked items of one case, in the order of its events.
///
/// # Errors
/// Storage errors.
pub async fn of_case(
    conn: &mut Conn<'_>,
    consumer: &str,
    case_id: &str,
) -> Result<Vec<Parked>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM consumer_parked WHERE consumer = $1 AND case_id = $2 \
         ORDER BY sequence, item"
    );
    on_conn!(conn, |c| sqlx::query_as(&sql)
        .bind(consumer)
        .bind(case_id)
        .fetch_all(&mut **c)
        .await)
}

/// Every parked item (of `consumer`, if given), oldest failure first.
///
/// # Errors
/// Storage errors.
pub async fn list(db: &Database, consumer: Option<&str>) -> Result<Vec<Parked>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM consumer_parked WHERE ($1 IS NULL OR consumer = $1) \
         ORDER BY first_failed_at, consumer, item"
    );
    on_db!(db, |pool| sqlx::query_as(&sql)
        .bind(consumer)
        .fetch_all(pool)
        .await)
}

/// Makes parked items due now, refused ones included (each is tried once more: if it is
/// refused again, it is parked again as refused). `item` narrows it to one item; answers how
/// many were made due.
///
/// # Errors
/// Storage errors.
pub async fn retry(
    db: &Database,
    consumer: Option<&str>,
    item: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql = "UPDATE consumer_parked SET refused = FALSE, next_attempt_at = $3 \
               WHERE ($1 IS NULL OR consumer = $1) AND ($2 IS NULL OR item = $2) AND attempts > 0";
    on_db!(db, |pool| sqlx::query(sql)
        .bind(consumer)
        .bind(item)
        .bind(millis(now))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// Parked items per consumer: `(all, alerting)`, alerting being those refused or failed
/// [`ALERT_AFTER`] times or more.
///
/// # Errors
/// Storage errors.
pub async fn counts(
    db: &Database,
) -> Result<std::collections::BTreeMap<String, (i64, i64)>, sqlx::Error> {
    let sql = "SELECT consumer, COUNT(*), \
               COALESCE(SUM(CASE WHEN refused OR attempts >= $1 THEN 1 ELSE 0 END), 0) \
               FROM consumer_parked GROUP BY consumer";
    let rows: Vec<(String, i64, i64)> = on_db!(db, |pool| sqlx::query_as(sql)
        .bind(ALERT_AFTER)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(c, n, a)| (c, (n, a))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_a_second_to_five_minutes() {
        assert_eq!(backoff(1), std::time::Duration::from_secs(1));
        assert_eq!(backoff(2), std::time::Duration::from_secs(2));
        assert_eq!(backoff(5), std::time::Duration::from_secs(16));
        assert_eq!(backoff(9), std::time::Duration::from_secs(256));
        assert_eq!(backoff(10), LAST_RETRY);
        assert_eq!(backoff(i32::MAX), LAST_RETRY);
        assert_eq!(backoff(0), FIRST_RETRY);
    }
}
