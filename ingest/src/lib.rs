//! formflow's HTTP service: uploads in, documents and records out.
//!
//! Owns the HTTP API (`/api/v1/...`, described by `openapi.json` served at
//! `/api/v1/openapi.json`), its limits and error answers (JSON, in plain
//! words), health and readiness, and `/metrics`. Accepting files is in
//! [`upload`]; storage, database, queue and relay are `formflow-service`'s.

pub mod metrics;
pub mod upload;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeZone as _, Utc};
use formflow_extract::decode::DecodeError;
use formflow_extract::{Engine, ExtractError};
use formflow_schemas::{FieldResult, Record, Status};
use formflow_service::db::{DocStatus, DocumentRow, RecordFilter, RecordView};
use formflow_service::{Blobs, Broker, Db};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

pub use metrics::Metrics;
pub use upload::{accept, Incoming, UploadAnswer};

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Limits on one upload request.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    /// Largest request body, in bytes (413 beyond).
    pub max_request_bytes: usize,
    /// Most files in one request (413 beyond).
    pub max_files: usize,
}

impl Default for UploadLimits {
    fn default() -> UploadLimits {
        UploadLimits {
            max_request_bytes: 512 * 1024 * 1024,
            max_files: 1000,
        }
    }
}

/// What every handler shares.
pub struct App {
    /// The database.
    pub db: Db,
    /// The originals.
    pub blobs: Blobs,
    /// The queue (for readiness and depth; jobs go through the outbox).
    pub broker: Broker,
    /// The engine: its limits check uploads, and it draws prepared pages.
    pub engine: Arc<Engine>,
    /// Upload limits.
    pub limits: UploadLimits,
    /// Woken when the outbox has new messages.
    pub wake: Arc<Notify>,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// Bounds page drawing (CPU-heavy) to a few at once.
    pub drawing: Semaphore,
}

impl App {
    /// An app over these stores.
    pub fn new(
        db: Db,
        blobs: Blobs,
        broker: Broker,
        engine: Arc<Engine>,
        limits: UploadLimits,
        wake: Arc<Notify>,
    ) -> Arc<App> {
        let drawing = Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        );
        Arc::new(App {
            db,
            blobs,
            broker,
            engine,
            limits,
            wake,
            metrics: Metrics::default(),
            drawing,
        })
    }
}

/// The service's routes.
pub fn router(app: Arc<App>) -> Router {
    let body_limit = app.limits.max_request_bytes;
    Router::new()
        .route("/api/v1/batches", post(upload_batch))
        .route("/api/v1/batches/{id}", get(get_batch))
        .route("/api/v1/documents/{id}", get(get_document))
        .route("/api/v1/documents/{id}/original", get(get_original))
        .route("/api/v1/documents/{id}/pages/{n}", get(get_page))
        .route("/api/v1/records", get(list_records))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            observe,
        ))
        .with_state(app)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes
/// the requests in hand.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// An error answer: a status and one plain sentence.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn new(status: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError(status, msg.into())
    }
    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "request failed");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the service cannot answer just now: {e}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let start = Instant::now();
    let res = next.run(req).await;
    app.metrics
        .request(&route, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "there is nothing at this address; see /api/v1/openapi.json",
    )
}

async fn upload_batch(
    State(app): State<Arc<App>>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut form = form.map_err(|e| {
        ApiError::new(e.status(), format!("send the files as multipart/form-data, one part per file (for example curl -F file=@scan.pdf): {}", e.body_text()))
    })?;
    let mut files = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, &app.limits)),
        };
        let Some(name) = field.file_name().map(str::to_string) else {
            // A plain form field, not a file: ignored.
            continue;
        };
        if files.len() >= app.limits.max_files {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "more than {} files in one upload: send them as several batches",
                    app.limits.max_files
                ),
            ));
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|e| multipart_error(e, &app.limits))?;
        files.push(Incoming {
            name,
            bytes: bytes.to_vec(),
        });
    }
    if files.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the upload holds no file: send multipart/form-data with one part per file (for example curl -F file=@scan.pdf)",
        ));
    }
    let answer = accept(&app, files).await.map_err(ApiError::internal)?;
    if answer.batch_id.is_none() {
        let body = json!({ "error": "no file was accepted: each is listed with why", "refused": answer.refused });
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
    }
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limits: &UploadLimits) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            format!(
                "the upload is larger than the limit of {} MB: send it as several batches",
                limits.max_request_bytes / 1_000_000
            ),
        )
    } else {
        ApiError::new(
            status,
            format!(
                "the upload could not be read as multipart/form-data: {}",
                e.body_text()
            ),
        )
    }
}

