//! `POST /api/v1/batches` (upload), `GET /api/v1/batches` (recent ones) and
//! `GET /api/v1/batches/{id}` (progress): what the scanning desk sees. No
//! field value is ever in these answers: uploaders may call them.

use super::parse_id;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::upload::{accept, Incoming, Receiving, UploadAnswer};
use crate::App;
use axum::body::Body;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{FromRequest as _, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use formflow_schemas::{DocStatus, Role};
use formflow_service::db::{BatchView, DocumentRow, RecordSummary, Refusal};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(upload_batch, list_batches))
        .routes(routes!(get_batch))
}

/// The upload's body as OpenAPI describes it: any number of file parts.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Files {
    /// The files, one part each, under any part name; each part's filename
    /// is kept as the document's `source`.
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
}

/// The upload was refused whole: nothing was kept.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct UploadRefused {
    /// The error answer.
    #[serde(flatten)]
    problem: Problem,
    /// Each file, with why it was refused.
    refused: Vec<Refusal>,
}

/// Upload a batch of scans
///
/// Uploads a batch of scans: any number of PDF, TIFF, PNG or JPEG files as
/// `multipart/form-data`, one part per file. Each file is checked (type,
/// size, pages) and kept, or refused with why; the accepted ones are
/// queued for reading. The same bytes uploaded again are not read twice:
/// their document is a `duplicate` of the first. Limits on files, bytes
/// and pages are the service's settings.
#[utoipa::path(
    post,
    path = "/api/v1/batches",
    operation_id = "uploadBatch",
    tag = "batches",
    request_body(content = Files, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted: some files (perhaps all) are queued; any \
            refused are listed with why.", body = UploadAnswer),
        (status = 400, description = "The body is not multipart/form-data.", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "The request is larger than the service takes, or has \
            more files: split it.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No file was accepted: `refused` lists each with why.",
            body = UploadRefused, content_type = "application/problem+json"),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 507, description = "The service has no room to keep uploads: nothing of \
            this one was kept.", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn upload_batch(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    let _slot = upload_gate(&app, &headers)?;
    let form = watched_multipart(req).await.map_err(|e| {
        ApiError::new(
            e.status(),
            format!(
                "send the files as multipart/form-data, one part per file \
                 (for example curl -F file=@scan.pdf): {}",
                e.body_text()
            ),
        )
    })?;
    let files = read_files(&app, form, None).await?;
    let answer = accept(&app, files, &caller.actor).await?;
    if answer.batch_id.is_none() {
        let refused = serde_json::to_value(&answer.refused).unwrap_or_default();
        return Err(
            ApiError::unprocessable("no file was accepted: each is listed with why")
                .with("refused", refused),
        );
    }
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// Lets an upload in, before any of its body is read: a 413 when it
/// announces more than the request limit, a 503 asking it to come back
/// when the service already receives as many as it may; otherwise one of
/// the slots, held while it is received and checked.
pub fn upload_gate<'a>(
    app: &'a App,
    headers: &HeaderMap,
) -> ApiResult<tokio::sync::SemaphorePermit<'a>> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > app.limits.max_request_bytes as u64) {
        return Err(too_large(app));
    }
    app.uploads.try_acquire().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is receiving as many uploads as it can at once: \
             send this one again in a few seconds",
        )
        .retry_after(5)
    })
}

/// Body bytes the multipart reader may take without handing back a part or
/// a piece of one. It holds a part's headers whole until they end (and
/// reads a skipped form field through): this bounds both. A file's
/// headers are a few hundred bytes; a piece of a file is at most one read
/// of the connection, well under this.
pub const PART_SLACK: usize = 1_000_000;

/// An upload's parts, read from its body through a watch that counts what
/// the reader takes between the parts and pieces it hands back.
pub struct WatchedForm {
    form: Multipart,
    watch: Watch,
}

/// What the multipart reader has taken since it last handed something back.
struct Watch(Arc<AtomicUsize>);

impl Watch {
    /// The reader handed something back: count afresh.
    fn progressed(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Whether the reader was stopped for taking more than [`PART_SLACK`].
    fn overran(&self) -> bool {
        self.0.load(Ordering::Relaxed) > PART_SLACK
    }
}

/// The multipart form of `req`, its body watched ([`WatchedForm`]).
pub async fn watched_multipart(req: Request) -> Result<WatchedForm, MultipartRejection> {
    let taken = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&taken);
    let (parts, body) = req.into_parts();
    let body = Body::from_stream(body.into_data_stream().map(move |piece| {
        let piece = piece?;
        if count.fetch_add(piece.len(), Ordering::Relaxed) + piece.len() > PART_SLACK {
            return Err(axum::Error::new(std::io::Error::other(
                "a part's headers or form field ran past the limit",
            )));
        }
        Ok(piece)
    }));
    let form = Multipart::from_request(Request::from_parts(parts, body), &()).await?;
    Ok(WatchedForm {
        form,
        watch: Watch(taken),
    })
}

