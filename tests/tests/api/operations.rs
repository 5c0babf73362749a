//! What operating the service must guarantee, black-box: a temporary password stops working
//! when it expires; a database that goes away makes requests fail fast with 503 (and the
//! server recovers when it is back); uploaded photos lose their EXIF, GPS and XMP data; the
//! real binary's JSON logs hold one line per request and no secret or personal data.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{TestDb, TestServer, STAFF_PASSWORD};
use crate::{address_body, invited_and_accepted, onboard};

on_both_backends_db!(
    an_expired_temporary_password_no_longer_opens_a_session,
    json_logs_hold_one_line_per_request_and_no_secret_or_personal_data,
);

on_both_backends!(uploaded_photos_keep_no_exif_gps_or_xmp);

async fn an_expired_temporary_password_no_longer_opens_a_session(db: TestDb) {
    // Arrange: temporary passwords valid for five seconds (time enough, on a loaded machine,
    // for two Argon2 hashes and the mail round between acceptance and the first sign-in).
    let server = db.serve(&["--temporary-password-secs", "5"]).await;
    let officer = server.officer("officer.a").await;
    let body = crate::invite_body("12345678", "Ana", "ana@example.ca");
    let (_, username, temporary) = invited_and_accepted(&server, &officer, body).await;
    let (status, session) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::CREATED, "valid at first: {session}");
    let early = session["token"].as_str().unwrap().to_owned();

    // Act: try again until the five seconds have run out (bounded).
    let deadline = Instant::now() + Duration::from_secs(15);
    let problem = loop {
        let (status, answer) = server.sign_in(&username, &temporary).await;
        if status != StatusCode::CREATED {
            break answer;
        }
        assert!(Instant::now() < deadline, "still valid after 15 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // Assert: refused with its own code, and the session opened in time is over too.
    assert_eq!(problem["code"], "temporary_password_expired", "{problem}");
    assert_eq!(problem["status"], 401);
    let (status, problem) = server
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(&early),
            Some(json!({"current_password": temporary,
                        "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    // Nothing else signs the applicant in: the wrong password is still wrong.
    let (status, problem) = server.sign_in(&username, "not the password at all").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
}

/// A PostgreSQL database that stops taking connections while the server runs: commands and
/// reads answer 503 with `Retry-After` within the pool's acquire time-out (3 s), never hang
/// and never answer 500; once the database is back, the same calls work again, and the
/// projections catch up. PostgreSQL only: the SQLite backend is a file inside the server's
/// own process, with no connection to lose; its nearest equivalent, a file locked by another
/// writer, is the next test.
#[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
async fn a_dead_database_answers_503_at_once_and_the_server_recovers(pool: sqlx::PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let server = TestDb::Postgres(pool).serve(&[]).await;
    let officer = server.officer("officer.a").await;
    let (applicant, _) = onboard(&server, &officer, "12345678", "Ana").await;
    // The test's own connection to the cluster, outside the server's pool.
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&std::env::var("DATABASE_URL").unwrap())
        .await
        .unwrap();

    // Act: the database refuses new connections and loses the ones it had.
    sqlx::query(&format!(
        r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS false"#
    ))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&admin)
    .await
    .unwrap();

    // Assert: each call fails fast, as unavailable.
    let calls = [
        (
            Method::POST,
            "/v1/cases",
            officer.as_str(),
            Some(crate::invite_body("87654321", "Bo", "bo@example.ca")),
        ),
        (Method::GET, "/v1/my/case", applicant.as_str(), None),
        (
            Method::PUT,
            "/v1/my/case/address",
            applicant.as_str(),
            Some(address_body()),
        ),
        (Method::GET, "/v1/queue", officer.as_str(), None),
    ];
    for (method, path, token, body) in &calls {
        let started = Instant::now();
        let mut request = server
            .client
            .request(method.clone(), server.url(path))
            .bearer_auth(token)
            .timeout(Duration::from_secs(15));
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.expect("an answer, not a hang");
        let elapsed = started.elapsed();
        let status = response.status();
        let retry_after = response.headers().get("retry-after").cloned();
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}: {problem}"
        );
        assert_eq!(problem["code"], "unavailable", "{method} {path}");
        assert_eq!(retry_after.unwrap(), "3", "{method} {path}");
        // The acquire time-out is 3 s; a loaded machine gets some slack, a hang does not.
        assert!(
            elapsed < Duration::from_secs(8),
            "{method} {path} took {elapsed:?}"
        );
    }
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    // The database comes back: the same command works again (bounded wait), and the
    // applicant's view catches up with it.
    sqlx::query(&format!(
        r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS true"#
    ))
    .execute(&admin)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let version = loop {
        let (status, answer) = server
            .call(
                Method::PUT,
                "/v1/my/case/presence",
                Some(&applicant),
                Some(json!({"in_canada": true})),
            )
            .await;
        if status == StatusCode::OK {
            break answer["version"].as_u64().unwrap();
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
        assert!(
            Instant::now() < deadline,
            "not back 20 s after the database"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, view) = server
        .call(
            Method::GET,
            &format!("/v1/my/case?min_version={version}"),
            Some(&applicant),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["version"], version);
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// PostgreSQL that is not running (its port closed, its connections cut, here by a proxy
/// in front of the real server): the pool would retry the refused connection until its
/// acquire time-out (3 s) on every request, but the refusal is immediate, and so is the
/// answer: 503 `unavailable` with `Retry-After` at once, for each command; and the same
/// calls work again soon after the port opens, without a restart.
#[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
async fn a_database_refusing_connections_is_answered_503_at_once(pool: sqlx::PgPool) {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let url = std::env::var("DATABASE_URL").unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = prconfirm_tests::proxy::Proxy::start(upstream).await;
    let through = options.host("127.0.0.1").port(proxy.port()).database(&name);
    let db = prconfirm_migrations::Database::connect_postgres(through.to_url_lossy().as_str(), 8)
        .await
        .unwrap();
    let server = TestServer::start(db).await;
    let officer = server.officer("officer.a").await;
    let (applicant, _) = onboard(&server, &officer, "12345678", "Ana").await;
    let presence = || {
        server
            .client
            .put(server.url("/v1/my/case/presence"))
            .bearer_auth(&applicant)
            .json(&json!({"in_canada": true}))
            .timeout(Duration::from_secs(15))
            .send()
    };

    // Act: PostgreSQL "stops".
    proxy.close();

    // Assert: once the server has seen it (the first answers may wait out the pool), every
    // command is refused at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = presence().await.expect("an answer, not a hang");
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(Instant::now() < deadline, "{}", response.status());
    }
    for _ in 0..5 {
        let started = Instant::now();
        let response = presence().await.expect("an answer, not a hang");
        let elapsed = started.elapsed();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "3");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "unavailable", "{problem}");
        assert!(
            elapsed < Duration::from_millis(500),
            "a refused connection waited {elapsed:?} for its 503"
        );
    }
    let health = server.client.get(server.url("/healthz")).send().await;
    assert_eq!(health.unwrap().status(), StatusCode::OK);

    // PostgreSQL "starts" again: the command works without a restart (bounded wait).
    proxy.open().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = presence().await.expect("an answer, not a hang");
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "not back within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The nearest SQLite has to a dead database: another writer holds the file's write lock.
/// A command then waits out SQLite's busy time-out (5 s) and answers 503 with `Retry-After`,
/// never 500, and works again once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_locked_by_another_writer_answers_503_and_the_server_recovers() {
    let server = TestDb::Sqlite.serve(&[]).await;
    let officer = server.officer("officer.a").await;
    let (applicant, _) = onboard(&server, &officer, "12345678", "Ana").await;
    let prconfirm_migrations::Database::Sqlite(pool) = server.db() else {
        unreachable!("a SQLite server")
    };

    // Act: a writer outside the service takes the write lock and keeps it.
    let lock = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let started = Instant::now();
    let response = server
        .client
        .put(server.url("/v1/my/case/presence"))
        .bearer_auth(&applicant)
        .json(&json!({"in_canada": true}))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("an answer, not a hang");
    let elapsed = started.elapsed();

    // Assert: unavailable, to be retried; then, once the lock is gone, done.
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{problem} after {elapsed:?}"
    );
    assert_eq!(problem["code"], "unavailable");
    assert_eq!(retry_after.unwrap(), "3");
    lock.rollback().await.unwrap();
    let (status, answer) = server
        .call(
            Method::PUT,
            "/v1/my/case/presence",
            Some(&applicant),
            Some(json!({"in_canada": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A JPEG of 1000 x 1400 with an EXIF segment (camera and GPS position) and an XMP packet
/// inserted after its start-of-image marker, as a phone would write them.
fn jpeg_with_exif_and_xmp() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1000, 1400, |x, y| {
        let v = if (300..700).contains(&x) && (400..1000).contains(&y) {
            120
        } else {
            245
        };
        image::Rgb([v, v, v])
    });
    let mut plain = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut plain),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    // TIFF, big-endian: IFD0 with Make and a GPS IFD pointer; the GPS IFD with latitude
    // reference and latitude (45 deg 25' 12" N, Ottawa).
    let mut tiff: Vec<u8> = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    let ifd0_entries = 2u16;
    let ifd0_len = 2 + 12 * ifd0_entries as u32 + 4;
    let make_at = 8 + ifd0_len; // "PhoneCam\0" (9 bytes), padded to 10
    let gps_at = make_at + 10;
    tiff.extend(ifd0_entries.to_be_bytes());
    tiff.extend(entry(0x010f, 2, 9, make_at)); // Make
    tiff.extend(entry(0x8825, 4, 1, gps_at)); // GPSInfo
    tiff.extend(0u32.to_be_bytes());
    tiff.extend(b"PhoneCam\x00\x00");
    let gps_entries = 2u16;
    let rationals_at = gps_at + 2 + 12 * gps_entries as u32 + 4;
    tiff.extend(gps_entries.to_be_bytes());
    tiff.extend(entry(0x0001, 2, 2, u32::from_be_bytes(*b"N\x00\x00\x00"))); // GPSLatitudeRef
    tiff.extend(entry(0x0002, 5, 3, rationals_at)); // GPSLatitude
    tiff.extend(0u32.to_be_bytes());
    for (num, den) in [(45u32, 1u32), (25, 1), (12, 1)] {
        tiff.extend(num.to_be_bytes());
        tiff.extend(den.to_be_bytes());
    }
    let mut exif = b"Exif\x00\x00".to_vec();
    exif.extend(tiff);
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\x00".to_vec();
    xmp.extend(
        br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="45,25.2N"/></rdf:RDF></x:xmpmeta>"#,
    );
    let mut out = plain[..2].to_vec(); // SOI
    for payload in [exif, xmp] {
        out.extend([0xff, 0xe1]);
        out.extend(u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        out.extend(payload);
    }
    out.extend(&plain[2..]);
    out
}

/// One 12-byte TIFF directory entry.
fn entry(tag: u16, kind: u16, count: u32, value: u32) -> Vec<u8> {
    let mut e = tag.to_be_bytes().to_vec();
    e.extend(kind.to_be_bytes());
    e.extend(count.to_be_bytes());
    e.extend(value.to_be_bytes());
    e
}

/// The markers of a JPEG's segments before its image data.
fn jpeg_markers(bytes: &[u8]) -> Vec<u8> {
    assert_eq!(&bytes[..2], [0xff, 0xd8], "not a JPEG");
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xff {
        let marker = bytes[at + 1];
        markers.push(marker);
        if marker == 0xda {
            break; // start of scan: image data follows
        }
        let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        at += 2 + len;
    }
    markers
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn uploaded_photos_keep_no_exif_gps_or_xmp(server: TestServer) {
    // Arrange: a photo that carries EXIF with GPS, and XMP.
    let officer = server.officer("officer.a").await;
    let (applicant, case_id) = onboard(&server, &officer, "12345678", "Ana").await;
    let upload = jpeg_with_exif_and_xmp();
    assert!(jpeg_markers(&upload).contains(&0xe1));
    assert!(contains(&upload, b"Exif\x00\x00") && contains(&upload, b"ns.adobe.com/xap"));

    // Act: upload it, and fetch what was stored as an officer.
    let (status, answer) = server.upload(&applicant, &upload, "image/jpeg").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let stored = server
        .client
        .get(server.url(&format!("/v1/cases/{case_id}/photo")))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    assert_eq!(stored.headers()["content-type"], "image/jpeg");
    let stored = stored.bytes().await.unwrap().to_vec();

    // Assert: the same picture, without any of the metadata.
    let markers = jpeg_markers(&stored);
    assert!(markers.contains(&0xda), "a whole JPEG: {markers:x?}");
    assert!(
        !markers.iter().any(|m| matches!(m, 0xe1..=0xef)),
        "no APP1 (EXIF, XMP) or other application segment but JFIF: {markers:x?}"
    );
    for needle in [
        &b"Exif"[..],
        b"ns.adobe.com",
        b"xmpmeta",
        b"PhoneCam",
        b"GPSLatitude",
    ] {
        assert!(
            !contains(&stored, needle),
            "{}",
            String::from_utf8_lossy(needle)
        );
    }
    let picture = image::load_from_memory(&stored).unwrap();
    assert_eq!((picture.width(), picture.height()), (1000, 1400));
}

/// Sends a request; answers status, body and the response's `X-Request-Id`.
async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let mut request = server.client.request(method, server.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        id,
    )
}

async fn json_logs_hold_one_line_per_request_and_no_secret_or_personal_data(db: TestDb) {
    // Arrange: the real binary, logging JSON.
    let mut server = db.serve_binary(&[("PRCONFIRM_LOG_FORMAT", "json")]).await;
    let mut ids = Vec::new();
    let mut track = |answer: (StatusCode, Value, String)| {
        ids.push(answer.2);
        (answer.0, answer.1)
    };

    // Act: an officer invites; the applicant accepts, signs in, changes the password, reads
    // the case, signs out; one sign-in fails.
    let enrolment = server.enrol_staff("officer.a", "officer").await;
    let otp = prconfirm_commands::accounts::mfa::code_for(&enrolment, chrono::Utc::now()).unwrap();
    let (status, officer) = track(
        send(
            &server,
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": "officer.a", "password": STAFF_PASSWORD, "otp": otp})),
        )
        .await,
    );
    assert_eq!(status, StatusCode::CREATED);
    let officer = officer["token"].as_str().unwrap().to_owned();
    let invitation = json!({
        "application_number": "E001234567", "uci": "12345678",
        "given_name": "Zéphyrine", "family_name": "Quistbélanger",
        "date_of_birth": "1990-04-05", "email": "zephyrine.q@example.ca", "language": "fr",
    });
    let (status, invited) = track(
        send(
            &server,
            Method::POST,
            "/v1/cases",
            Some(&officer),
            Some(invitation),
        )
        .await,
    );
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let case_id = invited["case_id"].as_str().unwrap().to_owned();
    let code = server.mail_line(&case_id, 1, "Invitation code: ").await;
    let (status, _) = track(
        send(
            &server,
            Method::POST,
            &format!("/v1/invitations/{code}/acceptance"),
            None,
            None,
        )
        .await,
    );
    assert_eq!(status, StatusCode::OK);
    let username = server.mail_line(&case_id, 3, "Username: ").await;
    let temporary = server.mail_line(&case_id, 3, "Temporary password: ").await;
    let (status, _) = track(
        send(
            &server,
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": username, "password": "a wrong guess, logged?"})),
        )
        .await,
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, session) = track(
        send(
            &server,
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": username, "password": temporary})),
        )
        .await,
    );
    assert_eq!(status, StatusCode::CREATED);
    let token = session["token"].as_str().unwrap().to_owned();
    let new_password = "my own passphrase of the north shore";
    let (status, _) = track(
        send(
            &server,
            Method::PUT,
            "/v1/me/password",
            Some(&token),
            Some(json!({"current_password": temporary, "new_password": new_password})),
        )
        .await,
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = track(send(&server, Method::GET, "/v1/my/case", Some(&token), None).await);
    assert_eq!(status, StatusCode::OK);
    let (status, _) = track(
        send(
            &server,
            Method::DELETE,
            "/v1/sessions/current",
            Some(&token),
            None,
        )
        .await,
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    server.stop().await;

    // Assert: every line is one JSON object; each request has exactly one line, with its
    // correlation id, method, route template and status.
    let logs = server.logs();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    for id in &ids {
        let mine: Vec<_> = requests
            .iter()
            .filter(|l| l["fields"]["correlation_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "request {id}: {mine:?}\n{logs}");
        assert!(mine[0]["fields"]["route"].is_string() && mine[0]["fields"]["status"].is_u64());
    }
    let logged: HashSet<&str> = requests
        .iter()
        .map(|l| l["fields"]["correlation_id"].as_str().unwrap())
        .collect();
    assert_eq!(logged.len(), requests.len(), "one line per request");
    assert!(requests
        .iter()
        .any(|l| l["fields"]["route"] == "/v1/invitations/{code}/acceptance"));
    for secret in [
        temporary.as_str(),
        new_password,
        "a wrong guess",
        STAFF_PASSWORD,
        // The second factor's secret (a 6-digit code could match any number in a line).
        enrolment
            .split("secret=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap(),
        token.as_str(),
        officer.as_str(),
        code.as_str(),
        username.as_str(),
        "Zéphyrine",
        "Quistbélanger",
        "zephyrine.q@example.ca",
        "example.ca",
        "1990-04-05",
    ] {
        assert!(!logs.contains(secret), "the logs show {secret:?}:\n{logs}");
    }
}

/// Before: a PostgreSQL with `synchronous_commit` off for the database (or `fsync` or
/// `full_page_writes` off) was used as it was, and a crash could lose commands the API had
/// already acknowledged. Now the binary refuses it, saying which setting and why.
#[sqlx::test(migrator = "prconfirm_migrations::POSTGRES")]
async fn a_postgresql_that_could_lose_acknowledged_commits_is_refused(pool: sqlx::PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let url = prconfirm_tests::server::with_database(
        &std::env::var("DATABASE_URL").expect("DATABASE_URL"),
        &name,
    );
    let dir = tempfile::tempdir().unwrap();
    let migrate = || {
        std::process::Command::new(prconfirm_tests::binary())
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .env("PRCONFIRM_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" SET synchronous_commit = off"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let refused = migrate();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("synchronous_commit = off"), "{said}");
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" RESET synchronous_commit"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let taken = migrate();
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
}
