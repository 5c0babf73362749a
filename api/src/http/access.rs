//! Who may call what, as data: each resource's rows (method, route template, access), and
//! the table of them all that the authorization middleware applies. Routes are registered
//! with their rows in one call ([`Resource::route`]), so a route's path is written once.

use std::sync::Arc;

use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;
use prconfirm_commands::ActorRole;

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

pub const OFFICER: Access = Access::Roles(&[ActorRole::Officer]);
pub const APPLICANT: Access = Access::Roles(&[ActorRole::Applicant]);
pub const ANALYST: Access = Access::Roles(&[ActorRole::Analyst]);
pub const AUDITOR: Access = Access::Roles(&[ActorRole::Auditor]);

/// One access row: method, route template, who may call it.
pub type Route = (Method, &'static str, Access);

/// Every route and who may call it.
#[derive(Debug, Clone)]
pub struct AccessTable(Arc<Vec<Route>>);

impl AccessTable {
    pub fn new(rows: Vec<Route>) -> Self {
        Self(Arc::new(rows))
    }

    /// Who may call `method path` (a route template), by the table.
    pub fn access(&self, method: &Method, path: &str) -> Option<Access> {
        self.0
            .iter()
            .find(|(m, p, _)| m == method && *p == path)
            .map(|(_, _, a)| *a)
    }

    pub fn rows(&self) -> &[Route] {
        &self.0
    }
}

/// Wraps a resource's router once the service's state is known.
pub type Wrap = fn(Router<AppState>, &AppState) -> Router<AppState>;

/// A resource's router and its access rows, built together.
#[derive(Debug, Default)]
pub struct Resource {
    router: Router<AppState>,
    rows: Vec<Route>,
    wrap: Option<Wrap>,
}

impl Resource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `path` with `handlers`, each method callable by whom `access` says (a method
    /// served but not named there answers 403 to everyone).
    #[must_use]
    pub fn route(
        mut self,
        path: &'static str,
        handlers: MethodRouter<AppState>,
        access: &[(Method, Access)],
    ) -> Self {
        self.router = self.router.route(path, handlers);
        self.rows
            .extend(access.iter().map(|(m, a)| (m.clone(), path, *a)));
        self
    }

    /// Has `wrap` wrap the resource's routes (a layer of its own) when the router is built.
    #[must_use]
    pub fn wrapped(mut self, wrap: Wrap) -> Self {
        self.wrap = Some(wrap);
        self
    }

    /// The access rows alone.
    pub fn rows(&self) -> &[Route] {
        &self.rows
    }

    /// The router, wrapped for `state`.
    pub fn into_router(self, state: &AppState) -> Router<AppState> {
        match self.wrap {
            Some(wrap) => wrap(self.router, state),
            None => self.router,
        }
    }
}
