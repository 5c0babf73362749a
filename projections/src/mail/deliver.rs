//! The `mail_delivery` reactor: the outbox's queued messages, handed to the outlet.

use std::path::Path;

use async_trait::async_trait;
use chrono::Utc;
use futures::{stream, StreamExt};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncTransport, Message};
use prconfirm_migrations::on_conn;

use super::outbox::Outlet;
use crate::runtime::parked::{self, millis, Why};
use crate::runtime::reactor::checkpoint;
use crate::runtime::{Consumer, Kind, Round, RoundError};
use crate::store::Conn;

const NAME: &str = "mail_delivery";
const FROM: &str = "Confirmation of PR <no-reply@prconfirm.example>";
/// Messages looked at per round.
const PAGE: i64 = 100;
/// Messages handed to an SMTP relay at once, each on a connection of the transport's pool.
/// lettre (0.11.23) leaves Nagle on and writes a message's end on its own, so each message
/// waits out the relay's delayed ACK (40 ms on Linux); several at once keep the relay busy
/// meanwhile.
const SMTP_AT_ONCE: usize = 8;

/// Builds the message `id` for `recipient`.
///
/// # Errors
/// Why it cannot be built (an address the builder cannot write, say): never the body.
pub fn build(id: &str, recipient: &str, subject: &str, body: String) -> Result<Message, String> {
    let from: Mailbox = FROM.parse().map_err(|e| format!("sender: {e}"))?;
    let to: Mailbox = recipient
        .parse()
        .map_err(|e| format!("recipient address: {e}"))?;
    // Quoted-printable leaves short ASCII lines ("Invitation code: ...") as written, where
    // base64 would hide them, and still carries accents and long lines safely.
    let body = Body::new_with_encoding(body, ContentTransferEncoding::QuotedPrintable)
        .unwrap_or_else(Body::new);
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{id}@prconfirm.example>")))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// Why a message was not delivered.
enum Undelivered {
    /// Not this message's fault: the outlet is out of reach. The round stops.
    Outage(String),
    /// It may go through later (a 4xx).
    Failed(String),
    /// It never will as it is (a 5xx).
    Refused(String),
}

/// Delivers the outbox's messages through an [`Outlet`].
#[derive(Debug)]
pub struct MailSender {
    outlet: Outlet,
}

impl MailSender {
    pub fn new(outlet: Outlet) -> Self {
        Self { outlet }
    }

    /// Runs one round on `conn` outside the runtime (tests, tools): as [`Consumer::round`].
    ///
    /// # Errors
    /// As [`Consumer::round`].
    pub async fn run_once(&self, conn: &mut Conn<'_>) -> Result<Round, RoundError> {
        self.round(conn, 0).await
    }

    async fn deliver(&self, id: &str, message: Message) -> Result<(), Undelivered> {
        match &self.outlet {
            Outlet::Files(dir) => write_file(dir, id, &message).map_err(Undelivered::Outage),
            Outlet::Smtp(transport) => match transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(Undelivered::Refused(e.to_string())),
                Err(e) if e.is_transient() || e.is_response() => {
                    Err(Undelivered::Failed(e.to_string()))
                }
                // No answer from the relay at all: unreachable, timed out, TLS.
                Err(e) => Err(Undelivered::Outage(e.to_string())),
            },
        }
    }
}

