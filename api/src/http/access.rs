//! Who may call what, as data: each resource's rows (method, route template, access), and
//! the table of them all that the authorization middleware applies. Routes are registered
//! with their rows in one call ([`Resource::route`]), so a route's path is written once.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;
use prconfirm_commands::ActorRole;

pub use super::request::STANDARD;
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

    /// The methods `path` is served with, as an `Allow` header says them (HEAD wherever GET
    /// is, OPTIONS everywhere); empty if no route has that template.
    pub fn allow(&self, path: &str) -> Vec<&'static str> {
        let mut methods: Vec<&'static str> = self
            .0
            .iter()
            .filter(|(_, p, _)| *p == path)
            .filter_map(|(m, _, _)| STANDARD.iter().find(|s| **s == m.as_str()).copied())
            .collect();
        if methods.is_empty() {
            return methods;
        }
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        methods.push("OPTIONS");
        methods.sort_unstable();
        methods.dedup();
        methods
    }
}

/// Wraps a resource's router once the service's state is known.
pub type Wrap = fn(Router<AppState>, &AppState) -> Router<AppState>;

/// A resource's router and its access rows, built together.
#[derive(Debug, Default)]
pub struct Resource {
    router: Router<AppState>,
    rows: Vec<Route>,
    /// Routes whose bodies may be larger than [`JSON_LIMIT`](super::limits::JSON_LIMIT), with their limit.
    limits: Vec<(&'static str, usize)>,
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

    /// As [`Resource::route`], for a route whose bodies may be up to `limit` bytes (more
    /// than [`JSON_LIMIT`](super::limits::JSON_LIMIT)).
    #[must_use]
    pub fn route_with_body_limit(
        mut self,
        path: &'static str,
        handlers: MethodRouter<AppState>,
        access: &[(Method, Access)],
        limit: usize,
    ) -> Self {
        self.limits.push((path, limit));
        self.route(path, handlers.layer(DefaultBodyLimit::max(limit)), access)
    }

    /// The routes that take larger bodies than [`JSON_LIMIT`](super::limits::JSON_LIMIT), with their limit.
    pub fn body_limits(&self) -> &[(&'static str, usize)] {
        &self.limits
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
