//! The signed-in caller a handler receives, put on the request by the authorization
//! middleware, with the idempotency key the request carried.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use prconfirm_commands::accounts::Principal;
use prconfirm_commands::{Actor, RequestMeta};
use prconfirm_domain::values::ActorId;

use super::error::ApiError;
use super::request::meta_for;

/// The key and request fingerprint a command carries into its event metadata.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// The signed-in caller, with the idempotency key the request carried.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal, pub Option<IdempotencyKey>);

impl Caller {
    /// Event metadata for a command this caller sends.
    pub fn meta(&self) -> Result<RequestMeta, ApiError> {
        let id = ActorId::parse(&self.0.username).map_err(|_| ApiError::Internal)?;
        let mut meta = meta_for(Actor::new(id, self.0.role));
        if let Some(k) = &self.1 {
            meta.idempotency_key = Some(k.key.clone());
            meta.request_hash = Some(k.request_hash.clone());
        }
        Ok(meta)
    }

    /// The applicant's own case (never taken from the URL).
    pub fn case_id(&self) -> Result<&str, ApiError> {
        self.0.case_id.as_deref().ok_or(ApiError::NotFound)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)?;
        caller.1 = parts.extensions.get::<IdempotencyKey>().cloned();
        Ok(caller)
    }
}
