//! eCoPR documents as recorded (`documents`), and the throttle on checks of their codes.
//! The documents themselves are made by the reactor in [`crate::workers::ecopr`].

use chrono::{DateTime, Duration, NaiveDate, Utc};
use prconfirm_domain::values::{DocumentNumber, Sha256Hex};
use prconfirm_migrations::{on_db, Database};

/// A document as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub document_number: String,
    pub case_id: String,
    pub replaces: Option<String>,
    pub issued_on: NaiveDate,
    pub pdf_sha256: Sha256Hex,
    pub verification_sha256: Sha256Hex,
    pub superseded_by: Option<String>,
}

type DocumentRow = (
    String,
    String,
    Option<String>,
    NaiveDate,
    String,
    String,
    Option<String>,
);

/// The document recorded under `number`, if any.
///
/// # Errors
/// Storage errors (a stored digest that does not parse is reported as a decode error).
pub async fn find(
    db: &Database,
    number: &DocumentNumber,
) -> Result<Option<StoredDocument>, sqlx::Error> {
    let sql = "SELECT document_number, case_id, replaces, issued_on, pdf_sha256, \
               verification_sha256, superseded_by FROM documents WHERE document_number = $1";
    let row: Option<DocumentRow> = on_db!(db, |pool| sqlx::query_as(sql)
        .bind(number.as_str())
        .fetch_optional(pool)
        .await)?;
    row.map(
        |(number, case_id, replaces, issued_on, pdf, code, superseded_by)| {
            let digest = |s: &str| Sha256Hex::parse(s).map_err(|e| sqlx::Error::Decode(e.into()));
            Ok(StoredDocument {
                document_number: number,
                case_id,
                replaces,
                issued_on,
                pdf_sha256: digest(&pdf)?,
                verification_sha256: digest(&code)?,
                superseded_by,
            })
        },
    )
    .transpose()
}

/// How many wrong verification codes a subject (a document number, a client address) may
/// send within [`VERIFICATION_WINDOW`] before it must wait.
pub const VERIFICATION_FREE_FAILURES: usize = 5;
/// The window over which wrong verification codes are counted.
pub const VERIFICATION_WINDOW: Duration = Duration::minutes(15);

/// Seconds `subject` must wait before its next verification, if it has had
/// [`VERIFICATION_FREE_FAILURES`] wrong codes within the window: until the oldest of those
/// leaves it.
///
/// # Errors
/// Storage errors.
pub async fn verification_wait(
    db: &Database,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let sql = "SELECT failed_at FROM verification_failures WHERE subject = $1 AND failed_at > $2 \
               ORDER BY failed_at DESC LIMIT $3";
    let limit = i64::try_from(VERIFICATION_FREE_FAILURES).unwrap_or(i64::MAX);
    let recent: Vec<DateTime<Utc>> = on_db!(db, |pool| sqlx::query_scalar(sql)
        .bind(subject)
        .bind(now - VERIFICATION_WINDOW)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    if recent.len() < VERIFICATION_FREE_FAILURES {
        return Ok(None);
    }
    let oldest = recent.last().copied().unwrap_or(now);
    let until = oldest + VERIFICATION_WINDOW;
    Ok((until > now).then(|| (until - now).num_seconds().max(1).unsigned_abs()))
}

/// Records a wrong verification code against each of `subjects`, and forgets every failure
/// older than the window (whatever its subject: numbers nobody asks about again must not
/// pile up), so the table holds at most the last window's failures.
///
/// # Errors
/// Storage errors.
pub async fn record_verification_failure(
    db: &Database,
    subjects: &[String],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let prune = "DELETE FROM verification_failures WHERE failed_at < $1";
    let insert = "INSERT INTO verification_failures (subject, failed_at) VALUES ($1, $2)";
    on_db!(db, |pool| {
        sqlx::query(prune)
            .bind(now - VERIFICATION_WINDOW)
            .execute(pool)
            .await?;
        for subject in subjects {
            sqlx::query(insert)
                .bind(subject)
                .bind(now)
                .execute(pool)
                .await?;
        }
        Ok::<_, sqlx::Error>(())
    })
}
