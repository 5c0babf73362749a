//! Each case's e-mails as officers see them: what each is, in which language, and whether it
//! went out. Read from the outbox and the delivery reactor's parked items; never a body, a
//! recipient or a secret.

use chrono::{DateTime, TimeZone, Utc};
use prconfirm_migrations::{on_db, Database};
use serde::Serialize;

use super::outbox::MailKind;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting for the outlet.
    Queued,
    /// Handed over: written as a file, or accepted by the SMTP relay (not yet read, perhaps
    /// not yet delivered: the relay's own fate is beyond the portal).
    Sent,
    /// The last attempt failed; `error` says why. A relay's temporary refusal is tried
    /// again, a permanent one waits for an operator (`prconfirm consumers retry`).
    Failed,
}

/// One message of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageStatus {
    /// `null` for a message queued before kinds were recorded.
    pub kind: Option<MailKind>,
    /// `en` or `fr`; `null` for a message queued before languages were recorded.
    pub language: Option<String>,
    pub status: MessageState,
    pub queued_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// When the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
    /// What the outlet answered (an SMTP relay's reply, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn kind(code: &str) -> Option<MailKind> {
    serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
}

/// A queued message's row: kind, language, queued, sent, failed at (ms), error.
type Row = (
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<String>,
);

/// The e-mails of `case_id`, oldest first.
///
/// # Errors
/// Storage errors.
pub async fn messages(db: &Database, case_id: &str) -> Result<Vec<MessageStatus>, sqlx::Error> {
    let sql = include_str!("status.sql");
    let rows: Vec<Row> = on_db!(db, |pool| sqlx::query_as(sql)
        .bind(case_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(k, language, queued_at, sent_at, failed_ms, error)| {
            let failed_at = failed_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            let status = match (sent_at, &error) {
                (Some(_), _) => MessageState::Sent,
                (None, Some(_)) => MessageState::Failed,
                (None, None) => MessageState::Queued,
            };
            MessageStatus {
                kind: k.as_deref().and_then(kind),
                language,
                status,
                queued_at,
                sent_at,
                failed_at: failed_at.filter(|_| status == MessageState::Failed),
                error: error.filter(|_| status == MessageState::Failed),
            }
        })
        .collect())
}
