//! One error type for the whole API, answered as `application/problem+json`
//! `{type, title, status, detail, code, correlation_id}` with a stable `code`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prconfirm_commands::accounts::AccountError;
use prconfirm_commands::audit::AuditError;
use prconfirm_commands::photo::PhotoError;
use prconfirm_commands::CommandError;
use prconfirm_domain::case::CaseError;
use prconfirm_domain::values::ValueError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::request::{correlation_id, ProblemCode};

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECS: u64 = 3;

/// Linux's "disk quota exceeded", which the standard library names only on newer releases.
const EDQUOT: i32 = 122;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON at all.
    #[error("{0}")]
    Malformed(String),
    /// 401: no session, or one that ended.
    #[error("sign in first")]
    Unauthenticated,
    /// 401: wrong username, password or (staff) one-time code; the same for an unknown or
    /// disabled user, so that no answer tells which part was right.
    #[error("wrong username, password or one-time code")]
    InvalidCredentials,
    /// 401: the temporary password was right but has expired.
    #[error("the temporary password has expired; new credentials will be sent")]
    TemporaryPasswordExpired,
    /// 403: a temporary-password session may only change the password or sign out.
    #[error("change the temporary password first")]
    PasswordChangeRequired,
    /// 403: the caller's role may not do this.
    #[error("your role may not do this")]
    Forbidden,
    /// 404: no such resource, or not the caller's.
    #[error("not found")]
    NotFound,
    /// 410: the eCoPR's download window has closed.
    #[error("the eCoPR could be downloaded until {0}; ask for a copy another way")]
    DownloadExpired(chrono::NaiveDate),
    /// 409: the case is not at a stage where this can happen.
    #[error("{0}")]
    Transition(CaseError),
    /// 409: another command changed the case first.
    #[error("another command changed the case first; reload and retry")]
    ConcurrentUpdate,
    /// 409: the person (application number, UCI) already has an open case: this one.
    #[error("this person already has an open case under this application: {0}")]
    AlreadyInvited(String),
    /// 409: the step is not this caller's to take in the case's state (`code` says why).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 412: `If-Match` names a version the case has left.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 400: the request line itself is refused (a NUL byte, a path that is not UTF-8).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 405: the path is served, not with this method; `Allow` lists the methods it takes.
    #[error("{method} is not served here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// 501: a method no standard this server follows defines.
    #[error("the method is not implemented")]
    NotImplemented,
    /// 413: the body is larger than the route accepts.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// 415: the body is not of a type the route accepts.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: a value breaks a rule.
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },
    /// 429: too many failed sign-ins; retry later.
    #[error("too many failed attempts; retry in {0} s")]
    TooManyAttempts(u64),
    /// 503: storage is unreachable or slow; retry shortly.
    #[error("the service is briefly unavailable")]
    Unavailable,
    /// 503: a read asked for `min_version` and the view did not reach it in time.
    #[error("the view has not yet caught up with version {0}; retry shortly")]
    ViewBehind(u64),
    /// 503: the eCoPR is issued but its PDF is still being made; retry shortly.
    #[error("the eCoPR is being prepared; retry shortly")]
    DocumentPending,
    /// 507: the blob store is full, so the upload could not be stored; nothing was recorded.
    #[error("the photo could not be stored: no space is left; nothing was recorded")]
    InsufficientStorage,
    /// 500: a bug or a corrupt store; the cause is logged, never shown.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::InvalidCredentials | Self::TemporaryPasswordExpired => {
                StatusCode::UNAUTHORIZED
            }
            Self::PasswordChangeRequired | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::DownloadExpired(_) => StatusCode::GONE,
            Self::Transition(_)
            | Self::ConcurrentUpdate
            | Self::AlreadyInvited(_)
            | Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::ViewBehind(_) | Self::DocumentPending => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_body",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TemporaryPasswordExpired => "temporary_password_expired",
            Self::PasswordChangeRequired => "password_change_required",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::DownloadExpired(_) => "download_expired",
            Self::Transition(e) => transition_code(e),
            Self::ConcurrentUpdate => "concurrent_update",
            Self::AlreadyInvited(_) => "already_invited",
            Self::Conflict { code, .. } => code,
            Self::PreconditionFailed(_) => "precondition_failed",
            Self::BadRequest { code, .. } => code,
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::NotImplemented => "not_implemented",
            Self::TooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Invalid { code, .. } => code,
            Self::TooManyAttempts(_) => "too_many_attempts",
            Self::Unavailable => "unavailable",
            Self::ViewBehind(_) => "view_behind",
            Self::DocumentPending => "document_pending",
            Self::InsufficientStorage => "insufficient_storage",
            Self::Internal => "internal",
        }
    }

    /// A 422 for a value that broke a rule.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid {
            code: "invalid_value",
            detail: detail.into(),
        }
    }
}

