//! Auditors' reads (role `auditor`, read-only): a case's events with their hashes, a case as
//! it stood at a past version or time, the global feed (optionally one actor's events between
//! two times), the record of auditors' own reads, and a verification of the whole log.
//!
//! Every request to these routes is recorded in `audit_reads` before anything is read
//! ([`record_read`]); if the record cannot be written, the read is refused with 503. Nothing
//! here writes to the event log: a read leaves the case's stream and version as they were.

use crate::http::access::{Access, Resource, AUDITOR};
use crate::http::extract::Path;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use prconfirm_commands::audit::read::AuditEvent;
use prconfirm_commands::audit::read::{self, EventFilter};
use prconfirm_commands::audit::reads::RecordedRead;
use prconfirm_commands::audit::reads::{self, ReadRecord};
use prconfirm_commands::audit::replay::{self, Cut};
use prconfirm_commands::audit::verify::Report;
use prconfirm_commands::audit::{self as chain, keys, Cursor};
use prconfirm_domain::case::{Case, StageName};
use prconfirm_domain::values::ActorId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use crate::http::error::Problem;

use crate::http::error::ApiError;
use crate::http::request::correlation_id;
use crate::http::Caller;
use crate::http::QueryParams;
use crate::state::AppState;

/// Events or reads per page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most events or reads one page holds.
pub const MAX_LIMIT: u32 = 1000;

/// Auditors: read-only, and every call recorded in `audit_reads`.
pub fn resource() -> Resource {
    const GET: &[(Method, Access)] = &[(Method::GET, AUDITOR)];
    Resource::new()
        .route(routes!(case_events), GET)
        .route(routes!(case_state), GET)
        .route(routes!(events), GET)
        .route(routes!(recorded_reads), GET)
        .route(routes!(verification), &[(Method::POST, AUDITOR)])
        .wrapped(|routes, state| {
            routes.route_layer(middleware::from_fn_with_state(state.clone(), record_read))
        })
}

/// Records the read about to happen (who, which route, which case, which query, the request's
/// correlation id), durably, before the handler reads anything. Runs after `auth::authorize`,
/// so only auditors' reads reach it.
async fn record_read(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let case_id = params.ok().and_then(|p| {
        p.iter()
            .find(|(k, _)| *k == "id")
            .map(|(_, v)| v.to_owned())
    });
    let correlation = correlation_id().map(|c| c.to_string()).unwrap_or_default();
    let record = ReadRecord {
        actor_id: &caller.0.username,
        actor_role: caller.0.role.as_str(),
        correlation_id: &correlation,
        method: request.method().as_str(),
        route: &route,
        case_id: case_id.as_deref(),
        query: request.uri().query(),
    };
    if let Err(e) = reads::record(&state.db, &record).await {
        // Whatever the cause: a read that is not on record must not happen.
        tracing::error!(error = %e, route, "cannot record an auditor's read; refused");
        return ApiError::Unavailable.into_response();
    }
    next.run(request).await
}

/// The case an auditor reads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct CaseId {
    id: String,
}

/// Every event of one case.
#[derive(Debug, Serialize, ToSchema)]
struct CaseEvents {
    case_id: String,
    /// The sequence of the case's last event.
    version: i64,
    events: Vec<AuditEvent>,
}

/// Every event of the case as stored, in sequence order, with its hash and link.
#[utoipa::path(get, path = "/v1/audit/cases/{id}/events", tag = "auditors", params(CaseId),
    responses((status = 200, body = CaseEvents)))]
