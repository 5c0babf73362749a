//! eCoPR documents: the applicant's download, and the public check that a document is
//! genuine. The documents themselves are made by the reactor in [`crate::ecopr`].

use crate::http::access::{Access, Resource};
use axum::http::Method;
use std::net::SocketAddr;

use crate::http::extract::Path;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use prconfirm_commands::ecopr::VerificationCode;
use prconfirm_domain::values::{DocumentNumber, Sha256Hex};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use crate::http::error::Problem;

use crate::documents as ecopr;
use crate::http::error::{storage, ApiError};
use crate::http::Caller;
use crate::http::QueryParams;
use crate::state::AppState;

/// Anyone holding a document checks it; wrong codes are throttled.
pub fn resource() -> Resource {
    Resource::new().route(routes!(verification), &[(Method::GET, Access::Anyone)])
}

/// The applicant's eCoPR in force, as a PDF attachment: 404 before PR is granted, 503 while
/// the reactor has not made it yet, 410 once the download window has closed.
#[utoipa::path(get, path = "/v1/my/case/ecopr", tag = "applicant",
    responses((status = 200, description = "the eCoPR in force, as an attachment `eCoPR-<number>.pdf`",
            content_type = "application/pdf"),
        (status = 404, description = "PR not granted", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "download_expired: more than 30 days after issue", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "document_pending: issued, the PDF is being made; Retry-After",
            body = Problem, content_type = "application/problem+json")))]
pub async fn download(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    download_of(&state, caller.case_id()?).await
}

/// The eCoPR in force of `case_id`, as [`download`] answers it.
pub async fn download_of(state: &AppState, case_id: &str) -> Result<Response, ApiError> {
    let loaded = state.cases.load(case_id).await?.ok_or(ApiError::NotFound)?;
    let current = loaded
        .case
        .stage
        .granted()
        .and_then(|g| g.ecopr.as_ref())
        .ok_or(ApiError::NotFound)?;
    let today = state.cases.clock().now().date_naive();
    if !current.downloadable_on(today) {
        return Err(ApiError::DownloadExpired(current.download_by()));
    }
    let document = ecopr::find(&state.db, &current.document_number)
        .await
        .map_err(storage)?
        .ok_or(ApiError::DocumentPending)?;
    let blobs = state.blobs.clone();
    let digest = document.pdf_sha256.clone();
    let pdf = tokio::task::spawn_blocking(move || blobs.get(&digest))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| {
            tracing::error!(error = %e, document = %current.document_number, "eCoPR blob missing");
            ApiError::Internal
        })?;
    let disposition = format!(
        "attachment; filename=\"eCoPR-{}.pdf\"",
        current.document_number
    );
    let disposition = HeaderValue::from_str(&disposition).map_err(|_| ApiError::Internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Code {
    /// The verification code printed on the document, e.g. `7K3M-9XQ2-B8TD-4HWN`.
    #[param(max_length = 64)]
    code: String,
}

/// Whether a document is genuine. A wrong code, or a number no document has, answers only
/// `{valid: false, document_number, status: "unknown"}`: nothing the caller did not send.
#[derive(Debug, Serialize, ToSchema)]
struct Verification {
    /// True only for the right code on the document in force.
    valid: bool,
    document_number: String,
    status: DocumentStatus,
    /// With the right code only.
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_on: Option<NaiveDate>,
    /// With the right code on a superseded document: the number of the one in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced_by: Option<String>,
}

/// `current`; `superseded` (an amendment replaced it); `unknown` (a wrong code or no such
/// document: the two are not told apart).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum DocumentStatus {
    Current,
    Superseded,
    Unknown,
}

/// A digest no code has: what an unknown document is checked against, so that it costs the
/// same as a known one.
const NO_DOCUMENT: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether a document is genuine and in force. Valid only for the right code on a current
/// document. A wrong code, or a number no document has, gets the same answer, which says
/// nothing the caller did not send (`status: "unknown"`); only the right code learns that a
/// document was superseded, and by which. Wrong codes are counted per document number and
/// per client address, in the database (so across instances): after
/// [`ecopr::VERIFICATION_FREE_FAILURES`] within [`ecopr::VERIFICATION_WINDOW`], 429.
#[utoipa::path(get, path = "/v1/documents/{document_number}/verification", tag = "documents",
    params(("document_number" = String, Path, max_length = 64, description = "as printed, e.g. PR0000000042"),
        Code),
    responses((status = 200, body = Verification),
        (status = 422, description = "invalid_query: no code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts: 5 wrong codes in 15 minutes for this document or from this address; Retry-After",
            body = Problem, content_type = "application/problem+json")))]
async fn verification(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(number): Path<String>,
    QueryParams(query): QueryParams<Code>,
) -> Result<Response, ApiError> {
    let now = state.cases.clock().now();
    // A path segment is the caller's; only its first characters name a subject.
    let shown: String = number.chars().take(32).collect();
    let subjects = [format!("doc:{shown}"), format!("addr:{}", client.ip())];
    for subject in &subjects {
        if let Some(wait) = ecopr::verification_wait(&state.db, subject, now)
            .await
            .map_err(storage)?
        {
            return Err(ApiError::TooManyAttempts(wait));
        }
    }
    let document = match DocumentNumber::parse(&number) {
        Ok(n) => ecopr::find(&state.db, &n).await.map_err(storage)?,
        Err(_) => None,
    };
    let stored = document.as_ref().map_or_else(
        || Sha256Hex::parse(NO_DOCUMENT).map_err(|_| ApiError::Internal),
        |d| Ok(d.verification_sha256.clone()),
    )?;
    let matched = VerificationCode::matches(&query.code, &stored) && document.is_some();
    let Some(document) = document.filter(|_| matched) else {
        ecopr::record_verification_failure(&state.db, &subjects, now)
            .await
            .map_err(storage)?;
        return Ok(Json(Verification {
            valid: false,
            document_number: shown,
            status: DocumentStatus::Unknown,
            issued_on: None,
            replaced_by: None,
        })
        .into_response());
    };
    let current = document.superseded_by.is_none();
    let answer = Verification {
        valid: current,
        document_number: document.document_number.clone(),
        status: if current {
            DocumentStatus::Current
        } else {
            DocumentStatus::Superseded
        },
        issued_on: Some(document.issued_on),
        replaced_by: document.superseded_by.clone(),
    };
    Ok(Json(answer).into_response())
}
