//! `GET /api/v1/documents/{id}` (the records found in one upload, with
//! their history), `/original` (the file as uploaded) and `/pages/{n}` (a
//! page upright and cut to the form). A person's look at values or at an
//! original is written to the audit log.

use super::parse_id;
use crate::auth::Caller;
use crate::crops::{png, pose_of, DRAW_DPI};
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use formflow_extract::crop::page_view;
use formflow_service::db::{ActorKind, AuditEntry, DocumentRow};
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/documents/{id}", get(get_document))
        .route("/api/v1/documents/{id}/original", get(get_original))
        .route("/api/v1/documents/{id}/pages/{n}", get(get_page))
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

async fn get_document(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "document")?;
    let view = app
        .db
        .document(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("there is no document {id}")))?;
    audit_view(&app, &caller, "document.view", "document", id).await?;
    let d = &view.document;
    Ok(Json(json!({
        "id": d.id,
        "batch_id": d.batch_id,
        "source": d.source,
        "sha256": d.sha256,
        "bytes": d.bytes,
        "format": d.format,
        "page_count": d.page_count,
        "status": d.status(),
        "error": d.error,
        "reason": d.reason,
        "attempts": d.attempts,
        "duplicate_of": d.duplicate_of,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "records": view.records,
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
