//! The HTTP routes, one module per resource, and what they share.

mod audit;
mod cases;
mod documents;
mod health;
mod invitations;
mod my_case;
mod sessions;
mod views;

pub use health::prometheus;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{middleware, Json, Router};
use prconfirm_commands::Committed;
use prconfirm_domain::case::{CaseCommand, CaseEvent};

use crate::auth::Caller;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth;
use crate::error::ApiError;
use crate::idempotency;
use crate::request;
use crate::state::AppState;

/// Largest JSON body any route accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(sessions::router())
        .merge(invitations::router())
        .merge(my_case::router())
        .merge(cases::router())
        .merge(documents::router())
        .merge(views::router())
        .merge(audit::router(state.clone()))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn(request::context))
        .with_state(state)
}

/// A JSON body whose rejections are API errors (400, 413, 415, 422).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| ApiError::from(e))?;
        Ok(Self(value))
    }
}

/// Query parameters whose rejections are API errors (422 naming the parameter).
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::Invalid {
                    code: "invalid_query",
                    detail: e.body_text(),
                })?;
        Ok(Self(value))
    }
}

/// The answer to a command: `{version}` (plus what the route adds), with the version as ETag.
pub fn command_answer(committed: &Committed, extra: serde_json::Value) -> Response {
    let mut body = json!({ "version": committed.version });
    if let (Some(target), serde_json::Value::Object(more)) = (body.as_object_mut(), extra) {
        target.extend(more);
    }
    let mut response = (StatusCode::OK, Json(body)).into_response();
    set_etag(response.headers_mut(), committed.version);
    response
}

/// The eCoPR number a grant or an amendment issued, for the command's answer.
pub fn document_number(events: &[CaseEvent]) -> Option<String> {
    events.iter().find_map(|e| match e {
        CaseEvent::EcoprIssued {
            document_number, ..
        }
        | CaseEvent::EcoprAmended {
            document_number, ..
        } => Some(document_number.to_string()),
        _ => None,
    })
}

/// What the upload's answer says about the photo it stored, read from the `PhotoUploaded`
/// event it recorded, so that a replayed answer is the first one: the stored file and the
/// pre-check's flags and measurements (`null` for a photo stored before the pre-check).
pub fn photo_quality(events: &[CaseEvent]) -> Option<serde_json::Value> {
    events.iter().find_map(|e| match e {
        CaseEvent::PhotoUploaded {
            photo,
            quality_flags,
            quality_measurements,
            ..
        } => Some(json!({
            "format": photo.format(),
            "width": photo.dimensions().0,
            "height": photo.dimensions().1,
            "bytes": photo.bytes(),
            "flags": quality_flags,
            "measurements": quality_measurements,
        })),
        _ => None,
    })
}

/// Reads a view of `case_id` with `read` (which answers the version it reflects and the
/// value), waiting up to the configured bound for it to reach `min_version`; 503
/// `view_behind` if it does not. A version the case's log has not reached (or a case it does
/// not hold) is refused at once with 422: waiting would not bring it.
pub async fn read_at_least<T, F, Fut>(
    state: &AppState,
    case_id: &str,
    min_version: Option<u64>,
    read: F,
) -> Result<Option<(u64, T)>, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<(u64, T)>, ApiError>>,
{
    let deadline = tokio::time::Instant::now() + state.settings.min_version_wait;
    let mut checked_log = false;
    loop {
        // Ask to be woken before reading, so a batch landing in between is not missed.
        let applied = state.projections.applied.notified();
        let found = read().await?;
        let reached = match (&found, min_version) {
            (_, None) => true,
            (Some((v, _)), Some(min)) => *v >= min,
            (None, Some(_)) => false,
        };
        if reached {
            return Ok(found);
        }
        if let Some(min) = min_version {
            if !checked_log {
                checked_log = true;
                let logged = state.cases.version(case_id).await?;
                if logged.is_none_or(|v| v < min) {
                    return Err(ApiError::Invalid {
                        code: "invalid_query",
                        detail: format!("min_version {min} is beyond the case's version"),
                    });
                }
            }
        }
        // Woken by this instance's runner, or polling for one that runs elsewhere.
        let nap = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::ViewBehind(min_version.unwrap_or_default()));
        }
        let _ = tokio::time::timeout_at(nap.min(deadline), applied).await;
    }
}

/// Runs a command for `caller` on `case_id`, honouring `If-Match`, and answers `{version}`.
pub async fn execute(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
    headers: &HeaderMap,
    command: CaseCommand,
) -> Result<Committed, ApiError> {
    let mut meta = caller.meta()?;
    meta.expected_version = if_match(headers)?;
    Ok(state.cases.execute(case_id, command, &meta).await?)
}

pub fn set_etag(headers: &mut HeaderMap, version: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, v);
    }
}

/// The version an `If-Match: "N"` header names, if any.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::PreconditionFailed("If-Match must be a version like \"3\"".into()))
}
