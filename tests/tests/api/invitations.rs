//! One case per person per application: inviting a person (application number, UCI) who has
//! an open case answers 409 `already_invited` with that case, however many invitations of
//! them race; once the case is closed the person can be invited again.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::invite_body;
use crate::server::TestServer;

on_both_backends!(
    inviting_the_same_person_again_names_their_open_case,
    concurrent_invitations_of_one_person_make_exactly_one_case,
);

async fn invite(server: &TestServer, officer: &str, body: Value) -> (StatusCode, Value) {
    server
        .call(Method::POST, "/v1/cases", Some(officer), Some(body))
        .await
}

async fn inviting_the_same_person_again_names_their_open_case(server: TestServer) {
    // Arrange: Ana invited once.
    let officer = server.officer("officer.a").await;
    let (status, first) = invite(
        &server,
        &officer,
        invite_body("12345678", "Ana", "ana@example.ca"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let case_id = first["case_id"].as_str().unwrap().to_owned();

    // Act: again, with her UCI as printed on a letter and another e-mail address.
    let (status, again) = invite(
        &server,
        &officer,
        invite_body("1234-5678", "Ana", "ana.b@example.ca"),
    )
    .await;

    // Assert: 409 already_invited naming her case; nothing new recorded.
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["code"], "already_invited", "{again}");
    assert_eq!(again["case_id"], case_id.as_str(), "{again}");
    assert_eq!(server.count_events().await, 1);

    // Another person of the same family, and the same UCI under another application: new cases.
    let (status, _) = invite(
        &server,
        &officer,
        invite_body("87654321", "Bo", "bo@example.ca"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut other_file = invite_body("12345678", "Ana", "ana@example.ca");
    other_file["application_number"] = json!("F009876543");
    let (status, _) = invite(&server, &officer, other_file).await;
    assert_eq!(status, StatusCode::CREATED);

    // Once her case is closed she can be invited again, into a new case.
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/withdrawal"),
            Some(&officer),
            Some(json!({"reason": "invited with the wrong e-mail address"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, reinvited) = invite(
        &server,
        &officer,
        invite_body("12345678", "Ana", "ana.b@example.ca"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reinvited}");
    assert_ne!(reinvited["case_id"], case_id.as_str());
    let (status, refused) = invite(
        &server,
        &officer,
        invite_body("12345678", "Ana", "ana@example.ca"),
    )
    .await;
    assert_eq!(
        (status, &refused["case_id"]),
        (StatusCode::CONFLICT, &reinvited["case_id"])
    );
}

async fn concurrent_invitations_of_one_person_make_exactly_one_case(server: TestServer) {
    // Arrange: eight officers' tools about to invite the same person, each without a key.
    let officer = server.officer("officer.a").await;
    let bodies: Vec<Value> = (0..8)
        .map(|n| invite_body("12345678", "Ana", &format!("ana{n}@example.ca")))
        .collect();

    // Act: all at once.
    let answers =
        futures::future::join_all(bodies.into_iter().map(|b| invite(&server, &officer, b))).await;

    // Assert: exactly one case; every other answer is already_invited naming it.
    let created: Vec<&Value> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .map(|a| &a.1)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let case_id = &created[0]["case_id"];
    let named: HashSet<String> = answers
        .iter()
        .filter(|a| a.0 != StatusCode::CREATED)
        .map(|a| {
            assert_eq!(
                (a.0, a.1["code"].as_str()),
                (StatusCode::CONFLICT, Some("already_invited")),
                "{a:?}"
            );
            a.1["case_id"].to_string()
        })
        .collect();
    assert_eq!(named, HashSet::from([case_id.to_string()]), "{answers:?}");
    assert_eq!(server.count_events().await, 1);
}
