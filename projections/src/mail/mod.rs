//! E-mail, fed from the event log, in two consumers of the runtime:
//!
//! - [`MailComposer`] (reactor `mail`): turns the events that call for a message into rows
//!   of the outbox (`mail_outbox`), one per event, in one transaction with its checkpoint.
//!   Secrets a message must carry (the invitation code) are parked before their event is
//!   appended ([`store_secret`]) and consumed by the composition. Other reactors queue their
//!   own messages in their own transactions ([`queue`]): the credentials (`accounts`), the
//!   "eCoPR ready" notice (`ecopr`).
//! - [`MailSender`] (reactor `mail_delivery`): hands each queued message to the [`Outlet`],
//!   an SMTP relay or `<mail dir>/<id>.eml`, then marks it sent and purges its body, which
//!   held the secret. At least once: a crash between the two sends the message again, with
//!   the same `Message-ID` (and, as a file, to the same name). A message that cannot be built
//!   or that the relay refuses is parked ([`crate::runtime::parked`]): refused for good (a
//!   5xx, an address no builder can write) until an operator retries it, or tried again with
//!   back-off (a 4xx); the messages behind it go on. A relay out of reach stops the round.
//!
//! Message ids are `<case>-<sequence>` of the event they tell of, so a message is never
//! queued twice and its `.eml` file keeps its name.

mod compose;
mod deliver;
mod outbox;
pub mod status;
pub mod text;

pub use compose::MailComposer;
pub use deliver::{build, MailSender};
pub use outbox::{
    language_code, message_id, queue, store_secret, Envelope, MailError, MailKind, Outlet,
    SecretKind,
};
pub use status::{messages, MessageState, MessageStatus};
