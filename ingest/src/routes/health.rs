//! Liveness (`/healthz`), readiness (`/readyz`: the database takes a
//! write, the broker answers, the originals' folder has room for the
//! largest upload), Prometheus metrics (`/metrics`) and the OpenAPI
//! document.

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(openapi))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// This description
///
/// This description of the API, as OpenAPI 3.1 JSON.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenapi",
    tag = "operations",
    responses((status = 200, description = "This document.", body = Object)),
)]
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document().to_string(),
    )
        .into_response()
}

/// Liveness: the process answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Readiness: what each thing the service needs said.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// True when the database, the broker and the storage are all `ok`.
    pub ready: bool,
    /// `ok` when a write was committed, or what went wrong.
    pub database: String,
    /// `ok`, or what went wrong.
    pub broker: String,
    /// `ok` when the originals' folder has room for the largest upload
    /// (always, for an object store), or what went wrong.
    pub storage: String,
}

/// Liveness
///
/// Whether the process is alive: for a supervisor's liveness probe. Needs
/// no credentials.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers.", body = Health)),
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness
///
/// Whether the service can take work: the database takes a write, the
/// broker answers, and the originals' folder has room for the largest
/// upload. For a load balancer's readiness probe; needs no credentials,
/// and says what is wrong only in general words.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "Not ready: the answer says what is not.", body = Readiness),
    ),
)]
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let limit = Duration::from_secs(3);
    // What is wrong is said in general words: this answer is public.
    let db = match tokio::time::timeout(limit, app.db.check_write()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not take a write");
            "does not take writes".to_string()
        }
        Err(_) => "did not answer within 3 s".into(),
    };
    let broker = match tokio::time::timeout(limit, app.broker.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the broker does not answer");
            "unreachable".to_string()
        }
        Err(_) => "did not answer within 3 s".into(),
    };
    let storage = match app.blobs.room() {
        None => "ok".to_string(),
        Some(Ok(free)) if free >= app.limits.max_request_bytes as u64 => "ok".to_string(),
        Some(Ok(free)) => {
            tracing::warn!(
                free_mb = free / 1_000_000,
                "readiness: the originals' folder has less room than the largest upload"
            );
            "nearly full".to_string()
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the originals' folder cannot be measured");
            "cannot be measured".to_string()
        }
    };
    let ready = db == "ok" && broker == "ok" && storage == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            database: db,
            broker,
            storage,
        }),
    )
        .into_response()
}

/// Metrics for Prometheus
///
/// Prometheus metrics of every worker's work (read from the database) and
/// of this service's requests, in the OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (
            status = 200,
            description = "The metrics.",
            body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
        ),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn metrics(State(app): State<Arc<App>>) -> ApiResult<Response> {
    let snapshot = app.db.metrics().await.map_err(ApiError::internal)?;
    let depths = tokio::time::timeout(Duration::from_secs(2), app.broker.depths())
        .await
        .ok()
        .and_then(Result::ok);
    let body = app.metrics.encode(snapshot, depths);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
