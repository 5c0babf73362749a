//! The answer to a command, built from the events it committed and nothing else, so that an
//! idempotent replay (which has only those events) gives the first answer again.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use prconfirm_commands::Committed;
use prconfirm_domain::case::{CaseCommand, CaseEvent};
use serde_json::json;

use super::caller::Caller;
use super::error::ApiError;
use super::extract::{if_match, set_etag};
use crate::state::AppState;

/// The answer to a command: `{version}` with the version as `ETag`; and, as the events say,
/// `201` with `case_id` for an invitation, the `document_number` of a grant or an amendment,
/// the `quality` of an uploaded photo.
pub fn answer(committed: &Committed) -> Response {
    let mut body = json!({ "version": committed.version });
    let invited = committed
        .events
        .iter()
        .any(|e| matches!(e, CaseEvent::Invited { .. }));
    if let Some(fields) = body.as_object_mut() {
        if invited {
            fields.insert("case_id".into(), json!(committed.case_id));
        }
        if let Some(number) = document_number(&committed.events) {
            fields.insert("document_number".into(), json!(number));
        }
        if let Some(quality) = photo_quality(&committed.events) {
            fields.insert("quality".into(), quality);
        }
    }
    let status = if invited {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(body)).into_response();
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
