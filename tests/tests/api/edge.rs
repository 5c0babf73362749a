//! The HTTP edge tried as an attacker would: methods it does not serve, NUL bytes in anything
//! that reaches the database, paths that are not UTF-8, bodies announced too large, and
//! labels that could grow the metrics without bound.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::TestServer;

on_both_backends!(
    methods_not_served_are_405_or_501_and_head_and_options_are_answered,
    nul_bytes_anywhere_are_refused_with_a_4xx,
    a_path_that_is_not_utf8_is_a_problem_document,
    a_body_announced_too_large_is_refused_before_it_is_sent,
    unknown_methods_and_paths_add_no_metrics_series,
);

/// The status and `Content-Type` of a request with any method.
async fn status_of(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server.client.request(method, server.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let kind = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, kind, headers)
}

/// Before: an unserved method on a served path answered 403 (the access table has no row
/// for it), HEAD as well, and OPTIONS too.
async fn methods_not_served_are_405_or_501_and_head_and_options_are_answered(server: TestServer) {
    let officer = server.officer("officer.a").await;
    // A standard method the route does not serve: 405 with what it does serve.
    // QUERY (the safe method with a body, in HTTP's method registry) is one: fuzzers send it,
    // and before it answered 501, a server error.
    for (method, path) in [
        ("PATCH", "/healthz"),
        ("DELETE", "/v1/queue"),
        ("PUT", "/v1/cases"),
        ("QUERY", "/v1/cases"),
        ("QUERY", "/healthz"),
    ] {
        let (status, kind, headers) = status_of(&server, method, path, Some(&officer)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            kind.starts_with("application/problem+json"),
            "{method} {path}: {kind}"
        );
        assert!(
            headers.contains_key("allow"),
            "{method} {path}: {headers:?}"
        );
    }
    // A method no standard defines: 501.
    let (status, kind, _) = status_of(&server, "BREW", "/healthz", None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(kind.starts_with("application/problem+json"), "{kind}");
    // HEAD answers as GET would, without a body, and takes the same access.
    let (status, _, _) = status_of(&server, "HEAD", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (get, body) = server
        .call(Method::GET, "/v1/queue", Some(&officer), None)
        .await;
    let (status, _, _) = status_of(&server, "HEAD", "/v1/queue", Some(&officer)).await;
    assert_eq!(status, StatusCode::OK, "GET: {get} {body}");
    let (status, _, _) = status_of(&server, "HEAD", "/v1/queue", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // OPTIONS says what a path serves, to anyone, and nothing else.
    let (status, _, headers) = status_of(&server, "OPTIONS", "/v1/cases", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let allow = headers.get("allow").unwrap().to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    // A path nobody serves stays 404 whatever the method.
    let (status, _, _) = status_of(&server, "BREW", "/no/such/path", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Before: on PostgreSQL (which refuses NUL in text) a NUL in a sign-in, a case id, a search
/// or a document number answered 500.
async fn nul_bytes_anywhere_are_refused_with_a_4xx(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": "officer\u{0}.a", "password": "x"})),
        )
        .await;
    assert!(status.is_client_error(), "sign-in: {status}");
    for path in [
        "/v1/cases/abc%00def",
        "/v1/cases?uci=1234%005678",
        "/v1/cases?application_number=E00%001234567",
        "/v1/queue?claimed_by=officer%00.a",
        "/v1/queue?task=photo_review%00",
        "/v1/cases/abc%00def/claim",
        "/v1/audit/cases/abc%00/events",
        "/v1/documents/PR%0000000042/verification?code=7K3M-9XQ2-B8TD-4HWN",
        "/v1/documents/PR0000000042/verification?code=7K3M%00",
    ] {
        let method = if path.ends_with("/claim") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, _) = server.call(method, path, Some(&officer), None).await;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/invitations/AB%00CD/acceptance",
            None,
            None,
        )
        .await;
    assert!(status.is_client_error(), "invitation code: {status}");
}

/// Before: `/v1/cases/%FF` answered a plain-text 400 from the router.
async fn a_path_that_is_not_utf8_is_a_problem_document(server: TestServer) {
    let officer = server.officer("officer.a").await;
    for path in ["/v1/cases/%FF%FE", "/v1/invitations/%C0%80/acceptance"] {
        let method = if path.contains("invitations") {
            "POST"
        } else {
            "GET"
        };
        let (status, kind, _) = status_of(&server, method, path, Some(&officer)).await;
        assert!(status.is_client_error(), "{path}: {status}");
        assert!(
            kind.starts_with("application/problem+json"),
            "{path}: {kind}"
        );
    }
}

/// Before: the server read (and waited for) the body before refusing it, so a client that
/// announced 100 MB and sent nothing held the request open.
async fn a_body_announced_too_large_is_refused_before_it_is_sent(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (applicant, _) = crate::onboard(&server, &officer, "12345678", "Ana").await;
    let address = server.url("").trim_start_matches("http://").to_owned();
    for (path, length, token) in [
        ("/v1/sessions", 100_000_000_u64, None),
        ("/v1/my/case/photo", 50_000_000, Some(applicant.as_str())),
        // Over the JSON limit, with a key: refused before the replay reads the body.
        ("/v1/cases", 1_000_000, Some(officer.as_str())),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let method = if path.ends_with("photo") {
            "PUT"
        } else {
            "POST"
        };
        let auth = token.map_or(String::new(), |t| {
            format!("Authorization: Bearer {t}\r\nIdempotency-Key: k-{length}\r\n")
        });
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {length}\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0; 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer while the body was still due"))
            .unwrap();
        let text = String::from_utf8_lossy(&answer[..read]);
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}");
        assert!(text.contains("application/problem+json"), "{path}: {text}");
    }
}

/// Before: each new method name made new `prconfirm_http_requests_total` series.
async fn unknown_methods_and_paths_add_no_metrics_series(server: TestServer) {
    for k in 0..5 {
        let method = format!("X{k}METHOD");
        let _ = status_of(&server, &method, "/healthz", None).await;
        let _ = status_of(&server, &method, &format!("/random/{k}"), None).await;
        let _ = status_of(&server, "GET", &format!("/random/{k}"), None).await;
    }
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("prconfirm_http_requests_total{"))
        .collect();
    assert!(!series.is_empty(), "{metrics}");
    for line in &series {
        assert!(
            !line.contains("METHOD") && !line.contains("/random"),
            "{line}"
        );
    }
    let methods: std::collections::HashSet<&str> = series
        .iter()
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    let known = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "QUERY", "other",
    ];
    assert!(methods.iter().all(|m| known.contains(m)), "{methods:?}");
}

/// Reads until the server closes the connection (or answers); answers what it sent and how
/// long it took, or `None` if it kept the connection open past `wait`.
async fn until_closed(
    stream: &mut tokio::net::TcpStream,
    wait: Duration,
) -> Option<(String, Duration)> {
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(
            wait.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&seen).into_owned(),
                    started.elapsed(),
                ))
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Before: a client that sent half a request head, sent it a byte at a time, sent a short
/// body or just stayed connected kept its connection (and a descriptor) for good, and
/// enough of them starved everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_idle_clients_are_cut_off_and_cannot_starve_the_others() {
    let server = crate::server::TestDb::Sqlite
        .serve(&[
            "--http-header-timeout-ms",
            "1000",
            "--http-body-timeout-secs",
            "1",
            "--http-max-connections",
            "16",
        ])
        .await;
    let address = server.url("").trim_start_matches("http://").to_owned();
    let connect = || tokio::net::TcpStream::connect(address.clone());

    // Half a head, then nothing: closed once the head's time is up.
    let mut half = connect().await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = until_closed(&mut half, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a half-sent head kept its connection");

    // A head a byte at a time: the limit is on the whole head, not between bytes.
    let mut dribble = connect().await.unwrap();
    let dribbling = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if dribble.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        false
    });
    assert!(
        dribbling.await.unwrap(),
        "a head sent a byte at a time kept its connection"
    );

    // Idle after a request: closed once the wait for the next head is up.
    let mut idle = connect().await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = until_closed(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection stayed open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A body announced and not sent: answered (4xx) once the body's time is up.
    let mut short = connect().await.unwrap();
    short
        .write_all(
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 40\r\n\r\n{\"us",
        )
        .await
        .unwrap();
    let (answer, _) = until_closed(&mut short, Duration::from_secs(6))
        .await
        .expect("a body never finished kept its request open");
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");

    // A body a byte at a time: the limit is on the whole body too.
    let mut slow_body = connect().await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 60\r\n\r\n",
        )
        .await
        .unwrap();
    let (reader, mut writer) = slow_body.into_split();
    let feeding = tokio::spawn(async move {
        for byte in b"{\"username\": \"a\", \"password\": \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}" {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut reader = reader;
    let mut answer = vec![0; 512];
    let read = tokio::time::timeout(Duration::from_secs(4), reader.read(&mut answer))
        .await
        .expect("a body sent a byte at a time kept its request open")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    feeding.abort();

    // Four times as many stalled clients as connections served: a real client still gets
    // its answer once they are cut off.
    let mut stalled = Vec::new();
    for _ in 0..64 {
        let mut s = connect().await.unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n").await;
        stalled.push(s);
    }
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(15),
        server.client.get(server.url("/healthz")).send(),
    )
    .await
    .expect("a real client waited behind stalled ones for good")
    .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    println!(
        "answered after {:?} behind 64 stalled clients",
        started.elapsed()
    );
}

/// Before: `/metrics` and the consumers' detail in `/readyz` (names, cursors, errors, parked
/// counts) were anyone's. Here the test's own address is not an operator network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_figures_are_for_operators_and_the_bare_readiness_for_anyone() {
    let server = crate::server::TestDb::Sqlite
        .serve(&[
            "--operator-networks",
            "10.0.0.0/8",
            "--operator-token",
            "an operator token of some length",
        ])
        .await;
    let get = |path: &'static str, token: Option<&'static str>| {
        let mut request = server.client.get(server.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, _) = get("/metrics", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get("/metrics", Some("a wrong token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get("/metrics", Some("an operator token of some length")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("prconfirm_http_requests_total"), "{body}");

    let (status, body) = get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    let bare: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(bare, json!({"status": bare["status"]}), "{body}");
    assert!(["ready", "degraded"].contains(&bare["status"].as_str().unwrap()));
    let (_, body) = get("/readyz", Some("an operator token of some length")).await;
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(detail["consumers"]["case_views"].is_object(), "{body}");
}
