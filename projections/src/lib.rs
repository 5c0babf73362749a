//! The read side: the gap-safe global feed of events, the one runtime that runs every
//! consumer of it ([`runtime`]: leases, wake-ups, checkpoints, back-off, stalls and parked
//! items), the read models ([`runner`], [`models`]) and the e-mail reactors ([`mail`]).
//!
//! Depends on `domain` (event shapes and upcasters) and `migrations` (the storage handle);
//! never on `commands`.

pub mod feed;
pub mod mail;
pub mod models;
pub mod reads;
pub mod runner;
pub mod runtime;
pub mod store;

pub use feed::{read_feed, BadCursor, FeedCursor, FeedError, FeedEvent};
