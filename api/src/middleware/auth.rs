//! Who may call what: a deny-by-default table of route x role (each resource's router brings
//! its own rows), applied to every matched route; it resolves the session and puts the
//! [`Caller`] on the request.

use crate::http::access::{Access, AccessTable};
use crate::http::{ApiError, Caller};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware's state: the service's, and the table.
#[derive(Debug, Clone)]
pub struct Authorizer {
    state: AppState,
    table: AccessTable,
}

impl Authorizer {
    pub fn new(state: AppState, table: AccessTable) -> Self {
        Self { state, table }
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
    State(Authorizer { state, table }): State<Authorizer>,
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
    let Some(access) = table.access(request.method(), &path) else {
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
