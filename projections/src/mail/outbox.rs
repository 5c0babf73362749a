//! The outbox and what its writers share: message ids, queuing, parked secrets, the
//! outlet messages leave by.

use std::path::PathBuf;

use lettre::{AsyncSmtpTransport, Tokio1Executor};
use prconfirm_domain::values::Language;
use prconfirm_migrations::{on_conn, on_db, Database};

use crate::store::Conn;

/// A failure of the mail pipeline outside the runtime's rounds.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
    #[error("PRCONFIRM_SMTP_URL is not a usable SMTP URL: {0}")]
    SmtpUrl(String),
}

/// Which secret a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Invitation,
}

impl SecretKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
        }
    }
}

/// The code a language is stored under.
pub fn language_code(language: Language) -> &'static str {
    match language {
        Language::En => "en",
        Language::Fr => "fr",
    }
}

/// Parks `secret` for the next message of `kind` about `case_id` (replacing an older one).
///
/// # Errors
/// Storage errors.
pub async fn store_secret(
    db: &Database,
    case_id: &str,
    kind: SecretKind,
    recipient: &str,
    language: Language,
    secret: &str,
) -> Result<(), MailError> {
    let delete = "DELETE FROM mail_secrets WHERE case_id = $1 AND kind = $2";
    let insert = "INSERT INTO mail_secrets (case_id, kind, recipient, language, secret) \
                  VALUES ($1, $2, $3, $4, $5)";
    let begin = db.begin_write();
    on_db!(db, |pool| {
        let mut tx = pool.begin_with(begin).await?;
        sqlx::query(delete)
            .bind(case_id)
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(insert)
            .bind(case_id)
            .bind(kind.as_str())
            .bind(recipient)
            .bind(language_code(language))
            .bind(secret)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })?;
    Ok(())
}

/// The id of the message that tells of event `sequence` of `case_id`.
pub fn message_id(case_id: &str, sequence: i64) -> String {
    format!("{case_id}-{sequence}")
}

/// Queues a message in the outbox inside the caller's transaction; a message of the same id
/// queued before stays as it is.
///
/// # Errors
/// Storage errors.
pub async fn queue(
    conn: &mut Conn<'_>,
    id: &str,
    recipient: &str,
    (subject, body): &(String, String),
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO mail_outbox (id, recipient, subject, body) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (id) DO NOTHING";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(id)
        .bind(recipient)
        .bind(subject)
        .bind(body)
        .execute(&mut **c)
        .await
        .map(drop))
}

/// Where delivered messages go.
pub enum Outlet {
    /// `<dir>/<id>.eml`, one file per message (no SMTP configured).
    Files(PathBuf),
    /// An SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Outlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Files(dir) => f.debug_tuple("Files").field(dir).finish(),
            // Never the URL or the transport's settings: they may hold the relay's password.
            Self::Smtp(_) => f.write_str("Smtp(..)"),
        }
    }
}

/// How long one SMTP exchange may take before the message counts as not delivered (and is
/// retried in a later round).
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Outlet {
    /// An SMTP relay from its URL (`smtp://`, `smtps://`; see lettre's `from_url`).
    ///
    /// # Errors
    /// [`MailError::SmtpUrl`] if the URL is not one; the error never repeats the URL.
    pub fn smtp(url: &str) -> Result<Self, MailError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::SmtpUrl(e.to_string()))?;
        Ok(Self::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build()))
    }
}
