//! The eCoPR (form IMM 5688, electronic Confirmation of Permanent Residence) as a PDF, and the
//! verification code printed on it.
//!
//! [`render`] is pure: the same document gives the same bytes, with no clock, randomness or
//! I/O, so a reactor can render it again whenever it needs to. The text is set in DejaVu Sans,
//! embedded in the binary (`assets/fonts`, free licence beside it) and subset into each PDF,
//! so French accents print on any reader without the reader's fonts.
//!
//! A verification code lets a third party check that a document is genuine: 80 random bits
//! from the operating system's CSPRNG, written as 16 characters of Crockford's base 32
//! (`XXXX-XXXX-XXXX-XXXX`). Only its SHA-256 is to be stored ([`VerificationCode::digest`]);
//! a plain hash suffices because the code is random, not chosen: finding a code from its
//! digest means trying some 2^79 codes.

use chrono::NaiveDate;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::Document;
use prconfirm_domain::values::{
    ApplicationNumber, DocumentNumber, PersonName, Sha256Hex, Text, Uci,
};
use sha2::{Digest, Sha256};

/// DejaVu Sans 2.37: Latin with every French accent (and much more), freely licensed.
static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// What the eCoPR says. Built by the caller from the case (its file, the grant, the officer)
/// and a fresh [`VerificationCode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcoprDocument {
    pub document_number: DocumentNumber,
    /// The document this one corrects, for an amended eCoPR.
    pub replaces: Option<DocumentNumber>,
    pub uci: Uci,
    pub application_number: ApplicationNumber,
    pub family_name: PersonName,
    pub given_name: PersonName,
    pub date_of_birth: NaiveDate,
    /// The case file holds no country of birth yet: `None` prints a dash.
    pub country_of_birth: Option<Text>,
    /// The day permanent residence began.
    pub granted_on: NaiveDate,
    pub issued_on: NaiveDate,
    /// The officer who granted PR; the name is the document's electronic signature.
    pub officer_name: PersonName,
    pub verification_code: VerificationCode,
}

/// Why no document could be made.
#[derive(Debug, thiserror::Error)]
pub enum EcoprError {
    #[error("the embedded font cannot be read")]
    Font,
    #[error("the PDF cannot be written: {0}")]
    Pdf(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error(
        "a verification code is 16 characters of Crockford's base 32, like 7K3M-9XQ2-B8TD-4HWN"
    )]
    Code,
}

/// Crockford's base 32: digits and capitals without I, L, O and U, which are misread.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Random bits in a code (16 characters of 5 bits).
const CODE_BYTES: usize = 10;
const CODE_SYMBOLS: usize = 16;

/// A document's verification code, `XXXX-XXXX-XXXX-XXXX`. Its `Debug` hides it: the code is a
/// credential for checking the document, not to be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

impl std::fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationCode(****-****-****-****)")
    }
}

impl VerificationCode {
    /// A fresh code: 80 bits from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`EcoprError::Random`] if the operating system gives no randomness.
    pub fn generate() -> Result<Self, EcoprError> {
        let mut bytes = [0u8; CODE_BYTES];
        getrandom::getrandom(&mut bytes).map_err(|e| EcoprError::Random(e.to_string()))?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; CODE_BYTES]) -> Self {
        let mut bits = bytes
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        let mut symbols = [0u8; CODE_SYMBOLS];
        for s in symbols.iter_mut().rev() {
            *s = CROCKFORD[(bits & 31) as usize];
            bits >>= 5;
        }
        Self::grouped(&symbols)
    }

    fn grouped(symbols: &[u8; CODE_SYMBOLS]) -> Self {
        let text = symbols
            .chunks(4)
            .map(|g| g.iter().map(|&b| char::from(b)).collect::<String>())
            .collect::<Vec<_>>()
            .join("-");
        Self(text)
    }

    /// Reads a code as a person may type it: any case, with or without hyphens or spaces,
    /// `O` for zero and `I` or `L` for one.
    ///
    /// # Errors
    /// [`EcoprError::Code`] unless it is 16 symbols of the alphabet.
    pub fn parse(raw: &str) -> Result<Self, EcoprError> {
        let mut symbols = [0u8; CODE_SYMBOLS];
        let mut n = 0;
        for c in raw.chars().filter(|c| !matches!(c, '-' | ' ')) {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            let known = u8::try_from(c).ok().filter(|b| CROCKFORD.contains(b));
            match (known, symbols.get_mut(n)) {
                (Some(b), Some(slot)) => *slot = b,
                _ => return Err(EcoprError::Code),
            }
            n += 1;
        }
        if n != CODE_SYMBOLS {
            return Err(EcoprError::Code);
        }
        Ok(Self::grouped(&symbols))
    }

    /// The code as printed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the printed form: what is stored, so that the code itself is kept
    /// nowhere but on the document.
    pub fn digest(&self) -> Sha256Hex {
        let hex: String = Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // 64 lowercase hex digits by construction.
        Sha256Hex::parse(&hex).unwrap_or_else(|_| unreachable!("SHA-256 is 64 hex digits"))
    }

    /// Whether `candidate`, as someone typed it, is the code whose digest is `stored`. The
    /// digests are compared in constant time.
    pub fn matches(candidate: &str, stored: &Sha256Hex) -> bool {
        let Ok(code) = Self::parse(candidate) else {
            return false;
        };
        let (a, b) = (code.digest(), stored.clone());
        a.as_str()
            .bytes()
            .zip(b.as_str().bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
    }
}

