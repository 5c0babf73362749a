//! Cases that never get stuck: an officer reissues an applicant's credentials (lost, or
//! lapsed unused, which puts a `credentials_expired` task in the queue) and re-sends an
//! invitation; each time the old secret stops working in the same step and only the new one
//! opens the way.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::server::{TestDb, TestServer};
use crate::{invite_body, invited_and_accepted};

on_both_backends_db!(an_expired_temporary_password_is_queued_for_an_officer_who_reissues_it);
on_both_backends!(
    reissued_credentials_end_the_old_password_at_once,
    a_re_sent_invitation_opens_with_the_new_code_only,
);

/// The queue's `credentials_expired` tasks' cases, once `done` holds (bounded wait).
async fn expired_until(server: &TestServer, officer: &str, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, page) = server
            .call(
                Method::GET,
                "/v1/queue?task=credentials_expired",
                Some(officer),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let cases: Vec<String> = page
            .as_array()
            .unwrap()
            .iter()
            .inspect(|t| assert_eq!(t["task"], "credentials_expired", "{t}"))
            .map(|t| t["case_id"].as_str().unwrap().to_owned())
            .collect();
        if done(&cases) {
            return;
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reissues the credentials of `case_id`; answers the new username and temporary password,
/// read from the credentials e-mail of the new `AccountCreated` (the event after the answer's
/// version).
async fn reissue(server: &TestServer, officer: &str, case_id: &str) -> (String, String) {
    let (status, answer) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/credentials"),
            Some(officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let created = u32::try_from(answer["version"].as_u64().unwrap() + 1).unwrap();
    (
        server.mail_line(case_id, created, "Username: ").await,
        server
            .mail_line(case_id, created, "Temporary password: ")
            .await,
    )
}

async fn an_expired_temporary_password_is_queued_for_an_officer_who_reissues_it(db: TestDb) {
    // Arrange: temporary passwords valid for five seconds; Ana lets hers lapse.
    let server = db.serve(&["--temporary-password-secs", "5"]).await;
    let officer = server.officer("officer.a").await;
    let body = invite_body("12345678", "Ana", "ana@example.ca");
    let (case_id, username, temporary) = invited_and_accepted(&server, &officer, body).await;
    expired_until(&server, &officer, |cases| cases.contains(&case_id)).await;

    // Act: the officer reissues.
    let (new_username, new_password) = reissue(&server, &officer, &case_id).await;

    // Assert: the new credentials open a session; the old ones do not; the task is done.
    let (status, session) = server.sign_in(&new_username, &new_password).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["must_change_password"], true);
    let (status, _) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    expired_until(&server, &officer, |cases| !cases.contains(&case_id)).await;
}

async fn reissued_credentials_end_the_old_password_at_once(server: TestServer) {
    // Arrange: Bo's credentials went out, and he says he lost them.
    let officer = server.officer("officer.a").await;
    let body = invite_body("87654321", "Bo", "bo@example.ca");
    let (case_id, username, temporary) = invited_and_accepted(&server, &officer, body).await;
    let (status, session) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::CREATED);
    let old_session = session["token"].as_str().unwrap().to_owned();

    // Act
    let (status, answer) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/credentials"),
            Some(&officer),
            None,
        )
        .await;

    // Assert: at once (before any new credentials exist) the old password and its session
    // are over; then the new ones work.
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .call(
            Method::DELETE,
            "/v1/sessions/current",
            Some(&old_session),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let created = u32::try_from(answer["version"].as_u64().unwrap() + 1).unwrap();
    let new_username = server.mail_line(&case_id, created, "Username: ").await;
    let new_password = server
        .mail_line(&case_id, created, "Temporary password: ")
        .await;
    assert_ne!(new_password, temporary);
    let (status, session) = server.sign_in(&new_username, &new_password).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");

    // Once the applicant's own password is set, there is nothing to reissue.
    let token = session["token"].as_str().unwrap();
    let (status, _) = server
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(token),
            Some(serde_json::json!({"current_password": new_password,
                                    "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, refused) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/credentials"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition")),
        "{refused}"
    );
}

async fn a_re_sent_invitation_opens_with_the_new_code_only(server: TestServer) {
    // Arrange: Cy's invitation went to his spam folder.
    let officer = server.officer("officer.a").await;
    let (status, invited) = server
        .call(
            Method::POST,
            "/v1/cases",
            Some(&officer),
            Some(invite_body("11223344", "Cy", "cy@example.ca")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let case_id = invited["case_id"].as_str().unwrap().to_owned();
    let old_code = server.mail_line(&case_id, 1, "Invitation code: ").await;

    // Act
    let (status, answer) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/invitation"),
            Some(&officer),
            None,
        )
        .await;

    // Assert: the old code is refused at once; the new one, mailed again, opens the case.
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["version"], 2);
    let (status, _) = server.accept(&old_code).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let new_code = server.mail_line(&case_id, 2, "Invitation code: ").await;
    assert_ne!(new_code, old_code);
    let (status, accepted) = server.accept(&new_code).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["case_id"], case_id.as_str());

    // Accepted: there is no open invitation to send again.
    let (status, refused): (StatusCode, Value) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/invitation"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition")),
        "{refused}"
    );
}
