//! The read side: the gap-safe global feed of events that every read model, reactor and
//! audit reader consumes.
//!
//! Depends on `domain` (event shapes and upcasters) and `migrations` (the storage handle);
//! never on `commands`.

pub mod feed;

pub use feed::{read_feed, BadCursor, FeedCursor, FeedError, FeedEvent};
pub mod mail;
