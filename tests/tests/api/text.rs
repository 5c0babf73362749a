//! Names and free text over HTTP, black-box: bidirectional overrides, other invisible or
//! formatting characters and names with nothing visible in them are refused (422, naming the
//! field), while every script, accent and the joiners some scripts need are kept.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::TestServer;
use crate::{invite_body, onboard};

on_both_backends!(invisible_and_formatting_characters_are_refused_naming_the_field,);

async fn invisible_and_formatting_characters_are_refused_naming_the_field(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let invite = |field: &str, value: &str| {
        let mut body = invite_body("12345678", "Ana", "ana@example.ca");
        body[field] = Value::from(value);
        body
    };
    for (field, value) in [
        ("given_name", "Ana\u{202E}anilA"),
        ("given_name", "\u{2067}Ana\u{2069}"),
        ("family_name", "Bé\u{200B}langer"),
        ("family_name", "\u{3164}"),
        ("given_name", "\u{200D}\u{200C}"),
        ("family_name", "Tremblay\u{E000}"),
        ("given_name", "Ana\u{2028}Maria"),
        ("given_name", "Ana\u{0378}"),
        ("family_name", "Bélanger\u{FEFF}"),
    ] {
        let (status, problem) = server
            .call(
                Method::POST,
                "/v1/cases",
                Some(&officer),
                Some(invite(field, value)),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{value:?}: {problem}"
        );
        assert_eq!(problem["code"], "invalid_value", "{value:?}");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "the answer names {field}: {problem}"
        );
    }
    assert_eq!(
        server.count_events().await,
        0,
        "nothing refused was recorded"
    );

    // Scripts keep what they need: a Persian name with its zero-width non-joiner.
    let (status, invited) = server
        .call(
            Method::POST,
            "/v1/cases",
            Some(&officer),
            Some(invite("given_name", "علی\u{200C}رضا")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");

    // Free text on the applicant's side: an address line.
    let (applicant, _) = onboard(&server, &officer, "87654321", "Zoé").await;
    let (status, problem) = server
        .call(
            Method::PUT,
            "/v1/my/case/address",
            Some(&applicant),
            Some(
                json!({"residential": {"line1": "1 Main St\u{202E}", "city": "Ottawa",
                        "province": "ON", "postal_code": "K1A 0B1"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("line1"),
        "{problem}"
    );
}
