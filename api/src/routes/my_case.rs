//! The applicant's own case. The case comes from the session, never from the URL.

use crate::http::access::{Resource, APPLICANT};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::Method;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Json;
use chrono::NaiveDate;
use prconfirm_domain::case::{Case, CaseCommand, PhotoState, Stage};
use prconfirm_domain::values::{Address, MailingAddress, Text, PHOTO_MAX_BYTES};
use prconfirm_projections::models::case_views::CaseViewState;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::error::ApiError;
use crate::http::extract::{if_match, set_etag};
use crate::http::Caller;
use crate::http::{answer, JsonBody};
use crate::state::AppState;

/// The applicant's own case, taken from the session, never from the URL.
pub fn resource() -> Resource {
    Resource::new()
        .route("/v1/my/case", get(status), &[(Method::GET, APPLICANT)])
        .route(
            "/v1/my/case/presence",
            put(presence),
            &[(Method::PUT, APPLICANT)],
        )
        .route(
            "/v1/my/case/address",
            put(address),
            &[(Method::PUT, APPLICANT)],
        )
        .route_with_body_limit(
            "/v1/my/case/photo",
            put(photo),
            &[(Method::PUT, APPLICANT)],
            PHOTO_MAX_BYTES as usize + 1,
        )
        .route(
            "/v1/my/case/amendment-request",
            post(amendment_request),
            &[(Method::POST, APPLICANT)],
        )
        .route(
            "/v1/my/case/ecopr",
            get(super::documents::download),
            &[(Method::GET, APPLICANT)],
        )
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

/// The applicant's view: stage, what to do next, photo and eCoPR status; `made` says whether
/// the eCoPR in force has its PDF yet.
pub fn status_view(case_id: &str, view: &CaseViewState, today: NaiveDate, made: bool) -> Value {
    let case = &view.case;
    let photo = match &case.stage {
        Stage::Confirming(p) | Stage::OnHold { progress: p, .. } => match &p.photo {
            PhotoState::Missing => json!({"status": "missing"}),
            PhotoState::AwaitingReview(_) => json!({"status": "in_review"}),
            PhotoState::Returned { reason, note, .. } => {
                json!({"status": "returned", "return_reason": reason, "return_note": note})
            }
            PhotoState::Accepted(_) => json!({"status": "accepted"}),
        },
        stage if stage.granted().is_some() => json!({"status": "accepted"}),
        _ => json!({"status": "missing"}),
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
            json!({
                "available": status == "ready",
                "status": status,
                "document_number": e.document_number,
                "issued_on": e.issued_on,
                "download_by": e.download_by(),
            })
        }
        None => json!({"available": false}),
    };
    let (code, en, fr) = next_step(case);
    let french = case
        .file
        .as_ref()
        .is_some_and(|f| f.language == prconfirm_domain::values::Language::Fr);
    json!({
        "case_id": case_id,
        "stage": case.stage.name(),
        "next_step": code,
        "next_step_text": if french { fr } else { en },
        "photo": photo,
        "ecopr": ecopr,
        "version": case.version,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinVersion {
    /// Wait (briefly) until the view reflects at least this version of the case.
    pub min_version: Option<u64>,
}

async fn status(
    State(state): State<AppState>,
    caller: Caller,
    crate::http::QueryParams(q): crate::http::QueryParams<MinVersion>,
) -> Result<Response, ApiError> {
    let case_id = caller.case_id()?.to_owned();
    let db = state.db.clone();
    let id = case_id.clone();
    let (version, view) =
        crate::http::read::read_at_least(&state, &case_id, q.min_version, move || {
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
    let committed =
        crate::http::execute(state, caller, caller.case_id()?, headers, command).await?;
    Ok(answer(&committed))
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
    // Ask the rules first: an upload the case cannot take is refused before anything is
    // decoded or written to the blob store.
    let case = state
        .cases
        .load(caller.case_id()?)
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
    Ok(answer(&committed))
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
