//! Reads: batches, documents with their records, the records listing for
//! downstream services, and the counts `/metrics` reports.

use super::rows::{BatchRow, DocumentRow, EventRow, FieldRow, HistoryRow, RecordRow};
use super::{on_db, Db, DbResult};
use chrono::{DateTime, Utc};
use formflow_schemas::{DocStatus, HistoryEntry, Status, StoredRecord};
use sqlx::types::Json;
use std::collections::HashMap;
use uuid::Uuid;

/// A batch and its documents, in upload order.
#[derive(Debug, Clone)]
pub struct BatchView {
    /// The batch.
    pub batch: BatchRow,
    /// Its documents.
    pub documents: Vec<DocumentRow>,
}

/// A document with all that is known of it.
#[derive(Debug, Clone)]
pub struct DocumentView {
    /// The document.
    pub document: DocumentRow,
    /// Its records, in file order.
    pub records: Vec<StoredRecord>,
    /// What happened to it.
    pub events: Vec<EventRow>,
    /// Every value its fields have had.
    pub history: Vec<HistoryEntry>,
}

/// Which records to list, and from where.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Only this form.
    pub form: Option<String>,
    /// Only these statuses (any of them; all when empty).
    pub statuses: Vec<Status>,
    /// Only this batch.
    pub batch: Option<Uuid>,
    /// Only records changed at or after this.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only records after this one in the listing's order (the cursor).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many.
    pub limit: u32,
}

/// One page of the records listing.
#[derive(Debug, Clone)]
pub struct RecordsPage {
    /// The records, oldest change first.
    pub records: Vec<StoredRecord>,
    /// Where the next page starts, when there may be one.
    pub next: Option<(DateTime<Utc>, Uuid)>,
}

/// A record without its values: what uploaders and the queue see.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RecordSummary {
    /// The record.
    pub id: Uuid,
    /// Its form (none: unclassified).
    pub form: Option<String>,
    /// Its status.
    pub status: Status,
    /// Its pages.
    pub pages: Vec<u32>,
    /// Fields carrying a flag.
    pub flagged: i64,
}

/// A batch with its documents counted by status.
#[derive(Debug, Clone)]
pub struct BatchSummary {
    /// The batch.
    pub batch: BatchRow,
    /// Documents by status.
    pub counts: Vec<(DocStatus, i64)>,
}

/// The counts `/metrics` reports, read from the database so that they cover
/// every worker.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// Documents by status.
    pub documents: Vec<(String, i64)>,
    /// Pages of documents that have their outcome.
    pub pages_done: i64,
    /// Failed documents by reason.
    pub failures: Vec<(String, i64)>,
    /// Extraction time: for each bucket bound in seconds, documents that
    /// took at most that long.
    pub extract_buckets: Vec<(f64, i64)>,
    /// Extraction time: total seconds and documents.
    pub extract_sum_seconds: f64,
    /// Documents timed.
    pub extract_count: i64,
    /// Messages waiting in the outbox.
    pub outbox: i64,
    /// When the oldest message waiting in the outbox was committed.
    pub outbox_oldest: Option<DateTime<Utc>>,
    /// When the document longest waiting for a person last changed.
    pub review_oldest: Option<DateTime<Utc>>,
}

/// Bucket bounds of the extraction-time histogram, in seconds.
pub const EXTRACT_BUCKETS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

