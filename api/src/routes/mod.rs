//! The HTTP routes, one module per resource.

mod health;

use axum::Router;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
