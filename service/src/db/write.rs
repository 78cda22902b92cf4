//! Writes: a batch accepted, a document taken by a worker, a document's
//! outcome. Each is one transaction, and each queues the messages it causes
//! in the outbox inside that transaction.

use super::audit::{insert_audit, Actor, AuditEntry};
use super::rows::{DocStatus, DocumentRow, Refusal};
use super::{on_db, Db, DbResult};
use crate::event::Event;
use crate::now;
use crate::queue::{Job, Task};
use chrono::{DateTime, Utc};
use formflow_schemas::{Record, Status};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

/// A file accepted at upload, stored, not yet in the database.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// The id it will have.
    pub id: Uuid,
    /// Its name as uploaded.
    pub source: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its size.
    pub bytes: i64,
    /// Its format.
    pub format: String,
    /// Its pages.
    pub page_count: i32,
}

/// What became of one accepted file.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The document's id.
    pub id: Uuid,
    /// When the same bytes were uploaded before (and not failed), that
    /// document; this one is then not processed again.
    pub duplicate_of: Option<Uuid>,
}

/// What a worker finds when it takes a job.
#[derive(Debug)]
pub enum Started {
    /// The document is now the worker's: `attempts` counts this one.
    Go(Box<DocumentRow>),
    /// The document already has its outcome (a redelivered job).
    Done(DocStatus),
    /// No such document.
    Missing,
}

/// One page of a processed document and where it went.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// Its number in the file, from 1.
    pub number: u32,
    /// The form and page of the form it was recognised as.
    pub form: Option<(String, u32)>,
    /// Where the template lay on it (the engine's pose), when recognised.
    pub pose: Option<serde_json::Value>,
}

/// A document's one outcome, as a worker commits it.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The records found (one `failed` record when the file could not be read).
    pub records: &'a [Record],
    /// Every page.
    pub pages: &'a [PageInfo],
    /// How long extraction took.
    pub extract_ms: Option<i64>,
    /// CPU the extraction thread used.
    pub extract_cpu_ms: Option<i64>,
    /// For a failure, a short key naming its kind (for metrics).
    pub reason: Option<&'a str>,
}

/// The document status that its records add up to.
pub fn document_status(records: &[Record]) -> DocStatus {
    if records.iter().any(|r| r.status == Status::Failed) {
        DocStatus::Failed
    } else if records.iter().all(|r| r.status == Status::Extracted) && !records.is_empty() {
        DocStatus::Extracted
    } else if records.iter().all(|r| r.status == Status::Unclassified) {
        DocStatus::Unclassified
    } else {
        DocStatus::NeedsReview
    }
}

