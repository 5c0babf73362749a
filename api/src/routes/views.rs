//! Reads served from the projections: the officers' queue and case search, the analysts'
//! figures (JSON, or CSV with `Accept: text/csv`).

use crate::http::access::{Access, Resource, ANALYST, OFFICER};
use axum::extract::State;
use axum::http::Method;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use prconfirm_domain::case::StageName;
use prconfirm_projections::models::TaskKind;
use prconfirm_projections::reads::{
    self, CaseSearch, ClaimFilter, DailyRow, DecisionRow, DurationRow, FoundCase, FunnelRow,
    PhotoReturns, QueueItem, QueueQuery, ReasonRow,
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::routes;

use crate::http::error::ApiError;
use crate::http::QueryParams;
use crate::state::AppState;

/// Default and largest page sizes.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// Served from the projections: the officers' queue and the analysts' figures.
pub fn resource() -> Resource {
    const ANALYSTS: &[(Method, Access)] = &[(Method::GET, ANALYST)];
    Resource::new()
        .route(routes!(queue), &[(Method::GET, OFFICER)])
        .route(routes!(funnel), ANALYSTS)
        .route(routes!(durations), ANALYSTS)
        .route(routes!(photo_returns), ANALYSTS)
        .route(routes!(daily), ANALYSTS)
        .route(routes!(officers), ANALYSTS)
}

fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Invalid {
            code: "invalid_query",
            detail: format!("limit must be between 1 and {MAX_PAGE}"),
        }),
    }
}

/// A list answer: the items as a JSON array, and the next page's cursor, if any, in
/// `Link: <...>; rel="next"` and `Next-Cursor`.
fn page<T: Serialize>(path: &str, query: &str, items: &[T], next: Option<String>) -> Response {
    let mut response = Json(items).into_response();
    if let Some(cursor) = next {
        let encoded = urlencode(&cursor);
        let sep = if query.is_empty() { "" } else { "&" };
        let link = format!("<{path}?{query}{sep}cursor={encoded}>; rel=\"next\"");
        if let (Ok(link), Ok(cursor)) = (
            HeaderValue::from_str(&link),
            HeaderValue::from_str(&encoded),
        ) {
            response.headers_mut().insert(header::LINK, link);
            response.headers_mut().insert("next-cursor", cursor);
        }
    }
    response
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn bad_cursor() -> ApiError {
    ApiError::Invalid {
        code: "invalid_cursor",
        detail: "cursor is not one this API handed out".into(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct QueueParams {
    /// Only this kind of task.
    #[param(value_type = Option<TaskKind>)]
    task: Option<String>,
    /// `true`: claimed (lease running); `false`: free; absent: both.
    claimed: Option<bool>,
    /// Only cases this officer holds.
    claimed_by: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// From the previous page's `Next-Cursor`.
    #[param(pattern = "^-?[0-9]{1,15}~[!-~]{1,64}$")]
    cursor: Option<String>,
    /// With `case_id`: wait (bounded) until the queue reflects at least this version of
    /// that case; 422 `version_not_reached` if the case's log has no such version.
    min_version: Option<u64>,
    /// With `min_version`: the case to wait for.
    case_id: Option<String>,
}

/// Cursor of the queue: `<due_by ms>~<case id>`.
fn parse_queue_cursor(s: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let (ms, id) = s.split_once('~').ok_or_else(bad_cursor)?;
    let ms: i64 = ms.parse().map_err(|_| bad_cursor())?;
    let at = Utc
        .timestamp_millis_opt(ms)
        .single()
        .ok_or_else(bad_cursor)?;
    if id.is_empty() || id.len() > 64 {
        return Err(bad_cursor());
    }
    Ok((at, id.to_owned()))
}

/// Open tasks, the oldest due first.
#[utoipa::path(get, path = "/v1/queue", tag = "officers", params(QueueParams),
    responses((status = 200, body = Vec<QueueItem>, headers(
        ("Link" = String, description = "`<...>; rel=\"next\"` when there is a next page"),
        ("Next-Cursor" = String, description = "the next page's cursor")))))]
async fn queue(
    State(state): State<AppState>,
    QueryParams(p): QueryParams<QueueParams>,
) -> Result<Response, ApiError> {
    let task = p
        .task
        .as_deref()
        .map(|t| {
            TaskKind::parse(t).ok_or_else(|| ApiError::Invalid {
                code: "invalid_query",
                detail: format!("unknown task {t}"),
            })
        })
        .transpose()?;
    let claim = match (p.claimed, p.claimed_by) {
        (_, Some(who)) => ClaimFilter::By(who),
        (Some(true), None) => ClaimFilter::Claimed,
        (Some(false), None) => ClaimFilter::Unclaimed,
        (None, None) => ClaimFilter::Any,
    };
    let limit = page_size(p.limit)?;
    let after = p.cursor.as_deref().map(parse_queue_cursor).transpose()?;
    if let (Some(min), Some(case_id)) = (p.min_version, &p.case_id) {
        let db = state.db.clone();
        let id = case_id.clone();
        crate::http::read::read_at_least(&state, case_id, Some(min), move || {
            let db = db.clone();
            let id = id.clone();
            async move {
                Ok(reads::case_status(&db, &id)
                    .await?
                    .map(|(seq, _)| (seq.unsigned_abs(), ())))
            }
        })
        .await?;
    } else if p.min_version.is_some() {
        return Err(ApiError::Invalid {
            code: "invalid_query",
            detail: "min_version needs case_id".into(),
        });
    }
    let query = QueueQuery {
        task,
        claim,
        now: state.cases.clock().now(),
        after,
        limit: limit + 1,
    };
    let mut items = reads::queue_page(&state.db, &query).await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items
            .last()
            .map(|i| format!("{}~{}", i.due_by.timestamp_millis(), i.case_id))
    } else {
        None
    };
    let mut kept = Vec::new();
    if let Some(t) = task {
        kept.push(format!("task={}", t.as_str()));
    }
    if let Some(c) = query_claim(&query.claim) {
        kept.push(c);
    }
    kept.push(format!("limit={limit}"));
    Ok(page("/v1/queue", &kept.join("&"), &items, next))
}

fn query_claim(claim: &ClaimFilter) -> Option<String> {
    match claim {
        ClaimFilter::Any => None,
        ClaimFilter::Claimed => Some("claimed=true".into()),
        ClaimFilter::Unclaimed => Some("claimed=false".into()),
        ClaimFilter::By(who) => Some(format!("claimed_by={}", urlencode(who))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// A family's cases.
    application_number: Option<String>,
    /// A person's cases: 8 or 10 digits, hyphens and spaces as printed on letters dropped
    /// (matched by its blind index: the view keeps no other form of it).
    uci: Option<String>,
    /// Cases in this stage.
    #[param(value_type = Option<StageName>)]
    stage: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// From the previous page's `Next-Cursor`.
    #[param(max_length = 64)]
    cursor: Option<String>,
}

/// `GET /v1/cases`: cases by application number (a family), UCI (a person) or stage.
#[utoipa::path(get, path = "/v1/cases", tag = "officers", params(SearchParams),
    responses((status = 200, body = Vec<FoundCase>, headers(
        ("Link" = String, description = "`<...>; rel=\"next\"` when there is a next page"),
        ("Next-Cursor" = String, description = "the next page's cursor")))))]
pub async fn search(
    State(state): State<AppState>,
    QueryParams(p): QueryParams<SearchParams>,
) -> Result<Response, ApiError> {
    let limit = page_size(p.limit)?;
    if p.cursor.as_ref().is_some_and(|c| c.len() > 64) {
        return Err(bad_cursor());
    }
    let search = CaseSearch {
        application_number: p.application_number.clone(),
        uci: p.uci.clone(),
        stage: p.stage.clone(),
        after: p.cursor,
        limit: limit + 1,
    };
    let mut found = reads::find_cases(&state.db, &state.privacy.blind_index, &search).await?;
    let next = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(|c| c.case_id.clone())
    } else {
        None
    };
    let mut kept = Vec::new();
    for (name, value) in [
        ("application_number", &p.application_number),
        ("uci", &p.uci),
        ("stage", &p.stage),
    ] {
        if let Some(v) = value {
            kept.push(format!("{name}={}", urlencode(v)));
        }
    }
    kept.push(format!("limit={limit}"));
    Ok(page("/v1/cases", &kept.join("&"), &found, next))
}

