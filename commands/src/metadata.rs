//! The metadata every event carries: who, in which role, in answer to which request and
//! command, when, and under which idempotency key.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use prconfirm_domain::values::ActorId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Metadata keys, as stored in the log.
pub mod keys {
    pub const ACTOR_ID: &str = "actor_id";
    pub const ACTOR_ROLE: &str = "actor_role";
    pub const CORRELATION_ID: &str = "correlation_id";
    pub const CAUSATION_ID: &str = "causation_id";
    pub const COMMAND: &str = "command";
    pub const OCCURRED_AT: &str = "occurred_at";
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
    pub const REQUEST_HASH: &str = "request_hash";
}

/// The role an actor acted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorRole {
    Applicant,
    Officer,
    Auditor,
    Analyst,
    /// Timers and reactors.
    System,
    /// Someone holding an invitation code, before any account exists.
    Invitee,
}

impl ActorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "applicant",
            Self::Officer => "officer",
            Self::Auditor => "auditor",
            Self::Analyst => "analyst",
            Self::System => "system",
            Self::Invitee => "invitee",
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: ActorId,
    pub role: ActorRole,
}

impl Actor {
    pub fn new(id: ActorId, role: ActorRole) -> Self {
        Self { id, role }
    }
    /// The system actor, for timers and reactors.
    pub fn system() -> Self {
        Self::new(ActorId::system(), ActorRole::System)
    }
}

/// What the caller knows about the request a command comes from.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub actor: Actor,
    /// The request's id; every event caused by one request shares it.
    pub correlation_id: Uuid,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request (method, path, body) that carried the idempotency key.
    pub request_hash: Option<String>,
    /// Refuse the command unless the case is at this version (HTTP `If-Match`).
    pub expected_version: Option<u64>,
}

impl RequestMeta {
    /// A request with a fresh correlation id and no idempotency key.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            correlation_id: Uuid::new_v4(),
            idempotency_key: None,
            request_hash: None,
            expected_version: None,
        }
    }
}

/// The metadata written on each event of one command: `causation_id` is the id of the
/// command message itself, fresh for every command.
pub(crate) fn event_metadata(
    meta: &RequestMeta,
    command: &str,
    causation_id: Uuid,
    at: DateTime<Utc>,
) -> HashMap<String, String> {
    let mut m = HashMap::with_capacity(7);
    m.insert(keys::ACTOR_ID.into(), meta.actor.id.as_str().into());
    m.insert(keys::ACTOR_ROLE.into(), meta.actor.role.as_str().into());
    m.insert(keys::CORRELATION_ID.into(), meta.correlation_id.to_string());
    m.insert(keys::CAUSATION_ID.into(), causation_id.to_string());
    m.insert(keys::COMMAND.into(), command.into());
    m.insert(
        keys::OCCURRED_AT.into(),
        at.to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    if let Some(key) = &meta.idempotency_key {
        m.insert(keys::IDEMPOTENCY_KEY.into(), key.clone());
    }
    if let Some(hash) = &meta.request_hash {
        m.insert(keys::REQUEST_HASH.into(), hash.clone());
    }
    m
}