/// Steps the case is not ready for are `invalid_transition`; clashes over an officer's claim
/// keep their own codes.
fn transition_code(e: &CaseError) -> &'static str {
    match e {
        CaseError::ClaimedByAnother { .. }
        | CaseError::NotClaimHolder { .. }
        | CaseError::NotClaimed
        | CaseError::ClaimStillValid { .. } => e.code(),
        _ => "invalid_transition",
    }
}

/// An error, as `application/problem+json` (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `https://prconfirm.example/problems/{code}`.
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    /// Stable machine-readable code, e.g. `invalid_transition`.
    code: &'static str,
    /// The request's `X-Request-Id`.
    correlation_id: Option<String>,
    /// For 409 `invalid_transition`: the rule the step broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// For 409 `already_invited`: the person's open case.
    #[serde(skip_serializing_if = "Option::is_none")]
    case_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            Self::Transition(e) => e.to_string(),
            other => other.to_string(),
        };
        let body = Problem {
            kind: format!("https://prconfirm.example/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("error"),
            status: status.as_u16(),
            detail,
            code: self.code(),
            correlation_id: correlation_id().map(|c| c.to_string()),
            reason: match &self {
                Self::Transition(e) => Some(e.code()),
                _ => None,
            },
            case_id: match &self {
                Self::AlreadyInvited(case) => Some(case.clone()),
                _ => None,
            },
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.extensions_mut().insert(ProblemCode(self.code()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let retry = match self {
            Self::Unavailable | Self::ViewBehind(_) | Self::DocumentPending => {
                Some(RETRY_AFTER_SECS)
            }
            Self::TooManyAttempts(s) => Some(s),
            _ => None,
        };
        if let Self::MethodNotAllowed { allow, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(allow) {
                headers.insert(header::ALLOW, v);
            }
        }
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rejected(CaseError::StaleVersion { expected, actual }) => {
                Self::PreconditionFailed(format!("the case is at version {actual}, not {expected}"))
            }
            CommandError::Rejected(e) => match e {
                CaseError::RespondByNotInFuture { .. }
                | CaseError::PasswordExpiryNotInFuture { .. }
                | CaseError::ReturnNoteRequired
                | CaseError::DocumentNumberReused(_)
                | CaseError::LeaseNotInFuture { .. }
                | CaseError::LeaseTooLong { .. } => Self::Invalid {
                    code: e.code(),
                    detail: e.to_string(),
                },
                other => Self::Transition(other),
            },
            CommandError::NotFound(_) => Self::NotFound,
            CommandError::Conflict => Self::ConcurrentUpdate,
            CommandError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable");
                Self::Unavailable
            }
            CommandError::Corrupt(cause) | CommandError::Internal(cause) => {
                tracing::error!(error = %cause, "command failed");
                Self::Internal
            }
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::InvalidCredentials => Self::InvalidCredentials,
            AccountError::TemporaryPasswordExpired => Self::TemporaryPasswordExpired,
            AccountError::TooManyAttempts { retry_after_secs } => {
                Self::TooManyAttempts(retry_after_secs)
            }
            AccountError::UsernameTaken(name) => Self::Invalid {
                code: "username_taken",
                detail: format!("username {name} is taken"),
            },
            AccountError::Policy(p) => Self::Invalid {
                code: p.code(),
                detail: p.to_string(),
            },
            AccountError::Storage(cause) => storage(cause),
            AccountError::Hashing(cause) => {
                tracing::error!(error = %cause, "password hashing failed");
                Self::Internal
            }
            AccountError::NoSuchStaff(_) => Self::NotFound,
            AccountError::Mfa(cause) => {
                tracing::error!(error = %cause, "second factor failed");
                Self::Internal
            }
        }
    }
}