/// A fresh verification code for a new document.
///
/// # Errors
/// [`EcoprError::Random`] if the operating system gives no randomness.
pub fn verification_code() -> Result<VerificationCode, EcoprError> {
    VerificationCode::generate()
}

/// US Letter, in points.
const PAGE: (f32, f32) = (612.0, 792.0);
const MARGIN: f32 = 56.0;
/// Where values start, right of their labels.
const VALUE_X: f32 = 290.0;
const LABEL_SIZE: f32 = 8.5;
const VALUE_SIZE: f32 = 11.0;
/// A generous average advance of DejaVu Sans, in ems, to cut values that would not fit.
const AVERAGE_ADVANCE: f32 = 0.62;

/// Renders the eCoPR: the department's copy with the personal and application data, the
/// officer's electronic signature and the verification code, then the client copy with a
/// signature line. Labels are in English and French.
///
/// # Errors
/// [`EcoprError::Font`] or [`EcoprError::Pdf`] if the PDF writer fails, which it does not for
/// the embedded font.
pub fn render(doc: &EcoprDocument) -> Result<Vec<u8>, EcoprError> {
    let font = Font::new(FONT.into(), 0).ok_or(EcoprError::Font)?;
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!(
                "Confirmation of Permanent Residence / Confirmation de résidence permanente {}",
                doc.document_number
            ))
            .language("en-CA".to_owned())
            .creator("prconfirm".to_owned()),
    );
    let settings = PageSettings::from_wh(PAGE.0, PAGE.1).ok_or(EcoprError::Font)?;
    let mut page = document.start_page_with(settings);
    let mut surface = page.surface();
    let mut w = Writer {
        surface: &mut surface,
        font,
        y: MARGIN,
    };
    w.department_copy(doc);
    w.client_copy(doc);
    surface.finish();
    page.finish();
    document
        .finish()
        .map_err(|e| EcoprError::Pdf(format!("{e:?}")))
}

/// Lays out lines from the top of the page down.
struct Writer<'a, 'b> {
    surface: &'a mut Surface<'b>,
    font: Font,
    /// The baseline of the next line.
    y: f32,
}

