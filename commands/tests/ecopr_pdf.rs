//! The eCoPR PDF read back as a person's PDF reader would: its text extracted with
//! `pdftotext` and its fonts listed with `pdffonts` (Debian's poppler-utils, which set-up and
//! CI install). Without them these tests fail: they do not skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use chrono::NaiveDate;
use prconfirm_commands::ecopr::{render, verification_code, EcoprDocument, VerificationCode};
use prconfirm_domain::values::{ApplicationNumber, DocumentNumber, PersonName, Text, Uci};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn eloise(code: VerificationCode) -> EcoprDocument {
    EcoprDocument {
        document_number: DocumentNumber::from_serial(4_242),
        replaces: None,
        uci: Uci::parse("1234-5678").unwrap(),
        application_number: ApplicationNumber::parse("E001234567").unwrap(),
        family_name: PersonName::parse("Gagné-Lefèbvre").unwrap(),
        given_name: PersonName::parse("Éloïse").unwrap(),
        date_of_birth: day(1991, 2, 28),
        country_of_birth: Some(Text::parse("Côte d'Ivoire").unwrap()),
        granted_on: day(2026, 6, 1),
        issued_on: day(2026, 6, 1),
        officer_name: PersonName::parse("Marie-Ève Tremblay").unwrap(),
        verification_code: code,
    }
}

/// Runs a poppler tool on `pdf` (`args`, the file, then `after`); fails the test with what
/// to install if the tool is missing.
fn poppler(tool: &str, args: &[&str], pdf: &[u8], after: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecopr.pdf");
    std::fs::write(&path, pdf).unwrap();
    let output = match Command::new(tool)
        .args(args)
        .arg(&path)
        .args(after)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{tool}` is not installed: this test reads the eCoPR back with it. \
             Install poppler-utils (`apt-get install -y poppler-utils`)."
        ),
        Err(e) => panic!("`{tool}` could not run: {e}"),
    };
    assert!(
        output.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The PDF's text, each line's layout kept, on standard output.
fn text_of(pdf: &[u8]) -> String {
    poppler(
        "pdftotext",
        &["-enc", "UTF-8", "-layout", "-nopgbrk"],
        pdf,
        &["-"],
    )
}

#[test]
fn the_ecopr_reads_back_with_its_number_accented_names_and_verification_code() {
    let code = verification_code().unwrap();
    let printed = code.as_str().to_owned();
    let pdf = render(&eloise(code)).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");

    let text = text_of(&pdf);
    for expected in [
        "Confirmation of Permanent Residence",
        "Confirmation de résidence permanente",
        DocumentNumber::from_serial(4_242).as_str(),
        "12345678",
        "E001234567",
        "Gagné-Lefèbvre",
        "Éloïse",
        "Éloïse Gagné-Lefèbvre",
        "1991-02-28",
        "Côte d'Ivoire",
        "2026-06-01",
        "Marie-Ève Tremblay",
        "Electronic signature / Signature électronique",
        printed.as_str(),
        "Client copy / Copie du client",
        "Signature of the client / Signature du client",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    // The number appears on both copies.
    assert_eq!(
        text.matches(DocumentNumber::from_serial(4_242).as_str())
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn the_font_is_embedded_so_accents_print_without_the_readers_fonts() {
    let pdf = render(&eloise(verification_code().unwrap())).unwrap();
    let fonts = poppler("pdffonts", &[], &pdf, &[]);
    // name, type, encoding, emb, sub, uni, object ID
    let dejavu = fonts
        .lines()
        .find(|l| l.contains("DejaVuSans"))
        .unwrap_or_else(|| panic!("no DejaVu Sans in:\n{fonts}"));
    let columns: Vec<&str> = dejavu.split_whitespace().collect();
    let flags = &columns[columns.len() - 5..columns.len() - 2];
    assert_eq!(
        flags,
        ["yes", "yes", "yes"],
        "embedded, subset, with a Unicode map: {dejavu}"
    );
}

#[test]
fn a_missing_country_of_birth_prints_a_dash() {
    let mut doc = eloise(verification_code().unwrap());
    doc.country_of_birth = None;
    let text = text_of(&render(&doc).unwrap());
    let line = text
        .lines()
        .find(|l| l.contains("Country of birth / Pays de naissance"))
        .unwrap_or_else(|| panic!("no country line in:\n{text}"));
    assert!(line.trim_end().ends_with('—'), "{line}");
    assert!(!text.contains("Côte d'Ivoire"));
}

#[test]
fn an_amended_ecopr_names_the_document_it_replaces() {
    let mut doc = eloise(verification_code().unwrap());
    doc.replaces = Some(DocumentNumber::from_serial(4_241));
    doc.document_number = DocumentNumber::from_serial(4_300);
    let text = text_of(&render(&doc).unwrap());
    let line = text
        .lines()
        .find(|l| l.contains("Replaces document / Remplace le document"))
        .unwrap_or_else(|| panic!("no replaced document in:\n{text}"));
    assert!(
        line.contains(DocumentNumber::from_serial(4_241).as_str()),
        "{line}"
    );
}

#[test]
fn rendering_is_pure_the_same_document_gives_the_same_bytes() {
    let code = VerificationCode::parse("7K3M-9XQ2-B8TD-4HWN").unwrap();
    let a = render(&eloise(code.clone())).unwrap();
    let b = render(&eloise(code)).unwrap();
    assert_eq!(a, b);
    let other = render(&eloise(
        VerificationCode::parse("7K3M-9XQ2-B8TD-4HWP").unwrap(),
    ))
    .unwrap();
    assert_ne!(a, other);
}
