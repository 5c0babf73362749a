//! `Idempotency-Key` on command routes. The same key with the same request gives the first
//! answer again without a second effect, even if the server died after the commit and before
//! answering: the key is claimed by the appending transaction itself (a trigger on the event
//! log, see the migrations), so it exists exactly when the command's events do. The same key
//! with another request is 422. Keys are per signed-in caller.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prconfirm_domain::values::PHOTO_MAX_BYTES;
use prconfirm_migrations::on_db;
use sha2::{Digest, Sha256};

use crate::http::error::{storage, ApiError};
use crate::http::{answer, Caller, IdempotencyKey};
use crate::state::AppState;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

fn valid_key(key: &str) -> bool {
    (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Replays or tags commands that carry an `Idempotency-Key` (signed-in callers only).
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match handle(&state, request, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(raw_key) = request.headers().get(&IDEMPOTENCY_KEY) else {
        return Ok(next.run(request).await);
    };
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return Ok(next.run(request).await);
    };
    // A batch is idempotent by its rows; its handler refuses a key, with the reason.
    if request.method() == Method::GET || request.uri().path() == "/v1/invitations/batch" {
        return Ok(next.run(request).await);
    }
    let key = raw_key
        .to_str()
        .ok()
        .filter(|k| valid_key(k))
        .ok_or_else(|| ApiError::Invalid {
            code: "invalid_idempotency_key",
            detail: "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
        })?
        .to_owned();
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, PHOTO_MAX_BYTES as usize + 1)
        .await
        .map_err(|_| ApiError::TooLarge(PHOTO_MAX_BYTES as usize))?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let sql = "SELECT request_hash, aggregate_id, causation_id FROM idempotency_keys \
               WHERE actor_id = $1 AND key = $2";
    let found: Option<(String, String, String)> = on_db!(&state.db, |pool| sqlx::query_as(sql)
        .bind(&caller.0.username)
        .bind(&key)
        .fetch_optional(pool)
        .await)
    .map_err(storage)?;
    if let Some((stored_hash, case_id, causation_id)) = found {
        if stored_hash != request_hash {
            return Err(ApiError::Invalid {
                code: "idempotency_key_reused",
                detail: "this Idempotency-Key was used for a different request".into(),
            });
        }
        return replay(state, &case_id, &causation_id).await;
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request
        .extensions_mut()
        .insert(IdempotencyKey { key, request_hash });
    Ok(next.run(request).await)
}

/// The first answer again, rebuilt from the events the first request committed.
async fn replay(state: &AppState, case_id: &str, causation_id: &str) -> Result<Response, ApiError> {
    let history = state.cases.history(case_id).await?;
    let mine: Vec<_> = history
        .iter()
        .filter(|e| e.metadata.get("causation_id").map(String::as_str) == Some(causation_id))
        .collect();
    let version = mine
        .last()
        .map(|e| e.sequence as u64)
        .ok_or(ApiError::Internal)?;
    let committed = prconfirm_commands::Committed {
        case_id: case_id.to_owned(),
        version,
        events: mine.iter().map(|e| e.payload.clone()).collect(),
    };
    let mut response = answer(&committed);
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}
