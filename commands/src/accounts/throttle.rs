//! Slowing down guessing (passwords at sign-in, the current password at a change, invitation
//! codes). A try is taken, checked against its subjects' limits and recorded in one
//! transaction *before* the guess is evaluated, so that tries arriving at once cannot all
//! pass the check: at most the allowed number is ever evaluated. A guess that proves right
//! gives its try back.
//!
//! PostgreSQL takes a transaction-scoped advisory lock per subject (in a fixed order, so two
//! tries cannot wait on each other); SQLite's `BEGIN IMMEDIATE` holds the one write lock.

use chrono::{DateTime, Duration, Utc};
use prconfirm_migrations::{on_db, Backend, Database};

/// Tries are counted over this window; older ones are forgotten.
pub const WINDOW: Duration = Duration::minutes(15);

/// How many tries a subject gets within [`WINDOW`] before each further one must wait, and
/// how long that wait may grow: doubling from 1 s after the last try, up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub free: usize,
    pub cap: Duration,
}

impl Limit {
    /// How long after the newest of `recent` tries (newest first, within the window) the next
    /// may be taken, if any wait is due.
    fn wait(self, recent: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<Duration> {
        let last = *recent.first()?;
        let over = recent.len().checked_sub(self.free)?;
        let exponent = u32::try_from(over).unwrap_or(u32::MAX).min(20);
        let backoff = Duration::seconds(1i64 << exponent).min(self.cap);
        let until = last + backoff;
        (until > now).then(|| until - now)
    }
}

/// One thing guesses are counted against (an account, a client address, a session) and its
/// limit. The key is stored as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub key: String,
    pub limit: Limit,
}

impl Subject {
    pub fn new(key: String, limit: Limit) -> Self {
        Self { key, limit }
    }
}

/// A try taken: recorded against its subjects until [`Try::give_back`].
#[derive(Debug)]
#[must_use = "a right guess gives its try back"]
pub struct Try {
    id: String,
}

/// The outcome of asking for a try.
#[derive(Debug)]
pub enum Taken {
    /// Go ahead and evaluate the guess.
    Granted(Try),
    /// Wait this many seconds (at least 1).
    Wait(u64),
}

/// Takes one try against every subject, or none: if any subject must wait, nothing is
/// recorded and the longest wait is answered.
///
/// # Errors
/// Storage errors.
pub async fn take(
    db: &Database,
    subjects: &[Subject],
    now: DateTime<Utc>,
) -> Result<Taken, sqlx::Error> {
    let mut ordered: Vec<&Subject> = subjects.iter().collect();
    ordered.sort_by(|a, b| a.key.cmp(&b.key));
    ordered.dedup_by(|a, b| a.key == b.key);
    let id = super::tokens::random_token(16);
    let lock = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
    let recent = "SELECT tried_at FROM throttle_tries WHERE subject = $1 AND tried_at > $2 \
                  ORDER BY tried_at DESC LIMIT 64";
    let insert = "INSERT INTO throttle_tries (subject, tried_at, try_id) VALUES ($1, $2, $3)";
    let postgres = db.backend() == Backend::Postgres;
    let begin = db.begin_write();
    let wait = on_db!(db, |pool| {
        let mut tx = pool.begin_with(begin).await?;
        let mut wait: Option<Duration> = None;
        for subject in &ordered {
            if postgres {
                sqlx::query(lock)
                    .bind(&subject.key)
                    .execute(&mut *tx)
                    .await?;
            }
            let tries: Vec<DateTime<Utc>> = sqlx::query_scalar(recent)
                .bind(&subject.key)
                .bind(now - WINDOW)
                .fetch_all(&mut *tx)
                .await?;
            wait = wait.max(subject.limit.wait(&tries, now));
        }
        if wait.is_none() {
            for subject in &ordered {
                sqlx::query(insert)
                    .bind(&subject.key)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(wait)
    })?;
    if let Some(wait) = wait {
        let secs = (wait.num_milliseconds() + 999) / 1000;
        return Ok(Taken::Wait(secs.max(1).unsigned_abs()));
    }
    // Tries nobody asks about again must not pile up: forget every one past the window.
    let prune = "DELETE FROM throttle_tries WHERE tried_at < $1";
    on_db!(db, |pool| sqlx::query(prune)
        .bind(now - WINDOW)
        .execute(pool)
        .await
        .map(drop))?;
    Ok(Taken::Granted(Try { id }))
}

impl Try {
    /// The guess was right: the try no longer counts against any subject, and every try
    /// recorded against `reset` (the subjects the right guess vouches for) is forgotten too.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn give_back(self, db: &Database, reset: &[&str]) -> Result<(), sqlx::Error> {
        let refund = "DELETE FROM throttle_tries WHERE try_id = $1";
        let forget = "DELETE FROM throttle_tries WHERE subject = $1";
        on_db!(db, |pool| {
            sqlx::query(refund).bind(&self.id).execute(pool).await?;
            for subject in reset {
                sqlx::query(forget).bind(subject).execute(pool).await?;
            }
            Ok::<_, sqlx::Error>(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_past_the_free_tries_up_to_the_cap() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(1);
        let limit = Limit {
            free: 2,
            cap: Duration::seconds(5),
        };
        let at = |n: usize| vec![now; n];
        assert_eq!(limit.wait(&at(0), now), None);
        assert_eq!(limit.wait(&at(1), now), None);
        assert_eq!(limit.wait(&at(2), now), Some(Duration::seconds(1)));
        assert_eq!(limit.wait(&at(3), now), Some(Duration::seconds(2)));
        assert_eq!(limit.wait(&at(4), now), Some(Duration::seconds(4)));
        assert_eq!(
            limit.wait(&at(5), now),
            Some(Duration::seconds(5)),
            "capped"
        );
        assert_eq!(
            limit.wait(&at(60), now),
            Some(Duration::seconds(5)),
            "capped"
        );
        let earlier = vec![now - Duration::seconds(4); 4];
        assert_eq!(limit.wait(&earlier, now), None, "the wait is over");
    }
}
