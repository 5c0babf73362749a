//! The applicant's own case. The case comes from the session, never from the URL.

use crate::http::access::{Access, Resource, APPLICANT};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::Method;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use prconfirm_domain::case::{Case, CaseCommand, PhotoState, ReturnReason, Stage, StageName};
use prconfirm_domain::values::{Address, DocumentNumber, MailingAddress, Text, PHOTO_MAX_BYTES};
use prconfirm_projections::models::case_views::CaseViewState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use crate::http::answer::CommandAnswer;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::IfMatch;
use crate::http::extract::{if_match, set_etag};
use crate::http::Caller;
use crate::http::{answer, JsonBody};
use crate::state::AppState;

/// The applicant's own case, taken from the session, never from the URL.
pub fn resource() -> Resource {
    const GET: &[(Method, Access)] = &[(Method::GET, APPLICANT)];
    const PUT: &[(Method, Access)] = &[(Method::PUT, APPLICANT)];
    Resource::new()
        .route(routes!(status), GET)
        .route(routes!(presence), PUT)
        .route(routes!(address), PUT)
        .route_with_body_limit(routes!(photo), PUT, PHOTO_MAX_BYTES as usize + 1)
        .route(routes!(amendment_request), &[(Method::POST, APPLICANT)])
        .route(routes!(super::documents::download), GET)
}

/// What the applicant does next, as a code and in plain words (English, French).
fn next_step(case: &Case) -> (&'static str, &'static str, &'static str) {
    match &case.stage {
        Stage::Invited { .. } => (
            "answer_invitation",
            "Accept or decline the invitation.",
            "Acceptez ou refusez l'invitation.",
        ),
        Stage::AwaitingAccount => (
            "wait_for_credentials",
            "Your account is being created; your sign-in details will arrive by e-mail.",
            "Votre compte est en cours de création; vos identifiants arriveront par courriel.",
        ),
        Stage::AwaitingPasswordChange { .. } => (
            "change_password",
            "Sign in and choose a new password.",
            "Connectez-vous et choisissez un nouveau mot de passe.",
        ),
        Stage::OnHold { .. } => (
            "return_to_canada",
            "Tell us once you are back in Canada.",
            "Avisez-nous dès votre retour au Canada.",
        ),
        Stage::Confirming(p) if p.presence.is_none() => (
            "declare_presence",
            "Confirm that you are in Canada.",
            "Confirmez que vous êtes au Canada.",
        ),
        Stage::Confirming(p) if p.address.is_none() => (
            "confirm_address",
            "Confirm your address in Canada.",
            "Confirmez votre adresse au Canada.",
        ),
        Stage::Confirming(p)
            if matches!(p.photo, PhotoState::Missing | PhotoState::Returned { .. }) =>
        {
            (
                "upload_photo",
                "Upload a photo for your PR card.",
                "Téléversez une photo pour votre carte de RP.",
            )
        }
        Stage::Confirming(_) => (
            "wait_for_review",
            "An officer is reviewing your file; nothing to do for now.",
            "Un agent examine votre dossier; rien à faire pour l'instant.",
        ),
        Stage::PrGranted(_) | Stage::CardOrdered(_) | Stage::CardMailed(_) => (
            "download_ecopr",
            "You are a permanent resident: download your eCoPR.",
            "Vous êtes résident permanent : téléchargez votre CRPe.",
        ),
        Stage::New | Stage::Referred(_) | Stage::Withdrawn { .. } => (
            "none",
            "Nothing more to do online.",
            "Plus rien à faire en ligne.",
        ),
    }
}

/// The applicant's view of their case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseStatus {
    pub case_id: String,
    pub stage: StageName,
    /// What to do next, as a code (`declare_presence`, `upload_photo`, ...).
    pub next_step: &'static str,
    /// The same in plain words, in the applicant's language.
    pub next_step_text: &'static str,
    pub photo: PhotoStatus,
    pub ecopr: EcoprStatus,
    pub version: u64,
}

