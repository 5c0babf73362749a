//! Auditors' reads (role `auditor`, read-only): a case's events with their hashes, a case as
//! it stood at a past version or time, the global feed (optionally one actor's events between
//! two times), the record of auditors' own reads, and a verification of the whole log.
//!
//! Every request to these routes is recorded in `audit_reads` before anything is read
//! ([`record_read`]); if the record cannot be written, the read is refused with 503. Nothing
//! here writes to the event log: a read leaves the case's stream and version as they were.

use crate::http::access::{Resource, AUDITOR};
use crate::http::extract::Path;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use chrono::{DateTime, Utc};
use prconfirm_commands::audit::read::{self, EventFilter};
use prconfirm_commands::audit::reads::{self, ReadRecord};
use prconfirm_commands::audit::replay::{self, Cut};
use prconfirm_commands::audit::{self as chain, keys, Cursor};
use prconfirm_domain::values::ActorId;
use serde::Deserialize;
use serde_json::json;

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
    Resource::new()
        .route(
            "/v1/audit/cases/{id}/events",
            get(case_events),
            &[(Method::GET, AUDITOR)],
        )
        .route(
            "/v1/audit/cases/{id}/state",
            get(case_state),
            &[(Method::GET, AUDITOR)],
        )
        .route("/v1/audit/events", get(events), &[(Method::GET, AUDITOR)])
        .route(
            "/v1/audit/reads",
            get(recorded_reads),
            &[(Method::GET, AUDITOR)],
        )
        .route(
            "/v1/audit/verification",
            post(verification),
            &[(Method::POST, AUDITOR)],
        )
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

/// Every event of the case as stored, in sequence order, with its hash and link.
async fn case_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let events = read::case_events(&state.db, &id).await?;
    let version = events.last().ok_or(ApiError::NotFound)?.sequence;
    Ok(Json(json!({ "case_id": id, "version": version, "events": events })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    as_of: Option<DateTime<Utc>>,
    version: Option<u64>,
}

/// The case as it stood at `as_of` or at `version`, replayed from its events.
async fn case_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<StateQuery>,
) -> Result<Response, ApiError> {
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
    Ok(Json(json!({
        "case_id": id,
        "version": past.version,
        "stage": past.case.stage.name(),
        "case": past.case,
        "last_event_at": past.last_event_at,
    }))
    .into_response())
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    after: Option<String>,
    limit: Option<u32>,
    actor: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// The global feed from a cursor, optionally one actor's events that occurred in `[from, to)`.
async fn events(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<FeedQuery>,
) -> Result<Response, ApiError> {
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
    let events = read::events(&state.db, &filter, after, limit).await?;
    let next = events.last().map_or(after, |e| e.cursor);
    Ok(Json(json!({ "events": events, "next_cursor": next })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadsQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// The record of auditors' reads, oldest first (this very read included, once settled).
async fn recorded_reads(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ReadsQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = page(query.after.as_deref(), query.limit)?;
    let reads = reads::reads_after(&state.db, after, limit).await?;
    let next = reads.last().map_or(after, |r| r.cursor);
    Ok(Json(json!({ "reads": reads, "next_cursor": next })).into_response())
}

/// Recomputes every chain and every stored checkpoint (signatures checked with the public
/// half of this server's audit key) and answers the report.
async fn verification(State(state): State<AppState>) -> Result<Response, ApiError> {
    let trusted = keys::public_key_for(&state.settings.audit_key_path).map_err(|e| {
        tracing::error!(error = %e, "cannot read the audit public key");
        ApiError::Internal
    })?;
    let report = chain::verify(&state.db, trusted.as_ref(), None, |_| {}).await?;
    Ok(Json(report).into_response())
}
