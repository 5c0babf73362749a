//! The applicant's own case. The case comes from the session, never from the URL.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use prconfirm_domain::case::{Case, CaseCommand, PhotoState, Stage};
use prconfirm_domain::values::{Address, MailingAddress, Text, PHOTO_MAX_BYTES};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{command_answer, if_match, photo_quality, set_etag, JsonBody};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/my/case", get(status))
        .route("/v1/my/case/presence", put(presence))
        .route("/v1/my/case/address", put(address))
        .route(
            "/v1/my/case/photo",
            put(photo).layer(DefaultBodyLimit::max(PHOTO_MAX_BYTES as usize + 1)),
        )
        .route("/v1/my/case/amendment-request", post(amendment_request))
}

/// The applicant's view: stage, what to do next, photo and eCoPR status.
pub fn status_view(case_id: &str, case: &Case) -> Value {
    let (next_step, photo, ecopr) = match &case.stage {
        Stage::AwaitingPasswordChange { .. } => {
            ("change_password", json!({"status": "missing"}), false)
        }
        Stage::Confirming(p) | Stage::OnHold { progress: p, .. } => {
            let photo = match &p.photo {
                PhotoState::Missing => json!({"status": "missing"}),
                PhotoState::AwaitingReview(_) => json!({"status": "in_review"}),
                PhotoState::Returned { reason, .. } => {
                    json!({"status": "returned", "return_reason": reason})
                }
                PhotoState::Accepted(_) => json!({"status": "accepted"}),
            };
            let next = if matches!(case.stage, Stage::OnHold { .. }) {
                "return_to_canada"
            } else if p.presence.is_none() {
                "declare_presence"
            } else if p.address.is_none() {
                "confirm_address"
            } else if matches!(p.photo, PhotoState::Missing | PhotoState::Returned { .. }) {
                "upload_photo"
            } else {
                "wait_for_review"
            };
            (next, photo, false)
        }
        Stage::PrGranted(_) | Stage::CardOrdered(_) | Stage::CardMailed(_) => {
            ("download_ecopr", json!({"status": "accepted"}), true)
        }
        _ => ("none", json!({"status": "missing"}), false),
    };
    json!({
        "case_id": case_id,
        "stage": case.stage.name(),
        "next_step": next_step,
        "photo": photo,
        "ecopr": {"available": ecopr},
        "version": case.version,
    })
}

async fn status(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let case_id = caller.case_id()?;
    let loaded = state.cases.load(case_id).await?.ok_or(ApiError::NotFound)?;
    let mut response = Json(status_view(case_id, &loaded.case)).into_response();
    set_etag(response.headers_mut(), loaded.version);
    Ok(response)
}

async fn run(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    command: CaseCommand,
) -> Result<Response, ApiError> {
    let committed = super::execute(state, caller, caller.case_id()?, headers, command).await?;
    Ok(command_answer(&committed, json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Presence {
    in_canada: bool,
}

async fn presence(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Presence>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::DeclarePresence {
        in_canada: body.in_canada,
    };
    run(&state, &caller, &headers, command).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Addresses {
    residential: Address,
    #[serde(default)]
    mailing: Option<MailingAddress>,
}

async fn address(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Addresses>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::ConfirmAddress {
        residential: body.residential,
        mailing: body.mailing,
    };
    run(&state, &caller, &headers, command).await
}

/// Takes a raw `image/jpeg` or `image/png` body: checked from its bytes, decoded within
/// limits, re-encoded without metadata, stored by digest; the case records the reference.
async fn photo(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !matches!(declared, "image/jpeg" | "image/png") {
        return Err(ApiError::UnsupportedMediaType(
            "send the photo as image/jpeg or image/png".into(),
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(PHOTO_MAX_BYTES as usize)
        } else {
            ApiError::Malformed(e.body_text())
        }
    })?;
    let processed = tokio::task::spawn_blocking(move || prconfirm_commands::photo::process(&body))
        .await
        .map_err(|_| ApiError::Internal)??;
    let blobs = state.blobs.clone();
    let stored = processed.clone();
    tokio::task::spawn_blocking(move || blobs.put(stored.reference.sha256(), &stored.bytes))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| ApiError::from(prconfirm_commands::photo::PhotoError::Store(e)))?;
    let mut meta = caller.meta()?;
    meta.expected_version = if_match(&headers)?;
    // The pre-check's flags go into the event and back to the applicant; they never refuse.
    let command = CaseCommand::UploadPhoto {
        photo: processed.reference,
        quality: processed.quality,
    };
    let committed = state
        .cases
        .execute(caller.case_id()?, command, &meta)
        .await?;
    let quality = photo_quality(&committed.events);
    Ok(command_answer(&committed, json!({ "quality": quality })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmendmentRequest {
    details: Text,
}

async fn amendment_request(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AmendmentRequest>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::RequestAmendment {
        details: body.details,
    };
    run(&state, &caller, &headers, command).await
}
