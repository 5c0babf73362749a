//! `/healthz` (the process is alive; touches nothing) and `/readyz` (the database answers
//! within one second).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::AppState;

const READY_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = state.db.backend().to_string();
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": backend })),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database not ready");
            not_ready(&backend, "database error")
        }
        Err(_) => not_ready(&backend, "database did not answer within 1 s"),
    }
}

fn not_ready(backend: &str, detail: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "database": backend, "detail": detail })),
    )
}
