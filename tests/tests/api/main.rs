//! The HTTP API, black-box: the real server (router, mail pipeline) on a free port, over a
//! real PostgreSQL database and a real SQLite file, driven with an HTTP client. Credentials
//! are read from the delivered e-mails, as an applicant would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prconfirm_tests::server;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::TestServer;

/// Runs `async fn NAME(server: TestServer)` on PostgreSQL and on SQLite.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
            async fn postgres(pool: sqlx::PgPool) {
                let server = $crate::server::TestServer::start(
                    prconfirm_migrations::Database::Postgres(pool)).await;
                super::$name(server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let server = $crate::server::TestServer::start_sqlite().await;
                super::$name(server).await;
            }
        }
    )+};
}

/// Runs `async fn NAME(db: TestDb)` on PostgreSQL and on SQLite, for tests that start the
/// server their own way (settings of their own, or the real binary).
macro_rules! on_both_backends_db {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
            async fn postgres(pool: sqlx::PgPool) {
                super::$name($crate::server::TestDb::Postgres(pool)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::server::TestDb::Sqlite).await;
            }
        }
    )+};
}

mod audit;
mod batch;
mod cli;
mod ecopr;
mod edge;
mod files;
mod guardians;
mod guessing;
mod instances;
mod invitations;
mod messages;
mod notes;
mod officers;
mod operations;
mod passwords;
mod photos;
mod privacy;
mod reactions;
mod second_factor;
mod smtp;
mod text;

on_both_backends!(
    a_family_of_two_walks_from_invitation_into_the_portal,
    a_temporary_password_session_can_only_change_the_password,
    wrong_credentials_get_one_answer_whoever_asks,
    each_role_reaches_only_its_routes,
    bad_bodies_get_clear_errors_and_change_nothing,
    steps_out_of_order_and_stale_versions_are_refused,
    every_response_carries_the_security_headers,
    photos_are_judged_by_their_bytes_and_the_rules,
    the_upload_answer_carries_the_pre_check_and_a_replay_repeats_it,
    an_idempotency_key_replays_the_first_answer_even_after_a_restart,
    metrics_count_requests_by_route_and_commands_by_outcome,
    every_documented_route_answers_each_role_as_the_access_table_says,
    officers_analysts_and_applicants_read_the_views_they_wrote,
);

