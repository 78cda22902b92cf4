//! Liveness (`/healthz`), readiness (`/readyz`: the database takes a
//! write, the broker answers, the originals' folder has room for the
//! largest upload), Prometheus metrics (`/metrics`) and the OpenAPI
//! document.

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document().to_string(),
    )
        .into_response()
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

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
        Json(json!({ "ready": ready, "database": db, "broker": broker, "storage": storage })),
    )
        .into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> ApiResult<Response> {
    let snapshot = app.db.metrics().await.map_err(ApiError::internal)?;
    let depth = tokio::time::timeout(Duration::from_secs(2), app.broker.depth())
        .await
        .ok()
        .and_then(Result::ok);
    let body = app.metrics.encode(snapshot, depth);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
