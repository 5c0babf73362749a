//! The auditors' routes, black-box on both backends: a case's events with their hashes, the
//! case as it stood at a past time or version (compared with what an officer really saw then),
//! the feed and its actor filter, the record of every auditor's read (outside the case's
//! stream), verification before and after tampering, and refusals.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use prconfirm_commands::audit::chain::{event_hash, ChainHash, EventFields};
use prconfirm_migrations::Database;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::TestServer;
use crate::{address_body, onboard, png};

on_both_backends!(
    an_auditor_reads_a_case_with_hashes_that_recompute,
    the_state_as_of_a_midpoint_is_the_state_the_officer_saw_then,
    the_feed_pages_by_cursor_and_filters_by_actor_and_time,
    every_auditor_read_is_recorded_outside_the_case_stream,
    a_read_that_cannot_be_recorded_is_refused,
    other_roles_and_anonymous_callers_are_refused_the_audit_routes,
    bad_audit_parameters_are_refused_with_422,
    verification_passes_an_untouched_log_and_names_a_tampered_event,
);

/// A case walked from invitation to the eCoPR: events 1 to 4 onboarding, 5 presence, 6
/// address, 7 photo, 8 photo accepted, 9 and 10 the grant. Returns the officer's token, the
/// case id, the officer's view after event 6 and a time between events 6 and 7.
struct Walked {
    officer: String,
    case_id: String,
    midpoint_view: Value,
    midpoint: DateTime<Utc>,
}

