//! E-mail, fed from the event log.
//!
//! - [`store_secret`]: before an event that needs a secret in its message is appended, the
//!   caller parks the secret (invitation code, temporary password) with the recipient.
//! - [`compose_pending`]: reads the feed after its checkpoint and writes one outbox row per
//!   message-worthy event, consuming the parked secret, and advances the checkpoint, all in
//!   one transaction: every event becomes exactly one message, even across crashes.
//! - [`deliver_pending`]: hands each unsent message to the [`Outlet`], an SMTP relay or
//!   `<mail dir>/<id>.eml` (atomically, by rename; the same message always lands in the same
//!   file, so a redelivery after a crash replaces rather than duplicates), and then purges
//!   the body, which held the secret. A message not delivered stays pending and is retried.

use std::path::{Path, PathBuf};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use prconfirm_migrations::{on_db, Database};
use serde_json::Value;

use crate::feed::{read_feed, FeedCursor, FeedError};

const REACTOR: &str = "mail";
const FROM: &str = "Confirmation of PR <no-reply@prconfirm.example>";

/// A failure of the mail pipeline.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("cannot build message {id}: {reason}")]
    Build { id: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The relay refused the message or could not be reached; the message stays pending.
    #[error("cannot send message {id} by SMTP: {reason}")]
    Send { id: String, reason: String },
    #[error("PRCONFIRM_SMTP_URL is not a usable SMTP URL: {0}")]
    SmtpUrl(String),
}

/// Which secret a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Invitation,
    Credentials,
}

impl SecretKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::Credentials => "credentials",
        }
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
    language: &str,
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
            .bind(language)
            .bind(secret)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })?;
    Ok(())
}

/// A message ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outgoing {
    id: String,
    recipient: String,
    subject: String,
    body: String,
}

fn compose(kind: SecretKind, event: &Value, language: &str, secret: &str) -> (String, String) {
    let fr = language == "fr";
    match kind {
        SecretKind::Invitation => {
            let file = &event["Invited"]["file"];
            let name = format!(
                "{} {}",
                file["given_name"].as_str().unwrap_or_default(),
                file["family_name"].as_str().unwrap_or_default()
            );
            let respond_by = day(&event["Invited"]["respond_by"]);
            if fr {
                (
                    "Invitation : confirmer votre résidence permanente en ligne".into(),
                    format!(
                        "Bonjour {name},\r\n\r\nVous êtes invité(e) à confirmer votre résidence \
                         permanente en ligne. Répondez avant le {respond_by}.\r\n\r\n\
                         Invitation code: {secret}\r\n\r\nSi vous ne souhaitez pas utiliser le \
                         portail, vous pouvez refuser l'invitation.\r\n"
                    ),
                )
            } else {
                (
                    "Invitation: confirm your permanent residence online".into(),
                    format!(
                        "Hello {name},\r\n\r\nYou are invited to confirm your permanent \
                         residence online. Please answer by {respond_by}.\r\n\r\n\
                         Invitation code: {secret}\r\n\r\nIf you prefer not to use the portal, \
                         you may decline the invitation.\r\n"
                    ),
                )
            }
        }
        SecretKind::Credentials => {
            let username = event["AccountCreated"]["username"]
                .as_str()
                .unwrap_or_default();
            let expires = day(&event["AccountCreated"]["temporary_password_expires_at"]);
            if fr {
                (
                    "Votre compte du portail de confirmation de la RP".into(),
                    format!(
                        "Votre compte a été créé.\r\n\r\nUsername: {username}\r\n\
                         Temporary password: {secret}\r\n\r\nCe mot de passe temporaire expire \
                         le {expires}. Vous devrez le changer à la première connexion.\r\n"
                    ),
                )
            } else {
                (
                    "Your PR confirmation portal account".into(),
                    format!(
                        "Your account has been created.\r\n\r\nUsername: {username}\r\n\
                         Temporary password: {secret}\r\n\r\nThis temporary password expires \
                         at {expires}. You must change it when you first sign in.\r\n"
                    ),
                )
            }
        }
    }
}

/// The date of an RFC 3339 time stamp, with its zone: `2026-07-01 (UTC)`.
fn day(value: &Value) -> String {
    day_of(value.as_str().unwrap_or_default())
}

