//! The layers every matched route passes through: who may call it ([`auth`]) and the replay
//! of a command already done ([`idempotency`]); and before them all, a 503 at once while the
//! database refuses connections ([`outage`]).

pub mod auth;
pub mod idempotency;
pub mod outage;
