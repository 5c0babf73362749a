//! The `mail` reactor: one outbox row per event that calls for a message.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use prconfirm_domain::case::CaseEvent;
use prconfirm_domain::values::Language;
use prconfirm_migrations::on_conn;

use super::outbox::{language_code, queue, Envelope, MailKind, SecretKind};
use super::text::{self, Notice, Recipient};
use crate::runtime::{Item, ItemError, Reactor};
use crate::store::Conn;

/// Composes the invitation (with its parked code) and the notices without a secret
/// (reminder, expiry, returned photo, card mailed); remembers each case's recipient from its
/// invitation (`mail_recipients`), so that later notices need not read the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailComposer;

fn notice_of(event: &CaseEvent) -> Option<Notice> {
    match event {
        CaseEvent::InvitationReminded { .. } => Some(Notice::Reminder),
        CaseEvent::InvitationExpired { .. } => Some(Notice::InvitationExpired),
        CaseEvent::PhotoReturned { reason, note, .. } => Some(Notice::PhotoReturned {
            reason: *reason,
            note: note.clone(),
        }),
        CaseEvent::PrCardMailed { .. } => Some(Notice::CardMailed),
        _ => None,
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, ItemError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ItemError::Refused(format!("stored answer date {text:?}: {e}")))
}

fn parse_language(code: &str) -> Result<Language, ItemError> {
    Language::parse(code).map_err(|_| ItemError::Refused(format!("stored language {code:?}")))
}

async fn recipient(conn: &mut Conn<'_>, case_id: &str) -> Result<Recipient, ItemError> {
    let sql = "SELECT email, language, given_name, family_name, respond_by \
               FROM mail_recipients WHERE case_id = $1";
    let row: Option<(String, String, String, String, String)> =
        on_conn!(conn, |c| sqlx::query_as(sql)
            .bind(case_id)
            .fetch_optional(&mut **c)
            .await)?;
    let (email, language, given_name, family_name, respond_by) =
        row.ok_or_else(|| ItemError::Refused("no recipient known for this case".into()))?;
    Ok(Recipient {
        email,
        language: parse_language(&language)?,
        given_name,
        family_name,
        respond_by: parse_time(&respond_by)?,
    })
}

/// Takes the invitation code parked for the case's next invitation, with its recipient: it
/// leaves the database in the message that carries it.
async fn take_code(
    conn: &mut Conn<'_>,
    case_id: &str,
) -> Result<Option<(String, String)>, ItemError> {
    let secret = "SELECT recipient, secret FROM mail_secrets WHERE case_id = $1 AND kind = $2";
    let kind = SecretKind::Invitation.as_str();
    let parked: Option<(String, String)> = on_conn!(conn, |c| sqlx::query_as(secret)
        .bind(case_id)
        .bind(kind)
        .fetch_optional(&mut **c)
        .await)?;
    if parked.is_some() {
        let consume = "DELETE FROM mail_secrets WHERE case_id = $1 AND kind = $2";
        on_conn!(conn, |c| sqlx::query(consume)
            .bind(case_id)
            .bind(kind)
            .execute(&mut **c)
            .await
            .map(drop))?;
    }
    Ok(parked)
}

#[async_trait]
impl Reactor for MailComposer {
    type Work = ();

    fn name(&self) -> &'static str {
        "mail"
    }

    fn wants(&self, event: &CaseEvent) -> bool {
        matches!(
            event,
            CaseEvent::Invited { .. } | CaseEvent::InvitationResent { .. }
        ) || notice_of(event).is_some()
    }

    /// Everything happens in the record: it reads and writes only the database.
    async fn prepare(&self, _item: &Item) -> Result<Option<()>, ItemError> {
        Ok(Some(()))
    }

    async fn record(&self, conn: &mut Conn<'_>, item: &Item, (): ()) -> Result<(), ItemError> {
        if let CaseEvent::Invited {
            file, respond_by, ..
        } = &item.event
        {
            let remember = "INSERT INTO mail_recipients \
                            (case_id, email, language, given_name, family_name, respond_by) \
                            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING";
            on_conn!(conn, |c| sqlx::query(remember)
                .bind(&item.case_id)
                .bind(file.email.as_str())
                .bind(language_code(file.language))
                .bind(file.given_name.as_str())
                .bind(file.family_name.as_str())
                .bind(respond_by.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .execute(&mut **c)
                .await
                .map(drop))?;
            // An invitation made through the API always parks its code first; a case made
            // some other way (generated data, a test) has none, and gets no invitation.
            let Some((to, code)) = take_code(conn, &item.case_id).await? else {
                tracing::warn!(case = %item.case_id, "no invitation code parked; no invitation sent");
                return Ok(());
            };
            let envelope = Envelope {
                case_id: &item.case_id,
                sequence: item.sequence,
                kind: MailKind::Invitation,
                language: file.language,
                recipient: &to,
            };
            queue(conn, &envelope, &text::invitation(file, *respond_by, &code)).await?;
            return Ok(());
        }
        if let CaseEvent::InvitationResent { .. } = &item.event {
            let Some((to, code)) = take_code(conn, &item.case_id).await? else {
                tracing::warn!(case = %item.case_id, "no invitation code parked; nothing re-sent");
                return Ok(());
            };
            let recipient = recipient(conn, &item.case_id).await?;
            let envelope = Envelope {
                case_id: &item.case_id,
                sequence: item.sequence,
                kind: MailKind::Invitation,
                language: recipient.language,
                recipient: &to,
            };
            queue(conn, &envelope, &text::invitation_again(&recipient, &code)).await?;
            return Ok(());
        }
        let Some(notice) = notice_of(&item.event) else {
            return Ok(());
        };
        let to = recipient(conn, &item.case_id).await?;
        let envelope = Envelope {
            case_id: &item.case_id,
            sequence: item.sequence,
            kind: notice.kind(),
            language: to.language,
            recipient: &to.email,
        };
        queue(conn, &envelope, &text::notice(&notice, &to)).await?;
        Ok(())
    }
}
