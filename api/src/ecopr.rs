//! eCoPR documents: the reactor that makes them, and the reads the routes need.
//!
//! The case records `EcoprIssued` (on grant) and `EcoprAmended` (a correction); the PDF is a
//! side effect, so a reactor on the global feed makes it, at least once and idempotently:
//! for each such event it loads the case, draws a fresh verification code, renders the PDF
//! (`commands::ecopr::render`), stores it in the blob store by its SHA-256, and then, in ONE
//! transaction with its checkpoint, inserts the `documents` row (the PDF's digest and only
//! the SHA-256 of the code), marks the document it replaces as superseded and puts an
//! "eCoPR ready" e-mail in the outbox. A re-run after a crash finds the row (or loses the
//! insert to it) and makes no second document; the e-mail's id is the event's, so it is not
//! sent twice either.
//!
//! It lives here, not in `projections`, because it needs the write side (`CaseService`,
//! accounts, the blob store, the renderer) and `projections` never imports `commands`.
//!
//! Several instances may run it (PostgreSQL): each commits only if the checkpoint is still
//! where it read it (compare and set), so one of them wins each batch and the other starts
//! over from the new checkpoint; the loser's PDF is an orphan blob no row names.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use prconfirm_commands::accounts::{AccountError, Accounts};
use prconfirm_commands::ecopr::{render, EcoprDocument, EcoprError, VerificationCode};
use prconfirm_commands::photo::BlobStore;
use prconfirm_commands::{CaseService, CommandError};
use prconfirm_domain::case::{CaseEvent, CaseFile};
use prconfirm_domain::values::{DocumentNumber, Language, PersonName, Sha256Hex};
use prconfirm_migrations::{on_db, Database};
use prconfirm_projections::feed::{read_feed, FeedCursor, FeedError, FeedEvent};
use sha2::{Digest, Sha256};

/// The reactor's name in `reactor_checkpoints`.
pub const REACTOR: &str = "ecopr";

/// Days an issued eCoPR stays downloadable from the portal.
pub const DOWNLOAD_DAYS: i64 = 30;

/// The last day the eCoPR issued on `issued_on` can be downloaded.
pub fn download_by(issued_on: NaiveDate) -> NaiveDate {
    issued_on + Duration::days(DOWNLOAD_DAYS)
}

/// Whether the eCoPR issued on `issued_on` can still be downloaded `today` (through
/// [`download_by`], inclusive).
pub fn download_open(issued_on: NaiveDate, today: NaiveDate) -> bool {
    today <= download_by(issued_on)
}

