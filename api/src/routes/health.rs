//! `/healthz` (the process is alive; touches nothing) and `/readyz` (the database answers
//! within one second).

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
}

/// The OpenAPI 3.1 document of this API.
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    Json(crate::openapi::ApiDoc::openapi())
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Prometheus text: requests by route and status, their latency, commands by type and outcome.
async fn metrics() -> impl IntoResponse {
    let body = prometheus()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = state.db.backend().to_string();
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => {
            // A stalled projection does not stop commands, so the instance stays in service,
            // but says so: its views are stale until the event that fails is mended.
            // Likewise a stalled reactor: commands go on, the documents wait.
            let projections = state.projections.health();
            let ecopr = state
                .ecopr
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let stalled = projections.values().any(|h| h.stalled.is_some()) || ecopr.stalled();
            (
                StatusCode::OK,
                Json(json!({
                    "status": if stalled { "degraded" } else { "ready" },
                    "database": backend,
                    "projections": projections,
                    "reactors": { "ecopr": ecopr },
                })),
            )
        }
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