/// Where the photo stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoStatus {
    #[schema(pattern = "^(missing|in_review|returned|accepted)$")]
    pub status: &'static str,
    /// When returned: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_reason: Option<ReturnReason>,
    /// When returned: the officer's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub return_note: Option<Option<Text>>,
}

/// Where the eCoPR stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct EcoprStatus {
    /// Issued, made, and still within its download window.
    pub available: bool,
    /// `pending` (issued, the PDF being made), `ready`, `expired`; absent before the grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(pending|ready|expired)$")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[A-Z]{2}[0-9]{10}$")]
    pub document_number: Option<DocumentNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_on: Option<NaiveDate>,
    /// Last day the portal serves the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_by: Option<NaiveDate>,
}

/// The applicant's view: stage, what to do next, photo and eCoPR status; `made` says whether
/// the eCoPR in force has its PDF yet.
pub fn status_view(
    case_id: &str,
    view: &CaseViewState,
    today: NaiveDate,
    made: bool,
) -> CaseStatus {
    let case = &view.case;
    let photo = |status| PhotoStatus {
        status,
        return_reason: None,
        return_note: None,
    };
    let photo = match &case.stage {
        Stage::Confirming(p) | Stage::OnHold { progress: p, .. } => match &p.photo {
            PhotoState::Missing => photo("missing"),
            PhotoState::AwaitingReview(_) => photo("in_review"),
            PhotoState::Returned { reason, note, .. } => PhotoStatus {
                status: "returned",
                return_reason: Some(*reason),
                return_note: Some(note.clone()),
            },
            PhotoState::Accepted(_) => photo("accepted"),
        },
        stage if stage.granted().is_some() => photo("accepted"),
        _ => photo("missing"),
    };
    // Available only once the reactor has made the PDF (`made`), and while the download
    // window is open: the view never promises what the download would not give.
    let ecopr = match case.stage.granted().and_then(|g| g.ecopr.as_ref()) {
        Some(e) => {
            let status = match (made, e.downloadable_on(today)) {
                (_, false) => "expired",
                (false, true) => "pending",
                (true, true) => "ready",
            };
            EcoprStatus {
                available: status == "ready",
                status: Some(status),
                document_number: Some(e.document_number.clone()),
                issued_on: Some(e.issued_on),
                download_by: Some(e.download_by()),
            }
        }
        None => EcoprStatus {
            available: false,
            status: None,
            document_number: None,
            issued_on: None,
            download_by: None,
        },
    };
    let (code, en, fr) = next_step(case);
    let french = case
        .file
        .as_ref()
        .is_some_and(|f| f.language == prconfirm_domain::values::Language::Fr);
    CaseStatus {
        case_id: case_id.to_owned(),
        stage: case.stage.name(),
        next_step: code,
        next_step_text: if french { fr } else { en },
        photo,
        ecopr,
        version: case.version,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MinVersion {
    /// Wait (bounded) until the view reflects at least this version of the case: 503
    /// `view_behind` if it does not in time; 422 `version_not_reached` if the case's log has no
    /// such version.
    pub min_version: Option<u64>,
}

#[utoipa::path(get, path = "/v1/my/case", tag = "applicant", params(MinVersion),
    responses((status = 200, body = CaseStatus, headers(("ETag" = String, description = "the version the view reflects")))))]
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    crate::http::QueryParams(q): crate::http::QueryParams<MinVersion>,
) -> Result<Response, ApiError> {
    status_of(&state, caller.case_id()?, q).await
}

