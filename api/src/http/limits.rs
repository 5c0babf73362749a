//! Sizes the edge enforces before any handler runs.

use std::collections::HashMap;
use std::sync::Arc;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::error::ApiError;

/// Largest JSON body any route accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The largest body each route takes: [`JSON_LIMIT`] unless the route says more.
#[derive(Debug, Clone, Default)]
pub struct BodyLimits(Arc<HashMap<String, usize>>);

impl BodyLimits {
    pub fn new(larger: impl IntoIterator<Item = (String, usize)>) -> Self {
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
        // Read and drop what the client sends meanwhile (bounded), so that closing the
        // connection does not reset it before the client has read the answer.
        tokio::spawn(drain(request.into_body()));
        let mut response = ApiError::TooLarge(limit).into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

/// Bytes and time spent reading a refused body before the connection closes.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut read = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len();
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// Gives every request's body a deadline for the whole of it (not between its pieces), so
/// a client cannot hold a request open by sending its body a byte at a time.
pub async fn body_deadline(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    next.run(request.map(|body| Body::new(Deadline::new(body, timeout))))
        .await
}

/// A body that fails once its deadline passes.
struct Deadline {
    body: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(body: Body, timeout: Duration) -> Self {
        Self {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new("the body was not sent in time"))));
        }
        Pin::new(&mut this.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Refuses (400 `nul_byte`) a request whose path or query holds a NUL byte, for every route
/// at once: PostgreSQL refuses NUL in text, and no identifier or filter holds one.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let nul = request
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().contains("%00"));
    if nul {
        return ApiError::BadRequest {
            code: "nul_byte",
            detail: "the path or query holds a NUL byte (%00)".into(),
        }
        .into_response();
    }
    next.run(request).await
}