async fn case_events(
    State(state): State<AppState>,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Json<CaseEvents>, ApiError> {
    let mut events = read::case_events(&state.db, &id).await?;
    read::open_personal(&state.privacy.persons, &mut events).await?;
    let version = events.last().ok_or(ApiError::NotFound)?.sequence;
    Ok(Json(CaseEvents {
        case_id: id,
        version,
        events,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    /// RFC 3339: the case after every event that occurred at or before it.
    as_of: Option<DateTime<Utc>>,
    /// The case after its first N events.
    version: Option<u64>,
}

/// The case as it stood then, replayed from its events.
#[derive(Debug, Serialize, ToSchema)]
struct PastCase {
    case_id: String,
    /// How many events were applied; 0 if the case did not exist yet.
    version: u64,
    stage: StageName,
    /// The aggregate's state, as `GET /v1/cases/{id}` shows it.
    #[schema(value_type = Object)]
    case: Case,
    /// When the last event applied occurred (`metadata.occurred_at`).
    last_event_at: Option<DateTime<Utc>>,
}

/// The case as it stood at `as_of` or at `version` (exactly one of them), replayed from its
/// events.
#[utoipa::path(get, path = "/v1/audit/cases/{id}/state", tag = "auditors", params(CaseId, StateQuery),
    responses((status = 200, body = PastCase),
        (status = 422, description = "not exactly one of as_of and version, or a version the \
            case never reached", body = Problem, content_type = "application/problem+json")))]
async fn case_state(
    State(state): State<AppState>,
    Path(CaseId { id }): Path<CaseId>,
    QueryParams(query): QueryParams<StateQuery>,
) -> Result<Json<PastCase>, ApiError> {
    let cut = match (query.as_of, query.version) {
        (Some(t), None) => Cut::AsOf(t),
        (None, Some(n)) => Cut::Version(n),
        _ => {
            return Err(ApiError::Invalid {
                code: "as_of_or_version",
                detail: "give exactly one of as_of (an RFC 3339 time) and version".into(),
            })
        }
    };
    let past = replay::case_at(&state.cases, &id, cut)
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Cut::Version(n) = cut {
        if n > past.version {
            return Err(ApiError::Invalid {
                code: "version_not_reached",
                detail: format!("the case has {} events, not {n}", past.version),
            });
        }
    }
    Ok(Json(PastCase {
        case_id: id,
        version: past.version,
        stage: past.case.stage.name(),
        case: past.case,
        last_event_at: past.last_event_at,
    }))
}

/// A page position: `after` (a cursor `tx.position`, default the start) and `limit`.
fn page(after: Option<&str>, limit: Option<u32>) -> Result<(Cursor, u32), ApiError> {
    let after = match after {
        None => Cursor::START,
        Some(text) => text
            .parse()
            .map_err(|e: chain::BadCursor| ApiError::Invalid {
                code: "bad_cursor",
                detail: e.to_string(),
            })?,
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit is 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
        )));
    }
    Ok((after, limit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    /// A cursor `tx.position` (default the start, `0.0`).
    #[param(pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$")]
    after: Option<String>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only this actor's events.
    #[param(pattern = "^[a-z0-9._@-]{1,64}$")]
    actor: Option<String>,
    /// Occurred at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Occurred before (RFC 3339); after `from`.
    to: Option<DateTime<Utc>>,
}

/// One page of the global feed.
#[derive(Debug, Serialize, ToSchema)]
struct EventsPage {
    events: Vec<AuditEvent>,
    /// Give it as `after` for the next page (the `after` given, when the page is empty).
    #[schema(value_type = String)]
    next_cursor: Cursor,
}

/// The global feed from a cursor, optionally one actor's events that occurred in `[from, to)`.
#[utoipa::path(get, path = "/v1/audit/events", tag = "auditors", params(FeedQuery),
    responses((status = 200, body = EventsPage)))]
async fn events(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<FeedQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let (after, limit) = page(query.after.as_deref(), query.limit)?;
    let actor = query
        .actor
        .as_deref()
        .map(ActorId::parse)
        .transpose()?
        .map(|a| a.as_str().to_owned());
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if from >= to {
            return Err(ApiError::invalid("from must be before to"));
        }
    }
    let filter = EventFilter {
        actor,
        from: query.from,
        to: query.to,
    };
    let mut events = read::events(&state.db, &filter, after, limit).await?;
    read::open_personal(&state.privacy.persons, &mut events).await?;
    let next = events.last().map_or(after, |e| e.cursor);
    Ok(Json(EventsPage {
        events,
        next_cursor: next,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReadsQuery {
    /// A cursor `tx.position` (default the start, `0.0`).
    #[param(pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$")]
    after: Option<String>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// One page of recorded reads.
#[derive(Debug, Serialize, ToSchema)]
struct ReadsPage {
    reads: Vec<RecordedRead>,
    /// Give it as `after` for the next page.
    #[schema(value_type = String)]
    next_cursor: Cursor,
}

/// The record of auditors' reads, oldest first (this very read included, once settled).
#[utoipa::path(get, path = "/v1/audit/reads", tag = "auditors", params(ReadsQuery),
    responses((status = 200, body = ReadsPage)))]
async fn recorded_reads(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ReadsQuery>,
) -> Result<Json<ReadsPage>, ApiError> {
    let (after, limit) = page(query.after.as_deref(), query.limit)?;
    let reads = reads::reads_after(&state.db, after, limit).await?;
    let next = reads.last().map_or(after, |r| r.cursor);
    Ok(Json(ReadsPage {
        reads,
        next_cursor: next,
    }))
}

/// Recomputes every chain and every stored checkpoint (signatures checked with the public
/// half of this server's audit key) and answers the report.
#[utoipa::path(post, path = "/v1/audit/verification", tag = "auditors",
    responses((status = 200, body = Report)))]
async fn verification(State(state): State<AppState>) -> Result<Json<Report>, ApiError> {
    let trusted = keys::public_key_for(&state.settings.audit_key_path).map_err(|e| {
        tracing::error!(error = %e, "cannot read the audit public key");
        ApiError::Internal
    })?;
    let report = chain::verify(&state.db, trusted.as_ref(), None, |_| {}).await?;
    Ok(Json(report))
}
