//! Answering an invitation with the code from the e-mail: accept (the account is then created
//! and the credentials e-mailed by the `accounts` reactor) or decline (the case goes to an
//! in-person landing).

use std::net::SocketAddr;

use crate::http::access::{Access, Resource};
use crate::http::extract::Path;
use axum::extract::{ConnectInfo, State};
use axum::http::Method;
use axum::Json;
use prconfirm_commands::{Actor, ActorRole, CommandError, RequestMeta};
use prconfirm_domain::case::{CaseCommand, CaseError, StageName};
use prconfirm_domain::values::ActorId;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::http::error::Problem;

use crate::http::error::ApiError;
use crate::http::request::meta_for;
use crate::state::AppState;

/// The invitation's code is the credential: no session.
pub fn resource() -> Resource {
    const ANYONE: &[(Method, Access)] = &[(Method::POST, Access::Anyone)];
    Resource::new()
        .route(routes!(accept), ANYONE)
        .route(routes!(decline), ANYONE)
}

/// The case the invitation belongs to.
#[derive(Debug, Serialize, ToSchema)]
struct Accepted {
    case_id: String,
}

/// The case, declined: it goes to an in-person landing.
#[derive(Debug, Serialize, ToSchema)]
struct Declined {
    case_id: String,
    version: u64,
    /// Always `referred`.
    #[schema(pattern = "^referred$")]
    stage: &'static str,
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
#[utoipa::path(post, path = "/v1/invitations/{code}/acceptance", tag = "invitations",
    params(("code" = String, Path, max_length = 64, description = "the code from the invitation e-mail")),
    responses((status = 200, body = Accepted),
        (status = 404, description = "no such invitation, or it expired",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already answered; or `guardian_accepts`: a minor's case, accepted by the guardian signed in",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too many wrong codes from this address; Retry-After",
            body = Problem, content_type = "application/problem+json")))]
async fn accept(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(code): Path<String>,
) -> Result<Json<Accepted>, ApiError> {
    let case_id = case_for(&state, &code, client).await?;
    let meta = invitee()?;
    // A lost race is another acceptance of the same invitation: look again, and answer as
    // it did. Three looks: something else entirely keeps changing the case.
    for _ in 0..3 {
        let case = state
            .cases
            .load(&case_id)
            .await?
            .ok_or(ApiError::NotFound)?
            .case;
        if case.guardian_case.is_some() {
            return Err(ApiError::Conflict {
                code: "guardian_accepts",
                detail: format!(
                    "a minor's invitation is accepted by their guardian, signed in: POST \
                     /v1/my/dependants/{case_id}/acceptance"
                ),
            });
        }
        let stage = case.stage.name();
        if stage != StageName::Invited {
            // Accepted, the account not made yet: a repeat of the acceptance (a double
            // click, a retry), answered as the first. Once the account exists the invitation
            // is spent, and accepting it again is a step out of order.
            if stage == StageName::AwaitingAccount {
                return Ok(Json(Accepted { case_id }));
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
            Ok(_) => return Ok(Json(Accepted { case_id })),
            Err(CommandError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::from(CommandError::Conflict))
}

/// Declines the invitation: the case goes to an in-person landing.
#[utoipa::path(post, path = "/v1/invitations/{code}/decline", tag = "invitations",
    params(("code" = String, Path, max_length = 64, description = "the code from the invitation e-mail")),
    responses((status = 200, body = Declined),
        (status = 404, description = "no such invitation, or it expired",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already answered",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too many wrong codes from this address; Retry-After",
            body = Problem, content_type = "application/problem+json")))]
async fn decline(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(code): Path<String>,
) -> Result<Json<Declined>, ApiError> {
    let case_id = case_for(&state, &code, client).await?;
    let committed = state
        .cases
        .execute(&case_id, CaseCommand::DeclineInvitation, &invitee()?)
        .await?;
    Ok(Json(Declined {
        case_id,
        version: committed.version,
        stage: "referred",
    }))
}
