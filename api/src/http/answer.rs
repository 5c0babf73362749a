//! The answer to a command, built from the events it committed and nothing else, so that an
//! idempotent replay (which has only those events) gives the first answer again.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use prconfirm_commands::Committed;
use prconfirm_domain::case::{CaseCommand, CaseEvent};
use prconfirm_domain::photo_quality::{QualityFlag, QualityMeasurements};
use prconfirm_domain::values::ImageFormat;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::ApiError;
use super::extract::{if_match, set_etag};
use crate::state::AppState;

/// The answer to a command, as its events say.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandAnswer {
    /// The case's version after the command (also the `ETag`).
    pub version: u64,
    /// For an invitation (`201`): the new case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// For a grant or an amendment: the number of the eCoPR it issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}[0-9]{10}$")]
    pub document_number: Option<String>,
    /// For a photo upload: the stored file and the pre-check's advice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<PhotoQuality>,
}

/// What the upload stored, and what the pre-check found: advice that never refuses the
/// photo.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoQuality {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub flags: Vec<QualityFlag>,
    /// What the pre-check measured; null for a photo stored before the pre-check existed.
    pub measurements: Option<QualityMeasurements>,
}

/// The answer to a command: `{version}` with the version as `ETag`; and, as the events say,
/// `201` with `case_id` for an invitation, `201` for a note, the `document_number` of a grant or an amendment,
/// the `quality` of an uploaded photo.
pub fn answer(committed: &Committed) -> Response {
    let invited = committed
        .events
        .iter()
        .any(|e| matches!(e, CaseEvent::Invited { .. }));
    let body = CommandAnswer {
        version: committed.version,
        case_id: invited.then(|| committed.case_id.clone()),
        document_number: document_number(&committed.events),
        quality: photo_quality(&committed.events),
    };
    let noted = committed
        .events
        .iter()
        .any(|e| matches!(e, CaseEvent::NoteAdded { .. }));
    let status = if invited || noted {
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
pub fn photo_quality(events: &[CaseEvent]) -> Option<PhotoQuality> {
    events.iter().find_map(|e| match e {
        CaseEvent::PhotoUploaded {
            photo,
            quality_flags,
            quality_measurements,
            ..
        } => Some(PhotoQuality {
            format: photo.format(),
            width: photo.dimensions().0,
            height: photo.dimensions().1,
            bytes: photo.bytes(),
            flags: quality_flags.clone(),
            measurements: *quality_measurements,
        }),
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

/// Runs `command` on case `case_id` as `caller` (honouring the request's `If-Match` and
/// `Idempotency-Key`) and answers the events it committed: what every route that runs one
/// case command answers.
pub async fn run_command(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
    headers: &HeaderMap,
    command: CaseCommand,
) -> Result<Response, ApiError> {
    let committed = execute(state, caller, case_id, headers, command).await?;
    Ok(answer(&committed))
}
