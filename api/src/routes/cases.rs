//! Officers' commands and reads on cases.

use crate::http::access::{Access, Resource, OFFICER};
use crate::http::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Duration;
use prconfirm_domain::case::{Case, CaseCommand, Note, ReturnReason, Stage, StageName};
use prconfirm_domain::values::{ImageFormat, Text};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::inviting::{InviteRow, Outcome};
use crate::http::answer::CommandAnswer;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{if_match, set_etag, IfMatch};
use crate::http::Caller;
use crate::http::{answer, JsonBody};
use crate::state::AppState;
use prconfirm_commands::CommandError;
use prconfirm_projections::mail::MessageStatus;

/// How long a claim lasts.
const CLAIM_LEASE: Duration = Duration::minutes(60);

/// Officers' cases: invite, search, read, and each step an officer takes.
pub fn resource() -> Resource {
    const POST: &[(Method, Access)] = &[(Method::POST, OFFICER)];
    const GET: &[(Method, Access)] = &[(Method::GET, OFFICER)];
    Resource::new()
        .route(
            routes!(invite, super::views::search),
            &[(Method::POST, OFFICER), (Method::GET, OFFICER)],
        )
        .route(routes!(case), GET)
        .route(
            routes!(claim, release),
            &[(Method::POST, OFFICER), (Method::DELETE, OFFICER)],
        )
        .route(routes!(photo), GET)
        .route(routes!(photo_review), POST)
        .route(routes!(approval), POST)
        .route(routes!(ecopr_amendment), POST)
        .route(routes!(referral), POST)
        .route(routes!(withdrawal), POST)
        .route(routes!(pr_card_mailing), POST)
        .route(routes!(note), POST)
        .route(routes!(messages), GET)
        .route(routes!(credentials), POST)
        .route(routes!(invitation), POST)
}

/// Invites one person: a new case, and the invitation e-mailed with its code. A person
/// (application number, UCI) with an open case is not invited again: 409 `already_invited`
/// with that `case_id`. An applicant under 18 needs `guardian_uci` (422 `guardian_required`):
/// an adult family member under the same application, invited before (422
/// `guardian_not_invited`, `guardian_is_minor`); an adult may not have one (422
/// `guardian_not_needed`).
#[utoipa::path(post, path = "/v1/cases", tag = "officers", request_body = InviteRow,
    responses((status = 201, body = CommandAnswer, description = "invited: `case_id` names the new case"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`already_invited`: `case_id` names the person's open case")))]
async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<InviteRow>,
) -> Result<Response, ApiError> {
    match super::inviting::invite(&state, &caller.meta()?, body).await? {
        Outcome::Created(committed) => Ok(answer(&committed)),
        Outcome::Exists(existing) => Err(ApiError::AlreadyInvited(existing)),
    }
}

/// The case in full, for officers.
#[derive(Debug, Serialize, ToSchema)]
struct CaseView {
    case_id: String,
    version: u64,
    stage: StageName,
    /// Officers' notes, oldest first.
    notes: Vec<Note>,
    /// The aggregate's state: file, username, stage data, claim.
    #[schema(value_type = Object)]
    case: Case,
}

#[utoipa::path(get, path = "/v1/cases/{id}", tag = "officers", params(CaseId),
    responses((status = 200, body = CaseView, headers(("ETag" = String, description = "the case's version")))))]
async fn case(
    State(state): State<AppState>,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    let loaded = state.cases.load(&id).await?.ok_or(ApiError::NotFound)?;
    let stage = loaded.case.stage.name();
    let mut response = Json(CaseView {
        case_id: id,
        version: loaded.version,
        stage,
        notes: loaded.case.notes.clone(),
        case: loaded.case,
    })
    .into_response();
    set_etag(response.headers_mut(), loaded.version);
    Ok(response)
}

#[utoipa::path(post, path = "/v1/cases/{id}/claim", tag = "officers", params(CaseId, IfMatch),
    responses((status = 200, body = CommandAnswer, description = "claimed for 60 minutes")))]
async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    let until = state.cases.clock().now() + CLAIM_LEASE;
    crate::http::run_command(&state, &caller, &id, &headers, CaseCommand::Claim { until }).await
}

#[utoipa::path(delete, path = "/v1/cases/{id}/claim", tag = "officers", params(CaseId, IfMatch),
    responses((status = 200, body = CommandAnswer)))]
