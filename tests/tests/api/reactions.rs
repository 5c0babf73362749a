//! Reactions to the log, black-box: account creation after an acceptance (concurrent,
//! interrupted), e-mail that a relay refuses (parked while the rest goes out, retried by an
//! operator), addresses no mail builder can write, and work a refused command must not do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prconfirm_migrations::on_db;
use prconfirm_tests::relay::{self, start_relay, Shared};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{TestDb, TestServer};
use crate::{invite_body, onboard};

on_both_backends!(
    ten_acceptances_at_once_make_one_account_whose_credentials_sign_in,
    an_address_the_builder_refuses_is_refused_at_the_door,
    a_photo_the_case_cannot_take_is_refused_before_it_is_stored,
);

on_both_backends_db!(
    an_acceptance_whose_account_was_never_made_gets_it_after_a_restart,
    a_refused_message_is_parked_while_the_others_go_out_and_an_operator_retries_it,
);

async fn invite(server: &TestServer, officer: &str, uci: &str, email: &str) -> String {
    let (status, invited) = server
        .call(
            Method::POST,
            "/v1/cases",
            Some(officer),
            Some(invite_body(uci, "Ana", email)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    invited["case_id"].as_str().unwrap().to_owned()
}

async fn count(server: &TestServer, sql: &str, case_id: &str) -> i64 {
    on_db!(server.db(), |pool| sqlx::query_scalar(sql)
        .bind(case_id)
        .fetch_one(pool)
        .await)
    .unwrap()
}

async fn ten_acceptances_at_once_make_one_account_whose_credentials_sign_in(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let case_id = invite(&server, &officer, "12345678", "ana@example.ca").await;
    let code = server.mail_line(&case_id, 1, "Invitation code: ").await;

    // A double click, retries: ten at once.
    let path = format!("/v1/invitations/{code}/acceptance");
    let answers =
        futures::future::join_all((0..10).map(|_| server.call(Method::POST, &path, None, None)))
            .await;
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::OK
                || (*status == StatusCode::CONFLICT
                    && ["concurrent_update", "invalid_transition"]
                        .contains(&body["code"].as_str().unwrap_or_default())),
            "{status} {body}"
        );
        if *status == StatusCode::OK {
            assert_eq!(body["case_id"], case_id.as_str(), "{body}");
        }
    }
    assert!(answers.iter().any(|(s, _)| *s == StatusCode::OK));

    // One acceptance, one account, and the credentials e-mailed are that account's.
    let username = server.mail_line(&case_id, 3, "Username: ").await;
    let temporary = server.mail_line(&case_id, 3, "Temporary password: ").await;
    let events =
        "SELECT COUNT(*) FROM events WHERE aggregate_id = $1 AND event_type = 'InvitationAccepted'";
    assert_eq!(count(&server, events, &case_id).await, 1);
    let events =
        "SELECT COUNT(*) FROM events WHERE aggregate_id = $1 AND event_type = 'AccountCreated'";
    assert_eq!(count(&server, events, &case_id).await, 1);
    let accounts = "SELECT COUNT(*) FROM accounts WHERE case_id = $1";
    assert_eq!(count(&server, accounts, &case_id).await, 1);
    let (status, session) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["must_change_password"], true);
}

/// The acceptance is recorded by a server that does not run the accounts reactor, which
/// then goes away before any other could (the state a crash between the acceptance's commit
/// and the account leaves); the next server makes the account, and the credentials arrive.
async fn an_acceptance_whose_account_was_never_made_gets_it_after_a_restart(db: TestDb) {
    let all_but_accounts = "case_views,stats,deadlines,mail,mail_delivery,ecopr,clock";
    let mut server = db.serve(&["--consumers", all_but_accounts]).await;
    let officer = server.officer("officer.a").await;
    let case_id = invite(&server, &officer, "12345678", "ana@example.ca").await;
    let code = server.mail_line(&case_id, 1, "Invitation code: ").await;
    let (status, accepted) = server.accept(&code).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (_, view) = server.call(Method::GET, "/v1/my/case", None, None).await;
    assert_eq!(view["code"], "unauthenticated", "{view}");
    // Nothing made it: no account, no AccountCreated, no credentials.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accounts = "SELECT COUNT(*) FROM accounts WHERE case_id = $1";
    assert_eq!(count(&server, accounts, &case_id).await, 0);
    assert!(!server.mail_dir().join(format!("{case_id}-3.eml")).exists());

    server.restart_with(&[]).await;
    let username = server.mail_line(&case_id, 3, "Username: ").await;
    let temporary = server.mail_line(&case_id, 3, "Temporary password: ").await;
    let (status, session) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(count(&server, accounts, &case_id).await, 1);
}

