//! The language of permanent-residence confirmation: the case aggregate (commands, events,
//! state, the rules that decide between them) and its value types.
//!
//! Pure: no I/O, no clock, no randomness. What a rule needs from outside (the time, who asks,
//! a drawn document number) comes in with the command. Depends on nothing in this workspace;
//! every other crate depends on it.

pub mod case;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod photo_quality;
pub mod values;

pub use case::{Case, CaseCommand, CaseError, CaseEvent, CaseRequest, Ctx};
