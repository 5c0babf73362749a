//! The `prconfirm` service: settings, start-up, the HTTP API (axum), the consumers of the log
//! that need the write side, and the operator CLI.
//!
//! Depends on `commands` (the write side), `projections` (the read side), `migrations`
//! (storage) and `domain`. Nothing depends on it. Layers, each importing only those below
//! it: `settings`, `state` and `documents`; `http` (what routes share); `middleware`;
//! `routes` (one router per resource, composed in `routes/mod.rs`) and `openapi`;
//! `workers` (consumers of the log); `startup`; `cli`.

pub mod cli;
pub mod documents;
pub mod http;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod workers;