/// The report: one address that cannot be delivered was retried first in every
/// round, forever, and every later message waited behind it.
async fn a_refused_message_is_parked_while_the_others_go_out_and_an_operator_retries_it(
    db: TestDb,
) {
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

    // First a message composed before today's rule, to an address no builder can write
    // (before, its build error ended every round: nothing behind it ever went out); then an
    // address the relay refuses (550); then ten it takes.
    let legacy = "00000000-0000-0000-0000-00000000dead-1";
    on_db!(server.db(), |pool| sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body) VALUES ($1, $2, 's', 'b')"
    )
    .bind(legacy)
    .bind("\"a,b\"@[192.0.2.1]")
    .execute(pool)
    .await
    .map(drop))
    .unwrap();
    let gone = invite(&server, &officer, "10000000", "gone@example.ca").await;
    let mut others = Vec::new();
    for n in 1..=10 {
        let email = format!("person{n}@example.ca");
        others.push((
            invite(&server, &officer, &format!("{:08}", 10_000_000 + n), &email).await,
            email,
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.accepted.lock().unwrap().len() < 10 {
        assert!(Instant::now() < deadline, "the ten were held up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut delivered: Vec<String> = shared
        .accepted
        .lock()
        .unwrap()
        .iter()
        .flat_map(|m| m.to.clone())
        .collect();
    delivered.sort();
    let mut expected: Vec<String> = others.iter().map(|(_, e)| e.clone()).collect();
    expected.sort();
    assert_eq!(delivered, expected);

    // Both are parked, refused for good, with their reasons; the instance says so.
    let first = parked(&server).await;
    assert_eq!(first.len(), 2, "{first:?}");
    let by_item = |item: &str| first.iter().find(|p| p["item"] == item).cloned().unwrap();
    let refused = by_item(&format!("{gone}-1"));
    assert_eq!(refused["consumer"], "mail_delivery");
    assert_eq!(refused["refused"], true);
    assert!(
        refused["error"].as_str().unwrap().contains("550"),
        "{refused}"
    );
    let unbuildable = by_item(legacy);
    assert_eq!(unbuildable["refused"], true);
    assert!(
        unbuildable["error"]
            .as_str()
            .unwrap()
            .contains("recipient address"),
        "{unbuildable}"
    );
    let (_, ready) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["consumers"]["mail_delivery"]["parked"], 2, "{ready}");

    // The mailbox is mended; an operator retries: the message goes out, and the one no
    // builder can write is refused again, for good.
    shared.no_such_mailbox.lock().unwrap().clear();
    let said = server
        .cli(&["consumers", "retry", "--consumer", "mail_delivery"])
        .await;
    assert!(said.starts_with("2 parked item(s)"), "{said}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let to: Vec<String> = shared
            .accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| m.to.clone())
            .collect();
        if to.contains(&"gone@example.ca".to_owned()) {
            break;
        }
        assert!(Instant::now() < deadline, "never re-delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let left = parked(&server).await;
        if left.len() == 1 && left[0]["attempts"] == 2 {
            break left;
        }
        assert!(Instant::now() < deadline, "{left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(left[0]["item"], legacy);
    assert_eq!(left[0]["refused"], true);
    assert!(
        left[0]["error"]
            .as_str()
            .unwrap()
            .contains("recipient address"),
        "{left:?}"
    );
    let status = server.cli(&["consumers", "status", "--json"]).await;
    let delivery: Value = status
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["consumer"] == "mail_delivery")
        .unwrap();
    assert_eq!(
        (delivery["parked"].as_i64(), delivery["behind"].as_i64()),
        (Some(1), Some(1))
    );
}

/// `prconfirm consumers parked --json`, parsed.
async fn parked(server: &TestServer) -> Vec<Value> {
    server
        .cli(&["consumers", "parked", "--json"])
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Addresses valid in RFC 5322 that not every builder or relay takes are refused when given
/// (422 naming the field), not found out when the mail is due.
async fn an_address_the_builder_refuses_is_refused_at_the_door(server: TestServer) {
    let officer = server.officer("officer.a").await;
    for email in [
        "\"a,b\"@example.ca",
        "ana@[192.0.2.1]",
        "ana(note)@example.ca",
        "ana@localhost",
    ] {
        let (status, problem) = server
            .call(
                Method::POST,
                "/v1/cases",
                Some(&officer),
                Some(invite_body("12345678", "Ana", email)),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains("email"),
            "{email}: {problem}"
        );
    }
    assert_eq!(server.count_events().await, 0, "nothing recorded");
}

async fn blob_files(server: &TestServer) -> usize {
    let root = server.mail_dir().parent().unwrap().join("blobs");
    walk(&root)
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    1
                }
            })
            .sum()
    })
}

async fn a_photo_the_case_cannot_take_is_refused_before_it_is_stored(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (applicant, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/withdrawal"),
            Some(&officer),
            Some(json!({"reason": "asked to withdraw"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let before = blob_files(&server).await;
    let photo = crate::png(800, 1100, 250);
    let (status, problem) = server.upload(&applicant, &photo, "image/png").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition")),
        "{problem}"
    );
    assert_eq!(blob_files(&server).await, before, "nothing stored");
}