fn parse_id(raw: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("there is no {what} {raw:?}: ids look like 0193a1b2-..."),
        )
    })
}

#[derive(Serialize)]
struct DocumentSummary<'a> {
    id: Uuid,
    source: &'a str,
    status: &'a str,
    format: &'a str,
    page_count: i32,
    attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<Uuid>,
    updated_at: DateTime<Utc>,
}

fn summary(d: &DocumentRow) -> DocumentSummary<'_> {
    DocumentSummary {
        id: d.id,
        source: &d.source,
        status: &d.status,
        format: &d.format,
        page_count: d.page_count,
        attempts: d.attempts,
        error: d.error.as_deref(),
        duplicate_of: d.duplicate_of,
        updated_at: d.updated_at,
    }
}

async fn get_batch(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "batch")?;
    let view = app
        .db
        .batch(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("there is no batch {id}")))?;
    let mut counts: HashMap<&str, usize> = DocStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for d in &view.documents {
        *counts.entry(d.status.as_str()).or_default() += 1;
    }
    let done = view.documents.iter().all(|d| d.status().is_final());
    Ok(Json(json!({
        "id": view.batch.id,
        "created_at": view.batch.created_at,
        "files": view.batch.files,
        "done": done,
        "counts": counts,
        "documents": view.documents.iter().map(summary).collect::<Vec<_>>(),
        "refused": view.batch.refused.0,
    })))
}

/// A record as the API gives it: `CONTRACT.md`'s format plus ids and times.
#[derive(Serialize)]
pub struct RecordOut {
    /// The record's id.
    pub id: Uuid,
    /// Its document's id.
    pub document_id: Uuid,
    /// Its batch's id.
    pub batch_id: Uuid,
    /// The record itself.
    #[serde(flatten)]
    pub record: Record,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

fn record_out(v: &RecordView) -> RecordOut {
    let r = &v.row;
    let status: Status =
        serde_json::from_value(Value::String(r.status.clone())).unwrap_or(Status::NeedsReview);
    RecordOut {
        id: r.id,
        document_id: r.document_id,
        batch_id: r.batch_id,
        record: Record {
            source: r.source.clone(),
            form: r.form.clone(),
            pages: r.pages.0.clone(),
            status,
            fields: v
                .fields
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        FieldResult {
                            value: f.value.0.clone(),
                            confidence: f.confidence,
                            flags: f.flags.0.clone(),
                        },
                    )
                })
                .collect(),
            error: r.error.clone(),
        },
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

async fn get_document(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "document")?;
    let view = app
        .db
        .document(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("there is no document {id}"))
        })?;
    let d = &view.document;
    Ok(Json(json!({
        "id": d.id,
        "batch_id": d.batch_id,
        "source": d.source,
        "sha256": d.sha256,
        "bytes": d.bytes,
        "format": d.format,
        "page_count": d.page_count,
        "status": d.status,
        "error": d.error,
        "reason": d.reason,
        "attempts": d.attempts,
        "duplicate_of": d.duplicate_of,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "records": view.records.iter().map(record_out).collect::<Vec<_>>(),
        "events": view.events,
        "history": view.history,
    })))
}

fn content_type(format: &str) -> &'static str {
    match format {
        "PDF" => "application/pdf",
        "TIFF" => "image/tiff",
        "PNG" => "image/png",
        "JPEG" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

async fn document_and_bytes(app: &App, id: &str) -> ApiResult<(DocumentRow, Vec<u8>)> {
    let id = parse_id(id, "document")?;
    let d = app
        .db
        .document_row(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("there is no document {id}"))
        })?;
    let bytes = app.blobs.get(&d.sha256).await.map_err(|e| {
        if e.is_transient() {
            ApiError::internal(e)
        } else {
            ApiError::new(
                StatusCode::GONE,
                format!("the original of document {id} is missing from storage"),
            )
        }
    })?;
    Ok((d, bytes))
}

async fn get_original(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Response> {
    let (d, bytes) = document_and_bytes(&app, &id).await?;
    let safe: String = d
        .source
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || !c.is_ascii() || c.is_ascii_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut res = Response::new(Body::from(bytes));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&d.format)),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The resolution prepared pages are drawn at.
const PAGE_DPI: f64 = 150.0;