/// Queues event `$event` (serialisable) with routing key `$key` in the
/// outbox, inside transaction `$tx`.
macro_rules! insert_event {
    ($tx:expr, $at:expr, $key:expr, $event:expr) => {
        sqlx::query(
            "INSERT INTO outbox (kind, routing_key, payload, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind($crate::db::OutboxKind::Event.as_str())
        .bind($key)
        .bind(sqlx::types::Json($event))
        .bind($at)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use insert_event;

/// Queues job `$job` (a [`crate::queue::Job`]) in the outbox, inside
/// transaction `$tx`.
macro_rules! insert_job {
    ($tx:expr, $at:expr, $job:expr) => {
        sqlx::query(
            "INSERT INTO outbox (kind, routing_key, payload, created_at) \
             VALUES ('job', '', $1, $2)",
        )
        .bind(sqlx::types::Json($job))
        .bind($at)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use insert_job;

impl Db {
    /// Records an upload: the batch, a document for each accepted file
    /// (a duplicate when the same bytes are already here) and a job in the
    /// outbox for each new one, and the audit entry, all or nothing.
    pub async fn accept_batch(
        &self,
        batch_id: Uuid,
        files: usize,
        refused: &[Refusal],
        docs: &[NewDocument],
        by: &Actor,
    ) -> DbResult<Vec<Accepted>> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO batches (id, created_at, files, refused, uploaded_by) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(batch_id)
            .bind(at)
            .bind(files as i32)
            .bind(Json(refused))
            .bind(&by.name)
            .execute(&mut *tx)
            .await?;
            let mut out = Vec::with_capacity(docs.len());
            for (i, d) in docs.iter().enumerate() {
                let earlier: Option<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM documents \
                     WHERE sha256 = $1 AND status NOT IN ('failed', 'duplicate') \
                     ORDER BY created_at, id LIMIT 1",
                )
                .bind(&d.sha256)
                .fetch_optional(&mut *tx)
                .await?;
                let duplicate_of = earlier.map(|e| e.0);
                let status = if duplicate_of.is_some() {
                    DocStatus::Duplicate
                } else {
                    DocStatus::Queued
                };
                sqlx::query(
                    "INSERT INTO documents (id, batch_id, position, source, sha256, bytes, format, \
                     page_count, status, duplicate_of, attempts, created_at, updated_at, \
                     request_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11, $12)",
                )
                .bind(d.id)
                .bind(batch_id)
                .bind(i as i32)
                .bind(&d.source)
                .bind(&d.sha256)
                .bind(d.bytes)
                .bind(&d.format)
                .bind(d.page_count)
                .bind(status.as_str())
                .bind(duplicate_of)
                .bind(at)
                .bind(by.request_id.as_deref())
                .execute(&mut *tx)
                .await?;
                let detail = match duplicate_of {
                    Some(o) => format!("the same file was uploaded before as document {o}"),
                    None => "stored and queued".to_string(),
                };
                sqlx::query(
                    "INSERT INTO document_events (document_id, at, status, detail) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(d.id)
                .bind(at)
                .bind(status.as_str())
                .bind(detail)
                .execute(&mut *tx)
                .await?;
                if duplicate_of.is_none() {
                    insert_job!(tx, at, Job::document(d.id));
                }
                out.push(Accepted { id: d.id, duplicate_of });
            }
            let duplicates = out.iter().filter(|a| a.duplicate_of.is_some()).count();
            let entry = AuditEntry::new(by, "upload")
                .on("batch", batch_id)
                .detail(json!({
                    "files": files,
                    "accepted": docs.len(),
                    "duplicates": duplicates,
                    "refused": refused.len()
                }));
            insert_audit!(tx, at, &entry);
            tx.commit().await?;
            Ok(out)
        })
    }

    /// A worker takes a document: counts the attempt and marks it
    /// `processing`, unless it already has its outcome. A document already
    /// split into page jobs counts its attempts a page
    /// ([`Db::start_page`]): taking it again to see to its pages is no
    /// attempt at reading it.
    pub async fn start(&self, id: Uuid) -> DbResult<Started> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            if matches!(self, Db::Postgres(_)) {
                // This commit need not wait for the disk: if the server
                // loses it, the job is still unacknowledged and comes back,
                // with one attempt uncounted.
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
            }
            let row: Option<DocumentRow> = sqlx::query_as(
                "UPDATE documents SET status = 'processing', updated_at = $2, \
                 attempts = attempts + CASE WHEN EXISTS \
                 (SELECT 1 FROM page_tasks WHERE document_id = $1) THEN 0 ELSE 1 END \
                 WHERE id = $1 AND status IN ('queued', 'processing') RETURNING *",
            )
            .bind(id)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                let status: Option<(String,)> =
                    sqlx::query_as("SELECT status FROM documents WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                return Ok(match status {
                    Some((s,)) => Started::Done(DocStatus::parse(&s).unwrap_or(DocStatus::Failed)),
                    None => Started::Missing,
                });
            };
            sqlx::query(
                "INSERT INTO document_events (document_id, at, status, detail) \
                 VALUES ($1, $2, 'processing', $3)",
            )
            .bind(id)
            .bind(at)
            .bind(format!("attempt {}", row.attempts))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Started::Go(Box::new(row)))
        })
    }

    /// Commits a document's outcome: its records, their fields and first
    /// history, its pages, its status, its event. Returns false, writing
    /// nothing, when the document already has an outcome (another attempt
    /// finished first), so a document processed twice keeps one.
    pub async fn finish(&self, doc: &DocumentRow, outcome: &Outcome<'_>) -> DbResult<bool> {
        let at = now();
        let status = document_status(outcome.records);
        let error = outcome.records.iter().find_map(|r| r.error.clone());
        let record_ids: Vec<Uuid> = outcome.records.iter().map(|_| Uuid::now_v7()).collect();
        let mut event = Event::for_document(doc, status, outcome.records, &record_ids, at);
        event.reason = outcome.reason.map(str::to_string);
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let updated = sqlx::query(
                "UPDATE documents SET status = $2, error = $3, reason = $4, extract_ms = $5, \
                 extract_cpu_ms = $7, updated_at = $6 \
                 WHERE id = $1 AND status IN ('queued', 'processing')",
            )
            .bind(doc.id)
            .bind(status.as_str())
            .bind(&error)
            .bind(outcome.reason)
            .bind(outcome.extract_ms)
            .bind(at)
            .bind(outcome.extract_cpu_ms)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            // A split document's pages as read: joined now, or not needed.
            sqlx::query("DELETE FROM page_tasks WHERE document_id = $1")
                .bind(doc.id)
                .execute(&mut *tx)
                .await?;
            for (i, (r, rid)) in outcome.records.iter().zip(&record_ids).enumerate() {
                sqlx::query(
                    "INSERT INTO records (id, document_id, ordinal, batch_id, source, form, pages, \
                     status, error, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(rid)
                .bind(doc.id)
                .bind(i as i32)
                .bind(doc.batch_id)
                .bind(&doc.source)
                .bind(&r.form)
                .bind(Json(&r.pages))
                .bind(r.status.as_str())
                .bind(&r.error)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if r.fields.is_empty() {
                    continue;
                }
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO field_values \
                     (record_id, position, name, value, confidence, flags, note) ",
                );
                q.push_values(r.fields.iter().enumerate(), |mut b, (pos, (name, f))| {
                    b.push_bind(rid)
                        .push_bind(pos as i32)
                        .push_bind(name)
                        .push_bind(Json(&f.value))
                        .push_bind(f.confidence)
                        .push_bind(Json(&f.flags))
                        .push_bind(&f.note);
                });
                q.build().execute(&mut *tx).await?;
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO field_history (record_id, name, at, actor, new_value) ",
                );
                q.push_values(r.fields.iter(), |mut b, (name, f)| {
                    b.push_bind(rid)
                        .push_bind(name)
                        .push_bind(at)
                        .push_bind("formflow-extract")
                        .push_bind(Json(&f.value));
                });
                q.build().execute(&mut *tx).await?;
            }
            if !outcome.pages.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO pages (document_id, number, record_id, form, form_page, pose) ",
                );
                q.push_values(outcome.pages.iter(), |mut b, pg| {
                    let rid = outcome
                        .records
                        .iter()
                        .position(|r| r.pages.contains(&pg.number))
                        .map(|i| record_ids[i]);
                    b.push_bind(doc.id)
                        .push_bind(pg.number as i32)
                        .push_bind(rid)
                        .push_bind(pg.form.as_ref().map(|f| f.0.clone()))
                        .push_bind(pg.form.as_ref().map(|f| f.1 as i32))
                        .push_bind(pg.pose.as_ref().map(Json));
                });
                q.build().execute(&mut *tx).await?;
            }
            let detail = match &error {
                Some(e) => e.clone(),
                None => format!("{} record(s)", outcome.records.len()),
            };
            sqlx::query(
                "INSERT INTO document_events (document_id, at, status, detail) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(doc.id)
            .bind(at)
            .bind(status.as_str())
            .bind(detail)
            .execute(&mut *tx)
            .await?;
            insert_event!(tx, at, event.routing_key(), &event);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// A worker still working on a document says so, so that the sweeper
    /// leaves it alone ([`Db::sweep`]).
    pub async fn touch(&self, id: Uuid) -> DbResult<()> {
        let at = now();
        on_db!(self, p => {
            sqlx::query(
                "UPDATE documents SET updated_at = $2 WHERE id = $1 AND status = 'processing'",
            )
            .bind(id)
            .bind(at)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// Returns documents left `processing` with no word from their worker
    /// since `stale_before` (a worker that vanished or hung) to the queue,
    /// with a new job. The attempt it was on stays counted, so a file that
    /// keeps losing its workers is failed by the worker that takes it after
    /// the last attempt. A document split into page jobs is judged a page
    /// at a time: a page taken and silent since `stale_before` gets a new
    /// page job (a page not yet taken is still in the queue, and may wait
    /// there as long as the queue is long). Each document or page is taken
    /// by one sweep, however many services sweep at once. Returns how many
    /// documents and pages went back.
    pub async fn sweep(&self, stale_before: DateTime<Utc>) -> DbResult<u64> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            // Taken only if still stale at this moment: a worker may touch
            // or finish it at any time.
            let ids: Vec<(Uuid,)> = sqlx::query_as(
                "UPDATE documents SET status = 'queued', updated_at = $2 \
                 WHERE status = 'processing' AND updated_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM page_tasks t WHERE t.document_id = documents.id) \
                 RETURNING id",
            )
            .bind(stale_before)
            .bind(at)
            .fetch_all(&mut *tx)
            .await?;
            for (id,) in &ids {
                sqlx::query(
                    "INSERT INTO document_events (document_id, at, status, detail) \
                     VALUES ($1, $2, 'queued', $3)",
                )
                .bind(id)
                .bind(at)
                .bind("back in the queue: the worker that took it stopped answering")
                .execute(&mut *tx)
                .await?;
                insert_job!(tx, at, Job::document(*id));
            }
            let pages: Vec<(Uuid, i32)> = sqlx::query_as(
                "UPDATE page_tasks SET touched_at = $2 \
                 WHERE result IS NULL AND touched_at < $1 \
                 AND document_id IN (SELECT id FROM documents WHERE status = 'processing') \
                 RETURNING document_id, number",
            )
            .bind(stale_before)
            .bind(at)
            .fetch_all(&mut *tx)
            .await?;
            for (id, number) in &pages {
                sqlx::query(
                    "INSERT INTO document_events (document_id, at, status, detail) \
                     VALUES ($1, $2, 'processing', $3)",
                )
                .bind(id)
                .bind(at)
                .bind(format!(
                    "page {number} back in the queue: the worker that took it stopped answering"
                ))
                .execute(&mut *tx)
                .await?;
                insert_job!(tx, at, Job { document_id: *id, task: Task::Page(*number as u32) });
            }
            tx.commit().await?;
            Ok((ids.len() + pages.len()) as u64)
        })
    }

    /// Puts every document without an outcome back in the outbox, once: for
    /// the embedded runner, whose in-process queue did not survive the
    /// process that held it. Returns how many.
    pub async fn requeue_unfinished(&self) -> DbResult<u64> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM outbox WHERE kind = 'job'").execute(&mut *tx).await?;
            let ids: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM documents WHERE status IN ('queued', 'processing') \
                 ORDER BY created_at, position",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id,) in &ids {
                insert_job!(tx, at, Job::document(*id));
            }
            tx.commit().await?;
            Ok(ids.len() as u64)
        })
    }
}
