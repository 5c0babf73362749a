//! A guardian acting for the minors of their family, from their own session: the minors have
//! no account. Every step is recorded with the guardian as its actor. A case is reachable
//! here only by the guardian its invitation named (`guardianships`); anyone else's, and any
//! case that is not a minor's, is 404.
//!
//! The guardianship is a family's, not a case's: when the guardian's own case closes
//! (withdrawn, referred to an in-person landing) the minor's case keeps its guardian, who
//! still signs in with their account and acts for the minor. Officers see the guardian's
//! case on the minor's (`guardian_case`) and decide with the family, as for any case, whether
//! the minor's case goes on online or to a landing too.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::Json;
use prconfirm_domain::case::{CaseCommand, StageName};
use prconfirm_domain::values::PersonName;
use prconfirm_migrations::on_db;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::my_case::{Addresses, MinVersion, Presence};
use crate::http::access::{Access, Resource, APPLICANT};
use crate::http::answer::CommandAnswer;
use crate::http::error::{storage, ApiError, Problem};
use crate::http::extract::{IfMatch, Path};
use crate::http::{Caller, JsonBody, QueryParams};
use crate::state::AppState;

/// The guardian's routes.
pub fn resource() -> Resource {
    const GET: &[(Method, Access)] = &[(Method::GET, APPLICANT)];
    const PUT: &[(Method, Access)] = &[(Method::PUT, APPLICANT)];
    Resource::new()
        .route(routes!(list), GET)
        .route(routes!(status), GET)
        .route(routes!(acceptance), &[(Method::POST, APPLICANT)])
        .route(routes!(presence), PUT)
        .route(routes!(address), PUT)
        .route_with_body_limit(
            routes!(photo),
            PUT,
            prconfirm_domain::values::PHOTO_MAX_BYTES as usize + 1,
        )
        .route(routes!(ecopr), GET)
}

/// A minor the signed-in guardian acts for.
#[derive(Debug, Serialize, ToSchema)]
struct Dependant {
    case_id: String,
    #[schema(value_type = String)]
    given_name: PersonName,
    stage: StageName,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct DependantId {
    /// The minor's case.
    case_id: String,
}

/// The minor's case, if `caller` is its guardian.
async fn dependant(state: &AppState, caller: &Caller, case_id: &str) -> Result<String, ApiError> {
    let guardian = caller.case_id()?;
    let sql = "SELECT minor_case_id FROM guardianships \
               WHERE minor_case_id = $1 AND guardian_case_id = $2";
    let found: Option<String> = on_db!(&state.db, |pool| sqlx::query_scalar(sql)
        .bind(case_id)
        .bind(guardian)
        .fetch_optional(pool)
        .await)
    .map_err(storage)?;
    found.ok_or(ApiError::NotFound)
}

/// The minors the signed-in applicant is the guardian of, oldest invitation first.
#[utoipa::path(get, path = "/v1/my/dependants", tag = "guardians",
    responses((status = 200, body = Vec<Dependant>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Dependant>>, ApiError> {
    let sql = "SELECT minor_case_id FROM guardianships WHERE guardian_case_id = $1 \
               ORDER BY minor_case_id";
    let guardian = caller.case_id()?;
    let minors: Vec<String> = on_db!(&state.db, |pool| sqlx::query_scalar(sql)
        .bind(guardian)
        .fetch_all(pool)
        .await)
    .map_err(storage)?;
    let mut dependants = Vec::with_capacity(minors.len());
    for case_id in minors {
        let Some(loaded) = state.cases.load(&case_id).await? else {
            continue;
        };
        let Some(file) = loaded.case.file.as_ref() else {
            continue;
        };
        dependants.push((
            loaded.case.invited_at,
            Dependant {
                given_name: file.given_name.clone(),
                stage: loaded.case.stage.name(),
                case_id,
            },
        ));
    }
    dependants.sort_by_key(|(at, _)| *at);
    Ok(Json(dependants.into_iter().map(|(_, d)| d).collect()))
}

/// The minor's case, as `GET /v1/my/case` shows the guardian's own.
#[utoipa::path(get, path = "/v1/my/dependants/{case_id}", tag = "guardians",
    params(DependantId, MinVersion),
    responses((status = 200, body = super::my_case::CaseStatus,
            headers(("ETag" = String, description = "the version the view reflects"))),
        (status = 404, description = "not a minor this applicant is the guardian of",
            body = Problem, content_type = "application/problem+json")))]
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(DependantId { case_id }): Path<DependantId>,
    QueryParams(q): QueryParams<MinVersion>,
) -> Result<Response, ApiError> {
    let case_id = dependant(&state, &caller, &case_id).await?;
    super::my_case::status_of(&state, &case_id, q).await
}

