//! The HTTP routes: one router per resource, each with its own access rows, composed here
//! with the middleware. Shared pieces are in [`crate::http`].

mod audit;
mod cases;
mod dependants;
mod documents;
mod health;
mod invitations;
pub mod inviting;
mod my_case;
mod sessions;
mod views;

pub use health::prometheus;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Extension, Router};

use crate::http::access::{AccessTable, Resource};
use crate::http::limits::{self, BodyLimits, JSON_LIMIT};
use crate::http::{request, ApiError};
use crate::middleware::auth;
use crate::middleware::idempotency;
use crate::middleware::outage;
use crate::openapi;
use crate::state::AppState;

/// Every resource's router and access rows.
fn resources() -> [Resource; 10] {
    [
        health::resource(),
        sessions::resource(),
        invitations::resource(),
        inviting::resource(),
        documents::resource(),
        my_case::resource(),
        dependants::resource(),
        cases::resource(),
        views::resource(),
        audit::resource(),
    ]
}

/// Every route and who may call it. A route missing here answers 403 to everyone.
pub fn access() -> AccessTable {
    table_of(&resources())
}

fn table_of(resources: &[Resource]) -> AccessTable {
    AccessTable::new(
        resources
            .iter()
            .flat_map(|r| r.rows().iter().cloned())
            .collect(),
    )
}

/// The OpenAPI document of the whole API, as `/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let resources = resources();
    openapi::document(&resources, &table_of(&resources))
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let resources = resources();
    let table = table_of(&resources);
    let document = openapi::serialized(&resources, &table);
    let authorizer = auth::Authorizer::new(state.clone(), table);
    let mut routes = Router::new();
    let mut larger = Vec::new();
    for resource in resources {
        larger.extend_from_slice(resource.body_limits());
        routes = routes.merge(resource.into_router(&state));
    }
    routes
        .layer(Extension(document))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .route_layer(middleware::from_fn_with_state(authorizer, auth::authorize))
        .route_layer(middleware::from_fn_with_state(
            BodyLimits::new(larger),
            limits::announced,
        ))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.settings.body_timeout,
            limits::body_deadline,
        ))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(
            state.reach.clone(),
            outage::refuse_while_down,
        ))
        .layer(middleware::from_fn(limits::refuse_nul))
        .layer(middleware::from_fn(request::context))
        .with_state(state)
}
