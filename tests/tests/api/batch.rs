//! Batch invitations: `POST /v1/invitations/batch` (NDJSON and CSV) and `prconfirm invite
//! --file` from the real binary. Each row is invited on its own: bad rows are answered with
//! their own error and stop nothing; the same file sent again creates nothing.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::invite_body;
use crate::server::TestServer;
use prconfirm_migrations::on_db;

on_both_backends!(
    a_batch_of_500_with_bad_rows_creates_the_rest_once,
    a_csv_batch_reads_its_header_and_keeps_families_together,
    batches_that_are_not_batches_are_refused_whole,
    the_command_line_invites_a_file_and_says_which_rows_failed,
);

async fn post_batch(
    server: &TestServer,
    token: &str,
    body: impl Into<Vec<u8>>,
    content_type: &str,
) -> (StatusCode, Value) {
    let response = server
        .client
        .post(server.url("/v1/invitations/batch"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.into())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn invitations(server: &TestServer) -> i64 {
    let sql = "SELECT count(*) FROM events WHERE event_type = 'Invited'";
    on_db!(server.db(), |pool| sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await)
    .unwrap()
}

/// Row `i` of the 500: families of five under one application number, every one an adult
/// but for the minors below.
fn person(i: usize) -> Value {
    let mut body = invite_body(&format!("77{i:06}"), "Anaïs", &format!("p{i}@example.ca"));
    body["application_number"] = json!(format!("E{:09}", 500_000 + i / 5));
    body
}

/// The rows by status: row number to case id (created, exists) or code (invalid).
fn by_status(answer: &Value) -> BTreeMap<&str, BTreeMap<u64, &str>> {
    let mut out: BTreeMap<&str, BTreeMap<u64, &str>> = BTreeMap::new();
    for r in answer["rows"].as_array().unwrap() {
        let value = r["case_id"].as_str().or(r["code"].as_str()).unwrap();
        out.entry(r["status"].as_str().unwrap())
            .or_default()
            .insert(r["row"].as_u64().unwrap(), value);
    }
    out
}

async fn a_batch_of_500_with_bad_rows_creates_the_rest_once(server: TestServer) {
    // Arrange: 500 lines, five of them bad in different ways, one minor with a guardian on
    // an earlier line, and one person twice (lines 449 and 450, invited side by side).
    let officer = server.officer("officer.a").await;
    let mut lines: Vec<String> = (1..=500).map(|i| person(i).to_string()).collect();
    let mut bad_uci = person(7);
    bad_uci["uci"] = json!("12");
    lines[6] = bad_uci.to_string();
    let mut no_email = person(100);
    no_email.as_object_mut().unwrap().remove("email");
    lines[99] = no_email.to_string();
    lines[249] = r#"{"application_number": "E000000001", "uci": "#.into();
    let mut unknown_language = person(333);
    unknown_language["language"] = json!("de");
    lines[332] = unknown_language.to_string();
    let mut orphan = person(400);
    orphan["date_of_birth"] = json!("2016-01-01");
    lines[399] = orphan.to_string();
    let mut minor = person(403);
    minor["date_of_birth"] = json!("2016-01-01");
    minor["guardian_uci"] = person(401)["uci"].clone();
    lines[402] = minor.to_string();
    lines[449] = lines[448].clone();
    let body = lines.join("\n") + "\n";
    let before = invitations(&server).await;

    // Act
    let (status, answer) =
        post_batch(&server, &officer, body.clone(), "application/x-ndjson").await;

    // Assert: one result per line, in order; the bad lines say why; the rest were invited.
    assert_eq!(status, StatusCode::OK, "{answer}");
    let rows: Vec<u64> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, (1..=500).collect::<Vec<u64>>());
    let first = by_status(&answer);
    let invalid = &first["invalid"];
    assert_eq!(
        invalid.iter().map(|(r, c)| (*r, *c)).collect::<Vec<_>>(),
        [
            (7, "invalid_row"),
            (100, "invalid_row"),
            (250, "invalid_row"),
            (333, "invalid_row"),
            (400, "guardian_required")
        ],
        "{answer}"
    );
    let errors: BTreeMap<u64, &str> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["row"].as_u64()?, r["error"].as_str()?)))
        .collect();
    assert!(errors[&100].contains("email"), "{}", errors[&100]);
    assert!(errors[&333].contains("de"), "{}", errors[&333]);
    // Lines 449 and 450 are one person: one case, whichever of the two ran first.
    let (twin_a, twin_b) = (
        first["created"].get(&449).or(first["exists"].get(&449)),
        first["created"].get(&450).or(first["exists"].get(&450)),
    );
    assert_eq!(twin_a, twin_b, "{answer}");
    assert_eq!(first["exists"].len(), 1, "{answer}");
    assert_eq!(first["created"].len(), 494);
    let created = first["created"].values().collect::<BTreeSet<_>>();
    assert_eq!(created.len(), 494, "one case per created row");
    assert_eq!(invitations(&server).await - before, 494);

    // The minor's case names the guardian's (line 401's) case.
    let (status, view) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{}", first["created"][&403]),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        view["case"]["guardian_case"], first["created"][&401],
        "{view}"
    );

    // The same file again creates nothing: every good line names its case.
    let (status, again) = post_batch(&server, &officer, body, "application/x-ndjson").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let second = by_status(&again);
    assert_eq!(second.get("created"), None, "{again}");
    assert_eq!(second["invalid"], first["invalid"]);
    let mut expected = first["created"].clone();
    expected.extend(first["exists"].iter());
    assert_eq!(second["exists"], expected);
    assert_eq!(invitations(&server).await - before, 494);
}

