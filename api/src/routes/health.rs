//! `/healthz` (the process is alive; touches nothing) and `/readyz` (the database answers
//! within one second).

use crate::http::access::{Access, Resource};
use axum::http::Method;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;

use crate::http::ApiError;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::http::error::Problem;
use crate::openapi::Document;
use axum::Extension;

use prconfirm_projections::runtime::parked;

use crate::state::AppState;

const READY_TIMEOUT: Duration = Duration::from_secs(1);

pub fn resource() -> Resource {
    const ANYONE: &[(Method, Access)] = &[(Method::GET, Access::Anyone)];
    Resource::new()
        .route(routes!(healthz), ANYONE)
        .route(routes!(readyz), ANYONE)
        .route(routes!(metrics), ANYONE)
        .route(routes!(openapi_json), ANYONE)
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "this document", content_type = "application/json")))]
async fn openapi_json(Extension(document): Extension<Document>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.0.as_str().to_owned(),
    )
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
/// Whether the request is an operator's: from an operator network, or with the token.
fn operator(state: &AppState, client: SocketAddr, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    state.settings.operators.admit(client.ip(), bearer)
}

/// The service's figures, for operators only (`PRCONFIRM_OPERATOR_NETWORKS`, or
/// `PRCONFIRM_OPERATOR_TOKEN`): they tell how busy it is and what fails.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain"),
        (status = 403, description = "not from an operator network and no operator token",
            body = Problem, content_type = "application/problem+json")))]
async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if !operator(&state, client, &headers) {
        return Err(ApiError::Forbidden);
    }
    let body = prometheus()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

/// The process is alive; touches nothing.
#[derive(Debug, Serialize, ToSchema)]
struct Alive {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    status: &'static str,
}

/// Whether the instance serves: `ready`, `degraded` (a consumer stalled or parked items
/// alerting; commands still served) or `unavailable`. Operators also get the database, its
/// problem, and each consumer's detail.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    #[schema(pattern = "^(ready|degraded|unavailable)$")]
    status: String,
    /// `postgres` or `sqlite`; operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// Why the database is not ready; operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// Each consumer's position, lag, stall and parked items; operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    consumers: Option<Value>,
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Alive)))]
async fn healthz() -> Json<Alive> {
    Json(Alive { status: "ok" })
}

/// Ready or not, for anyone (a load balancer); with each consumer's detail for operators.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> (StatusCode, Json<Readiness>) {
    let (status, detail) = readiness(&state).await;
    if operator(&state, client, &headers) {
        return (status, Json(detail));
    }
    let bare = Readiness {
        status: detail.status,
        database: None,
        detail: None,
        consumers: None,
    };
    (status, Json(bare))
}

async fn readiness(state: &AppState) -> (StatusCode, Readiness) {
    let backend = state.db.backend().to_string();
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => {
            // A stalled consumer does not stop commands, so the instance stays in service,
            // but says so: a read model's views are stale until the event that fails is
            // mended; a reactor's work (documents, e-mail) waits. Likewise parked items that
            // keep failing or were refused for good.
            let parked = match parked::counts(&state.db).await {
                Ok(counts) => counts,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count parked items");
                    return not_ready(&backend, "database error");
                }
            };
            let mut degraded = false;
            let mut consumers = serde_json::Map::new();
            for (name, health) in state.projections.health() {
                let (all, alerting) = parked.get(name).copied().unwrap_or((0, 0));
                degraded |= health.stalled.is_some() || alerting > 0;
                let mut detail = serde_json::to_value(&health).unwrap_or(Value::Null);
                if let Some(d) = detail.as_object_mut() {
                    d.insert("parked".into(), json!(all));
                    d.insert("parked_alerting".into(), json!(alerting));
                }
                consumers.insert(name.to_owned(), detail);
            }
            let status = if degraded { "degraded" } else { "ready" };
            (
                StatusCode::OK,
                Readiness {
                    status: status.to_owned(),
                    database: Some(backend),
                    detail: None,
                    consumers: Some(Value::Object(consumers)),
                },
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database not ready");
            not_ready(&backend, "database error")
        }
        Err(_) => not_ready(&backend, "database did not answer within 1 s"),
    }
}

fn not_ready(backend: &str, detail: &str) -> (StatusCode, Readiness) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Readiness {
            status: "unavailable".to_owned(),
            database: Some(backend.to_owned()),
            detail: Some(detail.to_owned()),
            consumers: None,
        },
    )
}