fn day_of(text: &str) -> String {
    format!("{} (UTC)", text.get(..10).unwrap_or(text))
}

fn kind_of(event_type: &str) -> Option<SecretKind> {
    match event_type {
        "Invited" => Some(SecretKind::Invitation),
        "AccountCreated" => Some(SecretKind::Credentials),
        _ => None,
    }
}

/// A message without a secret, about something that happened to the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    Reminder,
    InvitationExpired,
    PhotoReturned,
    CardMailed,
}

fn notice_of(event_type: &str) -> Option<Notice> {
    match event_type {
        "InvitationReminded" => Some(Notice::Reminder),
        "InvitationExpired" => Some(Notice::InvitationExpired),
        "PhotoReturned" => Some(Notice::PhotoReturned),
        "PrCardMailed" => Some(Notice::CardMailed),
        _ => None,
    }
}

/// Where a case's notices go: what its invitation said.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct Recipient {
    email: String,
    language: String,
    given_name: String,
    family_name: String,
    respond_by: String,
}

/// What an applicant should do about a returned photo, by the published reason.
fn return_advice(reason: &str, fr: bool) -> &'static str {
    match (reason, fr) {
        ("too_dark", false) => "The photo is too dark. Take it again in even, bright light.",
        ("too_dark", true) => {
            "La photo est trop sombre. Reprenez-la sous un éclairage uniforme et lumineux."
        }
        ("background_not_white", false) => {
            "The background must be plain white. Stand in front of a white wall."
        }
        ("background_not_white", true) => {
            "Le fond doit être blanc et uni. Placez-vous devant un mur blanc."
        }
        ("features_not_visible", false) => {
            "Your face must be sharp and fully visible: face the camera, eyes open, nothing \
             covering your features."
        }
        ("features_not_visible", true) => {
            "Votre visage doit être net et entièrement visible : de face, les yeux ouverts, \
             rien ne cachant vos traits."
        }
        ("glare", false) => "There is glare on the photo. Avoid flash and reflections.",
        ("glare", true) => "La photo présente des reflets. Évitez le flash et les reflets.",
        ("wrong_dimensions", false) => {
            "The photo must be between 715 x 1000 and 2000 x 2800 pixels."
        }
        ("wrong_dimensions", true) => {
            "La photo doit mesurer entre 715 x 1000 et 2000 x 2800 pixels."
        }
        ("file_too_large", false) => "The file must be 4 MB or less.",
        ("file_too_large", true) => "Le fichier doit faire 4 Mo ou moins.",
        (_, false) => "See the officer's note below.",
        (_, true) => "Voyez la note de l'agent ci-dessous.",
    }
}

