//! Guardians act for minors: a child under 18 is invited with the UCI of an adult of the
//! family, gets no account, and is brought to the eCoPR by the guardian's own session; the
//! history names the guardian; nobody else reaches the child's case.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::TestServer;
use crate::{address_body, invite_body, onboard, png};

on_both_backends!(
    a_parent_brings_two_minors_to_the_ecopr_with_their_own_session_only,
    the_family_rules_of_an_invitation_are_checked,
);

fn minor(uci: &str, given: &str, born: &str, guardian: &str) -> Value {
    let mut body = invite_body(uci, given, "elise@example.ca");
    body["date_of_birth"] = json!(born);
    body["guardian_uci"] = json!(guardian);
    body
}

async fn invite(server: &TestServer, officer: &str, body: Value) -> (StatusCode, Value) {
    server
        .call(Method::POST, "/v1/cases", Some(officer), Some(body))
        .await
}

async fn put_photo(server: &TestServer, token: &str, case_id: &str) -> (StatusCode, Value) {
    let response = server
        .client
        .put(server.url(&format!("/v1/my/dependants/{case_id}/photo")))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(png(1000, 1400, 240))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_parent_brings_two_minors_to_the_ecopr_with_their_own_session_only(server: TestServer) {
    // Arrange: Élise (the parent) in the portal; her children Noé (11) and Léa (8) invited
    // with her UCI; and an unrelated applicant, Bruno, in the portal too.
    let officer = server.officer("officer.gagnon").await;
    let (parent, parent_case) = onboard(&server, &officer, "11112222", "Élise").await;
    let (stranger, _) = onboard(&server, &officer, "99998888", "Bruno").await;
    let mut children = Vec::new();
    for (uci, given, born) in [
        ("3333444455", "Noé", "2015-06-01"),
        ("3333444466", "Léa", "2018-02-28"),
    ] {
        let (status, invited) =
            invite(&server, &officer, minor(uci, given, born, "11112222")).await;
        assert_eq!(status, StatusCode::CREATED, "{invited}");
        children.push(invited["case_id"].as_str().unwrap().to_owned());
    }

    // The children's invitation codes cannot be used on their own: the guardian accepts.
    let code = server.mail_line(&children[0], 1, "Invitation code: ").await;
    let (status, refused) = server.accept(&code).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "guardian_accepts");

    // The parent sees both children; the stranger sees none and reaches neither.
    let (status, listed) = server
        .call(Method::GET, "/v1/my/dependants", Some(&parent), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["given_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Noé", "Léa"]);
    assert_eq!(listed[0]["case_id"], children[0].as_str());
    assert_eq!(listed[0]["stage"], "invited");
    let (_, none) = server
        .call(Method::GET, "/v1/my/dependants", Some(&stranger), None)
        .await;
    assert_eq!(none, json!([]));
    for (method, step, body) in [
        (Method::GET, "", None),
        (Method::POST, "/acceptance", None),
        (Method::PUT, "/presence", Some(json!({"in_canada": true}))),
        (Method::GET, "/ecopr", None),
    ] {
        let path = format!("/v1/my/dependants/{}{step}", children[0]);
        let (status, _) = server
            .call(method.clone(), &path, Some(&stranger), body.clone())
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} by a stranger"
        );
        // Not a dependant at all: the parent's own case through the dependants' routes.
        let own = format!("/v1/my/dependants/{parent_case}{step}");
        let (status, _) = server.call(method, &own, Some(&parent), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{own}: not a minor's case");
    }

    // Act: the parent takes each child through every step from her own session.
    for case_id in &children {
        let base = format!("/v1/my/dependants/{case_id}");
        let (status, accepted) = server
            .call(
                Method::POST,
                &format!("{base}/acceptance"),
                Some(&parent),
                None,
            )
            .await;
        assert_eq!(
            (status, accepted["version"].as_u64()),
            (StatusCode::OK, Some(2)),
            "{accepted}"
        );
        let (status, view) = server
            .call(
                Method::GET,
                &format!("{base}?min_version=2"),
                Some(&parent),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["case_id"], case_id.as_str());
        assert_eq!(view["stage"], "confirming");
        assert_eq!(view["next_step"], "declare_presence");
        let (status, again) = server
            .call(
                Method::POST,
                &format!("{base}/acceptance"),
                Some(&parent),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "accepted twice: {again}");
        let (status, _) = server
            .call(
                Method::PUT,
                &format!("{base}/presence"),
                Some(&parent),
                Some(json!({"in_canada": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = server
            .call(
                Method::PUT,
                &format!("{base}/address"),
                Some(&parent),
                Some(address_body()),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, uploaded) = put_photo(&server, &parent, case_id).await;
        assert_eq!(status, StatusCode::OK, "{uploaded}");
        assert_eq!(uploaded["version"], 5);

        // The officer accepts the photo and grants PR, as for anyone.
        let (status, _) = server
            .call(
                Method::POST,
                &format!("/v1/cases/{case_id}/photo-review"),
                Some(&officer),
                Some(json!({"decision": "accept"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, granted) = server
            .call(
                Method::POST,
                &format!("/v1/cases/{case_id}/approval"),
                Some(&officer),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{granted}");
    }

    // Assert: the parent downloads each child's eCoPR once it is made.
    for case_id in &children {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response = server
                .client
                .get(server.url(&format!("/v1/my/dependants/{case_id}/ecopr")))
                .bearer_auth(&parent)
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::OK {
                assert_eq!(response.headers()["content-type"], "application/pdf");
                assert!(response.bytes().await.unwrap().starts_with(b"%PDF-"));
                break;
            }
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                std::time::Instant::now() < deadline,
                "the eCoPR was never made"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // The history names the parent as the actor of every step she took for the child, and
    // no account was ever made for a child (no credentials e-mail; the case went from the
    // acceptance straight to the confirmations).
    let auditor = server.staff("auditor.a", "auditor").await;
    let parent_username = server
        .accounts()
        .applicant_username(&parent_case)
        .await
        .unwrap()
        .unwrap();
    for case_id in &children {
        let (status, history) = server
            .call(
                Method::GET,
                &format!("/v1/audit/cases/{case_id}/events"),
                Some(&auditor),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let steps: Vec<(&str, &str)> = history["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap(),
                    e["metadata"]["actor_id"].as_str().unwrap(),
                )
            })
            .collect();
        let parent_id = parent_username.as_str();
        assert_eq!(
            &steps[..5],
            [
                ("Invited", "officer.gagnon"),
                ("InvitationAcceptedByGuardian", parent_id),
                ("PresenceDeclared", parent_id),
                ("AddressConfirmed", parent_id),
                ("PhotoUploaded", parent_id),
            ],
            "{history}"
        );
        assert_eq!(
            history["events"][0]["payload"]["Invited"]["guardian_case"],
            parent_case.as_str()
        );
        assert_eq!(
            server.accounts().applicant_username(case_id).await.unwrap(),
            None,
            "a minor has no account"
        );
    }
}

async fn the_family_rules_of_an_invitation_are_checked(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (status, parent) = invite(
        &server,
        &officer,
        invite_body("11112222", "Élise", "e@example.ca"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{parent}");
    let before = server.count_events().await;

    // A minor without a guardian; an adult with one; a guardian never invited, or under
    // another application; a guardian who is a minor; a minor as their own guardian.
    let mut no_guardian = minor("3333444455", "Noé", "2015-06-01", "x");
    no_guardian.as_object_mut().unwrap().remove("guardian_uci");
    let mut adult = minor("3333444455", "Noé", "1990-06-01", "11112222");
    adult["date_of_birth"] = json!("1990-06-01");
    let mut other_application = minor("3333444455", "Noé", "2015-06-01", "11112222");
    other_application["application_number"] = json!("F009876543");
    for (body, code) in [
        (no_guardian, "guardian_required"),
        (adult, "guardian_not_needed"),
        (
            minor("3333444455", "Noé", "2015-06-01", "55556666"),
            "guardian_not_invited",
        ),
        (other_application, "guardian_not_invited"),
        (
            minor("3333444455", "Noé", "2015-06-01", "3333444455"),
            "guardian_not_invited",
        ),
    ] {
        let (status, problem) = invite(&server, &officer, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["code"], code, "{body}: {problem}");
    }
    assert_eq!(
        server.count_events().await,
        before,
        "a refused invitation records nothing"
    );

    // A minor invited with the parent, then the minor named as a sibling's guardian.
    let (status, _) = invite(
        &server,
        &officer,
        minor("3333444455", "Noé", "2015-06-01", "11112222"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = invite(
        &server,
        &officer,
        minor("3333444466", "Léa", "2018-02-28", "3333444455"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "guardian_is_minor");
    // Seventeen and a day short of eighteen is still a minor.
    let today = chrono::Utc::now().date_naive();
    let almost = today - chrono::Months::new(18 * 12) + chrono::Days::new(1);
    let (status, problem) = invite(&server, &officer, {
        let mut b = invite_body("3333444477", "Zoé", "z@example.ca");
        b["date_of_birth"] = json!(almost.to_string());
        b
    })
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "guardian_required");
}