/// 413 for a part whose headers (or a form field) never end.
fn part_too_long() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "a part of the upload has headers or a form field longer than {} MB, \
             so nothing was kept: send each file as its own part, with the usual short headers",
            PART_SLACK / 1_000_000
        ),
    )
}

/// The files of a multipart upload, each received into the spool as it
/// arrives (a file over the size limit is refused, and its bytes not
/// kept). With `csrf`, the form's `csrf` field must match it (the upload
/// page).
pub async fn read_files(
    app: &App,
    watched: WatchedForm,
    csrf: Option<&str>,
) -> ApiResult<Vec<Result<Incoming, Refusal>>> {
    let WatchedForm {
        mut form,
        watch: watched,
    } = watched;
    let mut files = Vec::new();
    let mut csrf_ok = csrf.is_none();
    loop {
        let next = idle_limited(app, form.next_field()).await;
        if watched.overran() {
            return Err(part_too_long());
        }
        let field = match next? {
            Some(f) => f,
            None => break,
        };
        watched.progressed();
        let Some(name) = field.file_name().map(str::to_string) else {
            if field.name() == Some("csrf") {
                // A token is short: more than a few hundred bytes is not one.
                let mut given = Vec::new();
                let mut field = field;
                while let Some(piece) = idle_limited(app, field.chunk()).await? {
                    watched.progressed();
                    if given.len() + piece.len() > 1024 {
                        given.clear();
                        break;
                    }
                    given.extend_from_slice(&piece);
                }
                csrf_ok = csrf.is_some_and(|c| crate::auth::same(&given, c.as_bytes()));
            }
            // Any other plain field is ignored.
            continue;
        };
        if !csrf_ok {
            // Read the rest (within the body limit) so that the browser
            // sees the answer rather than a broken connection.
            drop(field);
            while let Ok(Some(mut rest)) = form.next_field().await {
                watched.progressed();
                while let Ok(Some(_)) = rest.chunk().await {
                    watched.progressed();
                }
            }
            return Err(ApiError::forbidden(
                "the form had expired or did not come from formflow, so nothing was uploaded: \
                 reload the page and try again",
            ));
        }
        if name.is_empty() {
            // A file input left empty.
            continue;
        }
        if files.len() >= app.limits.max_files {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "more than {} files in one upload: send them as several batches",
                    app.limits.max_files
                ),
            ));
        }
        let mut file = Receiving::start(app, &name).map_err(ApiError::io)?;
        let mut field = field;
        loop {
            let piece = idle_limited(app, field.chunk()).await;
            if watched.overran() {
                return Err(part_too_long());
            }
            let Some(chunk) = piece? else { break };
            watched.progressed();
            file.write(&chunk).await.map_err(ApiError::io)?;
        }
        files.push(file.finish(app).await.map_err(ApiError::io)?);
    }
    if !csrf_ok {
        return Err(ApiError::forbidden(
            "the form had expired or did not come from formflow: reload the page and try again",
        ));
    }
    if files.is_empty() {
        return Err(ApiError::unprocessable(
            "the upload holds no file: send multipart/form-data with one part per file \
             (for example curl -F file=@scan.pdf)",
        ));
    }
    Ok(files)
}

/// The next piece of an upload, or 408 when the client sends nothing for
/// [`crate::UploadLimits::body_idle`].
async fn idle_limited<T>(
    app: &App,
    next: impl std::future::Future<Output = Result<T, MultipartError>>,
) -> ApiResult<T> {
    match tokio::time::timeout(app.limits.body_idle, next).await {
        Ok(r) => r.map_err(|e| multipart_error(e, app)),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the upload stopped arriving for {} seconds, \
                 so nothing of it was kept: send it again",
                app.limits.body_idle.as_secs()
            ),
        )),
    }
}

/// 413 for a request over the size limit.
fn too_large(app: &App) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is larger than the limit of {} MB: send it as several batches",
            app.limits.max_request_bytes / 1_000_000
        ),
    )
}

fn multipart_error(e: MultipartError, app: &App) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(app)
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

/// A document as uploaders see it: where it stands, what was found in it,
/// never a value.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentSummary {
    /// Its id.
    pub id: Uuid,
    /// The file's name.
    pub source: String,
    /// Where it stands.
    pub status: DocStatus,
    /// PDF, TIFF, PNG or JPEG.
    pub format: String,
    /// Pages in the file.
    pub page_count: i32,
    /// Times a worker has taken it.
    pub attempts: i32,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The document first uploaded with the same bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Uuid>,
    /// Each record found: form, status, pages, flagged fields.
    pub records: Vec<RecordSummary>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The summary of a document row.
pub fn summary(d: &DocumentRow, records: Vec<RecordSummary>) -> DocumentSummary {
    DocumentSummary {
        id: d.id,
        source: d.source.clone(),
        status: d.status(),
        format: d.format.clone(),
        page_count: d.page_count,
        attempts: d.attempts,
        error: d.error.clone(),
        duplicate_of: d.duplicate_of,
        records,
        updated_at: d.updated_at,
    }
}

