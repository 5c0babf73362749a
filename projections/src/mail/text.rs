//! What each e-mail says, in English or French: subjects and plain-text bodies, from typed
//! values only. The lines the portal's users (and the tests) look for are fixed:
//! `Invitation code: <code>`, `Username: <username>`, `Temporary password: <password>`.

use chrono::{DateTime, Utc};
use prconfirm_domain::case::{CaseFile, ReturnReason};
use prconfirm_domain::values::{Language, Text};

/// A message's subject and body.
pub type Message = (String, String);

/// The date of a time stamp, with its zone: `2026-07-01 (UTC)`.
fn day(t: DateTime<Utc>) -> String {
    format!("{} (UTC)", t.format("%Y-%m-%d"))
}

fn full_name(given: &str, family: &str) -> String {
    format!("{given} {family}")
}

/// The invitation, with its code.
pub fn invitation(file: &CaseFile, respond_by: DateTime<Utc>, code: &str) -> Message {
    invitation_text(
        file.given_name.as_str(),
        file.family_name.as_str(),
        file.language,
        respond_by,
        code,
    )
}

/// The invitation sent again, with a fresh code, to the recipient its first one went to.
pub fn invitation_again(to: &Recipient, code: &str) -> Message {
    invitation_text(
        &to.given_name,
        &to.family_name,
        to.language,
        to.respond_by,
        code,
    )
}

fn invitation_text(
    given_name: &str,
    family_name: &str,
    language: Language,
    respond_by: DateTime<Utc>,
    code: &str,
) -> Message {
    let name = full_name(given_name, family_name);
    let respond_by = day(respond_by);
    match language {
        Language::Fr => (
            "Invitation : confirmer votre résidence permanente en ligne".into(),
            format!(
                "Bonjour {name},\r\n\r\nVous êtes invité(e) à confirmer votre résidence \
                 permanente en ligne. Répondez avant le {respond_by}.\r\n\r\n\
                 Invitation code: {code}\r\n\r\nSi vous ne souhaitez pas utiliser le \
                 portail, vous pouvez refuser l'invitation.\r\n"
            ),
        ),
        Language::En => (
            "Invitation: confirm your permanent residence online".into(),
            format!(
                "Hello {name},\r\n\r\nYou are invited to confirm your permanent \
                 residence online. Please answer by {respond_by}.\r\n\r\n\
                 Invitation code: {code}\r\n\r\nIf you prefer not to use the portal, \
                 you may decline the invitation.\r\n"
            ),
        ),
    }
}

/// The portal account's credentials: the username and the temporary password.
pub fn credentials(
    language: Language,
    username: &str,
    password: &str,
    expires_at: DateTime<Utc>,
) -> Message {
    let expires = day(expires_at);
    match language {
        Language::Fr => (
            "Votre compte du portail de confirmation de la RP".into(),
            format!(
                "Votre compte a été créé.\r\n\r\nUsername: {username}\r\n\
                 Temporary password: {password}\r\n\r\nCe mot de passe temporaire expire \
                 le {expires}. Vous devrez le changer à la première connexion.\r\n"
            ),
        ),
        Language::En => (
            "Your PR confirmation portal account".into(),
            format!(
                "Your account has been created.\r\n\r\nUsername: {username}\r\n\
                 Temporary password: {password}\r\n\r\nThis temporary password expires \
                 at {expires}. You must change it when you first sign in.\r\n"
            ),
        ),
    }
}

/// Who a case's notices go to: what its invitation said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub email: String,
    pub language: Language,
    pub given_name: String,
    pub family_name: String,
    pub respond_by: DateTime<Utc>,
}

/// A message without a secret, about something that happened to the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Reminder,
    InvitationExpired,
    PhotoReturned {
        reason: ReturnReason,
        note: Option<Text>,
    },
    CardMailed,
}

impl Notice {
    /// What the message is, in the case's message status.
    pub fn kind(&self) -> super::MailKind {
        match self {
            Self::Reminder => super::MailKind::Reminder,
            Self::InvitationExpired => super::MailKind::InvitationExpired,
            Self::PhotoReturned { .. } => super::MailKind::PhotoReturned,
            Self::CardMailed => super::MailKind::CardMailed,
        }
    }
}

/// What an applicant should do about a returned photo, by the published reason.
fn return_advice(reason: ReturnReason, fr: bool) -> &'static str {
    use ReturnReason as R;
    match (reason, fr) {
        (R::TooDark, false) => "The photo is too dark. Take it again in even, bright light.",
        (R::TooDark, true) => {
            "La photo est trop sombre. Reprenez-la sous un éclairage uniforme et lumineux."
        }
        (R::BackgroundNotWhite, false) => {
            "The background must be plain white. Stand in front of a white wall."
        }
        (R::BackgroundNotWhite, true) => {
            "Le fond doit être blanc et uni. Placez-vous devant un mur blanc."
        }
        (R::FeaturesNotVisible, false) => {
            "Your face must be sharp and fully visible: face the camera, eyes open, nothing \
             covering your features."
        }
        (R::FeaturesNotVisible, true) => {
            "Votre visage doit être net et entièrement visible : de face, les yeux ouverts, \
             rien ne cachant vos traits."
        }
        (R::Glare, false) => "There is glare on the photo. Avoid flash and reflections.",
        (R::Glare, true) => "La photo présente des reflets. Évitez le flash et les reflets.",
        (R::WrongDimensions, false) => {
            "The photo must be between 715 x 1000 and 2000 x 2800 pixels."
        }
        (R::WrongDimensions, true) => {
            "La photo doit mesurer entre 715 x 1000 et 2000 x 2800 pixels."
        }
        (R::FileTooLarge, false) => "The file must be 4 MB or less.",
        (R::FileTooLarge, true) => "Le fichier doit faire 4 Mo ou moins.",
        (R::Other, false) => "See the officer's note below.",
        (R::Other, true) => "Voyez la note de l'agent ci-dessous.",
    }
}

