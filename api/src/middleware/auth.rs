//! Who may call what: a deny-by-default table of route x role (each resource's router brings
//! its own rows), applied to every matched route; it resolves the session and puts the
//! [`Caller`] on the request.

use crate::http::access::{Access, AccessTable, STANDARD};
use crate::http::{ApiError, Caller};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
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
    let access = match table.access(request.method(), &path) {
        Some(access) => access,
        None => match unserved(&table, request.method(), &path) {
            Ok(access) => access,
            Err(response) => return *response,
        },
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

/// A method the table has no row for on a served path: HEAD takes GET's access (the router
/// answers it as GET without the body); OPTIONS says what the path serves, to anyone; a
/// standard method is 405 with `Allow`; any other 501. A path with no row at all stays
/// 403 (deny by default).
fn unserved(table: &AccessTable, method: &Method, path: &str) -> Result<Access, Box<Response>> {
    if *method == Method::HEAD {
        if let Some(access) = table.access(&Method::GET, path) {
            return Ok(access);
        }
    }
    let allow = table.allow(path);
    if allow.is_empty() {
        return Err(Box::new(ApiError::Forbidden.into_response()));
    }
    if *method == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
            response.headers_mut().insert(header::ALLOW, v);
        }
        return Err(Box::new(response));
    }
    if !STANDARD.contains(&method.as_str()) {
        return Err(Box::new(ApiError::NotImplemented.into_response()));
    }
    Err(Box::new(
        ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow: allow.join(", "),
        }
        .into_response(),
    ))
}
