//! The HTTP routes: one router per resource, each with its own access rows, composed here
//! with the middleware. Shared pieces are in [`crate::http`].

mod audit;
mod cases;
mod documents;
mod health;
mod invitations;
mod my_case;
mod sessions;
mod views;

pub use health::prometheus;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Router};

use crate::http::access::{AccessTable, Resource};
use crate::http::limits::{self, BodyLimits, JSON_LIMIT};
use crate::http::{request, ApiError};
use crate::middleware::auth;
use crate::middleware::idempotency;
use crate::middleware::outage;
use crate::state::AppState;

/// Every resource's router and access rows.
fn resources() -> [Resource; 8] {
    [
        health::resource(),
        sessions::resource(),
        invitations::resource(),
        documents::resource(),
        my_case::resource(),
        cases::resource(),
        views::resource(),
        audit::resource(),
    ]
}

/// Every route and who may call it. A route missing here answers 403 to everyone.
pub fn access() -> AccessTable {
    AccessTable::new(
        resources()
            .iter()
            .flat_map(|r| r.rows().iter().cloned())
            .collect(),
    )
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let authorizer = auth::Authorizer::new(state.clone(), access());
    let mut routes = Router::new();
    let mut larger = Vec::new();
    for resource in resources() {
        larger.extend_from_slice(resource.body_limits());
        routes = routes.merge(resource.into_router(&state));
    }
    routes
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
