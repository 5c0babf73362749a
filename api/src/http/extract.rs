//! Extractors whose rejections are API errors, and the version headers (`If-Match`, `ETag`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::Json;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use super::error::ApiError;
pub use super::limits::JSON_LIMIT;
use axum::http::StatusCode;

/// A JSON body whose rejections are API errors (400, 413, 415, 422).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| ApiError::from(e))?;
        Ok(Self(value))
    }
}

/// Query parameters whose rejections are API errors (422 naming the parameter).
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::Invalid {
                    code: "invalid_query",
                    detail: e.body_text(),
                })?;
        Ok(Self(value))
    }
}

pub fn set_etag(headers: &mut HeaderMap, version: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, v);
    }
}

/// The `If-Match` header of a command on a case, as the document states it (read by
/// [`if_match`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// `"N"`: run only if the case is at version N (its `ETag`); 412 if it has moved on.
    #[param(rename = "If-Match", pattern = r#"^(W/)?"?[0-9]{1,19}"?$"#)]
    pub if_match: Option<String>,
}

/// The version an `If-Match: "N"` header names, if any.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::PreconditionFailed("If-Match must be a version like \"3\"".into()))
}

/// Path parameters whose rejections (a segment that is not UTF-8, a value of the wrong type)
/// are problem documents, never the router's plain text.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e| ApiError::BadRequest {
                code: "invalid_path",
                detail: e.body_text(),
            })
    }
}

/// A JSON body's rejection as an API error (kept here, beside the limit it names).
impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::Malformed(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("send Content-Type: application/json".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge(JSON_LIMIT)
            }
            other => ApiError::Malformed(other.body_text()),
        }
    }
}
