//! The write side: commands reach a case through [`CaseService`], which runs them through
//! cqrs-es's `CqrsFramework<Case>` over postgres-es (PostgreSQL) or sqlite-es (embedded
//! SQLite), stamping every event with who, why and when, and chaining it to its case's
//! previous event by hash ([`audit`]): signed checkpoints and verification live there too.
//! Also the services commands need: clock, accounts, photos and their pre-check, the eCoPR
//! document ([`ecopr`]), and the keys that protect personal data at rest ([`privacy`]).
//!
//! Depends on `domain` (the rules) and `migrations` (the storage handle); never on
//! `projections` or `api`.

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod ecopr;
pub mod generate;
pub use prconfirm_privacy::keyfile;
pub mod metadata;
pub mod photo;
pub use prconfirm_privacy as privacy;
pub mod repository;
pub mod sealing;
pub mod service;

pub use clock::{Clock, ManualClock, SystemClock};
pub use metadata::{Actor, ActorRole, RequestMeta};
pub use service::{CaseService, CommandError, Committed, LoadedCase, ServiceSettings};