fn compose_notice(notice: Notice, event: &Value, to: &Recipient) -> (String, String) {
    let fr = to.language == "fr";
    let name = format!("{} {}", to.given_name, to.family_name);
    match (notice, fr) {
        (Notice::Reminder, false) => (
            "Reminder: answer your invitation to confirm your permanent residence".into(),
            format!(
                "Hello {name},\r\n\r\nYou have not yet answered your invitation to confirm \
                 your permanent residence online. Please answer by {}, using the invitation \
                 code we sent you.\r\n",
                day_of(&to.respond_by)
            ),
        ),
        (Notice::Reminder, true) => (
            "Rappel : répondez à votre invitation à confirmer votre résidence permanente".into(),
            format!(
                "Bonjour {name},\r\n\r\nVous n'avez pas encore répondu à votre invitation à \
                 confirmer votre résidence permanente en ligne. Répondez avant le {}, avec le \
                 code d'invitation que nous vous avons envoyé.\r\n",
                day_of(&to.respond_by)
            ),
        ),
        (Notice::InvitationExpired, false) => (
            "Your invitation to confirm your permanent residence online has expired".into(),
            format!(
                "Hello {name},\r\n\r\nThe answer date of your invitation has passed. Your \
                 file has been referred to an in-person landing: an office will contact you \
                 to arrange it.\r\n"
            ),
        ),
        (Notice::InvitationExpired, true) => (
            "Votre invitation à confirmer votre résidence permanente en ligne a expiré".into(),
            format!(
                "Bonjour {name},\r\n\r\nLa date de réponse de votre invitation est passée. \
                 Votre dossier a été transmis pour une entrevue en personne : un bureau \
                 communiquera avec vous.\r\n"
            ),
        ),
        (Notice::PhotoReturned, _) => {
            let returned = &event["PhotoReturned"];
            let reason = returned["reason"].as_str().unwrap_or("other");
            let note = returned["note"].as_str().unwrap_or_default();
            let advice = return_advice(reason, fr);
            let note = if note.is_empty() {
                String::new()
            } else if fr {
                format!("Note de l'agent : {note}\r\n\r\n")
            } else {
                format!("Officer's note: {note}\r\n\r\n")
            };
            if fr {
                (
                    "Votre photo doit être reprise".into(),
                    format!(
                        "Bonjour {name},\r\n\r\nUn agent a retourné votre photo.\r\n\r\n\
                         Motif : {reason}\r\n{advice}\r\n\r\n{note}Connectez-vous au portail et \
                         téléversez une nouvelle photo.\r\n"
                    ),
                )
            } else {
                (
                    "Your photo needs to be taken again".into(),
                    format!(
                        "Hello {name},\r\n\r\nAn officer returned your photo.\r\n\r\n\
                         Reason: {reason}\r\n{advice}\r\n\r\n{note}Sign in to the portal and \
                         upload a new photo.\r\n"
                    ),
                )
            }
        }
        (Notice::CardMailed, false) => (
            "Your permanent resident card has been mailed".into(),
            format!(
                "Hello {name},\r\n\r\nYour permanent resident card has been mailed to the \
                 address you confirmed. Keep your eCoPR until it arrives.\r\n"
            ),
        ),
        (Notice::CardMailed, true) => (
            "Votre carte de résident permanent a été postée".into(),
            format!(
                "Bonjour {name},\r\n\r\nVotre carte de résident permanent a été postée à \
                 l'adresse que vous avez confirmée. Gardez votre eCoPR jusqu'à son arrivée.\r\n"
            ),
        ),
    }
}