/// A notice to `to`, in the language of the invitation.
pub fn notice(notice: &Notice, to: &Recipient) -> Message {
    let fr = to.language == Language::Fr;
    let name = full_name(&to.given_name, &to.family_name);
    match (notice, fr) {
        (Notice::Reminder, false) => (
            "Reminder: answer your invitation to confirm your permanent residence".into(),
            format!(
                "Hello {name},\r\n\r\nYou have not yet answered your invitation to confirm \
                 your permanent residence online. Please answer by {}, using the invitation \
                 code we sent you.\r\n",
                day(to.respond_by)
            ),
        ),
        (Notice::Reminder, true) => (
            "Rappel : répondez à votre invitation à confirmer votre résidence permanente".into(),
            format!(
                "Bonjour {name},\r\n\r\nVous n'avez pas encore répondu à votre invitation à \
                 confirmer votre résidence permanente en ligne. Répondez avant le {}, avec le \
                 code d'invitation que nous vous avons envoyé.\r\n",
                day(to.respond_by)
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
        (Notice::PhotoReturned { reason, note }, _) => {
            let code = reason.as_str();
            let advice = return_advice(*reason, fr);
            let note = match (note, fr) {
                (None, _) => String::new(),
                (Some(n), true) => format!("Note de l'agent : {}\r\n\r\n", n.as_str()),
                (Some(n), false) => format!("Officer's note: {}\r\n\r\n", n.as_str()),
            };
            if fr {
                (
                    "Votre photo doit être reprise".into(),
                    format!(
                        "Bonjour {name},\r\n\r\nUn agent a retourné votre photo.\r\n\r\n\
                         Motif : {code}\r\n{advice}\r\n\r\n{note}Connectez-vous au portail et \
                         téléversez une nouvelle photo.\r\n"
                    ),
                )
            } else {
                (
                    "Your photo needs to be taken again".into(),
                    format!(
                        "Hello {name},\r\n\r\nAn officer returned your photo.\r\n\r\n\
                         Reason: {code}\r\n{advice}\r\n\r\n{note}Sign in to the portal and \
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn july() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_invitation_carries_its_code_in_the_recipients_language() {
        let mut file = prconfirm_domain::fixtures::case_file("E001234567", "12345678", "Zoë");
        file.language = Language::Fr;
        let (subject, body) = invitation(&file, july(), "abc123");
        assert!(subject.starts_with("Invitation :"));
        assert!(body.contains("Invitation code: abc123\r\n"));
        assert!(body.contains("Bonjour Zoë"), "{body}");
        assert!(
            body.contains("Répondez avant le 2026-07-01 (UTC)"),
            "{body}"
        );
        file.language = Language::En;
        let (_, en) = invitation(&file, july(), "abc123");
        assert!(en.contains("Hello Zoë"), "{en}");
    }

    fn recipient(language: Language) -> Recipient {
        Recipient {
            email: "zoe@example.org".into(),
            language,
            given_name: "Zoë".into(),
            family_name: "Roy".into(),
            respond_by: july(),
        }
    }

    #[test]
    fn a_returned_photo_says_why_and_what_to_do_in_the_applicants_language() {
        let returned = Notice::PhotoReturned {
            reason: ReturnReason::Glare,
            note: Some(Text::parse("reflet sur les lunettes").unwrap()),
        };
        let (subject, body) = notice(&returned, &recipient(Language::Fr));
        assert_eq!(subject, "Votre photo doit être reprise");
        assert!(body.contains("Motif : glare\r\nLa photo présente des reflets."));
        assert!(body.contains("Note de l'agent : reflet sur les lunettes"));
        let (_, en) = notice(&returned, &recipient(Language::En));
        assert!(en.contains("Reason: glare\r\nThere is glare on the photo."));
    }

    #[test]
    fn every_notice_names_the_applicant_in_their_language() {
        let returned = Notice::PhotoReturned {
            reason: ReturnReason::Other,
            note: None,
        };
        for n in [
            Notice::Reminder,
            Notice::InvitationExpired,
            returned,
            Notice::CardMailed,
        ] {
            let (_, fr) = notice(&n, &recipient(Language::Fr));
            let (_, en) = notice(&n, &recipient(Language::En));
            assert!(fr.starts_with("Bonjour Zoë Roy,"), "{n:?}: {fr}");
            assert!(en.starts_with("Hello Zoë Roy,"), "{n:?}: {en}");
        }
        let (_, reminder) = notice(&Notice::Reminder, &recipient(Language::En));
        assert!(reminder.contains("answer by 2026-07-01 (UTC)"));
    }

    #[test]
    fn the_credentials_message_names_the_username_and_password() {
        let (_, body) = credentials(Language::En, "a-xyz", "s3cret-s3cret", july());
        assert!(body.contains("Username: a-xyz\r\n"));
        assert!(body.contains("Temporary password: s3cret-s3cret\r\n"));
        assert!(body.contains("expires at 2026-07-01 (UTC)"));
    }
}