async fn walk_a_case(server: &TestServer) -> Walked {
    let officer = server.officer("officer.a").await;
    let (applicant, case_id) = onboard(server, &officer, "12345678", "Ana").await;
    let put = |path: &'static str, body: Value| {
        server.call(Method::PUT, path, Some(&applicant), Some(body))
    };
    assert_eq!(
        put("/v1/my/case/presence", json!({"in_canada": true}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        put("/v1/my/case/address", address_body()).await.0,
        StatusCode::OK
    );
    let (status, midpoint_view) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{case_id}"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(midpoint_view["version"], 6, "{midpoint_view}");
    // After event 6 was answered, before event 7 is asked for.
    let midpoint = Utc::now();
    let (status, _) = server
        .upload(&applicant, &png(900, 1260, 235), "image/png")
        .await;
    assert_eq!(status, StatusCode::OK);
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
    assert_eq!(
        (status, granted["version"].as_u64()),
        (StatusCode::OK, Some(10))
    );
    Walked {
        officer,
        case_id,
        midpoint_view,
        midpoint,
    }
}

async fn get(server: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    server.call(Method::GET, path, Some(token), None).await
}

/// Pages through `/v1/audit/events` (with `filter`, e.g. `&actor=x`) from the start, `limit`
/// at a time, until it holds `expected` events, waiting (bounded) for the feed to settle on
/// PostgreSQL, where write transactions elsewhere in the cluster hold it back.
async fn feed(
    server: &TestServer,
    token: &str,
    filter: &str,
    limit: u32,
    expected: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events: Vec<Value> = Vec::new();
    let mut cursor = "0.0".to_owned();
    loop {
        let path = format!("/v1/audit/events?after={cursor}&limit={limit}{filter}");
        let (status, page) = get(server, token, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = page["events"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        events.extend(got.iter().cloned());
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        if let Some(last) = got.last() {
            assert_eq!(last["cursor"], next.as_str());
        } else {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
        }
        cursor = next;
        if events.len() >= expected {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "the feed{filter} gave {} of {expected} events",
            events.len()
        );
        if got.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn sequences(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn an_auditor_reads_a_case_with_hashes_that_recompute(server: TestServer) {
    let walked = walk_a_case(&server).await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let (status, answer) = get(
        &server,
        &auditor,
        &format!("/v1/audit/cases/{}/events", walked.case_id),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["case_id"], walked.case_id.as_str());
    assert_eq!(answer["version"], 10);
    let events = answer["events"].as_array().unwrap();
    assert_eq!(sequences(events), (1..=10).collect::<Vec<_>>());
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "Invited");
    assert_eq!(&types[8..], ["PermanentResidenceGranted", "EcoprIssued"]);
    // Hashes and links as top-level fields, metadata as the hash covers it: recomputing
    // every hash from the answer alone gives the stored ones, linked one to the next.
    let mut prev = ChainHash::ZERO;
    let mut last_position = 0;
    for e in events {
        assert!(e["position"].as_i64().unwrap() > last_position);
        last_position = e["position"].as_i64().unwrap();
        assert!(e["metadata"].get("hash").is_none() && e["metadata"].get("prev_hash").is_none());
        assert!(e["metadata"]["actor_id"].is_string());
        assert!(e["metadata"]["correlation_id"].is_string());
        assert_eq!(e["prev_hash"], prev.to_hex().as_str());
        let fields = EventFields {
            aggregate_type: e["aggregate_type"].as_str().unwrap(),
            aggregate_id: e["case_id"].as_str().unwrap(),
            sequence: e["sequence"].as_i64().unwrap(),
            event_type: e["type"].as_str().unwrap(),
            event_version: e["event_version"].as_str().unwrap(),
            payload: &e["payload"],
            metadata: &e["metadata"],
        };
        let hash = event_hash(&prev, &fields).unwrap();
        assert_eq!(e["hash"], hash.to_hex().as_str(), "event {}", e["sequence"]);
        prev = hash;
    }
    assert_eq!(events[7]["metadata"]["actor_id"], "officer.a");
    assert_eq!(events[7]["type"], "PhotoAccepted");
    // The person's fields are sealed as stored (what the hash covers) and opened beside it;
    // an event without personal fields has no opened payload.
    let invited = &events[0];
    let stored = invited["payload"]["Invited"]["file"]["given_name"]
        .as_str()
        .unwrap();
    assert!(stored.starts_with("pd1:"), "{invited}");
    assert!(
        !invited["payload"].to_string().contains("12345678"),
        "{invited}"
    );
    let opened = &invited["payload_opened"]["Invited"]["file"];
    assert_eq!(opened["given_name"], "Ana", "{invited}");
    assert_eq!(opened["uci"], "12345678", "{invited}");
    assert_eq!(
        opened["language"],
        invited["payload"]["Invited"]["file"]["language"]
    );
    assert!(events[7].get("payload_opened").is_none(), "{}", events[7]);

    let (status, problem) = get(&server, &auditor, "/v1/audit/cases/no-such-case/events").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

async fn the_state_as_of_a_midpoint_is_the_state_the_officer_saw_then(server: TestServer) {
    let walked = walk_a_case(&server).await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let path = format!("/v1/audit/cases/{}/state", walked.case_id);
    let then = &walked.midpoint_view;

    let (status, as_of) = get(
        &server,
        &auditor,
        &format!("{path}?as_of={}", rfc3339(walked.midpoint)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{as_of}");
    assert_eq!(as_of["case_id"], then["case_id"]);
    assert_eq!(as_of["version"], then["version"]);
    assert_eq!(as_of["stage"], then["stage"]);
    assert_eq!(as_of["case"], then["case"], "the whole case, as it was");
    let last: DateTime<Utc> = as_of["last_event_at"].as_str().unwrap().parse().unwrap();
    assert!(last <= walked.midpoint);

    let (status, by_version) = get(&server, &auditor, &format!("{path}?version=6")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_version, as_of, "version=6 is the same state");

    // It is the past, not the present: the case went on to the eCoPR.
    let (_, now) = get(
        &server,
        &walked.officer,
        &format!("/v1/cases/{}", walked.case_id),
    )
    .await;
    assert_eq!(now["version"], 10);
    assert_ne!(now["case"], as_of["case"]);
    let (_, latest) = get(&server, &auditor, &format!("{path}?version=10")).await;
    assert_eq!(
        (&latest["case"], &latest["stage"]),
        (&now["case"], &now["stage"])
    );
    let (_, later) = get(
        &server,
        &auditor,
        &format!("{path}?as_of=2999-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(later["case"], now["case"]);

    // Before the invitation the case did not exist yet.
    for query in ["as_of=2000-01-01T00:00:00Z", "version=0"] {
        let (status, before) = get(&server, &auditor, &format!("{path}?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{before}");
        assert_eq!(
            (before["version"].as_u64(), before["stage"].as_str()),
            (Some(0), Some("new")),
            "{query}"
        );
        assert_eq!(before["last_event_at"], Value::Null);
    }
    let (status, problem) = get(&server, &auditor, &format!("{path}?version=11")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("version_not_reached")
        )
    );
    let (status, _) = get(
        &server,
        &auditor,
        "/v1/audit/cases/no-such-case/state?version=1",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_feed_pages_by_cursor_and_filters_by_actor_and_time(server: TestServer) {
    let walked = walk_a_case(&server).await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let (_, second) = onboard(&server, &walked.officer, "87654321", "Bo").await;

    // Pages of 3 hold the 14 events once each, in feed order.
    let events = feed(&server, &auditor, "", 3, 14).await;
    assert_eq!(events.len(), 14);
    let cursors: Vec<(u64, i64)> = events
        .iter()
        .map(|e| {
            let (tx, position) = e["cursor"].as_str().unwrap().split_once('.').unwrap();
            (tx.parse().unwrap(), position.parse().unwrap())
        })
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    let of = |case: &str| -> Vec<u64> {
        let mine: Vec<Value> = events
            .iter()
            .filter(|e| e["case_id"] == case)
            .cloned()
            .collect();
        sequences(&mine)
    };
    assert_eq!(of(&walked.case_id), (1..=10).collect::<Vec<_>>());
    assert_eq!(of(&second), [1, 2, 3, 4]);
    // A page from the end is empty and keeps the cursor.
    let last = events[13]["cursor"].as_str().unwrap();
    let (_, page) = get(&server, &auditor, &format!("/v1/audit/events?after={last}")).await;
    assert_eq!(page, json!({"events": [], "next_cursor": last}));

    // Everything officer.a did: two invitations, the photo accepted, the grant (two events).
    let officer = feed(&server, &auditor, "&actor=officer.a", 100, 5).await;
    let done: Vec<(String, u64)> = officer
        .iter()
        .map(|e| {
            assert_eq!(e["metadata"]["actor_id"], "officer.a");
            (
                e["case_id"].as_str().unwrap().to_owned(),
                e["sequence"].as_u64().unwrap(),
            )
        })
        .collect();
    let (a, b) = (walked.case_id.clone(), second.clone());
    assert_eq!(
        done,
        [
            (a.clone(), 1),
            (a.clone(), 8),
            (a.clone(), 9),
            (a.clone(), 10),
            (b, 1)
        ]
    );
    // ... between two times: [from, to).
    let midpoint = rfc3339(walked.midpoint);
    let first_grant_time = officer[2]["metadata"]["occurred_at"].as_str().unwrap();
    let filter = format!("&actor=officer.a&from={midpoint}&to={first_grant_time}");
    let window = feed(&server, &auditor, &filter, 100, 1).await;
    assert_eq!(sequences(&window), [8]);
    let filter = format!("&actor=officer.a&to={midpoint}");
    assert_eq!(
        sequences(&feed(&server, &auditor, &filter, 100, 1).await),
        [1]
    );
    // An actor who did nothing.
    let (status, page) = get(&server, &auditor, "/v1/audit/events?actor=nobody").await;
    assert_eq!(
        (status, page["events"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
}

async fn every_auditor_read_is_recorded_outside_the_case_stream(server: TestServer) {
    let walked = walk_a_case(&server).await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let events_before = server.count_events().await;
    let response = server
        .client
        .get(server.url(&format!("/v1/audit/cases/{}/events", walked.case_id)))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let state_path = format!(
        "/v1/audit/cases/{}/state?as_of={}",
        walked.case_id,
        rfc3339(walked.midpoint)
    );
    assert_eq!(get(&server, &auditor, &state_path).await.0, StatusCode::OK);
    assert_eq!(
        get(
            &server,
            &auditor,
            "/v1/audit/events?actor=officer.a&limit=5"
        )
        .await
        .0,
        StatusCode::OK
    );

    // The reads are on record, in order, with who, what, which query and which request.
    let deadline = Instant::now() + Duration::from_secs(20);
    let reads = loop {
        let (status, page) = get(&server, &auditor, "/v1/audit/reads?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let reads = page["reads"].as_array().unwrap().clone();
        if reads.len() >= 3 {
            break reads;
        }
        assert!(Instant::now() < deadline, "reads not on record: {page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first = &reads[0];
    assert_eq!(first["actor_id"], "auditor.a");
    assert_eq!(first["actor_role"], "auditor");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["route"], "/v1/audit/cases/{id}/events");
    assert_eq!(first["case_id"], walked.case_id.as_str());
    assert_eq!(first["correlation_id"], request_id.as_str());
    assert!(first["read_at"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .is_ok());
    assert_eq!(reads[1]["route"], "/v1/audit/cases/{id}/state");
    assert_eq!(
        reads[1]["query"],
        format!("as_of={}", rfc3339(walked.midpoint)).as_str()
    );
    assert_eq!(reads[2]["route"], "/v1/audit/events");
    assert_eq!(reads[2]["case_id"], Value::Null);
    assert_eq!(reads[2]["query"], "actor=officer.a&limit=5");
    // Reading the reads is a read too: it appears on the next page.
    let after = reads.last().unwrap()["cursor"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = get(&server, &auditor, &format!("/v1/audit/reads?after={after}")).await;
        if let Some(read) = page["reads"].as_array().unwrap().first() {
            assert_eq!(read["route"], "/v1/audit/reads");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the read of the reads is not on record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Nothing entered the event log: the case is at the version it was, no event names the
    // auditor.
    assert_eq!(server.count_events().await, events_before);
    let (_, case) = get(
        &server,
        &walked.officer,
        &format!("/v1/cases/{}", walked.case_id),
    )
    .await;
    assert_eq!(case["version"], 10);
    let (_, by_auditor) = get(&server, &auditor, "/v1/audit/events?actor=auditor.a").await;
    assert_eq!(by_auditor["events"], json!([]));
}

/// Makes every insert into audit_reads fail, as the database owner could; `false` undoes it.
async fn refuse_read_records(db: &Database, refuse: bool) {
    match db {
        Database::Postgres(pool) => {
            let statements: &[&str] = if refuse {
                &[
                    "CREATE FUNCTION test_refuse_reads() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'no more reads on record'; END $$",
                    "CREATE TRIGGER test_refuse_reads BEFORE INSERT ON audit_reads
                     FOR EACH ROW EXECUTE FUNCTION test_refuse_reads()",
                ]
            } else {
                &[
                    "DROP TRIGGER test_refuse_reads ON audit_reads",
                    "DROP FUNCTION test_refuse_reads()",
                ]
            };
            for sql in statements {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
        Database::Sqlite(pool) => {
            let sql = if refuse {
                "CREATE TRIGGER test_refuse_reads BEFORE INSERT ON audit_reads
                 BEGIN SELECT RAISE(ABORT, 'no more reads on record'); END"
            } else {
                "DROP TRIGGER test_refuse_reads"
            };
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    }
}

async fn a_read_that_cannot_be_recorded_is_refused(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (_, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let path = format!("/v1/audit/cases/{case_id}/events");
    refuse_read_records(server.db(), true).await;
    for (method, route) in [
        (Method::GET, path.clone()),
        (
            Method::GET,
            format!("/v1/audit/cases/{case_id}/state?version=1"),
        ),
        (Method::GET, "/v1/audit/events".to_owned()),
        (Method::GET, "/v1/audit/reads".to_owned()),
        (Method::POST, "/v1/audit/verification".to_owned()),
    ] {
        let (status, problem) = server
            .call(method.clone(), &route, Some(&auditor), None)
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
            "{method} {route}: {problem}"
        );
        assert!(problem.get("events").is_none() && problem.get("case").is_none());
    }
    refuse_read_records(server.db(), false).await;
    let (status, answer) = get(&server, &auditor, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["version"], 4);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = get(&server, &auditor, "/v1/audit/reads").await;
        let reads = page["reads"].as_array().unwrap();
        if !reads.is_empty() {
            assert_eq!(reads[0]["route"], "/v1/audit/cases/{id}/events");
            assert!(
                reads.iter().all(|r| r["query"] != "version=1"),
                "no refused read is on record: {page}"
            );
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn other_roles_and_anonymous_callers_are_refused_the_audit_routes(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let analyst = server.staff("analyst.a", "analyst").await;
    let (applicant, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    let routes = [
        (Method::GET, format!("/v1/audit/cases/{case_id}/events")),
        (
            Method::GET,
            format!("/v1/audit/cases/{case_id}/state?version=1"),
        ),
        (Method::GET, "/v1/audit/events".to_owned()),
        (Method::GET, "/v1/audit/events?actor=officer.a".to_owned()),
        (Method::GET, "/v1/audit/reads".to_owned()),
        (Method::POST, "/v1/audit/verification".to_owned()),
    ];
    for (method, path) in &routes {
        for (who, token) in [
            ("officer", &officer),
            ("applicant", &applicant),
            ("analyst", &analyst),
        ] {
            let (status, problem) = server.call(method.clone(), path, Some(token), None).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "{who} {method} {path}"
            );
        }
        let (status, problem) = server.call(method.clone(), path, None, None).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{method} {path}"
        );
    }
    // Refused calls are not reads: nothing is on record but this look at the record.
    let auditor = server.staff("auditor.a", "auditor").await;
    let (_, page) = get(&server, &auditor, "/v1/audit/reads").await;
    let reads = page["reads"].as_array().unwrap();
    assert!(reads.len() <= 1, "{page}");
    assert!(
        reads.iter().all(|r| r["route"] == "/v1/audit/reads"),
        "{page}"
    );
}

async fn bad_audit_parameters_are_refused_with_422(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (_, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let state = format!("/v1/audit/cases/{case_id}/state");
    for (path, code) in [
        (state.clone(), "as_of_or_version"),
        (
            format!("{state}?as_of=2026-06-01T14:00:00Z&version=2"),
            "as_of_or_version",
        ),
        (format!("{state}?as_of=yesterday"), "invalid_query"),
        (format!("{state}?version=-1"), "invalid_query"),
        (format!("{state}?version=two"), "invalid_query"),
        (format!("{state}?at=2026-06-01T14:00:00Z"), "invalid_query"),
        ("/v1/audit/events?after=12".to_owned(), "bad_cursor"),
        ("/v1/audit/events?after=0.-1".to_owned(), "bad_cursor"),
        ("/v1/audit/events?limit=0".to_owned(), "invalid_value"),
        ("/v1/audit/events?limit=1001".to_owned(), "invalid_value"),
        ("/v1/audit/events?limit=many".to_owned(), "invalid_query"),
        (
            "/v1/audit/events?actor=Not%20An%20Id!".to_owned(),
            "invalid_value",
        ),
        (
            "/v1/audit/events?from=2026-13-01T00:00:00Z".to_owned(),
            "invalid_query",
        ),
        (
            "/v1/audit/events?from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z".to_owned(),
            "invalid_value",
        ),
        ("/v1/audit/events?cursor=0.0".to_owned(), "invalid_query"),
        ("/v1/audit/reads?after=x.y".to_owned(), "bad_cursor"),
        ("/v1/audit/reads?limit=100000".to_owned(), "invalid_value"),
    ] {
        let (status, problem) = get(&server, &auditor, &path).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{path}: {problem}"
        );
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // The limits themselves are fine.
    for path in ["/v1/audit/events?limit=1", "/v1/audit/events?limit=1000"] {
        assert_eq!(
            get(&server, &auditor, path).await.0,
            StatusCode::OK,
            "{path}"
        );
    }
}

/// Changes one byte of a payload behind the application's back, as the database owner.
async fn change_a_payload_byte(db: &Database, case_id: &str, sequence: i64) {
    // The dates' century (the personal fields are sealed: a changed byte of theirs would
    // fail to open before the chain's check).
    const BYTE: &str = "'\"20', '\"21'";
    match db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("ALTER TABLE events DISABLE TRIGGER USER")
                .execute(&mut *tx)
                .await
                .unwrap();
            let change = format!(
                "UPDATE events SET payload = replace(payload::text, {BYTE})::jsonb
                  WHERE aggregate_id = $1 AND sequence = $2"
            );
            let done = sqlx::query(&change)
                .bind(case_id)
                .bind(sequence)
                .execute(&mut *tx)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
            sqlx::query("ALTER TABLE events ENABLE TRIGGER USER")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        Database::Sqlite(pool) => {
            sqlx::query("DROP TRIGGER events_no_update")
                .execute(pool)
                .await
                .unwrap();
            let change = format!(
                "UPDATE events SET payload = replace(payload, {BYTE})
                  WHERE aggregate_id = ?1 AND sequence = ?2"
            );
            let done = sqlx::query(&change)
                .bind(case_id)
                .bind(sequence)
                .execute(pool)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
        }
    }
}

async fn verification_passes_an_untouched_log_and_names_a_tampered_event(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (_, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    let (_, other) = onboard(&server, &officer, "87654321", "Bo").await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let verify = || server.call(Method::POST, "/v1/audit/verification", Some(&auditor), None);

    let (status, report) = verify().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["events_checked"], 8);
    assert_eq!(report["cases_checked"], 2);
    assert_eq!(report["first_bad"], Value::Null);

    // The invitation's dates changed in the first case.
    change_a_payload_byte(server.db(), &case_id, 1).await;
    let (_, events) = get(
        &server,
        &auditor,
        &format!("/v1/audit/cases/{case_id}/events"),
    )
    .await;
    let position = events["events"][0]["position"].clone();
    let (status, report) = verify().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["verified"], false, "{report}");
    assert_eq!(report["events_checked"], 8);
    let bad = &report["first_bad"];
    assert_eq!(bad["case"], case_id.as_str(), "{report}");
    assert_eq!(bad["sequence"], 1);
    assert_eq!(bad["position"], position);
    assert_eq!(bad["reason"]["code"], "hash_mismatch");
    assert_eq!(
        report["problems"], 1,
        "the other case is untouched: {other}"
    );
}