/// Whether the caller asked for CSV.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// The rows as JSON, or as CSV (a header line from the field names) if asked.
fn table<T: Serialize>(headers: &HeaderMap, rows: &[T]) -> Result<Response, ApiError> {
    if !wants_csv(headers) {
        return Ok(Json(rows).into_response());
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    for row in rows {
        out.serialize(row).map_err(|e| {
            tracing::error!(error = %e, "csv");
            ApiError::Internal
        })?;
    }
    let bytes = out.into_inner().map_err(|_| ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}

#[utoipa::path(get, path = "/v1/stats/funnel", tag = "analysts",
    responses((status = 200, description = "cases in each stage now; CSV with `Accept: text/csv`",
        content((Vec<FunnelRow> = "application/json"), (String = "text/csv")))))]
async fn funnel(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    table(&headers, &reads::funnel(&state.db).await?)
}

#[utoipa::path(get, path = "/v1/stats/durations", tag = "analysts",
    responses((status = 200, description = "time spent in each stage by the cases that left it; CSV with `Accept: text/csv`",
        content((Vec<DurationRow> = "application/json"), (String = "text/csv")))))]
async fn durations(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    table(&headers, &reads::durations(&state.db).await?)
}

#[utoipa::path(get, path = "/v1/stats/photo-returns", tag = "analysts",
    responses((status = 200, description = "uploads, decisions and return reasons; with `Accept: text/csv`, one line per reason",
        content((PhotoReturns = "application/json"), (Vec<ReasonRow> = "text/csv")))))]
async fn photo_returns(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let returns = reads::photo_returns(&state.db).await?;
    if wants_csv(&headers) {
        return table(&headers, &returns.reasons);
    }
    Ok(Json(returns).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DailyParams {
    /// First day, `YYYY-MM-DD` (default: 30 days ago).
    from: Option<NaiveDate>,
    /// Last day, inclusive (default: today).
    to: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/v1/stats/daily", tag = "analysts", params(DailyParams),
    responses((status = 200, description = "events of each kind per day; CSV with `Accept: text/csv`",
        content((Vec<DailyRow> = "application/json"), (String = "text/csv")))))]
async fn daily(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(p): QueryParams<DailyParams>,
) -> Result<Response, ApiError> {
    let today = state.cases.clock().now().date_naive();
    let to = p.to.unwrap_or(today);
    let from = p.from.unwrap_or(to - chrono::Duration::days(30));
    if from > to || (to - from).num_days() > 3660 {
        return Err(ApiError::Invalid {
            code: "invalid_query",
            detail: "from must be on or before to, at most ten years apart".into(),
        });
    }
    table(
        &headers,
        &reads::daily(&state.db, &from.to_string(), &to.to_string()).await?,
    )
}

#[utoipa::path(get, path = "/v1/stats/officers", tag = "analysts",
    responses((status = 200, description = "each officer's decisions; CSV with `Accept: text/csv`",
        content((Vec<DecisionRow> = "application/json"), (String = "text/csv")))))]
async fn officers(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    table(&headers, &reads::officer_decisions(&state.db).await?)
}