/// Why a round of the reactor stopped. The event it stopped at is retried next round: the
/// checkpoint never passes an event that was not turned into its document.
#[derive(Debug, thiserror::Error)]
pub enum ReactorError {
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("cannot load case: {0}")]
    Case(#[from] CommandError),
    #[error("cannot read the officer's name: {0}")]
    Account(#[from] AccountError),
    #[error("cannot make the PDF: {0}")]
    Render(#[from] EcoprError),
    #[error("cannot store the PDF: {0}")]
    Blob(#[from] std::io::Error),
    #[error("event {sequence} of case {case_id}: {reason}")]
    Event {
        case_id: String,
        sequence: i64,
        reason: String,
    },
}

/// What the reactor needs: the write side to load cases and officers' names, and where PDFs go.
#[derive(Debug, Clone)]
pub struct EcoprReactor {
    pub db: Database,
    pub cases: Arc<CaseService>,
    pub accounts: Accounts,
    pub blobs: BlobStore,
}

/// A document made and stored, waiting to be recorded with the checkpoint.
#[derive(Debug)]
struct Made {
    document_number: DocumentNumber,
    case_id: String,
    sequence: i64,
    replaces: Option<DocumentNumber>,
    issued_on: NaiveDate,
    pdf_sha256: Sha256Hex,
    verification_sha256: Sha256Hex,
    mail: ReadyMail,
}

/// The "eCoPR ready" e-mail. It carries no secret: the verification code is on the PDF only.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadyMail {
    id: String,
    recipient: String,
    subject: String,
    body: String,
}

/// The message telling the applicant their eCoPR can be downloaded, in their language.
fn ready_mail(
    file: &CaseFile,
    document_number: &DocumentNumber,
    replaces: Option<&DocumentNumber>,
    issued_on: NaiveDate,
) -> (String, String) {
    let name = format!("{} {}", file.given_name.as_str(), file.family_name.as_str());
    let until = download_by(issued_on);
    match file.language {
        Language::Fr => {
            let what = match replaces {
                Some(old) => format!(
                    "Une CRPe corrigée ({document_number}) remplace la CRPe {old}, qui n'est \
                     plus valide."
                ),
                None => format!(
                    "Votre confirmation de résidence permanente électronique (CRPe) \
                     {document_number} est prête."
                ),
            };
            (
                "Votre CRPe est prête".to_owned(),
                format!(
                    "Bonjour {name},\r\n\r\n{what}\r\n\r\nConnectez-vous au portail pour la \
                     télécharger. Elle peut être téléchargée jusqu'au {until} inclusivement.\r\n\
                     \r\nDocument: {document_number}\r\n"
                ),
            )
        }
        Language::En => {
            let what = match replaces {
                Some(old) => format!(
                    "A corrected eCoPR ({document_number}) replaces eCoPR {old}, which is no \
                     longer valid."
                ),
                None => format!(
                    "Your electronic Confirmation of Permanent Residence (eCoPR) \
                     {document_number} is ready."
                ),
            };
            (
                "Your eCoPR is ready".to_owned(),
                format!(
                    "Hello {name},\r\n\r\n{what}\r\n\r\nSign in to the portal to download it. \
                     It can be downloaded until {until} inclusive.\r\n\r\n\
                     Document: {document_number}\r\n"
                ),
            )
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> Sha256Hex {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Sha256Hex::parse(&hex).unwrap_or_else(|_| unreachable!("SHA-256 is 64 hex digits"))
}

impl EcoprReactor {
    /// One round: reads up to `batch` feed events after the checkpoint, makes the documents
    /// they call for and records them with the checkpoint. Answers how many events it got
    /// past (0: caught up, or another instance moved the checkpoint first).
    ///
    /// # Errors
    /// The first event it could not turn into a document: the events before it are recorded
    /// and the checkpoint stops just before it, so the next round retries it. Never skips.
    pub async fn run_once(&self, batch: u32) -> Result<usize, ReactorError> {
        let from = self.checkpoint().await?;
        let events = read_feed(&self.db, from, batch).await?;
        let mut made = Vec::new();
        let mut reached = from;
        let mut passed = 0;
        let mut failure = None;
        for event in &events {
            match self.make(event).await {
                Ok(document) => {
                    made.extend(document);
                    reached = event.cursor;
                    passed += 1;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if reached != from && !self.record(from, reached, &made).await? {
            // Another instance recorded this stretch first.
            return Ok(0);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(passed),
        }
    }

    /// The checkpoint, created at the start of the feed if this reactor never ran.
    async fn checkpoint(&self) -> Result<FeedCursor, ReactorError> {
        let create = "INSERT INTO reactor_checkpoints (name, tx, position) VALUES ($1, 0, 0) \
                      ON CONFLICT (name) DO NOTHING";
        let read = "SELECT tx, position FROM reactor_checkpoints WHERE name = $1";
        // Read first: an idle round should not take SQLite's write lock every second.
        let (tx, position): (i64, i64) = on_db!(&self.db, |pool| {
            match sqlx::query_as(read)
                .bind(REACTOR)
                .fetch_optional(pool)
                .await?
            {
                Some(cursor) => Ok(cursor),
                None => {
                    sqlx::query(create).bind(REACTOR).execute(pool).await?;
                    sqlx::query_as(read).bind(REACTOR).fetch_one(pool).await
                }
            }
        })?;
        Ok(FeedCursor {
            tx: tx.unsigned_abs(),
            position,
        })
    }

    /// The document `event` calls for, made and stored; `None` for any other event, or one
    /// whose document exists already (a re-run).
    async fn make(&self, event: &FeedEvent) -> Result<Option<Made>, ReactorError> {
        if !matches!(event.event_type.as_str(), "EcoprIssued" | "EcoprAmended") {
            return Ok(None);
        }
        let fail = |reason: String| ReactorError::Event {
            case_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            reason,
        };
        let decoded: CaseEvent =
            serde_json::from_value(event.payload.clone()).map_err(|e| fail(e.to_string()))?;
        let (document_number, replaces, issued_on, by) = match decoded {
            CaseEvent::EcoprIssued {
                document_number,
                issued_on,
                by,
                ..
            } => (document_number, None, issued_on, by),
            CaseEvent::EcoprAmended {
                replaces,
                document_number,
                issued_on,
                by,
                ..
            } => (document_number, Some(replaces), issued_on, by),
            _ => return Ok(None),
        };
        if find(&self.db, &document_number).await?.is_some() {
            return Ok(None);
        }
        let loaded = self
            .cases
            .load(&event.aggregate_id)
            .await?
            .ok_or_else(|| fail("no such case".into()))?;
        let file = loaded
            .case
            .file
            .clone()
            .ok_or_else(|| fail("the case has no file".into()))?;
        let granted_on = loaded
            .case
            .stage
            .granted()
            .map(|g| g.granted_on)
            .ok_or_else(|| fail("the case is not granted".into()))?;
        let officer = self.accounts.display_name(by.as_str()).await?;
        let officer_name = PersonName::parse(&officer)
            .or_else(|_| PersonName::parse(by.as_str()))
            .map_err(|e| fail(format!("officer's name: {e}")))?;
        let code = VerificationCode::generate()?;
        let verification_sha256 = code.digest();
        let document = EcoprDocument {
            document_number: document_number.clone(),
            replaces: replaces.clone(),
            uci: file.uci.clone(),
            application_number: file.application_number.clone(),
            family_name: file.family_name.clone(),
            given_name: file.given_name.clone(),
            date_of_birth: file.date_of_birth.date(),
            country_of_birth: None,
            granted_on,
            issued_on,
            officer_name,
            verification_code: code,
        };
        let blobs = self.blobs.clone();
        let pdf_sha256 = tokio::task::spawn_blocking(move || {
            let pdf = render(&document)?;
            let digest = sha256_hex(&pdf);
            blobs.put(&digest, &pdf)?;
            Ok::<_, ReactorError>(digest)
        })
        .await
        .map_err(|e| fail(format!("rendering task: {e}")))??;
        let (subject, body) = ready_mail(&file, &document_number, replaces.as_ref(), issued_on);
        Ok(Some(Made {
            mail: ReadyMail {
                id: format!("{}-{}", event.aggregate_id, event.sequence),
                recipient: file.email.as_str().to_owned(),
                subject,
                body,
            },
            document_number,
            case_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            replaces,
            issued_on,
            pdf_sha256,
            verification_sha256,
        }))
    }

    /// Records `made` and moves the checkpoint from `from` to `to`, in one transaction;
    /// `false` (and nothing written) if the checkpoint is no longer at `from`.
    async fn record(
        &self,
        from: FeedCursor,
        to: FeedCursor,
        made: &[Made],
    ) -> Result<bool, ReactorError> {
        let advance = "UPDATE reactor_checkpoints SET tx = $2, position = $3 \
                       WHERE name = $1 AND tx = $4 AND position = $5";
        let insert = "INSERT INTO documents (document_number, case_id, sequence, replaces, \
                      issued_on, pdf_sha256, verification_sha256) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let supersede = "UPDATE documents SET superseded_by = $2 \
                         WHERE document_number = $1 AND superseded_by IS NULL";
        let mail =
            "INSERT INTO mail_outbox (id, recipient, subject, body) VALUES ($1, $2, $3, $4) \
                    ON CONFLICT (id) DO NOTHING";
        let as_i64 = |tx: u64| i64::try_from(tx).unwrap_or(i64::MAX);
        let begin = self.db.begin_write();
        let moved = on_db!(&self.db, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let moved = sqlx::query(advance)
                .bind(REACTOR)
                .bind(as_i64(to.tx))
                .bind(to.position)
                .bind(as_i64(from.tx))
                .bind(from.position)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !moved {
                tx.rollback().await?;
                return Ok(false);
            }
            for m in made {
                sqlx::query(insert)
                    .bind(m.document_number.as_str())
                    .bind(&m.case_id)
                    .bind(m.sequence)
                    .bind(m.replaces.as_ref().map(DocumentNumber::as_str))
                    .bind(m.issued_on)
                    .bind(m.pdf_sha256.as_str())
                    .bind(m.verification_sha256.as_str())
                    .execute(&mut *tx)
                    .await?;
                if let Some(old) = &m.replaces {
                    sqlx::query(supersede)
                        .bind(old.as_str())
                        .bind(m.document_number.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(mail)
                    .bind(&m.mail.id)
                    .bind(&m.mail.recipient)
                    .bind(&m.mail.subject)
                    .bind(&m.mail.body)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        })?;
        if moved && !made.is_empty() {
            tracing::info!(documents = made.len(), "eCoPR documents made");
        }
        Ok(moved)
    }
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prconfirm_domain::fixtures::case_file;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_ecopr_downloads_for_thirty_days_after_issue_and_then_no_more() {
        let issued = day(2026, 6, 1);
        assert!(download_open(issued, issued));
        assert!(
            download_open(issued, day(2026, 7, 1)),
            "the 30th day counts"
        );
        assert!(!download_open(issued, day(2026, 7, 2)));
        assert_eq!(download_by(issued), day(2026, 7, 1));
    }

    #[test]
    fn the_ready_mail_speaks_the_case_language_and_names_the_last_day() {
        let mut file = case_file("E001234567", "12345678", "Zoë");
        file.language = Language::En;
        let number = DocumentNumber::from_serial(7);
        let (subject, body) = ready_mail(&file, &number, None, day(2026, 6, 1));
        assert_eq!(subject, "Your eCoPR is ready");
        assert!(body.contains("Hello Zoë"), "{body}");
        assert!(body.contains("until 2026-07-01"), "{body}");
        file.language = Language::Fr;
        let old = DocumentNumber::from_serial(6);
        let (subject, body) = ready_mail(&file, &number, Some(&old), day(2026, 6, 1));
        assert_eq!(subject, "Votre CRPe est prête");
        assert!(body.contains("jusqu'au 2026-07-01"), "{body}");
        assert!(body.contains(old.as_str()), "{body}");
    }
}