/// The applicant's view of `case_id`, as [`status`] answers it.
pub(super) async fn status_of(
    state: &AppState,
    case_id: &str,
    q: MinVersion,
) -> Result<Response, ApiError> {
    let case_id = case_id.to_owned();
    let db = state.db.clone();
    let id = case_id.clone();
    let (version, view) =
        crate::http::read::read_at_least(state, &case_id, q.min_version, move || {
            let db = db.clone();
            let id = id.clone();
            async move {
                Ok(prconfirm_projections::reads::case_status(&db, &id)
                    .await?
                    .map(|(seq, view)| (seq.unsigned_abs(), view)))
            }
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    let today = state.cases.clock().now().date_naive();
    let made = match view.case.stage.granted().and_then(|g| g.ecopr.as_ref()) {
        Some(e) => crate::documents::find(&state.db, &e.document_number)
            .await
            .map_err(crate::http::error::storage)?
            .is_some(),
        None => false,
    };
    let mut response = Json(status_view(&case_id, &view, today, made)).into_response();
    set_etag(response.headers_mut(), version);
    Ok(response)
}

async fn run(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    command: CaseCommand,
) -> Result<Response, ApiError> {
    crate::http::run_command(state, caller, caller.case_id()?, headers, command).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Presence {
    /// False puts the case on hold until the applicant is back.
    in_canada: bool,
}

impl Presence {
    pub(super) fn command(self) -> CaseCommand {
        CaseCommand::DeclarePresence {
            in_canada: self.in_canada,
        }
    }
}

#[utoipa::path(put, path = "/v1/my/case/presence", tag = "applicant", request_body = Presence,
    params(IfMatch), responses((status = 200, body = CommandAnswer)))]
async fn presence(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Presence>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &headers, body.command()).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Addresses {
    residential: Address,
    /// Where mail goes, when not to the residence.
    #[serde(default)]
    mailing: Option<MailingAddress>,
}

impl Addresses {
    pub(super) fn command(self) -> CaseCommand {
        CaseCommand::ConfirmAddress {
            residential: self.residential,
            mailing: self.mailing,
        }
    }
}

#[utoipa::path(put, path = "/v1/my/case/address", tag = "applicant", request_body = Addresses,
    params(IfMatch), responses((status = 200, body = CommandAnswer)))]
async fn address(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Addresses>,
) -> Result<Response, ApiError> {
    run(&state, &caller, &headers, body.command()).await
}

/// Takes a raw `image/jpeg` or `image/png` body: checked from its bytes, decoded within
/// limits, re-encoded without metadata, stored by digest; the case records the reference.
#[utoipa::path(put, path = "/v1/my/case/photo", tag = "applicant",
    request_body(content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png")),
        description = "715x1000 to 2000x2800 pixels, at most 4 MB"),
    params(IfMatch),
    responses((status = 200, body = CommandAnswer, description = "stored; `quality` says what the pre-check found"),
        (status = 507, description = "insufficient_storage: the photo store is full; nothing is recorded",
            body = Problem, content_type = "application/problem+json")))]
async fn photo(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    photo_on(&state, &caller, caller.case_id()?, &headers, body).await
}

/// Stores the photo in `body` and records it on `case_id`, as [`photo`] does.
pub(super) async fn photo_on(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
    headers: &HeaderMap,
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
    // Ask the rules first: an upload the case cannot take is refused before anything is
    // decoded or written to the blob store.
    let case = state
        .cases
        .load(case_id)
        .await?
        .ok_or(ApiError::NotFound)?
        .case;
    case.check_photo_upload()
        .map_err(|e| ApiError::from(prconfirm_commands::CommandError::Rejected(e)))?;
    let processed = prconfirm_commands::photo::process_bounded(body).await?;
    let blobs = state.blobs.clone();
    let stored = processed.clone();
    tokio::task::spawn_blocking(move || blobs.put(stored.reference.sha256(), &stored.bytes))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| ApiError::from(prconfirm_commands::photo::PhotoError::Store(e)))?;
    let mut meta = caller.meta()?;
    meta.expected_version = if_match(headers)?;
    // The pre-check's flags go into the event and back to the applicant; they never refuse.
    let command = CaseCommand::UploadPhoto {
        photo: processed.reference,
        quality: processed.quality,
    };
    let committed = state.cases.execute(case_id, command, &meta).await?;
    Ok(answer(&committed))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AmendmentRequest {
    /// What is wrong on the eCoPR.
    details: Text,
}

#[utoipa::path(post, path = "/v1/my/case/amendment-request", tag = "applicant",
    request_body = AmendmentRequest, params(IfMatch),
    responses((status = 200, body = CommandAnswer)))]
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