impl Writer<'_, '_> {
    fn text(&mut self, x: f32, size: f32, text: &str, bold: bool) {
        self.surface.set_fill(Some(Fill {
            paint: rgb::Color::new(20, 20, 20).into(),
            ..Fill::default()
        }));
        // No bold face is embedded: headings are filled and outlined with a thin stroke.
        self.surface.set_stroke(bold.then(|| Stroke {
            paint: rgb::Color::new(20, 20, 20).into(),
            width: size / 40.0,
            ..Stroke::default()
        }));
        self.surface.draw_text(
            Point::from_xy(x, self.y),
            self.font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
        self.surface.set_stroke(None);
    }

    fn line(&mut self, size: f32, text: &str, bold: bool) {
        self.y += size * 1.35;
        self.text(MARGIN, size, text, bold);
    }

    fn gap(&mut self, points: f32) {
        self.y += points;
    }

    /// A label on the left and its value on the right, cut short if it would not fit.
    fn field(&mut self, label: &str, value: &str) {
        self.y += VALUE_SIZE * 1.55;
        self.text(MARGIN, LABEL_SIZE, label, false);
        let room = PAGE.0 - MARGIN - VALUE_X;
        self.text(VALUE_X, VALUE_SIZE, &fit(value, room, VALUE_SIZE), false);
    }

    fn rule(&mut self, dashed: bool) {
        self.y += 10.0;
        let mut path = PathBuilder::new();
        path.move_to(MARGIN, self.y);
        path.line_to(PAGE.0 - MARGIN, self.y);
        let Some(path) = path.finish() else {
            return;
        };
        self.surface.set_fill(None);
        self.surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(90, 90, 90).into(),
            width: 0.8,
            dash: dashed.then(|| StrokeDash {
                array: vec![5.0, 3.0],
                offset: 0.0,
            }),
            ..Stroke::default()
        }));
        self.surface.draw_path(&path);
        self.surface.set_stroke(None);
        self.y += 4.0;
    }

    fn department_copy(&mut self, doc: &EcoprDocument) {
        self.line(
            7.5,
            "Immigration, Refugees and Citizenship Canada / Immigration, Réfugiés et Citoyenneté Canada",
            false,
        );
        self.gap(6.0);
        self.line(17.0, "Confirmation of Permanent Residence", true);
        self.line(17.0, "Confirmation de résidence permanente", true);
        self.line(8.5, "IMM 5688 (electronic / électronique)", false);
        self.rule(false);
        self.field("Client ID (UCI) / ID client (IUC)", doc.uci.as_str());
        self.field(
            "Document number / Numéro du document",
            doc.document_number.as_str(),
        );
        self.field(
            "Application number / Numéro de demande",
            doc.application_number.as_str(),
        );
        if let Some(old) = &doc.replaces {
            self.field("Replaces document / Remplace le document", old.as_str());
        }
        self.gap(8.0);
        self.line(10.5, "Personal data / Données personnelles", true);
        self.field("Surname / Nom de famille", doc.family_name.as_str());
        self.field("Given name(s) / Prénom(s)", doc.given_name.as_str());
        self.field(
            "Date of birth / Date de naissance",
            &date(doc.date_of_birth),
        );
        self.field(
            "Country of birth / Pays de naissance",
            doc.country_of_birth.as_ref().map_or("—", Text::as_str),
        );
        self.gap(8.0);
        self.line(10.5, "Permanent residence / Résidence permanente", true);
        self.field(
            "Date PR granted / Date d'octroi de la RP",
            &date(doc.granted_on),
        );
        self.field("Date of issue / Date de délivrance", &date(doc.issued_on));
        self.field(
            "Electronic signature / Signature électronique",
            doc.officer_name.as_str(),
        );
        self.line(
            LABEL_SIZE,
            "Signed electronically by the immigration officer named above, in place of a handwritten signature.",
            false,
        );
        self.line(
            LABEL_SIZE,
            "Signé électroniquement par l'agent d'immigration nommé ci-dessus, au lieu d'une signature manuscrite.",
            false,
        );
        self.gap(8.0);
        self.line(10.5, "Verification / Vérification", true);
        self.field(
            "Verification code / Code de vérification",
            doc.verification_code.as_str(),
        );
        self.line(
            LABEL_SIZE,
            "Anyone may check that this document is genuine and current with its number and this code.",
            false,
        );
        self.line(
            LABEL_SIZE,
            "Toute personne peut vérifier l'authenticité et la validité de ce document avec son numéro et ce code.",
            false,
        );
        self.gap(14.0);
        self.line(
            LABEL_SIZE,
            "Cut here: the part below is the client's copy. / Découper ici : la partie ci-dessous est la copie du client.",
            false,
        );
        self.rule(true);
    }

    fn client_copy(&mut self, doc: &EcoprDocument) {
        self.line(12.0, "Client copy / Copie du client", true);
        self.field(
            "Document number / Numéro du document",
            doc.document_number.as_str(),
        );
        self.field("Client ID (UCI) / ID client (IUC)", doc.uci.as_str());
        self.field(
            "Name / Nom",
            &format!("{} {}", doc.given_name.as_str(), doc.family_name.as_str()),
        );
        self.field(
            "Date PR granted / Date d'octroi de la RP",
            &date(doc.granted_on),
        );
        self.gap(10.0);
        self.line(
            LABEL_SIZE,
            "I confirm that the information on this document is correct.",
            false,
        );
        self.line(
            LABEL_SIZE,
            "Je confirme que les renseignements de ce document sont exacts.",
            false,
        );
        // Two lines to sign and date on, each with its caption underneath.
        self.gap(34.0);
        let (sign_end, date_start) = (PAGE.0 - MARGIN - 150.0, PAGE.0 - MARGIN - 120.0);
        let mut lines = PathBuilder::new();
        lines.move_to(MARGIN, self.y);
        lines.line_to(sign_end, self.y);
        lines.move_to(date_start, self.y);
        lines.line_to(PAGE.0 - MARGIN, self.y);
        if let Some(path) = lines.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(Stroke {
                paint: rgb::Color::new(20, 20, 20).into(),
                width: 0.8,
                ..Stroke::default()
            }));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
        self.y += LABEL_SIZE * 1.5;
        self.text(
            MARGIN,
            LABEL_SIZE,
            "Signature of the client / Signature du client",
            false,
        );
        self.text(date_start, LABEL_SIZE, "Date", false);
    }
}