/// Accepts the minor's invitation for them: no account is made for the minor; the case goes
/// to the confirmations, which the guardian makes here.
#[utoipa::path(post, path = "/v1/my/dependants/{case_id}/acceptance", tag = "guardians",
    params(DependantId, IfMatch),
    responses((status = 200, body = CommandAnswer),
        (status = 404, description = "not a minor this applicant is the guardian of",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already answered, or the invitation expired",
            body = Problem, content_type = "application/problem+json")))]
async fn acceptance(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(DependantId { case_id }): Path<DependantId>,
) -> Result<Response, ApiError> {
    let case_id = dependant(&state, &caller, &case_id).await?;
    crate::http::run_command(
        &state,
        &caller,
        &case_id,
        &headers,
        CaseCommand::AcceptInvitation,
    )
    .await
}

#[utoipa::path(put, path = "/v1/my/dependants/{case_id}/presence", tag = "guardians",
    request_body = Presence, params(DependantId, IfMatch),
    responses((status = 200, body = CommandAnswer)))]
async fn presence(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(DependantId { case_id }): Path<DependantId>,
    JsonBody(body): JsonBody<Presence>,
) -> Result<Response, ApiError> {
    let case_id = dependant(&state, &caller, &case_id).await?;
    crate::http::run_command(&state, &caller, &case_id, &headers, body.command()).await
}

#[utoipa::path(put, path = "/v1/my/dependants/{case_id}/address", tag = "guardians",
    request_body = Addresses, params(DependantId, IfMatch),
    responses((status = 200, body = CommandAnswer)))]
async fn address(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(DependantId { case_id }): Path<DependantId>,
    JsonBody(body): JsonBody<Addresses>,
) -> Result<Response, ApiError> {
    let case_id = dependant(&state, &caller, &case_id).await?;
    crate::http::run_command(&state, &caller, &case_id, &headers, body.command()).await
}

/// The minor's PR-card photo, as `PUT /v1/my/case/photo` takes the guardian's own.
#[utoipa::path(put, path = "/v1/my/dependants/{case_id}/photo", tag = "guardians",
    request_body(content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png")),
        description = "715x1000 to 2000x2800 pixels, at most 4 MB"),
    params(DependantId, IfMatch),
    responses((status = 200, body = CommandAnswer),
        (status = 507, description = "insufficient_storage: the photo store is full; nothing is recorded",
            body = Problem, content_type = "application/problem+json")))]
async fn photo(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(DependantId { case_id }): Path<DependantId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let case_id = dependant(&state, &caller, &case_id).await?;
    super::my_case::photo_on(&state, &caller, &case_id, &headers, body).await
}

/// The minor's eCoPR in force, as `GET /v1/my/case/ecopr` gives the guardian's own.
#[utoipa::path(get, path = "/v1/my/dependants/{case_id}/ecopr", tag = "guardians",
    params(DependantId),
    responses((status = 200, description = "the eCoPR in force, as an attachment `eCoPR-<number>.pdf`",
            content_type = "application/pdf"),
        (status = 404, description = "PR not granted, or not this guardian's minor", body = Problem,
            content_type = "application/problem+json"),
        (status = 410, description = "download_expired", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "document_pending; Retry-After",
            body = Problem, content_type = "application/problem+json")))]
async fn ecopr(
    State(state): State<AppState>,
    caller: Caller,
    Path(DependantId { case_id }): Path<DependantId>,
) -> Result<Response, ApiError> {
    let case_id = dependant(&state, &caller, &case_id).await?;
    super::documents::download_of(&state, &case_id).await
}
