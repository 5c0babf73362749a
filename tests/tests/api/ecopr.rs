//! The eCoPR, black-box on both backends: granted, made by the reactor, downloaded as a PDF
//! whose text (read back with `pdftotext`) carries the number, the accented names, the
//! officer's signature and the verification code; checked by anyone with that code; the
//! "eCoPR ready" e-mail in the case's language; an amendment that supersedes it; wrong codes
//! throttled.

use std::process::Command;
use std::time::{Duration, Instant};

use prconfirm_commands::ecopr::VerificationCode;
use prconfirm_migrations::on_db;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{TestDb, TestServer};
use crate::{address_body, onboard, png};

on_both_backends!(
    an_ecopr_is_downloaded_verified_and_superseded_by_its_amendment,
    the_ecopr_is_not_found_before_the_grant_and_verification_needs_a_code,
    an_ecopr_that_cannot_be_stored_waits_is_reported_and_is_made_once_it_can,
);

on_both_backends_db!(the_card_ordered_after_the_grant_is_recorded_as_mailed_once);

/// Walks the applicant's case to the officer's last step: presence, address, a photo the
/// officer accepts.
pub(crate) async fn ready_for_grant(
    server: &TestServer,
    officer: &str,
    applicant: &str,
    case_id: &str,
) {
    for (path, body) in [
        ("/v1/my/case/presence", json!({"in_canada": true})),
        ("/v1/my/case/address", address_body()),
    ] {
        let (status, v) = server
            .call(Method::PUT, path, Some(applicant), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let (status, v) = server
        .upload(applicant, &png(1000, 1400, 240), "image/png")
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/photo-review"),
            Some(officer),
            Some(json!({"decision": "accept"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// Grants PR; answers the document number and the case's version (the sequence of
/// `EcoprIssued`).
async fn approve(server: &TestServer, officer: &str, case_id: &str) -> (String, u64) {
    let (status, granted) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/approval"),
            Some(officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    (
        granted["document_number"].as_str().unwrap().to_owned(),
        granted["version"].as_u64().unwrap(),
    )
}

/// Walks the applicant's case to the grant; answers the document number and the case's
/// version (the sequence of `EcoprIssued`).
pub(crate) async fn grant(
    server: &TestServer,
    officer: &str,
    applicant: &str,
    case_id: &str,
) -> (String, u64) {
    ready_for_grant(server, officer, applicant, case_id).await;
    approve(server, officer, case_id).await
}

/// Downloads the applicant's eCoPR once the reactor has made document `number`: answers the
/// PDF. Until then the route answers 503 `document_pending` with `Retry-After` (or, after an
/// amendment, the previous document), and the test waits, bounded.
async fn download(server: &TestServer, token: &str, number: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let wanted = format!("attachment; filename=\"eCoPR-{number}.pdf\"");
    loop {
        let response = server
            .client
            .get(server.url("/v1/my/case/ecopr"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        if status == StatusCode::OK {
            assert_eq!(headers["content-type"], "application/pdf");
            if headers["content-disposition"] == wanted.as_str() {
                assert!(body.starts_with(b"%PDF-"), "not a PDF");
                return body;
            }
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(headers.contains_key("retry-after"));
            let problem: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(problem["code"], "document_pending", "{problem}");
        }
        assert!(
            Instant::now() < deadline,
            "no document {number} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The PDF's text as `pdftotext` (poppler-utils) extracts it. Fails, never skips, without it.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecopr.pdf");
    std::fs::write(&path, pdf).unwrap();
    let output = Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-layout", "-nopgbrk"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("pdftotext could not run ({e}): apt-get install -y poppler-utils")
        });
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// The verification code printed on the document: the one word shaped `XXXX-XXXX-XXXX-XXXX`.
fn printed_code(text: &str) -> String {
    let codes: Vec<&str> = text
        .split_whitespace()
        .filter(|w| {
            w.len() == 19
                && w.split('-').count() == 4
                && w.split('-').all(|g| g.len() == 4)
                && VerificationCode::parse(w).is_ok()
        })
        .collect();
    assert_eq!(codes.len(), 1, "one code on the document: {text}");
    codes[0].to_owned()
}

/// Another well-formed code: the printed one with its first symbol changed.
fn wrong(code: &str) -> String {
    let first = if code.starts_with('Z') { "Y" } else { "Z" };
    format!("{first}{}", &code[1..])
}

async fn verify(server: &TestServer, number: &str, code: &str) -> (StatusCode, Value) {
    let response = server
        .client
        .get(server.url(&format!("/v1/documents/{number}/verification")))
        .query(&[("code", code)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert!(response.headers().contains_key("retry-after"));
    }
    (status, response.json().await.unwrap())
}

async fn an_ecopr_is_downloaded_verified_and_superseded_by_its_amendment(server: TestServer) {
    let officer = server
        .officer_named("officer.tremblay", "Marie-Ève Tremblay")
        .await;
    let (applicant, case_id) = onboard(&server, &officer, "44445555", "Zoë").await;
    let (first, issued_at) = grant(&server, &officer, &applicant, &case_id).await;
    let today = chrono::Utc::now().date_naive();

    // The PDF carries the number, the accented names, the signature and a code.
    let pdf = download(&server, &applicant, &first).await;
    let text = pdf_text(&pdf);
    for expected in [
        first.as_str(),
        "Zoë",
        "Bélanger",
        "Marie-Ève Tremblay",
        "E001234567",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    let code = printed_code(&text);

    // Only the code's digest is stored.
    let sql = "SELECT verification_sha256 FROM documents WHERE document_number = $1";
    let stored: String = on_db!(server.db(), |pool| sqlx::query_scalar(sql)
        .bind(&first)
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(
        stored,
        VerificationCode::parse(&code).unwrap().digest().as_str()
    );

    // The printed code verifies, also typed in lower case without hyphens.
    let (status, answer) = verify(&server, &first, &code).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"valid": true, "document_number": first, "status": "current",
               "issued_on": today.to_string()})
    );
    let typed = code.replace('-', "").to_lowercase();
    assert_eq!(verify(&server, &first, &typed).await.1["valid"], true);

    // A wrong code learns nothing, and an unknown number answers the same.
    let (status, refused) = verify(&server, &first, &wrong(&code)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        refused,
        json!({"valid": false, "document_number": first, "status": "unknown"})
    );
    let (_, unknown) = verify(&server, "PR9999999999", &code).await;
    assert_eq!(
        unknown,
        json!({"valid": false, "document_number": "PR9999999999", "status": "unknown"})
    );

    // The e-mail: in French (the case's language), the last day to download, no code.
    let (_, body) = server.mail(&case_id, issued_at).await;
    let last_day = (today + chrono::Duration::days(30)).to_string();
    for expected in [
        "Bonjour Zoë Bélanger",
        "confirmation de résidence permanente électronique",
        first.as_str(),
        &format!("téléchargée jusqu'au {last_day}"),
    ] {
        assert!(body.contains(expected), "{expected:?} not in {body}");
    }
    assert!(!body.contains(&code), "the code is on the PDF only");

    // An officer corrects the eCoPR: a new number, and the old document is superseded.
    let (status, amended) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/ecopr-amendment"),
            Some(&officer),
            Some(json!({"correction": "Given name: Zoë, with its diaeresis"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{amended}");
    let second = amended["document_number"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let pdf = download(&server, &applicant, &second).await;
    let text = pdf_text(&pdf);
    assert!(text.contains(&second) && text.contains(&first), "{text}");
    let new_code = printed_code(&text);
    assert_ne!(new_code, code);

    let (_, old) = verify(&server, &first, &code).await;
    assert_eq!(
        old,
        json!({"valid": false, "document_number": first, "status": "superseded",
               "issued_on": today.to_string(), "replaced_by": second})
    );
    let (_, new) = verify(&server, &second, &new_code).await;
    assert_eq!(
        (new["valid"].as_bool(), new["status"].as_str()),
        (Some(true), Some("current")),
        "{new}"
    );
    let (_, body) = server
        .mail(&case_id, amended["version"].as_u64().unwrap())
        .await;
    assert!(
        body.contains(&second) && body.contains(&first) && body.contains("corrigée"),
        "{body}"
    );

    // Two wrong codes so far from this address; three more, and then it must wait, even with
    // the right code.
    for _ in 0..3 {
        let (status, answer) = verify(&server, &second, &wrong(&new_code)).await;
        assert_eq!((status, &answer["valid"]), (StatusCode::OK, &json!(false)));
    }
    let (status, problem) = verify(&server, &second, &wrong(&new_code)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "too_many_attempts");
    let (status, _) = verify(&server, &second, &new_code).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // One document per event, each with its e-mail.
    let sql = "SELECT count(*) FROM documents WHERE case_id = $1";
    let documents: i64 = on_db!(server.db(), |pool| sqlx::query_scalar(sql)
        .bind(&case_id)
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(documents, 2);
}

async fn the_ecopr_is_not_found_before_the_grant_and_verification_needs_a_code(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (applicant, _) = onboard(&server, &officer, "12345678", "Hélène").await;
    let (status, problem) = server
        .call(Method::GET, "/v1/my/case/ecopr", Some(&applicant), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["code"], "not_found");
    let (status, problem) = server
        .call(
            Method::GET,
            "/v1/documents/PR0000000001/verification",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "invalid_query");
    // Officers have no download of their own; anonymous callers none at all.
    let (status, _) = server
        .call(Method::GET, "/v1/my/case/ecopr", Some(&officer), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .call(Method::GET, "/v1/my/case/ecopr", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The case's stage as the officers' view (read from the log) names it.
async fn stage(server: &TestServer, officer: &str, case_id: &str) -> String {
    let (status, case) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{case_id}"),
            Some(officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    match &case["case"]["stage"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
        other => panic!("unexpected stage {other}"),
    }
}

async fn the_card_ordered_after_the_grant_is_recorded_as_mailed_once(db: TestDb) {
    // The card is ordered as soon as PR is granted, by the scheduler.
    let server = db.serve(&["--order-card-after-hours", "0"]).await;
    let officer = server.officer("officer.leblanc").await;
    let (applicant, case_id) = onboard(&server, &officer, "66667777", "Zoë").await;
    let path = format!("/v1/cases/{case_id}/pr-card-mailing");

    // No card before the grant, and never the applicant's to record.
    let (status, problem) = server.call(Method::POST, &path, Some(&officer), None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    let (status, _) = server
        .call(Method::POST, &path, Some(&applicant), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, granted) = grant(&server, &officer, &applicant, &case_id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stage(&server, &officer, &case_id).await != "CardOrdered" {
        assert!(Instant::now() < deadline, "the card was never ordered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, answer) = server.call(Method::POST, &path, Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let version = answer["version"].as_u64().unwrap();
    assert_eq!(version, granted + 2, "ordered, then mailed");
    assert_eq!(stage(&server, &officer, &case_id).await, "CardMailed");
    // In the language of the invitation (French).
    let (_, body) = server.mail(&case_id, version).await;
    assert!(
        body.contains("Votre carte de résident permanent a été postée"),
        "{body}"
    );
    assert!(body.contains("Zoë"), "{body}");

    // Once only.
    let (status, problem) = server.call(Method::POST, &path, Some(&officer), None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
}

/// `/readyz` once `done` holds for it, waiting (bounded).
async fn readyz_until(server: &TestServer, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (status, ready) = server.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::OK, "{ready}");
        if done(&ready) {
            return ready;
        }
        assert!(Instant::now() < deadline, "{what}: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn an_ecopr_that_cannot_be_stored_waits_is_reported_and_is_made_once_it_can(
    server: TestServer,
) {
    let officer = server.officer_named("officer.roy", "Jean Roy").await;
    let (applicant, case_id) = onboard(&server, &officer, "77778888", "Zoë").await;
    ready_for_grant(&server, &officer, &applicant, &case_id).await;

    // The blob store cannot be written: a file stands where its directory was (root, which
    // runs CI, ignores permissions, not this).
    let data = server.mail_dir().parent().unwrap().to_owned();
    let blobs = data.join("blobs");
    let saved = data.join("blobs.saved");
    std::fs::rename(&blobs, &saved).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();

    // The grant is a command: it goes through. The document waits, and the instance says so.
    let (number, _) = approve(&server, &officer, &case_id).await;
    let ready = readyz_until(&server, "the reactor never reported its stall", |r| {
        r["status"] == "degraded"
    })
    .await;
    let ecopr = &ready["consumers"]["ecopr"];
    assert_eq!(ecopr["kind"], "reactor", "{ready}");
    assert!(ecopr["failures"].as_u64().unwrap() >= 5, "{ready}");
    assert!(!ecopr["stalled"].as_str().unwrap().is_empty(), "{ready}");
    // Nothing parked: a blob store out of reach is every document's trouble, not this one's.
    assert_eq!(ecopr["parked"], 0, "{ready}");
    let (status, problem) = server
        .call(Method::GET, "/v1/my/case/ecopr", Some(&applicant), None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("document_pending"))
    );
    // And the applicant's view does not promise it.
    let (_, view) = server
        .call(Method::GET, "/v1/my/case", Some(&applicant), None)
        .await;
    assert_eq!(
        (
            view["ecopr"]["available"].as_bool(),
            view["ecopr"]["status"].as_str()
        ),
        (Some(false), Some("pending")),
        "{view}"
    );

    // Mended, the reactor makes the document it never skipped, and the instance is ready.
    std::fs::remove_file(&blobs).unwrap();
    std::fs::rename(&saved, &blobs).unwrap();
    let pdf = download(&server, &applicant, &number).await;
    assert!(pdf_text(&pdf).contains(number.as_str()));
    let ready = readyz_until(&server, "still degraded after the mend", |r| {
        r["status"] == "ready"
    })
    .await;
    assert_eq!(ready["consumers"]["ecopr"]["failures"], 0, "{ready}");
    assert_eq!(
        ready["consumers"]["ecopr"]["stalled"],
        Value::Null,
        "{ready}"
    );
}