/// The recipient row an `Invited` event gives.
fn recipient_of(event: &Value) -> Option<Recipient> {
    let invited = &event["Invited"];
    let file = &invited["file"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Some(Recipient {
        email: text(&file["email"])?,
        language: text(&file["language"])?,
        given_name: text(&file["given_name"])?,
        family_name: text(&file["family_name"])?,
        respond_by: text(&invited["respond_by"])?,
    })
}

/// Turns the feed's new events into outbox rows; returns how many events it read.
///
/// # Errors
/// Storage or feed errors; nothing is half-done (one transaction per batch).
pub async fn compose_pending(db: &Database, batch: u32) -> Result<usize, MailError> {
    let cursor_sql = "SELECT tx, position FROM reactor_checkpoints WHERE name = $1";
    let cursor: Option<(i64, i64)> = on_db!(db, |pool| sqlx::query_as(cursor_sql)
        .bind(REACTOR)
        .fetch_optional(pool)
        .await)?;
    let after = cursor.map_or(FeedCursor::START, |(tx, position)| FeedCursor {
        tx: tx.unsigned_abs(),
        position,
    });
    let events = read_feed(db, after, batch).await?;
    let Some(last) = events.last().map(|e| e.cursor) else {
        return Ok(0);
    };
    let secret_sql = "SELECT recipient, language, secret FROM mail_secrets \
                      WHERE case_id = $1 AND kind = $2";
    let consume = "DELETE FROM mail_secrets WHERE case_id = $1 AND kind = $2";
    let remember = "INSERT INTO mail_recipients \
                    (case_id, email, language, given_name, family_name, respond_by) \
                    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING";
    let recipient_sql = "SELECT email, language, given_name, family_name, respond_by \
                         FROM mail_recipients WHERE case_id = $1";
    let insert = "INSERT INTO mail_outbox (id, recipient, subject, body) VALUES ($1, $2, $3, $4) \
                  ON CONFLICT (id) DO NOTHING";
    let advance = "INSERT INTO reactor_checkpoints (name, tx, position) VALUES ($1, $2, $3) \
                   ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, position = excluded.position";
    let begin = db.begin_write();
    on_db!(db, |pool| {
        let mut tx = pool.begin_with(begin).await?;
        for event in &events {
            let id = format!("{}-{}", event.aggregate_id, event.sequence);
            if event.event_type == "Invited" {
                if let Some(r) = recipient_of(&event.payload) {
                    sqlx::query(remember)
                        .bind(&event.aggregate_id)
                        .bind(&r.email)
                        .bind(&r.language)
                        .bind(&r.given_name)
                        .bind(&r.family_name)
                        .bind(&r.respond_by)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            if let Some(notice) = notice_of(&event.event_type) {
                let to: Option<Recipient> = sqlx::query_as(recipient_sql)
                    .bind(&event.aggregate_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(to) = to else {
                    tracing::warn!(case = %event.aggregate_id, sequence = event.sequence,
                        "no recipient known for this case; notice not sent");
                    continue;
                };
                let (subject, body) = compose_notice(notice, &event.payload, &to);
                sqlx::query(insert)
                    .bind(&id)
                    .bind(&to.email)
                    .bind(&subject)
                    .bind(&body)
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            let Some(kind) = kind_of(&event.event_type) else {
                continue;
            };
            let secret: Option<(String, String, String)> = sqlx::query_as(secret_sql)
                .bind(&event.aggregate_id)
                .bind(kind.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let Some((recipient, language, secret)) = secret else {
                tracing::warn!(case = %event.aggregate_id, sequence = event.sequence,
                    "no parked secret for this message; not sent");
                continue;
            };
            let (subject, body) = compose(kind, &event.payload, &language, &secret);
            sqlx::query(insert)
                .bind(&id)
                .bind(&recipient)
                .bind(&subject)
                .bind(&body)
                .execute(&mut *tx)
                .await?;
            sqlx::query(consume)
                .bind(&event.aggregate_id)
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(advance)
            .bind(REACTOR)
            .bind(i64::try_from(last.tx).unwrap_or(i64::MAX))
            .bind(last.position)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })?;
    Ok(events.len())
}

fn build(message: &Outgoing) -> Result<Message, MailError> {
    let fail = |reason: String| MailError::Build {
        id: message.id.clone(),
        reason,
    };
    let from: Mailbox = FROM.parse().map_err(|e| fail(format!("{e}")))?;
    let to: Mailbox = message
        .recipient
        .parse()
        .map_err(|e| fail(format!("{e}")))?;
    // Quoted-printable leaves short ASCII lines ("Invitation code: ...") as written, where
    // base64 would hide them, and still carries accents and long lines safely.
    let body = Body::new_with_encoding(
        message.body.clone(),
        ContentTransferEncoding::QuotedPrintable,
    )
    .unwrap_or_else(Body::new);
    Message::builder()
        .from(from)
        .to(to)
        .subject(&message.subject)
        .message_id(Some(format!("<{}@prconfirm.example>", message.id)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| fail(e.to_string()))
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

/// Delivers every unsent message through `outlet`, then marks it sent and purges its body
/// (which held the secret). Returns how many it delivered.
///
/// At least once: a message is marked only after the outlet took it, so a crash in between
/// sends it again, with the same `Message-ID` (and, as a file, to the same name, replacing
/// it). A message the SMTP relay refuses, or cannot take because it is unreachable, stays
/// pending with its body and is tried again in the next round.
///
/// # Errors
/// Storage errors, or the first message that could not be delivered (after trying the others
/// unless the relay could not be reached at all). Never a message's body.
pub async fn deliver_pending(db: &Database, outlet: &Outlet) -> Result<usize, MailError> {
    let pending_sql = "SELECT id, recipient, subject, body FROM mail_outbox \
                       WHERE sent_at IS NULL AND body IS NOT NULL ORDER BY created_at, id LIMIT 100";
    let pending: Vec<(String, String, String, String)> =
        on_db!(db, |pool| sqlx::query_as(pending_sql).fetch_all(pool).await)?;
    if let Outlet::Files(dir) = outlet {
        std::fs::create_dir_all(dir).map_err(|source| MailError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    let mark = "UPDATE mail_outbox SET sent_at = $2, body = NULL WHERE id = $1";
    let mut delivered = 0;
    let mut first_failure = None;
    for (id, recipient, subject, body) in pending {
        let message = build(&Outgoing {
            id: id.clone(),
            recipient,
            subject,
            body,
        })?;
        let sent = match outlet {
            Outlet::Files(dir) => write_file(dir, &id, &message),
            Outlet::Smtp(transport) => match transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    // A refusal of this message (a response from the relay) leaves the others
                    // to try; no connection at all ends the round.
                    let next = e.is_response() || e.is_transient() || e.is_permanent();
                    let failure = MailError::Send {
                        id: id.clone(),
                        reason: e.to_string(),
                    };
                    if next {
                        Err(failure)
                    } else {
                        return Err(first_failure.unwrap_or(failure));
                    }
                }
            },
        };
        match sent {
            Ok(()) => {
                on_db!(db, |pool| sqlx::query(mark)
                    .bind(&id)
                    .bind(chrono::Utc::now())
                    .execute(pool)
                    .await
                    .map(drop))?;
                delivered += 1;
            }
            Err(e) => first_failure = first_failure.or(Some(e)),
        }
    }
    match first_failure {
        Some(e) => Err(e),
        None => Ok(delivered),
    }
}

/// Writes `message` as `<dir>/<id>.eml` by rename, so a reader never sees half a message.
fn write_file(dir: &Path, id: &str, message: &Message) -> Result<(), MailError> {
    let path = dir.join(format!("{id}.eml"));
    let partial = dir.join(format!(".{id}.eml.partial"));
    std::fs::write(&partial, message.formatted())
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|source| MailError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_invitation_carries_its_code_in_the_recipients_language() {
        let event = json!({"Invited": {"file": {"given_name": "Zoë", "family_name": "Roy"},
                           "respond_by": "2026-07-01T00:00:00Z"}});
        let (subject, body) = compose(SecretKind::Invitation, &event, "fr", "abc123");
        assert!(subject.starts_with("Invitation :"));
        assert!(body.contains("Invitation code: abc123\r\n"));
        assert!(body.contains("Bonjour Zoë Roy"));
        let (_, en) = compose(SecretKind::Invitation, &event, "en", "abc123");
        assert!(en.contains("Hello Zoë Roy"));
    }

    fn recipient(language: &str) -> Recipient {
        Recipient {
            email: "zoe@example.org".into(),
            language: language.into(),
            given_name: "Zoë".into(),
            family_name: "Roy".into(),
            respond_by: "2026-07-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_returned_photo_says_why_and_what_to_do_in_the_applicants_language() {
        let event =
            json!({"PhotoReturned": {"reason": "glare", "note": "reflet sur les lunettes"}});
        let (subject, body) = compose_notice(Notice::PhotoReturned, &event, &recipient("fr"));
        assert_eq!(subject, "Votre photo doit être reprise");
        assert!(body.contains("Motif : glare\r\nLa photo présente des reflets."));
        assert!(body.contains("Note de l'agent : reflet sur les lunettes"));
        let (_, en) = compose_notice(Notice::PhotoReturned, &event, &recipient("en"));
        assert!(en.contains("Reason: glare\r\nThere is glare on the photo."));
    }

    #[test]
    fn every_notice_names_the_applicant_in_their_language() {
        for notice in [
            Notice::Reminder,
            Notice::InvitationExpired,
            Notice::PhotoReturned,
            Notice::CardMailed,
        ] {
            let (_, fr) = compose_notice(notice, &json!({}), &recipient("fr"));
            let (_, en) = compose_notice(notice, &json!({}), &recipient("en"));
            assert!(fr.starts_with("Bonjour Zoë Roy,"), "{notice:?}: {fr}");
            assert!(en.starts_with("Hello Zoë Roy,"), "{notice:?}: {en}");
        }
        let (_, reminder) = compose_notice(Notice::Reminder, &json!({}), &recipient("en"));
        assert!(reminder.contains("answer by 2026-07-01 (UTC)"));
    }

    #[test]
    fn the_credentials_message_names_the_username_and_password() {
        let event = json!({"AccountCreated": {"username": "a-xyz",
                           "temporary_password_expires_at": "2026-07-01T00:00:00Z"}});
        let (_, body) = compose(SecretKind::Credentials, &event, "en", "s3cret-s3cret");
        assert!(body.contains("Username: a-xyz\r\n"));
        assert!(body.contains("Temporary password: s3cret-s3cret\r\n"));
    }
}
