//! The eCoPR reactor: the case records `EcoprIssued` (on grant) and `EcoprAmended` (a
//! correction); the PDF is a side effect, made here at least once and idempotently. For each
//! such event it loads the case, draws a fresh verification code, renders the PDF
//! (`commands::ecopr::render`) and stores it in the blob store by its SHA-256 (content
//! addressed: storing it again is a no-op), all outside any transaction; then, in the
//! runtime's transaction with its checkpoint, it inserts the `documents` row (the PDF's
//! digest and only the SHA-256 of the code), marks the document it replaces as superseded and
//! queues an "eCoPR ready" e-mail. A re-run finds the row (or loses the insert to it) and
//! makes no second document; the e-mail's id is the event's, so it is not queued twice.
//!
//! It lives in `api`, not in `projections`, because it needs the write side (`CaseService`,
//! accounts, the blob store, the renderer) and `projections` never imports `commands`.
//!
//! Failures: the blob store or the database out of reach is an outage (the round stops and
//! the runtime reports the stall; nothing is skipped); a case whose document cannot be made
//! (no such case, not granted, unreadable) is parked, and the other cases' documents go on.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use prconfirm_commands::accounts::{AccountError, Accounts};
use prconfirm_commands::ecopr::{render, EcoprDocument, VerificationCode};
use prconfirm_commands::photo::BlobStore;
use prconfirm_commands::CaseService;
use prconfirm_domain::case::{ecopr_download_by, CaseEvent, CaseFile};
use prconfirm_domain::values::{DocumentNumber, Language, PersonName, Sha256Hex};
use prconfirm_migrations::on_conn;
use prconfirm_projections::mail;
use prconfirm_projections::runtime::{Item, ItemError, Reactor};

use super::item::item_error;
use prconfirm_projections::store::Conn;
use sha2::{Digest, Sha256};

use crate::documents::find;

/// The reactor's name: its checkpoint, lease and parked items.
pub const REACTOR: &str = "ecopr";

/// What the reactor needs: the write side to load cases and officers' names, and where PDFs go.
#[derive(Debug, Clone)]
pub struct EcoprReactor {
    pub cases: Arc<CaseService>,
    pub accounts: Accounts,
    pub blobs: BlobStore,
}

/// A document made and stored, waiting to be recorded with the checkpoint.
#[derive(Debug)]
pub struct Made {
    document_number: DocumentNumber,
    replaces: Option<DocumentNumber>,
    issued_on: NaiveDate,
    pdf_sha256: Sha256Hex,
    verification_sha256: Sha256Hex,
    recipient: String,
    language: Language,
    mail: (String, String),
}

/// The message telling the applicant their eCoPR can be downloaded, in their language.
fn ready_mail(
    file: &CaseFile,
    document_number: &DocumentNumber,
    replaces: Option<&DocumentNumber>,
    issued_on: NaiveDate,
) -> (String, String) {
    let name = format!("{} {}", file.given_name.as_str(), file.family_name.as_str());
    let until = ecopr_download_by(issued_on);
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

fn account_error(e: AccountError) -> ItemError {
    match e {
        AccountError::Storage(e) => ItemError::storage(&e),
        other => ItemError::Failed(other.to_string()),
    }
}

#[async_trait]
impl Reactor for EcoprReactor {
    type Work = Made;

    fn name(&self) -> &'static str {
        REACTOR
    }

    fn wants(&self, event: &CaseEvent) -> bool {
        matches!(
            event,
            CaseEvent::EcoprIssued { .. } | CaseEvent::EcoprAmended { .. }
        )
    }

    /// Rendering PDFs spreads over the cores, a case each.
    fn concurrency(&self) -> usize {
        prconfirm_projections::runtime::cores()
    }

    fn items_per_round(&self) -> usize {
        2 * prconfirm_projections::runtime::cores()
    }

    async fn prepare(&self, item: &Item) -> Result<Option<Made>, ItemError> {
        let (document_number, replaces, issued_on, by) = match &item.event {
            CaseEvent::EcoprIssued {
                document_number,
                issued_on,
                by,
                ..
            } => (document_number.clone(), None, *issued_on, by.clone()),
            CaseEvent::EcoprAmended {
                replaces,
                document_number,
                issued_on,
                by,
                ..
            } => (
                document_number.clone(),
                Some(replaces.clone()),
                *issued_on,
                by.clone(),
            ),
            _ => return Ok(None),
        };
        if find(self.cases.database(), &document_number)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let loaded = self
            .cases
            .load(&item.case_id)
            .await
            .map_err(item_error)?
            .ok_or_else(|| ItemError::Refused("no such case".into()))?;
        let file = loaded
            .case
            .file
            .clone()
            .ok_or_else(|| ItemError::Refused("the case has no file".into()))?;
        let granted_on = loaded
            .case
            .stage
            .granted()
            .map(|g| g.granted_on)
            .ok_or_else(|| ItemError::Refused("the case is not granted".into()))?;
        let officer = self
            .accounts
            .display_name(by.as_str())
            .await
            .map_err(account_error)?;
        let officer_name = PersonName::parse(&officer)
            .or_else(|_| PersonName::parse(by.as_str()))
            .map_err(|e| ItemError::Refused(format!("officer's name: {e}")))?;
        let code = VerificationCode::generate().map_err(|e| ItemError::Failed(e.to_string()))?;
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
            let pdf = render(&document).map_err(|e| ItemError::Refused(e.to_string()))?;
            let digest = sha256_hex(&pdf);
            // The blob store out of reach stops the reactor: every document would fail alike.
            blobs
                .put(&digest, &pdf)
                .map_err(|e| ItemError::Outage(format!("cannot store the PDF: {e}")))?;
            Ok::<_, ItemError>(digest)
        })
        .await
        .map_err(|e| ItemError::Failed(format!("rendering task: {e}")))??;
        let mail = ready_mail(&file, &document_number, replaces.as_ref(), issued_on);
        Ok(Some(Made {
            document_number,
            replaces,
            issued_on,
            pdf_sha256,
            verification_sha256,
            recipient: file.email.as_str().to_owned(),
            language: file.language,
            mail,
        }))
    }

    async fn record(&self, conn: &mut Conn<'_>, item: &Item, made: Made) -> Result<(), ItemError> {
        let insert = "INSERT INTO documents (document_number, case_id, sequence, replaces, \
                      issued_on, pdf_sha256, verification_sha256) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let supersede = "UPDATE documents SET superseded_by = $2 \
                         WHERE document_number = $1 AND superseded_by IS NULL";
        on_conn!(conn, |c| sqlx::query(insert)
            .bind(made.document_number.as_str())
            .bind(&item.case_id)
            .bind(item.sequence)
            .bind(made.replaces.as_ref().map(DocumentNumber::as_str))
            .bind(made.issued_on)
            .bind(made.pdf_sha256.as_str())
            .bind(made.verification_sha256.as_str())
            .execute(&mut **c)
            .await
            .map(drop))?;
        if let Some(old) = &made.replaces {
            on_conn!(conn, |c| sqlx::query(supersede)
                .bind(old.as_str())
                .bind(made.document_number.as_str())
                .execute(&mut **c)
                .await
                .map(drop))?;
        }
        let envelope = mail::Envelope {
            case_id: &item.case_id,
            sequence: item.sequence,
            kind: mail::MailKind::EcoprReady,
            language: made.language,
            recipient: &made.recipient,
        };
        mail::queue(conn, &envelope, &made.mail).await?;
        tracing::info!(document = %made.document_number, "eCoPR document made");
        Ok(())
    }
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
