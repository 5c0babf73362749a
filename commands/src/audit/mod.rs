//! Tamper evidence for the event log (`docs/audit.md`).
//!
//! - [`canonical`] and [`chain`]: pure functions, the exact bytes each event's hash covers
//!   and how hashes link per case and fold into a running root over the feed;
//! - [`ChainedRepository`]: the event-store decorator that stamps each event with its hash in
//!   the transaction that appends it.
//!
//! Everything here reads the rows as stored, never upcast: the hash covers what was written.

pub mod canonical;
pub mod chain;
mod repository;

pub use chain::ChainHash;
pub use repository::{ChainError, ChainedRepository};