async fn get_page(
    State(app): State<Arc<App>>,
    Path((id, n)): Path<(String, String)>,
) -> ApiResult<Response> {
    let n: u32 = n.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("pages are numbered from 1, not {n:?}"),
        )
    })?;
    let (d, bytes) = document_and_bytes(&app, &id).await?;
    if n == 0 || n as i64 > i64::from(d.page_count) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "document {} has {} page(s), not a page {n}",
                d.id, d.page_count
            ),
        ));
    }
    let _slot = app.drawing.acquire().await.map_err(ApiError::internal)?;
    let engine = Arc::clone(&app.engine);
    let drawn = tokio::task::spawn_blocking(move || {
        let mut w = engine.worker()?;
        let img = w.prepared_page(bytes, n, PAGE_DPI)?;
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| {
                ExtractError::Decode(DecodeError::RenderFailed {
                    page: n,
                    cause: Some(Box::new(e)),
                })
            })?;
        Ok::<_, ExtractError>(png)
    })
    .await
    .map_err(ApiError::internal)?;
    match drawn {
        Ok(png) => Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response()),
        Err(e) if e.is_transient() => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("page {n} could not be drawn: {e}"),
        )),
    }
}

/// A cursor: the last record's change time (microseconds) and id.
fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", at.timestamp_micros(), id.simple())
}

fn decode_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = s.split_once('.')?;
    let at = Utc.timestamp_micros(micros.parse().ok()?).single()?;
    Some((at, Uuid::parse_str(id).ok()?))
}

async fn list_records(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let bad = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    for k in q.keys() {
        if ![
            "form",
            "status",
            "batch",
            "updated_since",
            "cursor",
            "limit",
        ]
        .contains(&k.as_str())
        {
            return Err(bad(format!(
                "unknown parameter {k:?}: use form, status, batch, updated_since, cursor or limit"
            )));
        }
    }
    let mut f = RecordFilter {
        form: q.get("form").cloned(),
        status: q.get("status").cloned(),
        limit: 100,
        ..Default::default()
    };
    if let Some(s) = &f.status {
        if ![
            "extracted",
            "needs_review",
            "unclassified",
            "failed",
            "approved",
            "rejected",
        ]
        .contains(&s.as_str())
        {
            return Err(bad(format!("status {s:?} is not one of extracted, needs_review, unclassified, failed, approved, rejected")));
        }
    }
    if let Some(b) = q.get("batch") {
        f.batch =
            Some(Uuid::parse_str(b).map_err(|_| bad(format!("batch {b:?} is not a batch id")))?);
    }
    if let Some(t) = q.get("updated_since") {
        let at = DateTime::parse_from_rfc3339(t).map_err(|_| {
            bad(format!(
                "updated_since {t:?} must be a date and time like 2026-11-22T09:30:00Z"
            ))
        })?;
        f.updated_since = Some(at.with_timezone(&Utc));
    }
    if let Some(c) = q.get("cursor") {
        f.after = Some(
            decode_cursor(c)
                .ok_or_else(|| bad(format!("cursor {c:?} is not one this service gave")))?,
        );
    }
    if let Some(l) = q.get("limit") {
        f.limit = l
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad(format!("limit {l:?} must be a number from 1 to 1000")))?;
    }
    let page = app.db.records(&f).await.map_err(ApiError::internal)?;
    Ok(Json(json!({
        "records": page.records.iter().map(record_out).collect::<Vec<_>>(),
        "next_cursor": page.next.map(|(at, id)| encode_cursor(at, id)),
    })))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let limit = Duration::from_secs(3);
    let db = match tokio::time::timeout(limit, app.db.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "did not answer within 3 s".into(),
    };
    let broker = match tokio::time::timeout(limit, app.broker.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "did not answer within 3 s".into(),
    };
    let ready = db == "ok" && broker == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "database": db, "broker": broker })),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let at = formflow_service::now();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("garbage"), None);
    }

    #[test]
    fn the_openapi_document_lists_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for p in [
            "/api/v1/batches",
            "/api/v1/batches/{id}",
            "/api/v1/documents/{id}",
            "/api/v1/documents/{id}/original",
            "/api/v1/documents/{id}/pages/{n}",
            "/api/v1/records",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(paths.contains_key(p), "{p} missing from openapi.json");
        }
    }
}
