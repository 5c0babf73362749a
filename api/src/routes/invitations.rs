//! Answering an invitation with the code from the e-mail: accept (the account is created and
//! credentials e-mailed) or decline (the case goes to an in-person landing).

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use prconfirm_commands::{Actor, ActorRole, RequestMeta};
use prconfirm_domain::case::{CaseCommand, StageName};
use prconfirm_domain::values::ActorId;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::request::meta_for;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/invitations/{code}/acceptance", post(accept))
        .route("/v1/invitations/{code}/decline", post(decline))
}

fn invitee() -> Result<RequestMeta, ApiError> {
    let id = ActorId::parse("invitee").map_err(|_| ApiError::Internal)?;
    Ok(meta_for(Actor::new(id, ActorRole::Invitee)))
}

async fn case_for(state: &AppState, code: &str) -> Result<String, ApiError> {
    if code.len() > 64 {
        return Err(ApiError::NotFound);
    }
    state
        .accounts
        .case_for_invitation(code)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Accepts the invitation and has the department create the account. Safe to repeat while
/// the account is not yet created (a crash between the steps is finished by the retry).
async fn accept(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case_id = case_for(&state, &code).await?;
    let meta = invitee()?;
    let stage = state
        .cases
        .load(&case_id)
        .await?
        .map(|c| c.case.stage.name())
        .ok_or(ApiError::NotFound)?;
    if stage == StageName::Invited {
        state
            .cases
            .execute(&case_id, CaseCommand::AcceptInvitation, &meta)
            .await?;
    }
    state.issue_credentials(&case_id).await?;
    Ok(Json(json!({ "case_id": case_id })))
}

async fn decline(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case_id = case_for(&state, &code).await?;
    let committed = state
        .cases
        .execute(&case_id, CaseCommand::DeclineInvitation, &invitee()?)
        .await?;
    Ok(Json(
        json!({ "case_id": case_id, "version": committed.version, "stage": "referred" }),
    ))
}