/// Documents by status: a count for every status, zero or not.
pub type Counts = BTreeMap<DocStatus, i64>;

/// A batch: the files of one upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct Batch {
    /// The batch id.
    pub id: Uuid,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// The person or token that sent it.
    pub uploaded_by: Option<String>,
    /// Files sent, accepted or not.
    pub files: i32,
    /// True when no document is still queued or processing.
    pub done: bool,
    /// Documents by status.
    #[schema(value_type = BTreeMap<DocStatus, i64>)]
    pub counts: Counts,
    /// The accepted files' documents, in the order sent.
    pub documents: Vec<DocumentSummary>,
    /// Files refused at upload, with why.
    pub refused: Vec<Refusal>,
}

/// Every status at zero.
fn zero_counts() -> Counts {
    DocStatus::ALL.iter().map(|s| (*s, 0)).collect()
}

/// A batch as the API gives it to someone of `role` (a duplicate names the
/// document it repeats only to those who may look at documents).
pub async fn batch_json(app: &App, view: &BatchView, role: Role) -> ApiResult<Batch> {
    let mut counts = zero_counts();
    for d in &view.documents {
        *counts.entry(d.status()).or_default() += 1;
    }
    // A duplicate's records are those of the document it repeats.
    let sources: Vec<Uuid> = view
        .documents
        .iter()
        .map(|d| d.duplicate_of.unwrap_or(d.id))
        .collect();
    let mut records = app
        .db
        .record_summaries(&sources, false)
        .await
        .map_err(ApiError::internal)?;
    let done = view.documents.iter().all(|d| d.status().is_final());
    let documents: Vec<DocumentSummary> = view
        .documents
        .iter()
        .map(|d| {
            let key = d.duplicate_of.unwrap_or(d.id);
            let recs = if d.duplicate_of.is_some() {
                records.get(&key).cloned()
            } else {
                records.remove(&key)
            };
            let mut s = summary(d, recs.unwrap_or_default());
            if !crate::auth::sees_documents(role) {
                s.duplicate_of = None;
            }
            s
        })
        .collect();
    Ok(Batch {
        id: view.batch.id,
        created_at: view.batch.created_at,
        uploaded_by: view.batch.uploaded_by.clone(),
        files: view.batch.files,
        done,
        counts,
        documents,
        refused: view.batch.refused.0.clone(),
    })
}

/// A batch and its documents
///
/// One batch's progress: each document's status and the forms found in
/// it, never a value.
#[utoipa::path(
    get,
    path = "/api/v1/batches/{id}",
    operation_id = "getBatch",
    tag = "batches",
    params(("id" = Uuid, Path, description = "The batch id.")),
    responses(
        (status = 200, description = "The batch.", body = Batch),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn get_batch(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Batch>> {
    let id = parse_id(&id, "batch")?;
    let view = app
        .db
        .batch(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("there is no batch {id}")))?;
    Ok(Json(batch_json(&app, &view, caller.role()).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// How many, newest first: 1 to 500 (50 if not given).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A batch in brief.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchBrief {
    /// The batch id.
    pub id: Uuid,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// The person or token that sent it.
    pub uploaded_by: Option<String>,
    /// Files sent, accepted or not.
    pub files: i32,
    /// Files refused at upload.
    pub refused: usize,
    /// True when no document is still queued or processing.
    pub done: bool,
    /// Documents by status.
    #[schema(value_type = BTreeMap<DocStatus, i64>)]
    pub counts: Counts,
}

/// Recent batches.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchList {
    /// Newest first.
    pub batches: Vec<BatchBrief>,
}

/// Recent batches
///
/// The most recent batches, newest first, each counted by status.
#[utoipa::path(
    get,
    path = "/api/v1/batches",
    operation_id = "listBatches",
    tag = "batches",
    params(ListQuery),
    responses(
        (status = 200, description = "The batches.", body = BatchList),
        (status = 422, response = crate::openapi::Invalid),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn list_batches(
    State(app): State<Arc<App>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<BatchList>> {
    let Query(q) = q.map_err(|e| {
        ApiError::unprocessable(format!(
            "{}: the only parameter is limit (1 to 500)",
            e.body_text()
        ))
    })?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::unprocessable(format!(
            "limit {limit} must be from 1 to 500"
        )));
    }
    let batches = app
        .db
        .recent_batches(limit)
        .await
        .map_err(ApiError::internal)?;
    let batches = batches
        .iter()
        .map(|b| {
            let mut counts = zero_counts();
            counts.extend(b.counts.iter().copied());
            let waiting: i64 = b
                .counts
                .iter()
                .filter(|(s, _)| !s.is_final())
                .map(|(_, n)| n)
                .sum();
            BatchBrief {
                id: b.batch.id,
                created_at: b.batch.created_at,
                uploaded_by: b.batch.uploaded_by.clone(),
                files: b.batch.files,
                refused: b.batch.refused.0.len(),
                done: waiting == 0,
                counts,
            }
        })
        .collect();
    Ok(Json(BatchList { batches }))
}
