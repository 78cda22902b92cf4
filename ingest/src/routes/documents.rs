//! `GET /api/v1/documents/{id}` (the records found in one upload, with
//! their history), `/original` (the file as uploaded) and `/pages/{n}` (a
//! page upright and cut to the form). A person's look at values or at an
//! original is written to the audit log.

use super::parse_id;
use crate::auth::Caller;
use crate::crops::{png, pose_of, DRAW_DPI};
use crate::error::{ApiError, ApiResult, Problem};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use formflow_extract::crop::page_view;
use formflow_schemas::{DocStatus, HistoryEntry, StoredRecord};
use formflow_service::db::{ActorKind, AuditEntry, DocumentRow, EventRow};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(get_document))
        .routes(routes!(get_original))
        .routes(routes!(get_page))
}

/// One uploaded file, with the records found in it and its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct Document {
    /// The document id.
    pub id: Uuid,
    /// The batch it came in.
    pub batch_id: Uuid,
    /// The file's name as uploaded.
    pub source: String,
    /// SHA-256 of the file's bytes, in hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// The file's size in bytes.
    #[schema(minimum = 0)]
    pub bytes: i64,
    /// The file's format: PDF, TIFF, PNG or JPEG.
    #[schema(pattern = "^(PDF|TIFF|PNG|JPEG)$")]
    pub format: String,
    /// Pages in the file.
    #[schema(minimum = 0)]
    pub page_count: i32,
    /// Where it stands.
    pub status: DocStatus,
    /// Why it failed, in plain words.
    pub error: Option<String>,
    /// Why it failed, as a short key.
    pub reason: Option<String>,
    /// How many times a worker has taken it.
    #[schema(minimum = 0)]
    pub attempts: i32,
    /// For a duplicate, the document first uploaded with these bytes.
    pub duplicate_of: Option<Uuid>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The records found in it, in file order.
    pub records: Vec<StoredRecord>,
    /// What happened to it, oldest first.
    pub events: Vec<EventRow>,
    /// Every value its fields have had.
    pub history: Vec<HistoryEntry>,
}

/// Writes an audit entry when a person (not a service) looks at values or
/// an original.
pub async fn audit_view(
    app: &App,
    caller: &Caller,
    action: &'static str,
    kind: &'static str,
    id: Uuid,
) -> ApiResult<()> {
    if caller.actor.kind != ActorKind::Person {
        return Ok(());
    }
    app.db
        .audit(&AuditEntry::new(&caller.actor, action).on(kind, id))
        .await
        .map_err(ApiError::internal)
}

/// The document row `raw` names, or 404.
pub async fn document_row(app: &App, raw: &str) -> ApiResult<DocumentRow> {
    let id = parse_id(raw, "document")?;
    app.db
        .document_row(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("there is no document {id}")))
}

