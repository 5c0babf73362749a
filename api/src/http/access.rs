//! Who may call what, as data: each resource's rows (method, route template, access), and
//! the table of them all that the authorization middleware applies. Routes are registered
//! with their rows in one call ([`Resource::route`]) from their handlers' `#[utoipa::path]`
//! attributes, so a route's path is written once, and the OpenAPI document is the one the
//! router serves.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::Router;
use prconfirm_commands::ActorRole;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::UtoipaMethodRouter;

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
pub type Route = (Method, String, Access);

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
            .find(|(m, p, _)| m == method && p == path)
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
            .filter(|(_, p, _)| p == path)
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

/// A resource's router, its access rows and its part of the OpenAPI document, built
/// together.
#[derive(Debug)]
pub struct Resource {
    router: Router<AppState>,
    rows: Vec<Route>,
    /// Routes whose bodies may be larger than [`JSON_LIMIT`](super::limits::JSON_LIMIT), with their limit.
    limits: Vec<(String, usize)>,
    document: OpenApi,
    wrap: Option<Wrap>,
}

impl Default for Resource {
    fn default() -> Self {
        Self {
            router: Router::new(),
            rows: Vec::new(),
            limits: Vec::new(),
            document: OpenApi::default(),
            wrap: None,
        }
    }
}

impl Resource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves one path with `handlers` (from `utoipa_axum::routes!`: handlers of one path,
    /// each with its `#[utoipa::path]`), each method callable by whom `access` says.
    ///
    /// # Panics
    /// At start-up, when the handlers name more than one path, or `access` does not name
    /// exactly the methods they document: the table and the document must agree.
    #[must_use]
    pub fn route(
        mut self,
        handlers: UtoipaMethodRouter<AppState>,
        access: &[(Method, Access)],
    ) -> Self {
        let (schemas, paths, router) = handlers;
        let mut documented = paths.paths.iter();
        let (Some((path, item)), None) = (documented.next(), documented.next()) else {
            panic!("one path per route, documented by its handlers' #[utoipa::path]");
        };
        let path = path.clone();
        let mut methods: Vec<Method> = operations(item).map(|(m, _)| m).collect();
        let mut named: Vec<Method> = access.iter().map(|(m, _)| m.clone()).collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        named.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(
            methods, named,
            "{path}: the access rows must name the documented methods"
        );
        self.router = self.router.route(&path, router);
        self.rows
            .extend(access.iter().map(|(m, a)| (m.clone(), path.clone(), *a)));
        self.document.paths.merge(paths);
        self.document
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(schemas);
        self
    }

    /// As [`Resource::route`], for a route whose bodies may be up to `limit` bytes (more
    /// than [`JSON_LIMIT`](super::limits::JSON_LIMIT)).
    #[must_use]
    pub fn route_with_body_limit(
        mut self,
        (schemas, paths, router): UtoipaMethodRouter<AppState>,
        access: &[(Method, Access)],
        limit: usize,
    ) -> Self {
        self.limits
            .extend(paths.paths.keys().map(|path| (path.clone(), limit)));
        self.route(
            (schemas, paths, router.layer(DefaultBodyLimit::max(limit))),
            access,
        )
    }

    /// The routes that take larger bodies than [`JSON_LIMIT`](super::limits::JSON_LIMIT), with their limit.
    pub fn body_limits(&self) -> &[(String, usize)] {
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

    /// The resource's part of the OpenAPI document.
    pub fn document(&self) -> &OpenApi {
        &self.document
    }

    /// The router, wrapped for `state`.
    pub fn into_router(self, state: &AppState) -> Router<AppState> {
        match self.wrap {
            Some(wrap) => wrap(self.router, state),
            None => self.router,
        }
    }
}

/// A path item's operations, with their HTTP methods.
pub fn operations(
    item: &utoipa::openapi::PathItem,
) -> impl Iterator<Item = (Method, &utoipa::openapi::path::Operation)> {
    [
        (Method::GET, &item.get),
        (Method::PUT, &item.put),
        (Method::POST, &item.post),
        (Method::DELETE, &item.delete),
        (Method::PATCH, &item.patch),
        (Method::HEAD, &item.head),
        (Method::OPTIONS, &item.options),
        (Method::TRACE, &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_ref().map(|op| (method, op)))
}
