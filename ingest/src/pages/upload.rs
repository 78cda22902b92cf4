//! The scanning desk's pages: `GET /upload` (a file picker, and the recent
//! batches), `POST /upload` (the files, as the API takes them) and
//! `GET /upload/batches/{id}` (a batch's progress and refusals, which the
//! page's script refreshes while the batch is read). No field value is
//! shown here.

use super::filters;
use super::queue::when;
use super::{render, render_status, see_other, Layout};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::batches::{batch_json, read_files};
use crate::routes::parse_id;
use crate::upload::accept;
use crate::App;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use formflow_schemas::DocStatus;
use formflow_service::db::Refusal;
use std::sync::Arc;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/upload", get(show).post(submit))
        .route("/upload/batches/{id}", get(batch))
}

struct BatchRow {
    href: String,
    when: String,
    by: String,
    files: i32,
    state: String,
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    layout: Layout,
    batches: Vec<BatchRow>,
    refused: Vec<Refusal>,
    error: Option<String>,
    max_mb: usize,
    max_files: usize,
}

async fn upload_page(
    app: &App,
    caller: &Caller,
    refused: Vec<Refusal>,
    error: Option<String>,
    status: StatusCode,
) -> ApiResult<Response> {
    let recent = app
        .db
        .recent_batches(20)
        .await
        .map_err(ApiError::internal)?;
    let batches = recent
        .iter()
        .map(|b| {
            let waiting: i64 = b
                .counts
                .iter()
                .filter(|(s, _)| !s.is_final())
                .map(|(_, n)| n)
                .sum();
            let total: i64 = b.counts.iter().map(|(_, n)| n).sum();
            let state = if total == 0 {
                "nothing accepted".to_string()
            } else if waiting > 0 {
                format!("{} of {total} read", total - waiting)
            } else {
                "all read".to_string()
            };
            BatchRow {
                href: format!("/upload/batches/{}", b.batch.id),
                when: when(b.batch.created_at),
                by: b.batch.uploaded_by.clone().unwrap_or_default(),
                files: b.batch.files,
                state,
            }
        })
        .collect();
    let p = UploadPage {
        layout: Layout::new("Upload scans", Some(caller), "/upload"),
        batches,
        refused,
        error,
        max_mb: app.limits.max_request_bytes / 1_000_000,
        max_files: app.limits.max_files,
    };
    render_status(status, &p)
}

async fn show(State(app): State<Arc<App>>, caller: Caller) -> ApiResult<Response> {
    upload_page(&app, &caller, Vec::new(), None, StatusCode::OK).await
}

async fn submit(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let _slot = crate::routes::batches::upload_gate(&app, &headers)?;
    let form = crate::routes::batches::watched_multipart(req)
        .await
        .map_err(|e| {
            ApiError::new(
                e.status(),
                "the upload could not be read: choose the files again",
            )
        })?;
    let files = match read_files(&app, form, Some(caller.csrf())).await {
        Ok(f) => f,
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            return upload_page(
                &app,
                &caller,
                Vec::new(),
                Some("choose one or more scans to upload".into()),
                e.status,
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let answer = accept(&app, files, &caller.actor).await?;
    match answer.batch_id {
        Some(id) => Ok(see_other(&format!("/upload/batches/{id}"))),
        None => {
            let error = Some("no file was accepted: each is listed below with why".to_string());
            upload_page(
                &app,
                &caller,
                answer.refused,
                error,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

struct DocRow {
    source: String,
    status: String,
    tag: &'static str,
    found: String,
    flagged: i64,
    error: String,
}

#[derive(Template)]
#[template(path = "upload_batch.html")]
struct BatchPage {
    layout: Layout,
    id: String,
    when: String,
    by: String,
    files: i64,
    done: bool,
    read: usize,
    docs: Vec<DocRow>,
    refused: Vec<Refusal>,
}

/// How a document's status reads, and its tag's colour.
pub fn status_tag(s: DocStatus) -> (&'static str, &'static str) {
    match s {
        DocStatus::Queued => ("waiting", "govuk-tag--grey"),
        DocStatus::Processing => ("being read", "govuk-tag--blue"),
        DocStatus::Extracted => ("read", "govuk-tag--green"),
        DocStatus::NeedsReview => ("needs review", "govuk-tag--yellow"),
        DocStatus::Unclassified => ("form not known", "govuk-tag--orange"),
        DocStatus::Failed => ("could not be read", "govuk-tag--red"),
        DocStatus::Duplicate => ("sent before", "govuk-tag--grey"),
        DocStatus::Reviewed => ("reviewed", "govuk-tag--green"),
    }
}

async fn batch(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id, "batch")?;
    let view = app
        .db
        .batch(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("there is no batch {id}")))?;
    let batch = batch_json(&app, &view, caller.role()).await?;
    let docs: Vec<DocRow> = batch
        .documents
        .iter()
        .map(|d| {
            let (words, tag) = status_tag(d.status);
            let found: Vec<String> = d
                .records
                .iter()
                .map(|r| super::queue::form_title(&app, r.form.as_deref()))
                .collect();
            DocRow {
                source: d.source.clone(),
                status: words.to_string(),
                tag,
                found: if found.is_empty() {
                    "–".to_string()
                } else {
                    found.join(", ")
                },
                flagged: d.records.iter().map(|r| r.flagged).sum(),
                error: d.error.clone().unwrap_or_default(),
            }
        })
        .collect();
    let read = view
        .documents
        .iter()
        .filter(|d| d.status().is_final())
        .count();
    render(&BatchPage {
        layout: Layout::new("Batch", Some(&caller), "/upload"),
        id: id.to_string(),
        when: when(view.batch.created_at),
        by: view.batch.uploaded_by.clone().unwrap_or_default(),
        files: i64::from(view.batch.files),
        done: batch.done,
        read,
        docs,
        refused: view.batch.refused.0.clone(),
    })
}
