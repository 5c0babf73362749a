//! Who may call what: one deny-by-default table of route x role, applied to every matched
//! route, and the `Caller` a handler receives.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prconfirm_commands::accounts::Principal;
use prconfirm_commands::{Actor, ActorRole, RequestMeta};
use prconfirm_domain::values::ActorId;

use crate::error::ApiError;
use crate::idempotency::IdempotencyKey;
use crate::request::meta_for;
use crate::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session needed.
    Anyone,
    /// Any signed-in caller, even on a temporary password.
    SignedIn,
    /// Signed in, with a changed password, in one of these roles.
    Roles(&'static [ActorRole]),
}

const OFFICER: Access = Access::Roles(&[ActorRole::Officer]);
const APPLICANT: Access = Access::Roles(&[ActorRole::Applicant]);
const ANALYST: Access = Access::Roles(&[ActorRole::Analyst]);
const AUDITOR: Access = Access::Roles(&[ActorRole::Auditor]);

/// Every route and who may call it. A route missing here answers 403 to everyone.
pub const ACCESS: &[(Method, &str, Access)] = &[
    (Method::GET, "/healthz", Access::Anyone),
    (Method::GET, "/readyz", Access::Anyone),
    (Method::GET, "/metrics", Access::Anyone),
    (Method::GET, "/openapi.json", Access::Anyone),
    (Method::POST, "/v1/sessions", Access::Anyone),
    (Method::DELETE, "/v1/sessions/current", Access::SignedIn),
    (Method::PUT, "/v1/me/password", Access::SignedIn),
    (
        Method::POST,
        "/v1/invitations/{code}/acceptance",
        Access::Anyone,
    ),
    (
        Method::POST,
        "/v1/invitations/{code}/decline",
        Access::Anyone,
    ),
    // Anyone holding a document checks it; wrong codes are throttled (routes/documents.rs).
    (
        Method::GET,
        "/v1/documents/{document_number}/verification",
        Access::Anyone,
    ),
    (Method::GET, "/v1/my/case", APPLICANT),
    (Method::PUT, "/v1/my/case/presence", APPLICANT),
    (Method::PUT, "/v1/my/case/address", APPLICANT),
    (Method::PUT, "/v1/my/case/photo", APPLICANT),
    (Method::POST, "/v1/my/case/amendment-request", APPLICANT),
    (Method::GET, "/v1/my/case/ecopr", APPLICANT),
    (Method::POST, "/v1/cases", OFFICER),
    (Method::GET, "/v1/cases/{id}", OFFICER),
    (Method::POST, "/v1/cases/{id}/claim", OFFICER),
    (Method::DELETE, "/v1/cases/{id}/claim", OFFICER),
    (Method::GET, "/v1/cases/{id}/photo", OFFICER),
    (Method::POST, "/v1/cases/{id}/photo-review", OFFICER),
    (Method::POST, "/v1/cases/{id}/approval", OFFICER),
    (Method::POST, "/v1/cases/{id}/ecopr-amendment", OFFICER),
    (Method::POST, "/v1/cases/{id}/referral", OFFICER),
    (Method::POST, "/v1/cases/{id}/withdrawal", OFFICER),
    (Method::POST, "/v1/cases/{id}/pr-card-mailing", OFFICER),
    // Served from the projections.
    (Method::GET, "/v1/queue", OFFICER),
    (Method::GET, "/v1/cases", OFFICER),
    (Method::GET, "/v1/stats/funnel", ANALYST),
    (Method::GET, "/v1/stats/durations", ANALYST),
    (Method::GET, "/v1/stats/photo-returns", ANALYST),
    (Method::GET, "/v1/stats/daily", ANALYST),
    (Method::GET, "/v1/stats/officers", ANALYST),
    // Auditors: read-only, and every call recorded in audit_reads (routes/audit.rs).
    (Method::GET, "/v1/audit/cases/{id}/events", AUDITOR),
    (Method::GET, "/v1/audit/cases/{id}/state", AUDITOR),
    (Method::GET, "/v1/audit/events", AUDITOR),
    (Method::GET, "/v1/audit/reads", AUDITOR),
    (Method::POST, "/v1/audit/verification", AUDITOR),
];

/// Who may call `method path` (a route template), by the table.
pub fn access(method: &Method, path: &str) -> Option<Access> {
    ACCESS
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// The signed-in caller, put on the request by [`authorize`], with the idempotency key the
/// request carried (see [`crate::idempotency`]).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal, pub Option<IdempotencyKey>);

impl Caller {
    /// Event metadata for a command this caller sends.
    pub fn meta(&self) -> Result<RequestMeta, ApiError> {
        let id = ActorId::parse(&self.0.username).map_err(|_| ApiError::Internal)?;
        let mut meta = meta_for(Actor::new(id, self.0.role));
        if let Some(k) = &self.1 {
            meta.idempotency_key = Some(k.key.clone());
            meta.request_hash = Some(k.request_hash.clone());
        }
        Ok(meta)
    }

    /// The applicant's own case (never taken from the URL).
    pub fn case_id(&self) -> Result<&str, ApiError> {
        self.0.case_id.as_deref().ok_or(ApiError::NotFound)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)?;
        caller.1 = parts.extensions.get::<IdempotencyKey>().cloned();
        Ok(caller)
    }
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Applies the table to a matched route: resolves the session, checks the role, and keeps a
/// temporary-password session to changing the password or signing out.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(path) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return ApiError::NotFound.into_response();
    };
    let Some(access) = access(request.method(), &path) else {
        return ApiError::Forbidden.into_response();
    };
    let principal = match bearer(&request) {
        None => None,
        Some(token) => match state.accounts.authenticate(token).await {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    match (access, principal) {
        (Access::Anyone, principal) => {
            if let Some(p) = principal {
                request.extensions_mut().insert(Caller(p, None));
            }
        }
        (_, None) => return ApiError::Unauthenticated.into_response(),
        (Access::SignedIn, Some(p)) => {
            request.extensions_mut().insert(Caller(p, None));
        }
        (Access::Roles(roles), Some(p)) => {
            if p.temporary {
                return ApiError::PasswordChangeRequired.into_response();
            }
            if !roles.contains(&p.role) {
                return ApiError::Forbidden.into_response();
            }
            request.extensions_mut().insert(Caller(p, None));
        }
    }
    next.run(request).await
}