/// Dates as the department prints them: year, month, day.
fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `text`, cut with an ellipsis if it would be wider than `room` points at `size` (the printed
/// form may cut long names short; the full name stays in the case file).
fn fit(text: &str, room: f32, size: f32) -> String {
    let max = (room / (size * AVERAGE_ADVANCE)).floor().max(2.0) as usize;
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn codes_are_sixteen_crockford_symbols_in_four_groups() {
        let code = verification_code().unwrap();
        let text = code.as_str();
        assert_eq!(text.len(), 19, "{text}");
        for (i, c) in text.chars().enumerate() {
            if i % 5 == 4 {
                assert_eq!(c, '-', "{text}");
            } else {
                assert!(CROCKFORD.contains(&(c as u8)), "{text}");
            }
        }
    }

    #[test]
    fn codes_carry_eighty_bits_and_do_not_repeat() {
        assert_eq!(
            VerificationCode::from_bytes([0; 10]).as_str(),
            "0000-0000-0000-0000"
        );
        assert_eq!(
            VerificationCode::from_bytes([0xff; 10]).as_str(),
            "ZZZZ-ZZZZ-ZZZZ-ZZZZ"
        );
        // The lowest bit is the last symbol's lowest bit: nothing is dropped.
        let mut one = [0; 10];
        one[9] = 1;
        assert_eq!(
            VerificationCode::from_bytes(one).as_str(),
            "0000-0000-0000-0001"
        );
        let codes: std::collections::HashSet<String> = (0..1000)
            .map(|_| verification_code().unwrap().as_str().to_owned())
            .collect();
        assert_eq!(codes.len(), 1000);
    }

    #[test]
    fn a_code_is_read_as_a_person_may_type_it() {
        let code = VerificationCode::parse("7K3M-9XQ2-B8TD-4HWN").unwrap();
        for typed in [
            "7k3m9xq2b8td4hwn",
            "7K3M 9XQ2 B8TD 4HWN",
            " 7k3m-9xq2-b8td-4hwn",
        ] {
            assert_eq!(VerificationCode::parse(typed).unwrap(), code, "{typed}");
        }
        assert_eq!(
            VerificationCode::parse("OOOO-IIII-LLLL-0000")
                .unwrap()
                .as_str(),
            "0000-1111-1111-0000"
        );
        for bad in [
            "",
            "7K3M-9XQ2-B8TD",
            "7K3M-9XQ2-B8TD-4HWNX",
            "7K3M-9XQ2-B8TD-4HWU",
            "7K3M-9XQ2-B8TD-4HW!",
        ] {
            assert!(
                matches!(VerificationCode::parse(bad), Err(EcoprError::Code)),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_the_digest_is_kept_and_it_checks_the_code() {
        let code = verification_code().unwrap();
        let stored = code.digest();
        assert_eq!(stored.as_str().len(), 64);
        assert!(!stored.as_str().contains(code.as_str()));
        assert!(VerificationCode::matches(code.as_str(), &stored));
        assert!(VerificationCode::matches(
            &code.as_str().to_lowercase().replace('-', ""),
            &stored
        ));
        let other = verification_code().unwrap();
        assert!(!VerificationCode::matches(other.as_str(), &stored));
        assert!(!VerificationCode::matches("not a code", &stored));
        assert!(!format!("{code:?}").contains(code.as_str()));
    }

    #[test]
    fn long_values_are_cut_short_with_an_ellipsis() {
        assert_eq!(fit("Zoë", 200.0, 11.0), "Zoë");
        let long = "Maximilienne-Éléonore-Joséphine-Anastasia de la Tour-Saint-Laurent";
        let cut = fit(long, 200.0, 11.0);
        assert!(cut.ends_with('…') && cut.chars().count() == 29, "{cut}");
        assert!(long.starts_with(cut.trim_end_matches('…')));
    }
}
