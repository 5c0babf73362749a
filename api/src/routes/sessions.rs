//! Signing in and out, and changing one's password.

use crate::http::access::{Access, Resource};
use axum::http::Method;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use prconfirm_commands::accounts::PASSWORD_MAX_BYTES;
use prconfirm_domain::case::{CaseCommand, StageName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::http::error::Problem;

use crate::http::error::ApiError;
use crate::http::Caller;
use crate::http::JsonBody;
use crate::state::AppState;

pub fn resource() -> Resource {
    Resource::new()
        .route(routes!(sign_in), &[(Method::POST, Access::Anyone)])
        .route(routes!(sign_out), &[(Method::DELETE, Access::SignedIn)])
        .route(routes!(change_password), &[(Method::PUT, Access::SignedIn)])
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// Staff: as `staff add` made it; applicants: as the credentials e-mail gave it.
    #[schema(min_length = 1, max_length = 64)]
    username: String,
    /// At most 1 KiB of UTF-8 (256 characters always fit).
    #[schema(min_length = 1, max_length = 256)]
    password: String,
    /// Staff only, and required for them: the current code of their second factor (TOTP,
    /// RFC 6238: SHA-1, 6 digits, 30 s steps), each code accepted once. Without a valid,
    /// unused code of the current or previous step: 401, the same answer as a wrong
    /// password. Applicants send none.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{6}$")]
    otp: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct SessionCreated {
    /// The bearer token for `Authorization: Bearer ...`.
    token: String,
    expires_at: DateTime<Utc>,
    /// True on a temporary password: only `PUT /v1/me/password` and signing out are
    /// allowed until it is changed.
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

/// Signs in. Wrong credentials, an unknown user, a disabled account and a missing or wrong
/// second-factor code all answer the same 401; repeated failures per account and address
/// are throttled (429 with `Retry-After`).
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignIn,
    responses((status = 201, body = SessionCreated),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
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

/// Ends the caller's session.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions",
    responses((status = 204, description = "signed out")))]
async fn sign_out(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    state.accounts.sign_out(&caller.0.session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    /// At most 1 KiB of UTF-8 (256 characters always fit).
    #[schema(min_length = 1, max_length = 256)]
    current_password: String,
    /// 12 characters to 1 KiB of UTF-8 (256 characters always fit); not a common, trivial
    /// or easily guessed password (the 10,000 most common, repeated or sequential
    /// characters, a row of keys, a low zxcvbn score), nor one holding the username, the
    /// e-mail address or the applicant's names: `password_common`, `password_trivial`,
    /// `password_guessable`, `password_contains_identity` (422), checks no schema states.
    #[schema(min_length = 12, max_length = 256)]
    new_password: String,
}

/// Changes the password and revokes the other sessions. For an applicant leaving the
/// temporary password, the case records the step (`PasswordChanged`).
#[utoipa::path(put, path = "/v1/me/password", tag = "sessions", request_body = ChangePassword,
    responses((status = 204, description = "changed; other sessions revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
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