async fn release(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    crate::http::run_command(&state, &caller, &id, &headers, CaseCommand::ReleaseClaim).await
}

/// The case's current photo, as stored (re-encoded, without metadata).
#[utoipa::path(get, path = "/v1/cases/{id}/photo", tag = "officers", params(CaseId),
    responses((status = 200, description = "the stored photo",
        content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png")))))]
async fn photo(
    State(state): State<AppState>,
    Path(CaseId { id }): Path<CaseId>,
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

/// An officer's decision on the photo: `accept`, or `return` with a reason (and, for
/// `other`, a note saying what is wrong), shown to the applicant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhotoReview {
    decision: Decision,
    /// Required to return; `other` also needs a note.
    #[serde(default)]
    reason: Option<ReturnReason>,
    /// Shown to the applicant with the return.
    #[serde(default)]
    note: Option<Text>,
}

/// The review's schema says what the handler and the rules require together: a return
/// names its reason, and `other` its note.
impl utoipa::PartialSchema for PhotoReview {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        let optional = |name: &str| {
            RefOr::from(
                AnyOfBuilder::new()
                    .item(Ref::from_schema_name(name))
                    .item(ObjectBuilder::new().schema_type(Type::Null)),
            )
        };
        let decision = |value: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([value]))
        };
        let shape = |value: &str| {
            ObjectBuilder::new()
                .property("decision", decision(value))
                .required("decision")
                .additional_properties(Some(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ))
        };
        let reasons: Vec<&str> = ReturnReason::ALL
            .iter()
            .map(|r| r.as_str())
            .filter(|r| *r != "other")
            .collect();
        RefOr::T(
            AnyOfBuilder::new()
                .description(Some(
                    "`accept`; or `return` with a reason (`other` with a note saying what is \
                     wrong), shown to the applicant.",
                ))
                .item(
                    shape("accept")
                        .property("reason", optional("ReturnReason"))
                        .property("note", optional("Text")),
                )
                .item(
                    shape("return")
                        .property(
                            "reason",
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some(reasons)),
                        )
                        .required("reason")
                        .property("note", optional("Text")),
                )
                .item(
                    shape("return")
                        .property("reason", decision("other"))
                        .required("reason")
                        .property("note", Ref::from_schema_name("Text"))
                        .required("note"),
                )
                .into(),
        )
    }
}

impl utoipa::ToSchema for PhotoReview {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((ReturnReason::name().into_owned(), ReturnReason::schema()));
        schemas.push((Text::name().into_owned(), Text::schema()));
    }
}

#[utoipa::path(post, path = "/v1/cases/{id}/photo-review", tag = "officers",
    request_body = PhotoReview, params(CaseId, IfMatch), responses((status = 200, body = CommandAnswer)))]
async fn photo_review(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
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
    crate::http::run_command(&state, &caller, &id, &headers, command).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/approval", tag = "officers", params(CaseId, IfMatch),
    responses((status = 200, body = CommandAnswer, description = "PR granted: `document_number` is the eCoPR's")))]
async fn approval(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    let mut meta = caller.meta()?;
    meta.expected_version = if_match(&headers)?;
    let committed = state.cases.grant(&id, &meta).await?;
    Ok(answer(&committed))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Amendment {
    /// What the new document corrects.
    correction: Text,
}

/// Issues a corrected eCoPR under a new number; the one in force becomes superseded.
#[utoipa::path(post, path = "/v1/cases/{id}/ecopr-amendment", tag = "officers",
    request_body = Amendment, params(CaseId, IfMatch),
    responses((status = 200, body = CommandAnswer,
        description = "a corrected eCoPR under a new number (`document_number`); the previous one is superseded")))]
async fn ecopr_amendment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
    JsonBody(body): JsonBody<Amendment>,
) -> Result<Response, ApiError> {
    let mut meta = caller.meta()?;
    meta.expected_version = if_match(&headers)?;
    let committed = state.cases.amend_ecopr(&id, body.correction, &meta).await?;
    Ok(answer(&committed))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Text,
}

/// The case a route acts on.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct CaseId {
    /// As `POST /v1/cases` answered it.
    id: String,
}

#[utoipa::path(post, path = "/v1/cases/{id}/referral", tag = "officers",
    request_body = Reason, params(CaseId, IfMatch), responses((status = 200, body = CommandAnswer)))]