impl Db {
    /// A batch and its documents.
    pub async fn batch(&self, id: Uuid) -> DbResult<Option<BatchView>> {
        on_db!(self, p => {
            let batch: Option<BatchRow> = sqlx::query_as("SELECT * FROM batches WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?;
            let Some(batch) = batch else { return Ok(None) };
            let documents: Vec<DocumentRow> =
                sqlx::query_as("SELECT * FROM documents WHERE batch_id = $1 ORDER BY position")
                    .bind(id)
                    .fetch_all(p)
                    .await?;
            Ok(Some(BatchView { batch, documents }))
        })
    }

    /// A document row alone.
    pub async fn document_row(&self, id: Uuid) -> DbResult<Option<DocumentRow>> {
        on_db!(self, p => Ok(sqlx::query_as("SELECT * FROM documents WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await?))
    }

    /// A document with its records, events and field history.
    pub async fn document(&self, id: Uuid) -> DbResult<Option<DocumentView>> {
        let Some(document) = self.document_row(id).await? else {
            return Ok(None);
        };
        // A duplicate's records are those of the document first uploaded.
        let source_id = document.duplicate_of.unwrap_or(id);
        on_db!(self, p => {
            let rows: Vec<RecordRow> =
                sqlx::query_as("SELECT * FROM records WHERE document_id = $1 ORDER BY ordinal")
                    .bind(source_id)
                    .fetch_all(p)
                    .await?;
            let records = self.with_fields(rows).await?;
            let events: Vec<EventRow> = sqlx::query_as(
                "SELECT at, status, detail FROM document_events WHERE document_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            // By record id, through the history's own index: joined to
            // records and ordered by id, the planner walked all history.
            let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
            let history = self.history_of(&ids).await?;
            Ok(Some(DocumentView { document, records, events, history }))
        })
    }

    /// Records for downstream services, ordered by last change then id,
    /// so that a cursor (the last record's change time and id) resumes the
    /// listing exactly where it stopped.
    pub async fn records(&self, f: &RecordFilter) -> DbResult<RecordsPage> {
        let limit = f.limit.clamp(1, 1000);
        let rows: Vec<RecordRow> = on_db!(self, p => {
            let mut q = sqlx::QueryBuilder::new("SELECT * FROM records WHERE 1 = 1");
            if let Some(form) = &f.form {
                q.push(" AND form = ").push_bind(form.clone());
            }
            if !f.statuses.is_empty() {
                q.push(" AND status IN (");
                let mut sep = q.separated(", ");
                for s in &f.statuses {
                    sep.push_bind(s.as_str());
                }
                q.push(")");
            }
            if let Some(batch) = f.batch {
                q.push(" AND batch_id = ").push_bind(batch);
            }
            if let Some(since) = f.updated_since {
                q.push(" AND updated_at >= ").push_bind(since);
            }
            if let Some((at, id)) = f.after {
                q.push(" AND (updated_at > ")
                    .push_bind(at)
                    .push(" OR (updated_at = ")
                    .push_bind(at)
                    .push(" AND id > ")
                    .push_bind(id)
                    .push("))");
            }
            q.push(" ORDER BY updated_at, id LIMIT ").push_bind(i64::from(limit) + 1);
            q.build_query_as().fetch_all(p).await?
        });
        let more = rows.len() > limit as usize;
        let rows: Vec<RecordRow> = rows.into_iter().take(limit as usize).collect();
        let next = if more {
            rows.last().map(|r| (r.updated_at, r.id))
        } else {
            None
        };
        Ok(RecordsPage {
            records: self.with_fields(rows).await?,
            next,
        })
    }

    /// The records of these rows, each with its fields in the template's
    /// order.
    pub(crate) async fn with_fields(&self, rows: Vec<RecordRow>) -> DbResult<Vec<StoredRecord>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut fields: Vec<FieldRow> = on_db!(self, p => {
            let mut q = sqlx::QueryBuilder::new("SELECT * FROM field_values WHERE record_id IN (");
            let mut sep = q.separated(", ");
            for r in &rows {
                sep.push_bind(r.id);
            }
            q.push(") ORDER BY record_id, position");
            q.build_query_as().fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| {
                let mine: Vec<FieldRow> =
                    fields.extract_if(.., |f| f.record_id == row.id).collect();
                row.into_stored(mine)
            })
            .collect())
    }

    /// The records of these documents without their values, in file
    /// order; only those waiting for a person when `waiting_only`.
    pub async fn record_summaries(
        &self,
        docs: &[Uuid],
        waiting_only: bool,
    ) -> DbResult<HashMap<Uuid, Vec<RecordSummary>>> {
        if docs.is_empty() {
            return Ok(HashMap::new());
        }
        type Row = (Uuid, Uuid, Option<String>, String, Json<Vec<u32>>, i64);
        let rows: Vec<Row> = on_db!(self, p => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT r.document_id, r.id, r.form, r.status, r.pages, \
                 (SELECT COUNT(*) FROM field_values f \
                 WHERE f.record_id = r.id AND f.flags <> '[]') \
                 FROM records r WHERE r.document_id IN (",
            );
            let mut sep = q.separated(", ");
            for d in docs {
                sep.push_bind(*d);
            }
            q.push(")");
            if waiting_only {
                q.push(" AND r.status IN ('needs_review', 'unclassified')");
            }
            q.push(" ORDER BY r.document_id, r.ordinal");
            q.build_query_as().fetch_all(p).await?
        });
        let mut out: HashMap<Uuid, Vec<RecordSummary>> = HashMap::new();
        for (doc, id, form, status, pages, flagged) in rows {
            let status = serde_json::from_value(serde_json::Value::String(status))
                .unwrap_or(Status::NeedsReview);
            out.entry(doc).or_default().push(RecordSummary {
                id,
                form,
                status,
                pages: pages.0,
                flagged,
            });
        }
        Ok(out)
    }

    /// The most recent batches, newest first, with their documents counted
    /// by status.
    pub async fn recent_batches(&self, limit: u32) -> DbResult<Vec<BatchSummary>> {
        let limit = i64::from(limit.clamp(1, 500));
        let (batches, counts) = on_db!(self, p => {
            let batches: Vec<BatchRow> = sqlx::query_as(
                "SELECT * FROM batches ORDER BY created_at DESC, id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await?;
            let counts: Vec<(Uuid, String, i64)> = sqlx::query_as(
                "SELECT batch_id, status, COUNT(*) FROM documents WHERE batch_id IN \
                 (SELECT id FROM batches ORDER BY created_at DESC, id DESC LIMIT $1) \
                 GROUP BY batch_id, status",
            )
            .bind(limit)
            .fetch_all(p)
            .await?;
            (batches, counts)
        });
        Ok(batches
            .into_iter()
            .map(|batch| {
                let counts = counts
                    .iter()
                    .filter(|(b, _, _)| *b == batch.id)
                    .filter_map(|(_, s, n)| DocStatus::parse(s).map(|s| (s, *n)))
                    .collect();
                BatchSummary { batch, counts }
            })
            .collect())
    }

    /// The history of these records' fields, oldest first.
    pub async fn history_of(&self, records: &[Uuid]) -> DbResult<Vec<HistoryEntry>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<HistoryRow> = on_db!(self, p => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT id, record_id, name, at, actor, old_value, new_value, note \
                 FROM field_history WHERE record_id IN (",
            );
            let mut sep = q.separated(", ");
            for r in records {
                sep.push_bind(*r);
            }
            // Sorted here: the index on (record_id, name, id) finds the rows.
            q.push(")");
            q.build_query_as().fetch_all(p).await?
        });
        let mut rows = rows;
        rows.sort_by_key(|h| h.id);
        Ok(rows.into_iter().map(HistoryRow::into_entry).collect())
    }

    /// One record with its fields.
    pub async fn record(&self, id: Uuid) -> DbResult<Option<StoredRecord>> {
        let row: Option<RecordRow> = on_db!(self, p => {
            sqlx::query_as("SELECT * FROM records WHERE id = $1").bind(id).fetch_optional(p).await?
        });
        Ok(match row {
            Some(r) => self.with_fields(vec![r]).await?.pop(),
            None => None,
        })
    }

    /// The counts `/metrics` reports.
    pub async fn metrics(&self) -> DbResult<MetricsSnapshot> {
        on_db!(self, p => {
            let documents: Vec<(String, i64)> =
                sqlx::query_as("SELECT status, COUNT(*) FROM documents GROUP BY status")
                    .fetch_all(p)
                    .await?;
            let (pages_done,): (Option<i64>,) = sqlx::query_as(
                "SELECT CAST(SUM(page_count) AS BIGINT) FROM documents WHERE status IN \
                 ('extracted', 'needs_review', 'unclassified', 'failed')",
            )
            .fetch_one(p)
            .await?;
            let failures: Vec<(String, i64)> = sqlx::query_as(
                "SELECT COALESCE(reason, 'unknown'), COUNT(*) FROM documents \
                 WHERE status = 'failed' GROUP BY COALESCE(reason, 'unknown')",
            )
            .fetch_all(p)
            .await?;
            let mut q = sqlx::QueryBuilder::new(
                "SELECT COUNT(extract_ms), CAST(COALESCE(SUM(extract_ms), 0) AS BIGINT)",
            );
            for b in EXTRACT_BUCKETS {
                q.push(format!(
                    ", SUM(CASE WHEN extract_ms <= {} THEN 1 ELSE 0 END)",
                    (b * 1000.0) as i64
                ));
            }
            q.push(" FROM documents WHERE extract_ms IS NOT NULL");
            let row = q.build().fetch_one(p).await?;
            use sqlx::Row as _;
            let extract_count: i64 = row.try_get(0)?;
            let sum_ms: i64 = row.try_get(1)?;
            let mut extract_buckets = Vec::new();
            for (i, b) in EXTRACT_BUCKETS.iter().enumerate() {
                let n: Option<i64> = row.try_get(i + 2)?;
                extract_buckets.push((*b, n.unwrap_or(0)));
            }
            let (outbox,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM outbox").fetch_one(p).await?;
            let outbox_oldest: Option<(DateTime<Utc>,)> =
                sqlx::query_as("SELECT created_at FROM outbox ORDER BY created_at LIMIT 1")
                    .fetch_optional(p)
                    .await?;
            let review_oldest: Option<(DateTime<Utc>,)> = sqlx::query_as(
                "SELECT updated_at FROM documents WHERE status = 'needs_review' \
                 ORDER BY updated_at LIMIT 1",
            )
            .fetch_optional(p)
            .await?;
            Ok(MetricsSnapshot {
                outbox_oldest: outbox_oldest.map(|r| r.0),
                review_oldest: review_oldest.map(|r| r.0),
                documents,
                pages_done: pages_done.unwrap_or(0),
                failures,
                extract_buckets,
                extract_sum_seconds: sum_ms as f64 / 1000.0,
                extract_count,
                outbox,
            })
        })
    }

    /// Documents with no outcome yet among these ids (for `formflow run`
    /// and `upload` to wait on).
    pub async fn unfinished(&self, batch: Uuid) -> DbResult<i64> {
        on_db!(self, p => {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM documents \
                 WHERE batch_id = $1 AND status IN ('queued', 'processing')",
            )
            .bind(batch)
            .fetch_one(p)
            .await?;
            Ok(n)
        })
    }
}
