//! The `prconfirm` service: settings, start-up, the HTTP API (axum) and the operator CLI.
//!
//! Depends on `commands` (the write side), `projections` (the read side), `migrations`
//! (storage) and `domain`. Nothing depends on it.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod consumers_cli;
pub mod ecopr;
pub mod error;
pub mod idempotency;
pub mod openapi;
pub mod projections_cli;
pub mod request;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod workers;
