//! Officers' notes on a case: an event each, shown in the officers' case view with who wrote
//! them and when, for open and closed cases alike, and never in the analysts' figures.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::invite_body;
use crate::server::TestServer;

on_both_backends!(a_note_shows_in_the_case_view_and_never_in_the_analysts_figures);

const NOTE: &str = "Called the applicant: the invitation was in the spam folder.";

async fn a_note_shows_in_the_case_view_and_never_in_the_analysts_figures(server: TestServer) {
    // Arrange: an invited case, an officer and an analyst.
    let officer = server.officer("officer.a").await;
    let analyst = server.staff("analyst.a", "analyst").await;
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
    let notes = format!("/v1/cases/{case_id}/notes");

    // Act: a note, then the case is withdrawn and noted again (closed cases take notes).
    let (status, noted) = server
        .call(
            Method::POST,
            &notes,
            Some(&officer),
            Some(json!({"text": NOTE})),
        )
        .await;
    let (withdrawn, _) = server
        .call(
            Method::POST,
            &format!("/v1/cases/{case_id}/withdrawal"),
            Some(&officer),
            Some(json!({"reason": "asked by the applicant"})),
        )
        .await;
    let (after_close, _) = server
        .call(
            Method::POST,
            &notes,
            Some(&officer),
            Some(json!({"text": "Closed at the applicant's request."})),
        )
        .await;

    // Assert: 201 with the new version; the view lists both notes, oldest first.
    assert_eq!(
        (status, &noted),
        (StatusCode::CREATED, &json!({"version": 2}))
    );
    assert_eq!(withdrawn, StatusCode::OK);
    assert_eq!(after_close, StatusCode::CREATED);
    let (status, view) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{case_id}"),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let listed = view["notes"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{view}");
    assert_eq!(listed[0]["by"], "officer.a");
    assert_eq!(listed[0]["text"], NOTE);
    assert!(listed[0]["at"].as_str().is_some(), "{view}");
    assert_eq!(listed[1]["text"], "Closed at the applicant's request.");

    // A note needs text; analysts and unknown cases get nothing.
    let (status, _) = server
        .call(
            Method::POST,
            &notes,
            Some(&officer),
            Some(json!({"text": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server
        .call(
            Method::POST,
            &notes,
            Some(&analyst),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/cases/no-such-case/notes",
            Some(&officer),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_ne!(status, StatusCode::CREATED);

    // The analysts' figures reach the withdrawal (after the first note) and show no note.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, daily) = server
            .call(Method::GET, "/v1/stats/daily", Some(&analyst), None)
            .await;
        if daily.to_string().contains("withdrawn") {
            break;
        }
        assert!(Instant::now() < deadline, "{daily}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for path in [
        "/v1/stats/funnel",
        "/v1/stats/durations",
        "/v1/stats/photo-returns",
        "/v1/stats/daily",
        "/v1/stats/officers",
    ] {
        for accept in ["application/json", "text/csv"] {
            let (status, _, body) = crate::get_full(&server, path, &analyst, accept).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            for word in ["spam folder", "note", "Note", "applicant's request"] {
                assert!(
                    !body.contains(word),
                    "{path} ({accept}) shows {word}: {body}"
                );
            }
        }
    }
}
