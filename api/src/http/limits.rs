//! Sizes the edge enforces before any handler runs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Largest JSON body any route accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The largest body each route takes: [`JSON_LIMIT`] unless the route says more.
#[derive(Debug, Clone, Default)]
pub struct BodyLimits(Arc<HashMap<&'static str, usize>>);

impl BodyLimits {
    pub fn new(larger: impl IntoIterator<Item = (&'static str, usize)>) -> Self {
        Self(Arc::new(larger.into_iter().collect()))
    }

    pub fn of(&self, route: &str) -> usize {
        self.0.get(route).copied().unwrap_or(JSON_LIMIT)
    }
}

/// Refuses (413) a request whose `Content-Length` already says its body is over the route's
/// limit, before a byte of it is read: a client announcing 100 MB and sending nothing holds
/// nothing open. A body without a length is still cut off at the limit as it is read.
pub async fn announced(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or_default();
    let limit = limits.of(route);
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return ApiError::TooLarge(limit).into_response();
    }
    next.run(request).await
}