async fn referral(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::ReferToInPersonLanding {
        reason: body.reason,
    };
    crate::http::run_command(&state, &caller, &id, &headers, command).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/withdrawal", tag = "officers",
    request_body = Reason, params(CaseId, IfMatch), responses((status = 200, body = CommandAnswer)))]
async fn withdrawal(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::Withdraw {
        reason: body.reason,
    };
    crate::http::run_command(&state, &caller, &id, &headers, command).await
}

/// Records that the PR card, ordered after the grant, was mailed (as card production reports
/// it); the applicant is e-mailed.
#[utoipa::path(post, path = "/v1/cases/{id}/pr-card-mailing", tag = "officers",
    params(CaseId, IfMatch),
    responses((status = 200, body = CommandAnswer, description = "the card, ordered after the grant, is recorded as mailed")))]
async fn pr_card_mailing(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    crate::http::run_command(
        &state,
        &caller,
        &id,
        &headers,
        CaseCommand::RecordPrCardMailed,
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    /// For officers only; never shown to the applicant or in analysts' figures.
    text: Text,
}

/// Writes an officer's note on the case (open or closed), shown in the case view.
#[utoipa::path(post, path = "/v1/cases/{id}/notes", tag = "officers",
    request_body = NoteBody, params(CaseId, IfMatch),
    responses((status = 201, body = CommandAnswer, description = "the note is recorded")))]
async fn note(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
    JsonBody(body): JsonBody<NoteBody>,
) -> Result<Response, ApiError> {
    let command = CaseCommand::AddNote { text: body.text };
    crate::http::run_command(&state, &caller, &id, &headers, command).await
}

/// The case's e-mails and where each stands: kind, language, queued / sent / failed with
/// times and the outlet's error; never a body, a recipient or a secret. On SMTP, `sent`
/// means the relay accepted the message.
#[utoipa::path(get, path = "/v1/cases/{id}/messages", tag = "officers", params(CaseId),
    responses((status = 200, body = Vec<MessageStatus>)))]
async fn messages(
    State(state): State<AppState>,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    // Whether the case exists, without loading it.
    if state.cases.version(&id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let listed = prconfirm_projections::mail::messages(&state.db, &id)
        .await
        .map_err(crate::http::error::storage)?;
    Ok(Json(listed).into_response())
}

/// New temporary credentials for an applicant who lost them or whose temporary password
/// lapsed (the case waits for an account or for the password change): the old account and
/// its temporary password end with the event's append, and the department makes and e-mails
/// new ones (a new username and temporary password).
#[utoipa::path(post, path = "/v1/cases/{id}/credentials", tag = "officers",
    params(CaseId, IfMatch), responses((status = 200, body = CommandAnswer,
        description = "reissued: the old temporary password no longer works; new credentials are e-mailed")))]
async fn credentials(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    crate::http::run_command(
        &state,
        &caller,
        &id,
        &headers,
        CaseCommand::ReissueCredentials,
    )
    .await
}

/// Sends the invitation again with a fresh code while it is open; the old code stops
/// working with the event's append.
#[utoipa::path(post, path = "/v1/cases/{id}/invitation", tag = "officers",
    params(CaseId, IfMatch), responses((status = 200, body = CommandAnswer,
        description = "re-sent: only the new code opens the invitation")))]
async fn invitation(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(CaseId { id }): Path<CaseId>,
) -> Result<Response, ApiError> {
    let loaded = state.cases.load(&id).await?.ok_or(ApiError::NotFound)?;
    // Ask the rules first: a refused re-send parks no code.
    let ctx = prconfirm_domain::case::Ctx {
        now: state.cases.clock().now(),
        actor: prconfirm_domain::values::ActorId::parse(&caller.0.username)
            .map_err(|_| ApiError::Internal)?,
        expected_version: if_match(&headers)?,
    };
    loaded
        .case
        .decide(&CaseCommand::ResendInvitation, &ctx)
        .map_err(|e| ApiError::from(CommandError::Rejected(e)))?;
    let file = loaded.case.file.as_ref().ok_or(ApiError::NotFound)?;
    state.park_resent_invitation(&id, file).await?;
    crate::http::run_command(
        &state,
        &caller,
        &id,
        &headers,
        CaseCommand::ResendInvitation,
    )
    .await
}