impl From<prconfirm_projections::reads::ReadError> for ApiError {
    fn from(e: prconfirm_projections::reads::ReadError) -> Self {
        match e {
            prconfirm_projections::reads::ReadError::Database(cause) => storage(cause),
            other => {
                tracing::error!(error = %other, "view read failed");
                Self::Internal
            }
        }
    }
}

/// A storage error: an outage is 503, anything else a logged 500.
pub fn storage(cause: sqlx::Error) -> ApiError {
    if prconfirm_migrations::is_outage(&cause) {
        tracing::warn!(error = %cause, "storage unavailable");
        ApiError::Unavailable
    } else {
        tracing::error!(error = %cause, "storage error");
        ApiError::Internal
    }
}

impl From<PhotoError> for ApiError {
    fn from(e: PhotoError) -> Self {
        match e {
            PhotoError::NotJpegOrPng => Self::UnsupportedMediaType(e.to_string()),
            PhotoError::TooLarge | PhotoError::Rules(ValueError::PhotoTooLarge { .. }) => {
                Self::TooLarge(prconfirm_domain::values::PHOTO_MAX_BYTES as usize)
            }
            PhotoError::Rules(ValueError::PhotoDimensions { .. }) => Self::Invalid {
                code: "wrong_dimensions",
                detail: e.to_string(),
            },
            PhotoError::Rules(_) | PhotoError::Undecodable(_) => Self::Invalid {
                code: "photo_unreadable",
                detail: e.to_string(),
            },
            // The photo was not stored, so nothing was recorded: a full store is 507, one
            // that cannot be written (read-only, gone) is unavailable until mended.
            PhotoError::Store(cause)
                if cause.kind() == std::io::ErrorKind::StorageFull
                    || cause.raw_os_error() == Some(EDQUOT) =>
            {
                tracing::error!(error = %cause, "blob store full");
                Self::InsufficientStorage
            }
            PhotoError::Store(cause) => {
                tracing::error!(error = %cause, "blob store cannot be written");
                Self::Unavailable
            }
        }
    }
}

impl From<ValueError> for ApiError {
    fn from(e: ValueError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::NotFound
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::invalid(r.body_text())
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Database(cause)
            | AuditError::Keys(prconfirm_commands::privacy::PrivacyError::Storage(cause)) => {
                storage(cause)
            }
            other => {
                tracing::error!(error = %other, "audit read failed");
                Self::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_store_that_cannot_take_a_photo_is_507_when_full_and_503_otherwise() {
        let store = |e: std::io::Error| ApiError::from(PhotoError::Store(e)).status();
        assert_eq!(
            store(std::io::ErrorKind::StorageFull.into()),
            StatusCode::INSUFFICIENT_STORAGE
        );
        assert_eq!(
            store(std::io::Error::from_raw_os_error(EDQUOT)),
            StatusCode::INSUFFICIENT_STORAGE
        );
        for other in [
            std::io::ErrorKind::PermissionDenied,
            std::io::ErrorKind::ReadOnlyFilesystem,
            std::io::ErrorKind::NotADirectory,
        ] {
            assert_eq!(
                store(other.into()),
                StatusCode::SERVICE_UNAVAILABLE,
                "{other:?}"
            );
        }
    }
}