async fn a_csv_batch_reads_its_header_and_keeps_families_together(server: TestServer) {
    // Arrange: columns in another order than the documented one, optional columns present
    // and empty where they do not apply, a minor after her guardian, a row with one cell
    // too few.
    let officer = server.officer("officer.a").await;
    let csv = "\
uci,given_name,family_name,application_number,email,language,date_of_birth,guardian_uci,respond_by
88880001,Élise,Bélanger,E000777001,elise@example.ca,fr,1985-03-02,,
88880002,Noé,Bélanger,E000777001,elise@example.ca,fr,2015-06-01,88880001,2027-02-01T00:00:00Z
88880003,\"O'Neil\",Smith,E000777002,o@example.ca,en,1970-01-01,,
88880004,Léa,Bélanger,E000777001
";
    // Act
    let (status, answer) = post_batch(&server, &officer, csv, "text/csv; charset=utf-8").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    let rows = by_status(&answer);
    assert_eq!(
        rows["created"].keys().copied().collect::<Vec<_>>(),
        [1, 2, 3],
        "{answer}"
    );
    assert_eq!(
        rows["invalid"].iter().collect::<Vec<_>>(),
        [(&4, &"invalid_row")]
    );
    let (_, minor) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{}", rows["created"][&2]),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(
        minor["case"]["guardian_case"], rows["created"][&1],
        "{minor}"
    );
    let (_, named) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{}", rows["created"][&3]),
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(named["case"]["file"]["given_name"], "O'Neil", "{named}");
}

