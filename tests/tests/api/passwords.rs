//! The password policy over HTTP, black-box: common and trivial passwords, and ones holding
//! the username, e-mail address or name, are refused with a code that says which rule.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::onboard;
use crate::server::{TestServer, STAFF_PASSWORD};

on_both_backends!(weak_passwords_are_refused_with_a_code_saying_why,);

async fn change(
    server: &TestServer,
    token: &str,
    current: &str,
    new: &str,
) -> (StatusCode, String) {
    let (status, problem) = server
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(token),
            Some(json!({"current_password": current, "new_password": new})),
        )
        .await;
    (
        status,
        problem["code"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn weak_passwords_are_refused_with_a_code_saying_why(server: TestServer) {
    let officer = server.officer("officer.gagnon").await;
    let (applicant, _) = onboard(&server, &officer, "12345678", "Zoéline").await;
    let current = "a brand new passphrase";

    for (new, code) in [
        ("aaaaaaaaaaaa", "password_trivial"),
        ("123456789012", "password_trivial"),
        ("abcdefghijkl", "password_trivial"),
        ("password1234", "password_common"),
        ("1qaz2wsx3edc4rfv", "password_common"),
        ("qwertyuiopasdf", "password_guessable"),
        ("Password2024!", "password_guessable"),
        ("my zoéline@example.ca secret", "password_contains_identity"),
        ("ZOÉLINE is the one for me", "password_contains_identity"),
        ("Bélanger by the river, 1990", "password_contains_identity"),
    ] {
        assert_eq!(
            change(&server, &applicant, current, new).await,
            (StatusCode::UNPROCESSABLE_ENTITY, code.to_owned()),
            "{new}"
        );
    }
    assert_eq!(
        change(
            &server,
            &officer,
            STAFF_PASSWORD,
            "officer.gagnon forever and ever"
        )
        .await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_contains_identity".to_owned()
        )
    );
    // Nothing was changed: the current password still works, and a good one is taken.
    assert_eq!(
        change(&server, &applicant, current, "correct horse battery staple").await,
        (StatusCode::NO_CONTENT, String::new())
    );
}
