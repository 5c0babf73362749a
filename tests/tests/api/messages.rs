//! Each case's e-mails as officers see them (`GET /v1/cases/{id}/messages`): kind, language,
//! queued, sent or failed with times and the relay's error; never a body, a recipient or a
//! secret.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prconfirm_tests::relay::{self, start_relay, Shared};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{TestDb, TestServer};
use crate::{invite_body, invited_and_accepted};

on_both_backends!(each_kind_of_message_shows_as_sent_with_its_language_and_never_its_secret);
on_both_backends_db!(
    a_message_the_relay_refuses_shows_as_failed_with_the_relay_error,
    the_reminder_the_expiry_and_the_mailed_card_show_as_sent,
);

/// The case's messages once `done` holds of them (bounded wait).
async fn messages_until(
    server: &TestServer,
    officer: &str,
    case_id: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, listed) = server
            .call(
                Method::GET,
                &format!("/v1/cases/{case_id}/messages"),
                Some(officer),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let listed = listed.as_array().unwrap().clone();
        if done(&listed) {
            return listed;
        }
        assert!(Instant::now() < deadline, "{listed:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all_sent(n: usize) -> impl Fn(&[Value]) -> bool {
    move |m| m.len() == n && m.iter().all(|m| m["status"] == "sent")
}

async fn each_kind_of_message_shows_as_sent_with_its_language_and_never_its_secret(
    server: TestServer,
) {
    // Arrange: Zoé invited (in French) and her account made: two messages.
    let officer = server.officer("officer.a").await;
    let body = invite_body("12345678", "Zoé", "zoe@example.ca");
    let (case_id, username, temporary) = invited_and_accepted(&server, &officer, body).await;
    let code_line = server.mail_line(&case_id, 1, "Invitation code: ").await;
    let (status, session) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::CREATED);
    let first = session["token"].as_str().unwrap().to_owned();
    let (status, session) = {
        let (status, _) = server
            .call(
                Method::PUT,
                "/v1/me/password",
                Some(&first),
                Some(json!({"current_password": temporary,
                            "new_password": "a brand new passphrase"})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        server.sign_in(&username, "a brand new passphrase").await
    };
    assert_eq!(status, StatusCode::CREATED);
    let applicant = session["token"].as_str().unwrap().to_owned();

    // Act: a photo returned, then the eCoPR issued: two more messages.
    let (status, _) = server
        .upload(&applicant, &crate::png(1000, 1400, 240), "image/png")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/photo-review"),
            Some(&officer),
            Some(json!({"decision": "return", "reason": "too_dark"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    crate::ecopr::grant(&server, &officer, &applicant, &case_id).await;

    // Assert: four messages, oldest first, each sent after it was queued, in French.
    let listed = messages_until(&server, &officer, &case_id, all_sent(4)).await;
    let kinds: Vec<&str> = listed.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["invitation", "credentials", "photo_returned", "ecopr_ready"]
    );
    for m in &listed {
        assert_eq!(m["language"], "fr", "{m}");
        let queued = chrono::DateTime::parse_from_rfc3339(m["queued_at"].as_str().unwrap());
        let sent = chrono::DateTime::parse_from_rfc3339(m["sent_at"].as_str().unwrap());
        assert!(queued.unwrap() <= sent.unwrap(), "{m}");
        assert!(m.get("error").is_none(), "{m}");
    }
    let whole = serde_json::to_string(&listed).unwrap();
    for secret in [
        code_line.as_str(),
        temporary.as_str(),
        username.as_str(),
        "zoe@example.ca",
        "Zoé",
        "subject",
        "body",
    ] {
        assert!(
            !whole.contains(secret),
            "the status shows {secret}: {whole}"
        );
    }

    // Officers only; an unknown case is 404.
    let (status, _) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{case_id}/messages"),
            Some(&applicant),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .call(Method::GET, "/v1/cases/nope/messages", Some(&officer), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_message_the_relay_refuses_shows_as_failed_with_the_relay_error(db: TestDb) {
    // Arrange: a relay that has no mailbox for gone@example.ca (550 at RCPT).
    let port = relay::free_port();
    let shared = Arc::new(Shared::default());
    shared
        .no_such_mailbox
        .lock()
        .unwrap()
        .insert("gone@example.ca".to_owned());
    start_relay(port, shared.clone());
    let server = db.serve(&["--smtp-url", &relay::url(port)]).await;
    let officer = server.officer("officer.a").await;

    // Act: one invitation it refuses, one it takes.
    let mut cases = Vec::new();
    for (uci, email) in [
        ("10000001", "gone@example.ca"),
        ("10000002", "here@example.ca"),
    ] {
        let (status, invited) = server
            .call(
                Method::POST,
                "/v1/cases",
                Some(&officer),
                Some(invite_body(uci, "Ana", email)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{invited}");
        cases.push(invited["case_id"].as_str().unwrap().to_owned());
    }

    // Assert: the refused one failed with the relay's answer, the other was accepted.
    let failed = messages_until(&server, &officer, &cases[0], |m| {
        m.len() == 1 && m[0]["status"] == "failed"
    })
    .await;
    assert_eq!(failed[0]["kind"], "invitation");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("550"),
        "{failed:?}"
    );
    assert!(failed[0]["failed_at"].as_str().is_some(), "{failed:?}");
    assert!(failed[0].get("sent_at").is_none(), "{failed:?}");
    let sent = messages_until(&server, &officer, &cases[1], all_sent(1)).await;
    assert_eq!(sent[0]["kind"], "invitation");
    assert_eq!(
        shared.accepted.lock().unwrap().len(),
        1,
        "sent means the relay accepted it"
    );
}

async fn the_reminder_the_expiry_and_the_mailed_card_show_as_sent(db: TestDb) {
    // Arrange: reminders an hour before the answer date, the card ordered at the grant, the
    // clock looking every 100 ms.
    let server = db
        .serve(&[
            "--remind-before-hours",
            "1",
            "--order-card-after-hours",
            "0",
            "--scheduler-interval-ms",
            "100",
        ])
        .await;
    let officer = server.officer("officer.a").await;

    // Act: Zoé's invitation is due for its reminder three seconds after it is sent (an hour
    // and three seconds before its answer date); Léo's lapses after three seconds, too soon
    // for a reminder; Noé is brought to PR and his card recorded as mailed.
    let soon = |secs: i64| (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
    let mut cases = Vec::new();
    for (uci, given, respond_by) in [
        ("12345678", "Zoé", soon(3600 + 3)),
        ("12345679", "Léo", soon(3)),
    ] {
        let mut body = invite_body(uci, given, "zoe@example.ca");
        body["respond_by"] = json!(respond_by);
        let (status, invited) = server
            .call(Method::POST, "/v1/cases", Some(&officer), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{invited}");
        cases.push(invited["case_id"].as_str().unwrap().to_owned());
    }
    let (applicant, granted) = crate::onboard(&server, &officer, "87654321", "Noé").await;
    crate::ecopr::grant(&server, &officer, &applicant, &granted).await;
    let mailing = format!("/v1/cases/{granted}/pr-card-mailing");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, answer) = server
            .call(Method::POST, &mailing, Some(&officer), None)
            .await;
        if status == StatusCode::OK {
            break;
        }
        // Until the clock has ordered the card.
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert!(Instant::now() < deadline, "the card was never ordered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    let kinds = |m: &[Value]| -> Vec<String> {
        m.iter()
            .map(|m| m["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = messages_until(&server, &officer, &cases[0], all_sent(2)).await;
    assert_eq!(kinds(&listed), ["invitation", "reminder"]);
    let listed = messages_until(&server, &officer, &cases[1], all_sent(2)).await;
    assert_eq!(kinds(&listed), ["invitation", "invitation_expired"]);
    let listed = messages_until(&server, &officer, &granted, all_sent(4)).await;
    // The eCoPR's notice and the card's come from two reactors (the PDF is rendered first),
    // so either may be queued first.
    let mut last_two = kinds(&listed).split_off(2);
    last_two.sort();
    assert_eq!(kinds(&listed)[..2], ["invitation", "credentials"]);
    assert_eq!(last_two, ["card_mailed", "ecopr_ready"]);
}
