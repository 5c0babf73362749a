//! The read side: the gap-safe global feed of events, the projection runner and the read
//! models it keeps, and the e-mail reactor.
//!
//! Depends on `domain` (event shapes and upcasters) and `migrations` (the storage handle);
//! never on `commands`.

pub mod feed;
pub mod mail;
pub mod models;
pub mod reads;
pub mod runner;
pub mod store;

pub use feed::{read_feed, BadCursor, FeedCursor, FeedError, FeedEvent};