async fn batches_that_are_not_batches_are_refused_whole(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let analyst = server.staff("analyst.a", "analyst").await;
    let row = invite_body("66660001", "Zoé", "z@example.ca").to_string();
    let before = invitations(&server).await;

    let (status, problem) = post_batch(&server, &officer, row.clone(), "application/json").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
    let (status, _) = post_batch(&server, &analyst, row.clone(), "application/x-ndjson").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = server
        .client
        .post(server.url("/v1/invitations/batch"))
        .bearer_auth(&officer)
        .header("content-type", "application/x-ndjson")
        .header("idempotency-key", "batch-1")
        .body(row.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_not_taken");
    for (csv, says) in [
        ("uci,given_name\n1,a\n", "no column application_number"),
        (
            "application_number,uci,given_name,family_name,date_of_birth,email,language,nickname\n",
            "nickname",
        ),
    ] {
        let (status, problem) = post_batch(&server, &officer, csv, "text/csv").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["code"], "invalid_header");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    // Just over 16 MiB: the server answers once it has read the limit, and what the client
    // has not sent by then must fit the socket's buffers, or its write fails before it can
    // read the answer (a broken pipe, seen with a whole MiB over).
    let huge = format!("{row}\n").repeat((16 * 1024 * 1024 + 4096) / (row.len() + 1) + 1);
    assert!(huge.len() > 16 * 1024 * 1024);
    let (status, problem) = post_batch(&server, &officer, huge, "application/x-ndjson").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(
        invitations(&server).await,
        before,
        "nothing refused was invited"
    );

    // The service answers others while it refuses: the row alone goes through.
    let (status, answer) = post_batch(&server, &officer, row, "application/x-ndjson").await;
    assert_eq!(
        (status, &answer["rows"][0]["status"]),
        (StatusCode::OK, &json!("created"))
    );
}

async fn the_command_line_invites_a_file_and_says_which_rows_failed(server: TestServer) {
    // Arrange: a family of a parent and a minor, and an adult, in a CSV file.
    server.officer("officer.cli").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("family.csv");
    std::fs::write(
        &file,
        "application_number,uci,given_name,family_name,date_of_birth,email,language,guardian_uci\n\
         E000888001,55550001,Amir,Haddad,1980-09-09,amir@example.ca,en,\n\
         E000888001,55550002,Yara,Haddad,2014-09-09,amir@example.ca,en,55550001\n\
         E000888002,55550003,Ruth,Cohen,1955-12-31,ruth@example.ca,en,\n",
    )
    .unwrap();
    let results = dir.path().join("results.ndjson");
    let file_arg = file.to_str().unwrap();
    let results_arg = results.to_str().unwrap();
    let read_results = || -> Vec<Value> {
        std::fs::read_to_string(&results)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    // Act: the file, then the same file again.
    let args = [
        "invite",
        "--file",
        file_arg,
        "--officer",
        "officer.cli",
        "--results",
        results_arg,
    ];
    prconfirm_tests::run_cli(server.binary().await, &args, "");
    let first = read_results();
    prconfirm_tests::run_cli(server.binary().await, &args, "");
    let second = read_results();

    // Assert: three created, then the same three named as existing.
    let statuses = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(statuses(&first), ["created"; 3]);
    assert_eq!(statuses(&second), ["exists"; 3]);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a["case_id"], b["case_id"]);
    }
    let (status, view) = server
        .call(
            Method::GET,
            &format!("/v1/cases/{}", first[1]["case_id"].as_str().unwrap()),
            Some(&server.officer("officer.b").await),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["case"]["guardian_case"], first[0]["case_id"]);
    let history = server
        .call(
            Method::GET,
            &format!(
                "/v1/audit/cases/{}/events",
                first[2]["case_id"].as_str().unwrap()
            ),
            Some(&server.staff("auditor.a", "auditor").await),
            None,
        )
        .await
        .1;
    assert_eq!(
        history["events"][0]["metadata"]["actor_id"], "officer.cli",
        "{history}"
    );

    // A file with a bad row: the good row is invited, the run fails naming the count.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(
        &bad,
        format!(
            "{}\n{{\"uci\": 5}}\n",
            invite_body("55550009", "Ines", "i@example.ca")
        ),
    )
    .unwrap();
    let out = server
        .binary()
        .await
        .args([
            "invite",
            "--file",
            bad.to_str().unwrap(),
            "--officer",
            "officer.cli",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 created, 0 already invited, 1 invalid"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(statuses(&rows), ["created", "invalid"]);
    assert_eq!(rows[1]["row"], 2);

    // Not an officer, or not a batch: refused before anything is read.
    for (args, says) in [
        (
            vec!["invite", "--file", file_arg, "--officer", "auditor.a"],
            "not an enabled officer",
        ),
        (
            vec![
                "invite",
                "--file",
                results_arg.trim_end_matches(".ndjson"),
                "--officer",
                "officer.cli",
            ],
            "name the batch",
        ),
    ] {
        let out = server.binary().await.args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
