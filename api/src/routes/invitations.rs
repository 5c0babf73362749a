//! Answering an invitation with the code from the e-mail: accept (the account is then created
//! and the credentials e-mailed by the `accounts` reactor) or decline (the case goes to an
//! in-person landing).

use std::net::SocketAddr;

use crate::http::access::{Access, Resource};
use crate::http::extract::Path;
use axum::extract::{ConnectInfo, State};
use axum::http::Method;
use axum::routing::post;
use axum::Json;
use prconfirm_commands::{Actor, ActorRole, CommandError, RequestMeta};
use prconfirm_domain::case::{CaseCommand, CaseError, StageName};
use prconfirm_domain::values::ActorId;
use serde_json::{json, Value};

use crate::http::error::ApiError;
use crate::http::request::meta_for;
use crate::state::AppState;

/// The invitation's code is the credential: no session.
pub fn resource() -> Resource {
    const ANYONE: &[(Method, Access)] = &[(Method::POST, Access::Anyone)];
    Resource::new()
        .route("/v1/invitations/{code}/acceptance", post(accept), ANYONE)
        .route("/v1/invitations/{code}/decline", post(decline), ANYONE)
}

fn invitee() -> Result<RequestMeta, ApiError> {
    let id = ActorId::parse("invitee").map_err(|_| ApiError::Internal)?;
    Ok(meta_for(Actor::new(id, ActorRole::Invitee)))
}

async fn case_for(state: &AppState, code: &str, client: SocketAddr) -> Result<String, ApiError> {
    if code.len() > 64 {
        return Err(ApiError::NotFound);
    }
    state
        .accounts
        .case_for_invitation(code, client.ip())
        .await?
        .ok_or(ApiError::NotFound)
}

/// Accepts the invitation. The answer comes once `InvitationAccepted` is recorded; the
/// account and its credentials e-mail follow from it (the `accounts` reactor), so nothing
/// is left half done by a crash, and a repeated or concurrent acceptance (a double click, a
/// retry) gets the same answer without making anything twice.
async fn accept(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case_id = case_for(&state, &code, client).await?;
    let meta = invitee()?;
    // A lost race is another acceptance of the same invitation: look again, and answer as
    // it did. Three looks: something else entirely keeps changing the case.
    for _ in 0..3 {
        let stage = state
            .cases
            .load(&case_id)
            .await?
            .map(|c| c.case.stage.name())
            .ok_or(ApiError::NotFound)?;
        if stage != StageName::Invited {
            // Accepted, the account not made yet: a repeat of the acceptance (a double
            // click, a retry), answered as the first. Once the account exists the invitation
            // is spent, and accepting it again is a step out of order.
            if stage == StageName::AwaitingAccount {
                return Ok(Json(json!({ "case_id": case_id })));
            }
            return Err(ApiError::Transition(CaseError::InvalidTransition {
                command: "AcceptInvitation",
                stage,
            }));
        }
        match state
            .cases
            .execute(&case_id, CaseCommand::AcceptInvitation, &meta)
            .await
        {
            Ok(_) => return Ok(Json(json!({ "case_id": case_id }))),
            Err(CommandError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::from(CommandError::Conflict))
}

async fn decline(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case_id = case_for(&state, &code, client).await?;
    let committed = state
        .cases
        .execute(&case_id, CaseCommand::DeclineInvitation, &invitee()?)
        .await?;
    Ok(Json(
        json!({ "case_id": case_id, "version": committed.version, "stage": "referred" }),
    ))
}