/// A document with its records and history
///
/// A document with its records and history: where one uploaded file
/// stands, the records found in it, what happened to it, and every value
/// its fields have had.
#[utoipa::path(
    get,
    path = "/api/v1/documents/{id}",
    operation_id = "getDocument",
    tag = "documents",
    params(("id" = Uuid, Path, description = "The document id.")),
    responses(
        (status = 200, description = "The document.", body = Document),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn get_document(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Document>> {
    let id = parse_id(&id, "document")?;
    let view = app
        .db
        .document(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("there is no document {id}")))?;
    audit_view(&app, &caller, "document.view", "document", id).await?;
    let d = &view.document;
    Ok(Json(Document {
        id: d.id,
        batch_id: d.batch_id,
        source: d.source.clone(),
        sha256: d.sha256.clone(),
        bytes: d.bytes,
        format: d.format.clone(),
        page_count: d.page_count,
        status: d.status(),
        error: d.error.clone(),
        reason: d.reason.clone(),
        attempts: d.attempts,
        duplicate_of: d.duplicate_of,
        created_at: d.created_at,
        updated_at: d.updated_at,
        records: view.records,
        events: view.events,
        history: view.history,
    }))
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

/// The original file
///
/// The original file: the bytes as uploaded, as an attachment named after
/// the uploaded file, streamed from storage.
#[utoipa::path(
    get,
    path = "/api/v1/documents/{id}/original",
    operation_id = "getOriginal",
    tag = "documents",
    params(("id" = Uuid, Path, description = "The document id.")),
    responses(
        (
            status = 200,
            description = "The original file.",
            headers((
                "Content-Disposition" = String,
                description = "`attachment; filename=\"...\"` with the uploaded file's name."
            )),
            content(
                (crate::openapi::Bytes = "application/pdf"),
                (crate::openapi::Bytes = "image/tiff"),
                (crate::openapi::Bytes = "image/png"),
                (crate::openapi::Bytes = "image/jpeg"),
            ),
        ),
        (status = 404, response = crate::openapi::NotFound),
        (status = 410, response = crate::openapi::Gone),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn get_original(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let d = document_row(&app, &id).await?;
    // Sent as it is read from storage, never held whole.
    let (size, pieces) = app
        .blobs
        .stream(&d.sha256)
        .await
        .map_err(crate::crops::original_error)?;
    audit_view(&app, &caller, "original.view", "document", d.id).await?;
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
    let mut res = Response::new(Body::from_stream(pieces));
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&d.format)),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Page `n` of a document as PNG: upright, deskewed and cut to the form
/// when it was recognised, else as scanned.
pub async fn page_png(app: &App, d: &DocumentRow, n: &str) -> ApiResult<Vec<u8>> {
    let n: u32 = n
        .trim_end_matches(".png")
        .parse()
        .map_err(|_| ApiError::not_found(format!("pages are numbered from 1, not {n:?}")))?;
    if n == 0 || i64::from(n) > i64::from(d.page_count) {
        return Err(ApiError::not_found(format!(
            "document {} has {} page(s), not a page {n}",
            d.id, d.page_count
        )));
    }
    // A duplicate's pages were read under the document it repeats.
    let read_as = d.duplicate_of.unwrap_or(d.id);
    let placed = app
        .db
        .pages_of(read_as)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .find(|p| p.number == n as i32);
    let page = app.crops.page(app, &d.sha256, n).await?;
    let size = placed
        .as_ref()
        .and_then(|p| p.form.as_deref())
        .and_then(|f| app.engine.templates().get(f))
        .map(|t| t.page_size_mm);
    let pose = placed
        .as_ref()
        .and_then(|p| pose_of(p.pose.as_ref().map(|j| &j.0)));
    let img = app
        .crops
        .blocking(move || match (pose, size) {
            (Some(pose), Some(size)) => page_view(&page.image, &pose, size, DRAW_DPI),
            _ => {
                let scale = (DRAW_DPI / f64::from(page.dpi)).min(1.0);
                let w = (f64::from(page.image.width()) * scale).round().max(1.0) as u32;
                let h = (f64::from(page.image.height()) * scale).round().max(1.0) as u32;
                image::imageops::resize(&page.image, w, h, image::imageops::FilterType::Triangle)
            }
        })
        .await?;
    png(&img)
}

/// One page as a PNG image
///
/// One page as a PNG image: page `n` (from 1) of the document. When it is
/// a page of a known form, it is turned upright, deskewed and cut to the
/// form's page, at 150 dpi; otherwise it is the page as scanned.
#[utoipa::path(
    get,
    path = "/api/v1/documents/{id}/pages/{n}",
    operation_id = "getPage",
    tag = "documents",
    params(
        ("id" = Uuid, Path, description = "The document id."),
        (
            "n" = u32,
            Path,
            minimum = 1,
            description = "The page number, from 1 to the document's `page_count`."
        ),
    ),
    responses(
        (status = 200, description = "The page.", body = crate::openapi::Bytes,
            content_type = "image/png"),
        (status = 404, description = "There is no such document, or no such page in it.",
            body = Problem, content_type = "application/problem+json"),
        (status = 410, response = crate::openapi::Gone),
        (status = 422, description = "The page could not be drawn.", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn get_page(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
) -> ApiResult<Response> {
    let d = document_row(&app, &id).await?;
    let bytes = page_png(&app, &d, &n).await?;
    audit_view(&app, &caller, "page.view", "document", d.id).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], bytes).into_response())
}
