//! The `mail` reactor: one outbox row per event that calls for a message.

use async_trait::async_trait;
use prconfirm_domain::case::CaseEvent;
use prconfirm_migrations::on_conn;
use prconfirm_privacy::{Access, PersonKeys};

use super::outbox::{queue, Envelope, MailKind, SecretKind};
use super::text::{self, Notice, Recipient};
use crate::feed::read_event_on;
use crate::runtime::{Item, ItemError, Reactor};
use crate::store::Conn;

/// Composes the invitation (with its parked code) and the notices without a secret
/// (reminder, expiry, returned photo, card mailed). A later notice takes its recipient from
/// the case's invitation in the log, opened with the person's key: no copy of the e-mail
/// and names is kept beside it, and once the person's data is disposed of there is no
/// recipient left to write to.
#[derive(Debug, Clone)]
pub struct MailComposer {
    keys: PersonKeys,
}

impl MailComposer {
    /// The composer, opening the invitations it reads with `keys`.
    pub fn new(keys: PersonKeys) -> Self {
        Self { keys }
    }
}

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

/// Whom a case's notices go to: the e-mail, names, language and answer date of its
/// invitation (the case's first event), opened with the person's key.
async fn recipient(
    conn: &mut Conn<'_>,
    keys: &PersonKeys,
    case_id: &str,
) -> Result<Recipient, ItemError> {
    let refused = |why: String| ItemError::Refused(why);
    let access = keys
        .for_opening(case_id)
        .await
        .map_err(|e| refused(format!("the person key: {e}")))?;
    if matches!(access, Access::Disposed) {
        return Err(refused(
            "the person's data was disposed of: no recipient".into(),
        ));
    }
    let invited = read_event_on(conn, keys, case_id, 1)
        .await
        .map_err(|e| refused(format!("the invitation: {e}")))?
        .ok_or_else(|| refused("the case has no invitation".into()))?;
    match invited.decode::<CaseEvent>() {
        Ok(CaseEvent::Invited {
            file, respond_by, ..
        }) => Ok(Recipient {
            email: file.email.as_str().to_owned(),
            language: file.language,
            given_name: file.given_name.as_str().to_owned(),
            family_name: file.family_name.as_str().to_owned(),
            respond_by,
        }),
        Ok(other) => Err(refused(format!(
            "the case's first event is {}",
            other.name()
        ))),
        Err(e) => Err(refused(format!("the invitation cannot be read: {e}"))),
    }
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
            let recipient = recipient(conn, &self.keys, &item.case_id).await?;
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
        let to = recipient(conn, &self.keys, &item.case_id).await?;
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
