//! Tamper evidence for the event log (`docs/audit.md`).
//!
//! - [`canonical`] and [`chain`]: pure functions, the exact bytes each event's hash covers
//!   and how hashes link per case and fold into a running root over the feed.
//!
//! Everything here reads the rows as stored, never upcast: the hash covers what was written.

pub mod canonical;
pub mod chain;

pub use chain::ChainHash;
