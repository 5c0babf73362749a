//! The `prconfirm` service: settings, start-up, the HTTP API (axum) and the operator CLI.
//!
//! Depends on `commands` (the write side), `projections` (the read side), `migrations`
//! (storage) and `domain`. Nothing depends on it.

pub mod audit;
pub mod cli;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
