//! Officers' commands and reads on cases.

use crate::http::access::{Access, Resource, OFFICER};
use crate::http::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use prconfirm_domain::case::{CaseCommand, CaseFile, ReturnReason, Stage};
use prconfirm_domain::values::{
    ApplicationNumber, DateOfBirth, Email, ImageFormat, Language, PersonName, Text, Uci,
};
use serde::Deserialize;
use serde_json::json;

use crate::http::error::ApiError;
use crate::http::extract::{if_match, set_etag};
use crate::http::Caller;
use crate::http::{answer, JsonBody};
use crate::state::AppState;

/// How long a claim lasts.
const CLAIM_LEASE: Duration = Duration::minutes(60);

/// Officers' cases: invite, search, read, and each step an officer takes.
pub fn resource() -> Resource {
    const POST: &[(Method, Access)] = &[(Method::POST, OFFICER)];
    Resource::new()
        .route(
            "/v1/cases",
            post(invite).get(super::views::search),
            &[(Method::POST, OFFICER), (Method::GET, OFFICER)],
        )
        .route("/v1/cases/{id}", get(case), &[(Method::GET, OFFICER)])
        .route(
            "/v1/cases/{id}/claim",
            post(claim).delete(release),
            &[(Method::POST, OFFICER), (Method::DELETE, OFFICER)],
        )
        .route(
            "/v1/cases/{id}/photo",
            get(photo),
            &[(Method::GET, OFFICER)],
        )
        .route("/v1/cases/{id}/photo-review", post(photo_review), POST)
        .route("/v1/cases/{id}/approval", post(approval), POST)
        .route(
            "/v1/cases/{id}/ecopr-amendment",
            post(ecopr_amendment),
            POST,
        )
        .route("/v1/cases/{id}/referral", post(referral), POST)
        .route("/v1/cases/{id}/withdrawal", post(withdrawal), POST)
        .route(
            "/v1/cases/{id}/pr-card-mailing",
            post(pr_card_mailing),
            POST,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Invite {
    application_number: ApplicationNumber,
    uci: Uci,
    given_name: PersonName,
    family_name: PersonName,
    date_of_birth: NaiveDate,
    email: Email,
    language: Language,
    #[serde(default)]
    respond_by: Option<DateTime<Utc>>,
}

async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Invite>,
) -> Result<Response, ApiError> {
    let now = state.cases.clock().now();
    let file = CaseFile {
        application_number: body.application_number,
        uci: body.uci,
        given_name: body.given_name,
        family_name: body.family_name,
        date_of_birth: DateOfBirth::parse(body.date_of_birth, now.date_naive())?,
        email: body.email,
        language: body.language,
    };
    let respond_by = body
        .respond_by
        .unwrap_or(now + state.settings.invitation_valid_for);
    let case_id = uuid::Uuid::new_v4().to_string();
    state.park_invitation(&case_id, &file).await?;
    let committed = state
        .cases
        .execute(
            &case_id,
            CaseCommand::Invite { file, respond_by },
            &caller.meta()?,
        )
        .await?;
    Ok(answer(&committed))
}

async fn case(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let loaded = state.cases.load(&id).await?.ok_or(ApiError::NotFound)?;
    let mut response = Json(json!({
        "case_id": id,
        "version": loaded.version,
        "stage": loaded.case.stage.name(),
        "case": loaded.case,
    }))
    .into_response();
    set_etag(response.headers_mut(), loaded.version);
    Ok(response)
}

async fn run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    command: CaseCommand,
) -> Result<Response, ApiError> {
    let committed = crate::http::execute(state, caller, id, headers, command).await?;
    Ok(answer(&committed))
}

async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let until = state.cases.clock().now() + CLAIM_LEASE;
    run(&state, &caller, &id, &headers, CaseCommand::Claim { until }).await
}

async fn release(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &id, &headers, CaseCommand::ReleaseClaim).await
}

/// The case's current photo, as stored (re-encoded, without metadata).
async fn photo(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let loaded = state.cases.load(&id).await?.ok_or(ApiError::NotFound)?;
    let reference = match &loaded.case.stage {
        Stage::Confirming(p) | Stage::OnHold { progress: p, .. } => {
            p.photo.uploaded().map(|u| u.reference.clone())
        }
        stage => stage.granted().and_then(|g| g.photo.clone()),
    }
    .ok_or(ApiError::NotFound)?;
    let blobs = state.blobs.clone();
    let digest = reference.sha256().clone();
    let bytes = tokio::task::spawn_blocking(move || blobs.get(&digest))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| {
            tracing::error!(error = %e, case = %id, "photo blob missing");
            ApiError::Internal
        })?;
    let content_type = match reference.format() {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
    };
    Ok(([(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Accept,
    Return,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhotoReview {
    decision: Decision,
    #[serde(default)]
    reason: Option<ReturnReason>,
    #[serde(default)]
    note: Option<Text>,
}

async fn photo_review(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PhotoReview>,
) -> Result<Response, ApiError> {
    let command = match body.decision {
        Decision::Accept => CaseCommand::AcceptPhoto,
        Decision::Return => CaseCommand::ReturnPhoto {
            reason: body.reason.ok_or_else(|| ApiError::Invalid {
                code: "return_reason_required",
                detail: "a returned photo needs a reason".into(),
            })?,
            note: body.note,
        },
    };
    run(&state, &caller, &id, &headers, command).await
}

async fn approval(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut meta = caller.meta()?;
    meta.expected_version = if_match(&headers)?;
    let committed = state.cases.grant(&id, &meta).await?;
    Ok(answer(&committed))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Amendment {
    /// What the new document corrects.
    correction: Text,
}

/// Issues a corrected eCoPR under a new number; the one in force becomes superseded.
async fn ecopr_amendment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Amendment>,
) -> Result<Response, ApiError> {
    let mut meta = caller.meta()?;
    meta.expected_version = if_match(&headers)?;
    let committed = state.cases.amend_ecopr(&id, body.correction, &meta).await?;
    Ok(answer(&committed))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Text,
}

async fn referral(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::ReferToInPersonLanding {
        reason: body.reason,
    };
    run(&state, &caller, &id, &headers, command).await
}

async fn withdrawal(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::Withdraw {
        reason: body.reason,
    };
    run(&state, &caller, &id, &headers, command).await
}

/// Records that the PR card, ordered after the grant, was mailed (as card production reports
/// it); the applicant is e-mailed.
async fn pr_card_mailing(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    run(
        &state,
        &caller,
        &id,
        &headers,
        CaseCommand::RecordPrCardMailed,
    )
    .await
}
