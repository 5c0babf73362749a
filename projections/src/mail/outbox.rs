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
    // On SQLite, queued with the appends for the one writer (see `migrations::gate`).
    let _turn = db.write_turn().await;
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

/// What a message is about, as officers see it in the case's message status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// The invitation, with its code.
    Invitation,
    /// The portal username and temporary password.
    Credentials,
    /// The answer date of the invitation is near.
    Reminder,
    /// The invitation lapsed unanswered.
    InvitationExpired,
    /// An officer returned the photo.
    PhotoReturned,
    /// The eCoPR (or a corrected one) can be downloaded.
    EcoprReady,
    /// The PR card was mailed.
    CardMailed,
}

impl MailKind {
    /// The code it is stored under.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::Credentials => "credentials",
            Self::Reminder => "reminder",
            Self::InvitationExpired => "invitation_expired",
            Self::PhotoReturned => "photo_returned",
            Self::EcoprReady => "ecopr_ready",
            Self::CardMailed => "card_mailed",
        }
    }
}

/// Who a message goes to and what it is, beside its text: the outbox row's envelope.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub case_id: &'a str,
    /// The event the message tells of: with the case, the message's id.
    pub sequence: i64,
    pub kind: MailKind,
    pub language: Language,
    pub recipient: &'a str,
}

/// Queues a message in the outbox inside the caller's transaction; a message of the same id
/// queued before stays as it is.
///
/// # Errors
/// Storage errors.
pub async fn queue(
    conn: &mut Conn<'_>,
    to: &Envelope<'_>,
    (subject, body): &(String, String),
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO mail_outbox (id, recipient, subject, body, case_id, kind, language) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(message_id(to.case_id, to.sequence))
        .bind(to.recipient)
        .bind(subject)
        .bind(body)
        .bind(to.case_id)
        .bind(to.kind.as_str())
        .bind(language_code(to.language))
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
