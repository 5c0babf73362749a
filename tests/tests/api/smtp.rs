//! E-mail through a real SMTP server: mailin's SMTP state machine (the protocol, with AUTH
//! PLAIN) served over TCP on a port of this machine, keeping what it accepts. The applicant's
//! credentials travel only by SMTP, are read back from the received messages, and are purged
//! from the outbox once the relay took them; an unreachable or refusing relay leaves the
//! message pending until it takes it.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prconfirm_tests::relay::{line, nth_message, start_relay, Shared, RELAY_USER};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::invite_body;
use crate::server::{TestDb, TestServer};

on_both_backends_db!(invitation_and_credentials_arrive_by_smtp_once_the_relay_takes_them);

async fn invitation_and_credentials_arrive_by_smtp_once_the_relay_takes_them(db: TestDb) {
    // Arrange: a port where no relay listens yet.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("smtp://{RELAY_USER}:relay%20secret%207f3a@127.0.0.1:{port}");
    let server = db.serve(&["--smtp-url", &url]).await;
    let officer = server.officer("officer.a").await;

    // Act: invite while the relay is unreachable.
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

    // Assert: composed and still pending, with its body, across delivery rounds.
    wait_for_outbox(&server, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        server.outbox_bodies_left().await,
        1,
        "kept while unreachable"
    );

    // The relay comes up, refuses the first try (421), then takes the retry.
    let shared = Arc::new(Shared::default());
    shared.refuse.store(1, Ordering::SeqCst);
    start_relay(port, shared.clone());
    let invitation = nth_message(&shared, 1).await;
    assert_eq!(shared.refused.load(Ordering::SeqCst), 1);
    assert!(
        shared.signed_in.load(Ordering::SeqCst) >= 1,
        "AUTH PLAIN with the URL's user"
    );
    assert_eq!(invitation.to, vec!["ana@example.ca".to_owned()]);
    assert_eq!(invitation.from, "no-reply@prconfirm.example");
    assert!(invitation
        .data
        .contains(&format!("Message-ID: <{case_id}-1@prconfirm.example>")));
    let code = line(&invitation, "Invitation code: ");
    wait_for_outbox(&server, 0).await;

    // The applicant walks on with what the relay delivered.
    let (status, _) = server.accept(&code).await;
    assert_eq!(status, StatusCode::OK);
    let credentials = nth_message(&shared, 2).await;
    let username = line(&credentials, "Username: ");
    let temporary = line(&credentials, "Temporary password: ");
    let (status, session) = server.sign_in(&username, &temporary).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = session["token"].as_str().unwrap();
    let (status, _) = server
        .call(
            Method::PUT,
            "/v1/me/password",
            Some(token),
            Some(json!({"current_password": temporary,
                        "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // The password exists only in the delivered message: no body left, no file written.
    wait_for_outbox(&server, 0).await;
    assert_eq!(
        shared.accepted.lock().unwrap().len(),
        2,
        "each message once"
    );
    assert!(!server.mail_dir().exists(), "no .eml files with SMTP set");
    // Three deliveries (the refused one, the invitation again, the credentials), two sign-ins:
    // the relay closed the session that refused (421), and the credentials went over the
    // pooled session that delivered the invitation.
    assert_eq!(
        shared.signed_in.load(Ordering::SeqCst),
        2,
        "connections are reused"
    );
}

/// Waits (bounded) until exactly `n` outbox messages still hold their body.
async fn wait_for_outbox(server: &TestServer, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.outbox_bodies_left().await != n {
        assert!(Instant::now() < deadline, "outbox never held {n} bodies");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
