//! Per-request context: a correlation id for every request (echoed as `X-Request-Id`, put in
//! every error body and log line), the security headers every response carries, and one log
//! line per request. Log lines hold the method, route template, status and timing: never a
//! body, a token or a path parameter.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

tokio::task_local! {
    static CORRELATION_ID: Uuid;
}

/// The current request's correlation id, inside a request.
pub fn correlation_id() -> Option<Uuid> {
    CORRELATION_ID.try_with(|id| *id).ok()
}

/// Event metadata for a command `actor` sends in the current request.
pub fn meta_for(actor: prconfirm_commands::Actor) -> prconfirm_commands::RequestMeta {
    let mut meta = prconfirm_commands::RequestMeta::new(actor);
    if let Some(c) = correlation_id() {
        meta.correlation_id = c;
    }
    meta
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every request: correlation id, security headers, one log line.
/// The code of the problem a response carries, put there by the error type so that the
/// request's log line names it (a stable code, never a value the caller sent).
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

pub async fn context(request: Request, next: Next) -> Response {
    let id = Uuid::new_v4();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let mut response = CORRELATION_ID.scope(id, next.run(request)).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        headers.insert(X_REQUEST_ID, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method_label(&method).to_owned()),
        ("route", route.clone()),
        ("status", status),
    ];
    metrics::counter!("prconfirm_http_requests_total", &labels).increment(1);
    metrics::histogram!("prconfirm_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    let problem = response.extensions().get::<ProblemCode>().map(|c| c.0);
    tracing::info!(
        correlation_id = %id,
        %method,
        route,
        status = response.status().as_u16(),
        problem,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// The method as a metrics label, from a closed set: a client's invented method names make no
/// new series. (Routes are templates or `unmatched`, statuses the server's own.)
fn method_label(method: &axum::http::Method) -> &'static str {
    STANDARD
        .iter()
        .find(|m| **m == method.as_str())
        .copied()
        .unwrap_or("other")
}

/// The methods of HTTP's own standard (RFC 9110), PATCH (RFC 5789) and QUERY (the safe
/// method with a body, in the method registry): on a served path each is 405 when the path
/// does not serve it; any other method is 501.
pub const STANDARD: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
];