/// Writes `message` as `<dir>/<id>.eml` by rename, so a reader never sees half a message.
fn write_file(dir: &Path, id: &str, message: &Message) -> Result<(), String> {
    let path = dir.join(format!("{id}.eml"));
    let partial = dir.join(format!(".{id}.eml.partial"));
    prconfirm_migrations::private::create_dir(dir)
        .and_then(|()| prconfirm_migrations::private::create_file(&partial))
        .and_then(|mut file| std::io::Write::write_all(&mut file, &message.formatted()))
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The case and event a message tells of, from its id `<case>-<sequence>`.
fn place(id: &str) -> (&str, i64) {
    id.rsplit_once('-')
        .and_then(|(case, seq)| Some((case, seq.parse().ok()?)))
        .unwrap_or((id, 0))
}

/// A queued message: id, recipient, subject, body, attempts that failed before.
type Pending = (String, String, String, String, i32);

#[async_trait]
impl Consumer for MailSender {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> Kind {
        Kind::Reactor
    }

    async fn round(&self, conn: &mut Conn<'_>, _failures: u32) -> Result<Round, RoundError> {
        let now = Utc::now();
        let sql = "SELECT o.id, o.recipient, o.subject, o.body, COALESCE(p.attempts, 0) \
                   FROM mail_outbox o LEFT JOIN consumer_parked p \
                   ON p.consumer = $1 AND p.item = o.id \
                   WHERE o.sent_at IS NULL AND o.body IS NOT NULL \
                   AND (p.item IS NULL OR (NOT p.refused AND p.next_attempt_at <= $2)) \
                   ORDER BY o.created_at, o.id LIMIT $3";
        let pending: Vec<Pending> = on_conn!(conn, |c| sqlx::query_as(sql)
            .bind(NAME)
            .bind(millis(now))
            .bind(PAGE)
            .fetch_all(&mut **c)
            .await)?;
        let full = pending.len() >= PAGE as usize;
        let at_once = match self.outlet {
            Outlet::Files(_) => 1,
            Outlet::Smtp(_) => SMTP_AT_ONCE,
        };
        let outcomes: Vec<(String, i32, Result<(), Undelivered>)> = stream::iter(pending)
            .map(|(id, recipient, subject, body, attempts)| async move {
                let outcome = match build(&id, &recipient, &subject, body) {
                    Ok(message) => self.deliver(&id, message).await,
                    Err(e) => Err(Undelivered::Refused(e)),
                };
                (id, attempts, outcome)
            })
            .buffered(at_once)
            .collect()
            .await;
        let mut sent = Vec::new();
        let mut parks = Vec::new();
        let mut outage = None;
        for (id, attempts, outcome) in outcomes {
            match outcome {
                Ok(()) => sent.push((id, attempts)),
                // Stays queued, as it was; what went out meanwhile is still marked sent.
                Err(Undelivered::Outage(e)) => outage = Some(e),
                Err(Undelivered::Failed(e)) => parks.push((id, attempts, Why::Failed(e))),
                Err(Undelivered::Refused(e)) => parks.push((id, attempts, Why::Refused(e))),
            }
        }
        let passed = sent.len() + parks.len();
        if passed > 0 {
            conn.execute(conn.begin_write()).await?;
            let result: Result<(), sqlx::Error> = async {
                // Sent: the relay has the message, and the outbox keeps only that it went (no
                // body, no address).
                let mark = "UPDATE mail_outbox SET sent_at = $2, body = NULL, recipient = '' WHERE id = $1";
                for (id, attempts) in &sent {
                    on_conn!(conn, |c| sqlx::query(mark)
                        .bind(id)
                        .bind(now)
                        .execute(&mut **c)
                        .await
                        .map(drop))?;
                    if *attempts > 0 {
                        parked::remove(conn, NAME, id).await?;
                    }
                }
                for (id, attempts, why) in &parks {
                    tracing::warn!(message = %id, error = ?why, "message not delivered; parked");
                    parked::park(conn, NAME, id, place(id), why, *attempts, now).await?;
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => conn.execute("COMMIT").await?,
                Err(e) => {
                    if let Err(rollback) = conn.execute("ROLLBACK").await {
                        tracing::warn!(error = %rollback, "rollback failed");
                    }
                    return Err(e.into());
                }
            }
        }
        if let Some(e) = outage {
            return Err(RoundError::Failed(e));
        }
        Ok(Round {
            passed,
            more: full,
            position: None,
        })
    }

    async fn mark_stalled(
        &self,
        conn: &mut Conn<'_>,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        checkpoint::mark_stalled(conn, NAME, error).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_names_its_case_and_event() {
        assert_eq!(
            place("0d9c3f0e-8a1b-4c2d-9e3f-001122334455-7"),
            ("0d9c3f0e-8a1b-4c2d-9e3f-001122334455", 7)
        );
        assert_eq!(place("odd"), ("odd", 0));
    }

    /// The rule the API applies to addresses (`Email::parse`) takes nothing the message
    /// builder cannot write: random addresses from a mix of allowed and troublesome
    /// characters, and every one the rule accepts builds.
    #[test]
    fn every_address_the_portal_accepts_is_one_the_builder_writes() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
        let local = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.\\-éßøΩ中\" ,()<>@\\[\\]:;]{1,24}";
        let domain =
            "[a-zA-Z0-9\\-]{1,12}(\\.[a-zA-Z0-9\\-]{1,12}){0,2}\\.(ca|Com|org|xn--p1ai|c0m|x)";
        let accepted = std::cell::Cell::new(0_u32);
        // A fixed seed: the same 5,000 addresses every run, so the count below is stable.
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 5_000,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        runner
            .run(&(local, domain), |(local, domain)| {
                let raw = format!("{local}@{domain}");
                if let Ok(email) = prconfirm_domain::values::Email::parse(&raw) {
                    accepted.set(accepted.get() + 1);
                    let built = build("c-1", email.as_str(), "s", "b".into());
                    prop_assert!(built.is_ok(), "{raw}: {built:?}");
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        println!("{} of 5,000 addresses accepted and built", accepted.get());
        assert!(
            accepted.get() > 250,
            "only {} addresses accepted",
            accepted.get()
        );
    }

    #[test]
    fn an_address_the_builder_cannot_write_is_a_reason_not_a_panic() {
        for bad in ["not an address", "\"a,b\"@[192.0.2.1]"] {
            assert!(build("c-1", bad, "s", "b".into()).is_err(), "{bad}");
        }
        assert!(build("c-1", "ana@example.ca", "s", "b".into()).is_ok());
    }
}
