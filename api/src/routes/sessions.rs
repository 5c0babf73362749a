//! Signing in and out, and changing one's password.

use crate::http::access::{Access, Resource};
use axum::http::Method;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::{delete, post, put};
use axum::Json;
use chrono::{DateTime, Utc};
use prconfirm_commands::accounts::PASSWORD_MAX_BYTES;
use prconfirm_domain::case::{CaseCommand, StageName};
use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;
use crate::http::Caller;
use crate::http::JsonBody;
use crate::state::AppState;

pub fn resource() -> Resource {
    Resource::new()
        .route(
            "/v1/sessions",
            post(sign_in),
            &[(Method::POST, Access::Anyone)],
        )
        .route(
            "/v1/sessions/current",
            delete(sign_out),
            &[(Method::DELETE, Access::SignedIn)],
        )
        .route(
            "/v1/me/password",
            put(change_password),
            &[(Method::PUT, Access::SignedIn)],
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    username: String,
    password: String,
    /// Staff: the current code of their second factor (TOTP, 6 digits). Applicants: none.
    #[serde(default)]
    otp: Option<String>,
}

#[derive(Debug, Serialize)]
struct SessionCreated {
    token: String,
    expires_at: DateTime<Utc>,
    must_change_password: bool,
}

fn check_password_size(password: &str) -> Result<(), ApiError> {
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(ApiError::invalid(format!(
            "password must be at most {PASSWORD_MAX_BYTES} bytes"
        )));
    }
    Ok(())
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    check_password_size(&body.password)?;
    // No username is that long or holds a NUL (which PostgreSQL refuses in text).
    if body.username.len() > 64 || body.username.contains('\0') {
        return Err(ApiError::InvalidCredentials);
    }
    let session = state
        .accounts
        .sign_in(
            &body.username,
            body.password,
            body.otp.as_deref(),
            client.ip(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            token: session.token,
            expires_at: session.expires_at,
            must_change_password: session.must_change_password,
        }),
    ))
}

async fn sign_out(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    state.accounts.sign_out(&caller.0.session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Changes the password and revokes the other sessions. For an applicant leaving the
/// temporary password, the case records the step (`PasswordChanged`).
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    check_password_size(&body.current_password)?;
    check_password_size(&body.new_password)?;
    let identity = match &caller.0.case_id {
        Some(case_id) => state.cases.identity_of(case_id).await?,
        None => Vec::new(),
    };
    let was_temporary = state
        .accounts
        .change_password(
            &caller.0,
            body.current_password,
            body.new_password,
            &identity,
        )
        .await?;
    if let (true, Some(case_id)) = (was_temporary, &caller.0.case_id) {
        let awaiting = state
            .cases
            .load(case_id)
            .await?
            .is_some_and(|c| c.case.stage.name() == StageName::AwaitingPasswordChange);
        if awaiting {
            let meta = caller.meta()?;
            state
                .cases
                .execute(case_id, CaseCommand::ChangePassword, &meta)
                .await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
