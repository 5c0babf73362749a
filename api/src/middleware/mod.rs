//! The layers every matched route passes through: who may call it ([`auth`]) and the replay
//! of a command already done ([`idempotency`]).

pub mod auth;
pub mod idempotency;
