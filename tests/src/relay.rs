//! A real SMTP server for the tests: mailin's SMTP state machine (the protocol, with AUTH
//! PLAIN) served over TCP on a port of this machine, keeping what it accepts. It can refuse
//! the next messages at the end of DATA (421), or any message to given recipients (550 at
//! RCPT), so that tests see what the service does with a relay that says no.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder};

pub const RELAY_USER: &str = "prconfirm";
pub const RELAY_PASSWORD: &str = "relay secret 7f3a";

/// One message as the relay received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Shared {
    pub accepted: Mutex<Vec<Received>>,
    /// Messages still to refuse (421) at the end of DATA.
    pub refuse: AtomicUsize,
    pub refused: AtomicUsize,
    pub signed_in: AtomicUsize,
    /// Recipients refused for good (550 at RCPT).
    pub no_such_mailbox: Mutex<HashSet<String>>,
}

/// A handler per connection: mailin calls it at each step of the session.
struct Sink {
    shared: Arc<Shared>,
    current: Received,
}

impl Handler for Sink {
    fn rcpt(&mut self, to: &str) -> Response {
        if self.shared.no_such_mailbox.lock().unwrap().contains(to) {
            mailin::response::NO_MAILBOX
        } else {
            mailin::response::OK
        }
    }

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
pub fn start_relay(port: u16, shared: Arc<Shared>) {
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
    // Each reply leaves in one segment: written piecemeal to a Nagle socket, a reply waits
    // out the client's delayed ACK (40 ms) several times per message.
    stream.set_nodelay(true)?;
    let remote: IpAddr = stream.peer_addr()?.ip();
    let mut writer = BufWriter::new(stream.try_clone()?);
    let mut reader = BufReader::new(stream);
    let mut session = builder.build(
        remote,
        Sink {
            shared,
            current: Received::default(),
        },
    );
    session.greeting().write_to(&mut writer)?;
    writer.flush()?;
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
                return writer.flush();
            }
            Action::NoReply => {}
            Action::UpgradeTls => return Ok(()),
        }
        writer.flush()?;
    }
}

/// Waits (bounded) for the `n`th accepted message and answers it.
pub async fn nth_message(shared: &Shared, n: usize) -> Received {
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
pub fn line(message: &Received, prefix: &str) -> String {
    message
        .data
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {}", message.data))
        .trim_end()
        .to_owned()
}

/// A port on this machine where nothing listens yet.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The SMTP URL of a relay on `port`, with the relay's credentials.
pub fn url(port: u16) -> String {
    format!("smtp://{RELAY_USER}:relay%20secret%207f3a@127.0.0.1:{port}")
}
