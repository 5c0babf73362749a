//! E-mail through a real SMTP server: mailin's SMTP state machine (the protocol, with AUTH
//! PLAIN) served over TCP on a port of this machine, keeping what it accepts. The applicant's
//! credentials travel only by SMTP, are read back from the received messages, and are purged
//! from the outbox once the relay took them; an unreachable or refusing relay leaves the
//! message pending until it takes it.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::invite_body;
use crate::server::{TestDb, TestServer};

on_both_backends_db!(invitation_and_credentials_arrive_by_smtp_once_the_relay_takes_them);

const RELAY_USER: &str = "prconfirm";
const RELAY_PASSWORD: &str = "relay secret 7f3a";

/// One message as the relay received it.
#[derive(Debug, Clone, Default)]
struct Received {
    from: String,
    to: Vec<String>,
    data: String,
}

#[derive(Debug, Default)]
struct Shared {
    accepted: Mutex<Vec<Received>>,
    /// Messages still to refuse (421) at the end of DATA.
    refuse: AtomicUsize,
    refused: AtomicUsize,
    signed_in: AtomicUsize,
}

/// A handler per connection: mailin calls it at each step of the session.
struct Sink {
    shared: Arc<Shared>,
    current: Received,
}

impl Handler for Sink {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: String::new(),
        };
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let refuse = self
            .shared
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if refuse.is_ok() {
            self.shared.refused.fetch_add(1, Ordering::SeqCst);
            // 421 and the connection closes (mailin would stay in its DATA state after a
            // refusal that keeps the connection open).
            return mailin::response::NO_SERVICE;
        }
        let message = std::mem::take(&mut self.current);
        self.shared.accepted.lock().unwrap().push(message);
        mailin::response::OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        if user == RELAY_USER && password == RELAY_PASSWORD {
            self.shared.signed_in.fetch_add(1, Ordering::SeqCst);
            mailin::response::AUTH_OK
        } else {
            mailin::response::INVALID_CREDENTIALS
        }
    }
}

/// Starts the relay on `port` (threads that end with the test process).
fn start_relay(port: u16, shared: Arc<Shared>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut builder = SessionBuilder::new("relay.test");
    // Plain-text AUTH on loopback: the test relay has no certificate.
    builder
        .enable_auth(AuthMechanism::Plain)
        .insecure_enable_plaintext_auth();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let builder = builder.clone();
            let shared = shared.clone();
            std::thread::spawn(move || {
                let _ = session(stream, &builder, shared);
            });
        }
    });
}

fn session(
    stream: TcpStream,
    builder: &SessionBuilder,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let remote: IpAddr = stream.peer_addr()?.ip();
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut session = builder.build(
        remote,
        Sink {
            shared,
            current: Received::default(),
        },
    );
    session.greeting().write_to(&mut writer)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let response = session.process(&line);
        match response.action {
            Action::Reply => response.write_to(&mut writer)?,
            Action::Close => {
                response.write_to(&mut writer)?;
                return Ok(());
            }
            Action::NoReply => {}
            Action::UpgradeTls => return Ok(()),
        }
        writer.flush()?;
    }
}

/// Waits (bounded) for the `n`th accepted message and answers it.
async fn nth_message(shared: &Shared, n: usize) -> Received {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(m) = shared.accepted.lock().unwrap().get(n - 1) {
            return m.clone();
        }
        assert!(Instant::now() < deadline, "no message {n} within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The rest of the line starting with `prefix` in a received message.
fn line(message: &Received, prefix: &str) -> String {
    message
        .data
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {}", message.data))
        .trim_end()
        .to_owned()
}

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
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/v1/invitations/{code}/acceptance"),
            None,
            None,
        )
        .await;
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
