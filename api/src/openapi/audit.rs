//! The auditors' routes (`api/src/routes/audit.rs`) in the OpenAPI document, nested under
//! `/v1/audit`: paths here are relative to it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::Problem;

/// One event exactly as stored (payload never upcast, the stored event version), with its
/// place in the feed and its hash chain lifted out of the metadata: re-verifiable from
/// docs/audit.md alone.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// The feed cursor `tx.position`.
    cursor: String,
    position: i64,
    /// Always `case`.
    aggregate_type: String,
    case_id: String,
    sequence: i64,
    /// The event type, e.g. `PhotoAccepted`.
    #[serde(rename = "type")]
    kind: String,
    event_version: String,
    payload: serde_json::Value,
    /// actor_id, actor_role, correlation_id, causation_id, command, occurred_at, ... (what
    /// the hash covers: everything stored but `hash` and `prev_hash`).
    metadata: serde_json::Value,
    /// SHA-256 of prev_hash and the canonical event, 64 hex digits.
    hash: Option<String>,
    /// The previous event's hash; 64 zeros for a case's first event.
    prev_hash: Option<String>,
    /// When the database stored it (not covered by the hash).
    recorded_at: DateTime<Utc>,
}

/// Every event of one case.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CaseEvents {
    case_id: String,
    /// The sequence of the case's last event.
    version: u64,
    events: Vec<AuditEvent>,
}

/// One page of the global feed.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EventsPage {
    events: Vec<AuditEvent>,
    /// Give it as `after` for the next page (the `after` given, when the page is empty).
    next_cursor: String,
}

/// The case as it stood then, replayed from its events.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PastCase {
    case_id: String,
    /// How many events were applied; 0 if the case did not exist yet.
    version: u64,
    stage: String,
    /// The aggregate's state, as `GET /v1/cases/{id}` shows it.
    case: serde_json::Value,
    /// When the last event applied occurred (`metadata.occurred_at`).
    last_event_at: Option<DateTime<Utc>>,
}

/// One recorded read by an auditor.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RecordedRead {
    cursor: String,
    position: i64,
    read_at: DateTime<Utc>,
    actor_id: String,
    actor_role: String,
    /// The request's `X-Request-Id`.
    correlation_id: String,
    method: String,
    /// The route template, e.g. `/v1/audit/cases/{id}/events`.
    route: String,
    case_id: Option<String>,
    /// The query string as sent.
    query: Option<String>,
}

/// One page of recorded reads.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReadsPage {
    reads: Vec<RecordedRead>,
    next_cursor: String,
}

/// The first problem verification met.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// The case of the bad event; null for a checkpoint.
    case: Option<String>,
    sequence: Option<i64>,
    position: Option<i64>,
    /// `{code, ...}`: not_canonical, missing_hash, unexpected_sequence, broken_link,
    /// hash_mismatch, checkpoint_signature, checkpoint_mismatch.
    reason: serde_json::Value,
    detail: String,
}

/// The report of a verification of the whole log.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Verification {
    verified: bool,
    events_checked: u64,
    cases_checked: u64,
    checkpoints_checked: u64,
    problems: u64,
    first_bad: Option<Finding>,
}

#[utoipa::path(get, path = "/cases/{id}/events", tag = "auditors", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CaseEvents),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage unavailable, or the read could not be recorded",
            body = Problem, content_type = "application/problem+json")))]
fn case_events() {}

#[utoipa::path(get, path = "/cases/{id}/state", tag = "auditors", security(("bearer" = [])),
    params(("id" = String, Path),
        ("as_of" = Option<DateTime<Utc>>, Query,
            description = "RFC 3339: the case after every event that occurred at or before it"),
        ("version" = Option<u64>, Query, description = "the case after its first N events")),
    responses((status = 200, body = PastCase),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not exactly one of as_of and version, or a version the \
            case never reached", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage unavailable, or the read could not be recorded",
            body = Problem, content_type = "application/problem+json")))]
fn case_state() {}

#[utoipa::path(get, path = "/events", tag = "auditors", security(("bearer" = [])),
    params(("after" = Option<String>, Query, description = "cursor tx.position; default 0.0"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "default 100"),
        ("actor" = Option<String>, Query, description = "only this actor's events"),
        ("from" = Option<DateTime<Utc>>, Query, description = "occurred at or after (RFC 3339)"),
        ("to" = Option<DateTime<Utc>>, Query, description = "occurred before (RFC 3339)")),
    responses((status = 200, body = EventsPage),
        (status = 422, description = "a bad cursor, limit, actor or time",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage unavailable, or the read could not be recorded",
            body = Problem, content_type = "application/problem+json")))]
fn events() {}

#[utoipa::path(get, path = "/reads", tag = "auditors", security(("bearer" = [])),
    params(("after" = Option<String>, Query, description = "cursor tx.position; default 0.0"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "default 100")),
    responses((status = 200, body = ReadsPage),
        (status = 422, description = "a bad cursor or limit",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage unavailable, or the read could not be recorded",
            body = Problem, content_type = "application/problem+json")))]
fn reads() {}

#[utoipa::path(post, path = "/verification", tag = "auditors", security(("bearer" = [])),
    responses((status = 200, body = Verification),
        (status = 503, description = "storage unavailable, or the read could not be recorded",
            body = Problem, content_type = "application/problem+json")))]
fn verification() {}

/// The auditors' part of the document.
#[derive(OpenApi)]
#[openapi(paths(case_events, case_state, events, reads, verification))]
pub struct AuditApi;
