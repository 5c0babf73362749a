//! Storage behaviour on a real PostgreSQL (`DATABASE_URL`) and a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod audit;
mod common;
mod documents;
mod lifecycle;
mod log;
mod privacy;
mod projections;
mod reactions;
mod scheduler;