/// GET with a bearer token, answering status, headers and body.
async fn get_full(
    server: &TestServer,
    path: &str,
    token: &str,
    accept: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn officers_analysts_and_applicants_read_the_views_they_wrote(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let analyst = server.staff("analyst.a", "analyst").await;
    let mut cases = Vec::new();
    for (uci, given) in [
        ("21110001", "Zoé"),
        ("21110002", "Luc"),
        ("21110003", "Mia"),
    ] {
        cases.push(onboard(&server, &officer, uci, given).await);
    }
    // Each uploads a photo after presence and address: three photo reviews, in order.
    let mut last = 0;
    for (token, _) in &cases {
        for (path, body) in [
            ("/v1/my/case/presence", json!({"in_canada": true})),
            (
                "/v1/my/case/address",
                json!({"residential": {"line1": "1 Main St", "city": "Ottawa",
                       "province": "ON", "postal_code": "K1A 0B1"}}),
            ),
        ] {
            let (status, v) = server
                .call(Method::PUT, path, Some(token), Some(body))
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
        }
        let (status, v) = server
            .upload(token, &png(1000, 1400, 240), "image/png")
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        last = v["version"].as_u64().unwrap();
    }
    let last_case = &cases[2].1;
    // Read your writes: the queue waits for the last upload to reach it.
    let (status, headers, body) = get_full(
        &server,
        &format!("/v1/queue?task=photo_review&limit=2&case_id={last_case}&min_version={last}"),
        &officer,
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Vec<Value> = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = page
        .iter()
        .map(|i| i["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![cases[0].1.as_str(), cases[1].1.as_str()],
        "oldest due first"
    );
    assert!(page
        .iter()
        .all(|i| i["task"] == "photo_review" && i["claimed_by"].is_null()));
    let cursor = headers["next-cursor"].to_str().unwrap().to_owned();
    assert!(headers["link"].to_str().unwrap().contains("rel=\"next\""));
    let (status, _, body) = get_full(
        &server,
        &format!("/v1/queue?task=photo_review&limit=2&cursor={cursor}"),
        &officer,
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["case_id"], *last_case);

    // A claim shows in the queue, and filters by holder.
    let (status, claimed) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{}/claim", cases[0].1),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let (status, _, body) = get_full(
        &server,
        &format!(
            "/v1/queue?claimed_by=officer.a&case_id={}&min_version={}",
            cases[0].1, claimed["version"]
        ),
        &officer,
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(page.len(), 1, "{body}");
    assert_eq!(page[0]["claimed_by"], "officer.a");

    // Bad queries are 422 with a code, never a 500.
    for bad in [
        "/v1/queue?task=nap",
        "/v1/queue?limit=0",
        "/v1/queue?limit=abc",
        "/v1/queue?cursor=garbage",
        "/v1/queue?min_version=3",
        "/v1/queue?colour=red",
        "/v1/cases?limit=100000",
    ] {
        let (status, problem) = server.call(Method::GET, bad, Some(&officer), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert!(problem["code"].is_string(), "{bad}: {problem}");
    }

    // Officers find a person by UCI, a family by application number.
    let (status, found) = server
        .call(Method::GET, "/v1/cases?uci=21110002", Some(&officer), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["case_id"], cases[1].1);
    assert_eq!(found[0]["given_name"], "Luc");
    // As printed on letters, the same person: the view matches the blind index of the
    // normalised UCI, and keeps no plain UCI or application number to search by.
    let (status, again) = server
        .call(Method::GET, "/v1/cases?uci=2111-0002", Some(&officer), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, found);
    let plain = "SELECT count(*) FROM case_status WHERE uci = '21110002' \
                 OR application_number LIKE 'E%' OR length(uci) <> 64";
    let plain: i64 = prconfirm_migrations::on_db!(server.db(), |pool| {
        sqlx::query_scalar(plain).fetch_one(pool).await
    })
    .unwrap();
    assert_eq!(plain, 0, "plain search values in case_status");

    // A version the case's log has not reached is refused at once (waiting would not bring
    // it), on the applicant's view and the queue alike, as is a case that does not exist.
    let started = std::time::Instant::now();
    for (path, token) in [
        ("/v1/my/case?min_version=999".to_owned(), &cases[0].0),
        (
            format!("/v1/queue?case_id={}&min_version=999", cases[0].1),
            &officer,
        ),
        ("/v1/queue?case_id=nope&min_version=1".to_owned(), &officer),
    ] {
        let (status, _, body) = get_full(&server, &path, token, "application/json").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(body.contains("version_not_reached"), "{path}: {body}");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "no waiting");

    // Analysts: the funnel as JSON and CSV, and no personal data anywhere.
    let (status, _, body) =
        get_full(&server, "/v1/stats/funnel", &analyst, "application/json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let funnel: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(
        funnel,
        vec![json!({"stage": "confirming", "cases": 3})],
        "three cases, each counted once"
    );
    let (status, headers, csv) = get_full(&server, "/v1/stats/funnel", &analyst, "text/csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(csv, "stage,cases\nconfirming,3\n");
    for path in [
        "/v1/stats/durations",
        "/v1/stats/photo-returns",
        "/v1/stats/daily",
        "/v1/stats/officers",
    ] {
        let (status, _, body) = get_full(&server, path, &analyst, "application/json").await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        for personal in ["Zoé", "Luc", "Mia", "21110001", "example.ca"] {
            assert!(!body.contains(personal), "{path} shows {personal}");
        }
        let (status, _) = server.call(Method::GET, path, Some(&officer), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} is for analysts");
    }
    // The analysts' figures are a projection of their own, which may trail the queue's by a
    // batch: they reach the three uploads (bounded wait).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, body) = get_full(
            &server,
            "/v1/stats/photo-returns",
            &analyst,
            "application/json",
        )
        .await;
        let returns: Value = serde_json::from_str(&body).unwrap();
        if returns["uploaded"] == 3 {
            break;
        }
        assert!(returns["uploaded"].as_u64() < Some(3), "{returns}");
        assert!(std::time::Instant::now() < deadline, "{returns}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_documented_route_answers_each_role_as_the_access_table_says(server: TestServer) {
    use prconfirm_api::http::access::Access;
    let access = prconfirm_api::routes::access();
    use prconfirm_commands::ActorRole;
    let officer = server.officer("officer.a").await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let analyst = server.staff("analyst.a", "analyst").await;
    let (applicant, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    let (_, spec) = server.call(Method::GET, "/openapi.json", None, None).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut routes: Vec<(Method, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase().parse().unwrap(), path.clone()));
        }
    }
    // The document and the table name the same routes.
    let table: std::collections::HashSet<(String, String)> = access
        .rows()
        .iter()
        .map(|(m, p, _)| (m.to_string(), (*p).to_owned()))
        .collect();
    let documented: std::collections::HashSet<(String, String)> = routes
        .iter()
        .map(|(m, p)| (m.to_string(), p.clone()))
        .collect();
    assert_eq!(documented, table);
    // Signing out last, so that the other calls keep their sessions.
    routes.sort_by_key(|(m, p)| {
        (
            m == Method::DELETE && p == "/v1/sessions/current",
            p.clone(),
        )
    });
    let callers = [
        (None, None),
        (Some(ActorRole::Applicant), Some(applicant.as_str())),
        (Some(ActorRole::Officer), Some(officer.as_str())),
        (Some(ActorRole::Auditor), Some(auditor.as_str())),
        (Some(ActorRole::Analyst), Some(analyst.as_str())),
    ];
    for (method, template) in &routes {
        let path = template
            .replace("{id}", &case_id)
            .replace("{code}", "no-such-code");
        let rule = access.access(method, template).unwrap();
        for (role, token) in callers {
            let body = (*method != Method::GET).then(|| json!({}));
            let (status, answer) = server.call(method.clone(), &path, token, body).await;
            let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
            let allowed = match (rule, role) {
                (Access::Anyone, _) => true,
                (_, None) => false,
                (Access::SignedIn, Some(_)) => true,
                (Access::Roles(roles), Some(r)) => roles.contains(&r),
            };
            if path == "/v1/sessions" {
                // Signing in with an empty body is refused for its body, whoever asks.
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                continue;
            }
            assert_eq!(
                !denied, allowed,
                "{method} {template} as {role:?}: {status} {answer}"
            );
            if role.is_none() && !allowed {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {template}");
            }
        }
    }
}

async fn metrics_count_requests_by_route_and_commands_by_outcome(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let body = invite_body("12345678", "Ana", "ana@example.ca");
    let (status, _) = server
        .call(Method::POST, "/v1/cases", Some(&officer), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/cases/nope/approval",
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let has = |needle: &str| {
        text.lines()
            .any(|l| l.contains(needle) && !l.starts_with('#'))
    };
    assert!(
        has(r#"prconfirm_http_requests_total{method="POST",route="/v1/cases",status="201"}"#),
        "{text}"
    );
    assert!(
        has(r#"route="/v1/cases/{id}/approval",status="404""#),
        "{text}"
    );
    assert!(
        has(r#"prconfirm_commands_total{command="Invite",outcome="committed"}"#),
        "{text}"
    );
    assert!(
        has("prconfirm_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        !text.contains("ana@example.ca"),
        "no personal data in metrics"
    );
}

async fn an_idempotency_key_replays_the_first_answer_even_after_a_restart(mut server: TestServer) {
    let officer = server.officer("officer.a").await;
    let body = invite_body("12345678", "Ana", "ana@example.ca");
    let first = server
        .call_with_key(Method::POST, "/v1/cases", &officer, "invite-ana-1", &body)
        .await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert_eq!(first.2, None);

    // The server dies after answering (or before: the key and the events share one
    // transaction); a new one on the same database gives the same answer, no second case.
    // The session lives in the database, so the officer's token still holds.
    server.restart().await;
    let again = server
        .call_with_key(Method::POST, "/v1/cases", &officer, "invite-ana-1", &body)
        .await;
    assert_eq!((again.0, &again.1), (StatusCode::CREATED, &first.1));
    assert_eq!(again.2.as_deref(), Some("true"));
    assert_eq!(server.count_events().await, 1);

    // The same key with another body is refused.
    let other = invite_body("87654321", "Bo", "bo@example.ca");
    let reused = server
        .call_with_key(Method::POST, "/v1/cases", &officer, "invite-ana-1", &other)
        .await;
    assert_eq!(
        (reused.0, reused.1["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );

    // Many copies of one request at once: one effect, every success the same answer.
    let bo = invite_body("87654321", "Bo", "bo@example.ca");
    let answers = futures::future::join_all(
        (0..8).map(|_| server.call_with_key(Method::POST, "/v1/cases", &officer, "invite-bo", &bo)),
    )
    .await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .map(|a| a.1["case_id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    for a in &answers {
        assert!(
            matches!(a.0, StatusCode::CREATED | StatusCode::CONFLICT),
            "{a:?}"
        );
    }
    assert_eq!(server.count_events().await, 2);
}

/// A PNG of `width` x `height` in one grey.
fn png(width: u32, height: u32, grey: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([grey, grey, grey]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

async fn photos_are_judged_by_their_bytes_and_the_rules(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (applicant, _) = onboard(&server, &officer, "12345678", "Ana").await;
    let good = png(800, 1100, 250);
    for (body, content_type, expect, code) in [
        (
            b"not an image at all".to_vec(),
            "image/png",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            good.clone(),
            "application/octet-stream",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            png(700, 1000, 250),
            "image/png",
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_dimensions",
        ),
        (
            vec![0u8; 4 * 1024 * 1024 + 10],
            "image/jpeg",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ] {
        let (status, problem) = server.upload(&applicant, &body, content_type).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (expect, Some(code)),
            "{problem}"
        );
    }
    let (_, view) = server
        .call(
            Method::GET,
            "/v1/my/case?min_version=4",
            Some(&applicant),
            None,
        )
        .await;
    assert_eq!(
        view["photo"]["status"], "missing",
        "no refused upload reached the case"
    );
    // An officer cannot upload for the applicant; the applicant cannot read photos.
    let (status, _) = server.upload(&officer, &good, "image/png").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.upload(&applicant, &good, "image/png").await;
    assert_eq!(status, StatusCode::OK);
}

async fn the_upload_answer_carries_the_pre_check_and_a_replay_repeats_it(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (applicant, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    // One near-white grey: no features to see, and a face region clipped white.
    let blank = png(800, 1100, 250);
    let first = server
        .upload_with_key(&applicant, &blank, "image/png", "photo-1")
        .await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    let quality = &first.1["quality"];
    let flags = json!(["features_not_visible", "glare"]);
    assert_eq!(quality["flags"], flags, "{quality}");
    assert_eq!(
        (
            quality["format"].as_str(),
            quality["width"].as_u64(),
            quality["measurements"]["height"].as_u64(),
            quality["measurements"]["face_contrast"].as_u64(),
            quality["measurements"]["face_highlights_permille"].as_u64(),
        ),
        (Some("png"), Some(800), Some(1100), Some(0), Some(1000)),
        "{quality}"
    );
    // Flags are advice: the photo waits for an officer like any other.
    let (_, view) = server
        .call(
            Method::GET,
            &format!("/v1/my/case?min_version={}", first.1["version"]),
            Some(&applicant),
            None,
        )
        .await;
    assert_eq!(view["photo"]["status"], "in_review");

    // A retry gets the first answer again, rebuilt from the recorded event.
    let again = server
        .upload_with_key(&applicant, &blank, "image/png", "photo-1")
        .await;
    assert_eq!((again.0, &again.1), (StatusCode::OK, &first.1));
    assert_eq!(again.2.as_deref(), Some("true"));

    // The officer sees the flags with the photo under review.
    let (_, case) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{case_id}"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(
        case["case"]["stage"]["Confirming"]["photo"]["AwaitingReview"]["quality_flags"], flags,
        "{case}"
    );
}

fn invite_body(uci: &str, given: &str, email: &str) -> Value {
    json!({
        "application_number": "E001234567",
        "uci": uci,
        "given_name": given,
        "family_name": "Bélanger",
        "date_of_birth": "1990-04-05",
        "email": email,
        "language": "fr",
    })
}

fn address_body() -> Value {
    json!({"residential": {"line1": "55 Rue Saint-Jean", "city": "Québec",
                           "province": "QC", "postal_code": "g1r 1n4"}})
}

/// Invites one applicant and walks them to a changed password; returns their token and case.
/// Invites an applicant with `body` and accepts; answers the case, username and temporary
/// password, read from the delivered e-mails.
async fn invited_and_accepted(
    server: &TestServer,
    officer: &str,
    body: Value,
) -> (String, String, String) {
    let (status, invited) = server
        .call(Method::POST, "/v1/cases", Some(officer), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(invited["version"], 1);
    let case_id = invited["case_id"].as_str().unwrap().to_owned();

    let code = server.mail_line(&case_id, 1, "Invitation code: ").await;
    let (status, accepted) = server.accept(&code).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["case_id"], case_id);

    let username = server.mail_line(&case_id, 3, "Username: ").await;
    let temporary = server.mail_line(&case_id, 3, "Temporary password: ").await;
    (case_id, username, temporary)
}

async fn onboard(server: &TestServer, officer: &str, uci: &str, given: &str) -> (String, String) {
    let email = format!("{given}@example.ca").to_lowercase();
    let (case_id, username, temporary) =
        invited_and_accepted(server, officer, invite_body(uci, given, &email)).await;
    let (status, session) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(session["must_change_password"], true);
    let token = session["token"].as_str().unwrap().to_owned();

    let (status, _) = server
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(&token),
            Some(json!({"current_password": temporary, "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    (token, case_id)
}

async fn a_family_of_two_walks_from_invitation_into_the_portal(server: TestServer) {
    let officer = server.officer("officer.gagnon").await;
    let (parent, parent_case) = onboard(&server, &officer, "11112222", "Élise").await;
    let (child, child_case) = onboard(&server, &officer, "3333444455", "Noé").await;
    assert_ne!(parent_case, child_case);

    for (token, case_id) in [(&parent, &parent_case), (&child, &child_case)] {
        let (status, view) = server
            .call(Method::GET, "/v1/my/case?min_version=4", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["case_id"], *case_id, "the session decides the case");
        assert_eq!(view["stage"], "confirming");
        assert_eq!(view["next_step"], "declare_presence");
        assert_eq!(view["version"], 4);

        let (status, v) = server
            .call(
                Method::PUT,
                "/v1/my/case/presence",
                Some(token),
                Some(json!({"in_canada": true})),
            )
            .await;
        assert_eq!((status, v["version"].as_u64()), (StatusCode::OK, Some(5)));
        let (status, v) = server
            .call(
                Method::PUT,
                "/v1/my/case/address",
                Some(token),
                Some(address_body()),
            )
            .await;
        assert_eq!(
            (status, v["version"].as_u64()),
            (StatusCode::OK, Some(6)),
            "{v}"
        );
        let (_, view) = server
            .call(Method::GET, "/v1/my/case?min_version=6", Some(token), None)
            .await;
        assert_eq!(view["next_step"], "upload_photo");
    }

    // The child's photo is returned once, then accepted; the officer grants PR.
    let (status, up) = server
        .upload(&child, &png(900, 1260, 235), "image/png")
        .await;
    assert_eq!(status, StatusCode::OK, "{up}");
    assert_eq!(
        (up["version"].as_u64(), up["quality"]["width"].as_u64()),
        (Some(7), Some(900))
    );
    let review_path = format!("/v1/cases/{child_case}/photo-review");
    let review = |body: Value| server.call(Method::POST, &review_path, Some(&officer), Some(body));
    let (status, returned) = review(json!({"decision": "return", "reason": "too_dark"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, view) = server
        .call(
            Method::GET,
            &format!("/v1/my/case?min_version={}", returned["version"]),
            Some(&child),
            None,
        )
        .await;
    assert_eq!(view["photo"]["status"], "returned");
    assert_eq!(view["photo"]["return_reason"], "too_dark");
    let (status, _) = server
        .upload(&child, &png(1000, 1400, 240), "image/png")
        .await;
    assert_eq!(status, StatusCode::OK);
    let photo = server
        .client
        .get(server.url(&format!("/v1/cases/{child_case}/photo")))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap();
    assert_eq!(photo.headers()["content-type"], "image/png");
    let stored = image::load_from_memory(&photo.bytes().await.unwrap()).unwrap();
    assert_eq!((stored.width(), stored.height()), (1000, 1400));
    let (status, _) = review(json!({"decision": "accept"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, granted) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{child_case}/approval"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert_eq!(granted["version"], 12);
    assert!(granted["document_number"]
        .as_str()
        .is_some_and(|n| n.starts_with("PR")));
    // The view says the eCoPR is available only once its PDF exists: until then it says
    // pending, and the download answers 503 `document_pending`; once it says available, the
    // download gives the PDF.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, view) = server
            .call(
                Method::GET,
                "/v1/my/case?min_version=12",
                Some(&child),
                None,
            )
            .await;
        assert_eq!(view["stage"], "pr_granted", "{view}");
        let (status, _, _) = get_full(&server, "/v1/my/case/ecopr", &child, "*/*").await;
        if view["ecopr"]["available"] == true {
            assert_eq!(view["ecopr"]["status"], "ready", "{view}");
            assert_eq!(status, StatusCode::OK, "available, yet the download failed");
            break;
        }
        assert_eq!(view["ecopr"]["status"], "pending", "{view}");
        assert!(
            std::time::Instant::now() < deadline,
            "never available: {view}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The officer sees the whole case, with its version as ETag; the family shares a file.
    let (status, case) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{child_case}"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(case["version"], 12);
    assert_eq!(case["case"]["file"]["application_number"], "E001234567");
    assert_eq!(case["case"]["file"]["given_name"], "Noé");

    // The temporary password is gone from the outbox once the message is delivered; the
    // grant's "eCoPR ready" message (event 12) is on its way too, and then nothing is left.
    server.mail(&child_case, 12).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.outbox_bodies_left().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "bodies left in the outbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_temporary_password_session_can_only_change_the_password(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (_, invited) = server
        .call(
            Method::POST,
            "/v1/cases",
            Some(&officer),
            Some(invite_body("12345678", "Ana", "ana@example.ca")),
        )
        .await;
    let case_id = invited["case_id"].as_str().unwrap().to_owned();
    let code = server.mail_line(&case_id, 1, "Invitation code: ").await;
    server.accept(&code).await;
    let username = server.mail_line(&case_id, 3, "Username: ").await;
    let temporary = server.mail_line(&case_id, 3, "Temporary password: ").await;
    let (_, session) = server.sign_in(&username, &temporary).await;
    let token = session["token"].as_str().unwrap();

    for (method, path, body) in [
        (Method::GET, "/v1/my/case", None),
        (
            Method::PUT,
            "/v1/my/case/presence",
            Some(json!({"in_canada": true})),
        ),
    ] {
        let (status, problem) = server.call(method, path, Some(token), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(problem["code"], "password_change_required");
    }
    // A short new password is refused and the temporary one still works.
    let (status, problem) = server
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(token),
            Some(json!({"current_password": temporary, "new_password": "short"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password_policy"))
    );
    // Accepting again once the account exists is a step out of order.
    let (status, problem) = server.accept(&code).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    // Signing out ends the session.
    let (status, _) = server
        .call(Method::DELETE, "/v1/sessions/current", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = server
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(token),
            Some(json!({"current_password": temporary, "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
}

async fn wrong_credentials_get_one_answer_whoever_asks(server: TestServer) {
    server.officer("officer.a").await;
    let (s1, wrong) = server.sign_in("officer.a", "not the password at all").await;
    let (s2, unknown) = server
        .sign_in("nobody.here", "not the password at all")
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong["code"], "invalid_credentials");
    assert_eq!(wrong["detail"], unknown["detail"]);
    assert_eq!(wrong["title"], unknown["title"]);
    // After five failures for the account, the next try must wait (429 with Retry-After),
    // while the right password from the same place works again once the wait is over.
    for _ in 0..4 {
        server.sign_in("officer.a", "still the wrong one").await;
    }
    let (status, problem) = server.sign_in("officer.a", server::STAFF_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "too_many_attempts");
}

async fn each_role_reaches_only_its_routes(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let auditor = server.staff("auditor.a", "auditor").await;
    let analyst = server.staff("analyst.a", "analyst").await;
    let (applicant, _) = onboard(&server, &officer, "12345678", "Ana").await;
    let (_, other_case) = onboard(&server, &officer, "87654321", "Bo").await;
    let cases = [
        (
            Method::POST,
            "/v1/cases".to_owned(),
            Some(invite_body("11223344", "Cy", "cy@example.ca")),
        ),
        (Method::GET, format!("/v1/cases/{other_case}"), None),
        (Method::POST, format!("/v1/cases/{other_case}/claim"), None),
    ];
    for (method, path, body) in &cases {
        for (who, token) in [
            ("applicant", &applicant),
            ("auditor", &auditor),
            ("analyst", &analyst),
        ] {
            let (status, problem) = server
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who} {method} {path}: {problem}"
            );
        }
        let (status, problem) = server.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
        );
    }
    for token in [&officer, &auditor, &analyst] {
        let (status, _) = server
            .call(Method::GET, "/v1/my/case", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = server
        .call(Method::GET, "/v1/no/such/route", Some(&officer), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .call(Method::GET, "/v1/cases/no-such-case", Some(&officer), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn bad_bodies_get_clear_errors_and_change_nothing(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let good = invite_body("12345678", "Ana", "ana@example.ca");
    let mut unknown_field = good.clone();
    unknown_field["favourite_colour"] = json!("blue");
    let mut wrong_type = good.clone();
    wrong_type["uci"] = json!(12345678);
    let mut bad_uci = good.clone();
    bad_uci["uci"] = json!("123");
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("email");
    let mut future_birth = good.clone();
    future_birth["date_of_birth"] = json!("2999-01-01");
    for (body, expect) in [
        (unknown_field, StatusCode::UNPROCESSABLE_ENTITY),
        (wrong_type, StatusCode::UNPROCESSABLE_ENTITY),
        (bad_uci, StatusCode::UNPROCESSABLE_ENTITY),
        (missing, StatusCode::UNPROCESSABLE_ENTITY),
        (future_birth, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, problem) = server
            .call(
                Method::POST,
                "/v1/cases",
                Some(&officer),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, expect, "{body}: {problem}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(problem["correlation_id"].as_str().is_some());
    }
    let raw = |body: &'static str, content_type: &'static str| {
        server.raw(
            Method::POST,
            "/v1/cases",
            Some(&officer),
            body.as_bytes().to_vec(),
            content_type,
        )
    };
    assert_eq!(
        raw("{not json", "application/json").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        raw("{}", "text/plain").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let huge = Box::leak(format!("{{\"x\":\"{}\"}}", "a".repeat(200_000)).into_boxed_str());
    assert_eq!(
        raw(huge, "application/json").await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        server.count_events().await,
        0,
        "no refused request wrote an event"
    );
}

async fn steps_out_of_order_and_stale_versions_are_refused(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (applicant, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    // Approval before presence, address and photo.
    let (status, problem) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/approval"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    assert_eq!(problem["reason"], "not_ready_for_approval");
    // Photo review with no photo.
    let (status, problem) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/photo-review"),
            Some(&officer),
            Some(json!({"decision": "accept"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    // A return without a reason.
    let (status, problem) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/photo-review"),
            Some(&officer),
            Some(json!({"decision": "return"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("return_reason_required")
        )
    );
    // If-Match with a version the case has left (the officers' case view is read from the
    // log, so it is current).
    let (_, view) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{case_id}"),
            Some(&officer),
            None,
        )
        .await;
    let version = view["version"].as_u64().unwrap();
    let status = server
        .call_if_match(
            Method::PUT,
            "/v1/my/case/presence",
            &applicant,
            json!({"in_canada": true}),
            version - 1,
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let status = server
        .call_if_match(
            Method::PUT,
            "/v1/my/case/presence",
            &applicant,
            json!({"in_canada": true}),
            version,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Two officers: the second cannot claim a held case.
    let other = server.officer("officer.b").await;
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/claim"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/claim"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("claimed_by_another"))
    );
    // A withdrawn case accepts nothing more.
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/withdrawal"),
            Some(&officer),
            Some(json!({"reason": "asked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(
            Method::PUT,
            "/v1/my/case/presence",
            Some(&applicant),
            Some(json!({"in_canada": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn every_response_carries_the_security_headers(server: TestServer) {
    for path in ["/healthz", "/v1/my/case", "/nowhere"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        let h = response.headers();
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        assert!(h.contains_key("x-request-id"));
    }
    let response = server
        .client
        .get(server.url("/v1/my/case"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["correlation_id"], id);
    assert_eq!(body["status"], 401);
    let _ = Duration::ZERO;
}
