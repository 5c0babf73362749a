//! Guessing over HTTP, black-box: wrong invitation codes from one address are slowed down like
//! wrong passwords, and a right code sent while the wait runs waits too.

use reqwest::{Method, StatusCode};

use crate::invite_body;
use crate::server::TestServer;

on_both_backends!(wrong_invitation_codes_from_one_address_are_slowed_down,);

async fn wrong_invitation_codes_from_one_address_are_slowed_down(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (status, invited) = server
        .call(
            Method::POST,
            "/v1/cases",
            Some(&officer),
            Some(invite_body("12345678", "Ana", "ana@example.ca")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let case_id = invited["case_id"].as_str().unwrap().to_owned();
    let code = server.mail_line(&case_id, 1, "Invitation code: ").await;

    let tries = (0..30).map(|i| {
        let server = &server;
        let action = if i % 2 == 0 { "acceptance" } else { "decline" };
        async move {
            let path = format!("/v1/invitations/wrongcode{i:02}xxxxxxxxxxxxx/{action}");
            server.call(Method::POST, &path, None, None).await
        }
    });
    let answers = futures::future::join_all(tries).await;
    let not_found = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::NOT_FOUND)
        .count();
    let throttled = answers
        .iter()
        .filter(|(s, p)| *s == StatusCode::TOO_MANY_REQUESTS && p["code"] == "too_many_attempts")
        .count();
    assert_eq!(not_found + throttled, 30, "{answers:?}");
    assert!(
        (1..=10).contains(&not_found),
        "at most ten wrong codes are looked up: {not_found}"
    );

    let (status, problem) = server.accept(&code).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")),
        "the right code waits too"
    );
}
