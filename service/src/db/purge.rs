//! Erasure: a document's personal data removed for good, at a person's
//! request or when it is older than the retention period.
//!
//! Purging a document deletes, in one transaction, its records, their
//! current values and every earlier value (the history), its pages and
//! their poses, its events and the document itself; the documents that
//! are duplicates of it (the same bytes, uploaded again) go with it, and a
//! batch left with no documents goes too (its refusals name files). What
//! stays is one audit entry a document, holding ids and counts, and a
//! `document.purged` event in the outbox, so that downstream services
//! erase their copies. The original is the caller's to delete, once no
//! document is left that shares it ([`Db::original_in_use`]).
//!
//! A document a worker has not finished with (`queued`, `processing`) is
//! not purged: its worker would write it back.

use super::audit::{insert_audit, Actor, AuditEntry};
use super::write::insert_event;
use super::{on_db, Db, DbResult};
use crate::now;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// Why a document is purged, as the audit entry and event say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeReason {
    /// Someone asked for it to be erased.
    Request,
    /// It outlived the retention period.
    Retention,
}

impl PurgeReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeReason::Request => "request",
            PurgeReason::Retention => "retention",
        }
    }
}

/// What a purge of one document did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// Gone: the document and its duplicates.
    Done(Purged),
    /// No such document.
    Missing,
    /// A worker has not finished with it (or with one of its duplicates'
    /// originals); try again once it has.
    Busy,
}

/// What was deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// The documents (the one named first, then its duplicates).
    pub documents: Vec<Uuid>,
    /// Records deleted with them.
    pub records: u64,
    /// Values deleted from the records' history.
    pub history: u64,
    /// Batches deleted because nothing was left in them.
    pub batches: u64,
    /// The originals (SHA-256) the documents were stored under.
    pub originals: Vec<String>,
}

/// The event downstream services receive when a document is erased.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PurgedEvent {
    /// `document.purged`.
    pub event: String,
    /// The document.
    pub document_id: Uuid,
    /// Its batch.
    pub batch_id: Uuid,
    /// Its records, now gone.
    pub record_ids: Vec<Uuid>,
    /// `request` or `retention`.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Db {
    /// Purges document `id` and its duplicates, with an audit entry and a
    /// `document.purged` event for each, all or nothing.
    pub async fn purge_document(
        &self,
        id: Uuid,
        reason: PurgeReason,
        by: &Actor,
    ) -> DbResult<Purge> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let first: Option<(Uuid, String, String)> =
                sqlx::query_as("SELECT batch_id, status, sha256 FROM documents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(first) = first else { return Ok(Purge::Missing) };
            let mut docs: Vec<(Uuid, Uuid, String, String)> = vec![(id, first.0, first.1, first.2)];
            let copies: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(
                "SELECT id, batch_id, status, sha256 FROM documents WHERE duplicate_of = $1 \
                 ORDER BY created_at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            docs.extend(copies);
            if docs.iter().any(|d| d.2 == "queued" || d.2 == "processing") {
                return Ok(Purge::Busy);
            }
            let mut out = Purged::default();
            // Duplicates first: they point at the document named.
            for (doc, batch, _, sha) in docs.iter().rev() {
                let records: Vec<(Uuid,)> =
                    sqlx::query_as("SELECT id FROM records WHERE document_id = $1 ORDER BY ordinal")
                        .bind(doc)
                        .fetch_all(&mut *tx)
                        .await?;
                for (r,) in &records {
                    out.history += sqlx::query("DELETE FROM field_history WHERE record_id = $1")
                        .bind(r)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    sqlx::query("DELETE FROM field_values WHERE record_id = $1")
                        .bind(r)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM page_tasks WHERE document_id = $1")
                    .bind(doc)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM pages WHERE document_id = $1")
                    .bind(doc)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM records WHERE document_id = $1")
                    .bind(doc)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM document_events WHERE document_id = $1")
                    .bind(doc)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM documents WHERE id = $1")
                    .bind(doc)
                    .execute(&mut *tx)
                    .await?;
                out.batches += sqlx::query(
                    "DELETE FROM batches WHERE id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM documents WHERE batch_id = $1)",
                )
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let record_ids: Vec<Uuid> = records.iter().map(|r| r.0).collect();
                let entry = AuditEntry::new(by, "document.purge").on("document", doc).detail(json!({
                    "reason": reason.as_str(),
                    "records": record_ids.len(),
                    "duplicate_of": if doc == &id { None } else { Some(id) },
                }));
                insert_audit!(tx, at, &entry);
                let event = PurgedEvent {
                    event: "document.purged".into(),
                    document_id: *doc,
                    batch_id: *batch,
                    record_ids,
                    reason: reason.as_str().into(),
                    at,
                };
                insert_event!(tx, at, &event.event, &event);
                out.records += event.record_ids.len() as u64;
                out.documents.insert(0, *doc);
                if !out.originals.contains(sha) {
                    out.originals.push(sha.clone());
                }
            }
            tx.commit().await?;
            Ok(Purge::Done(out))
        })
    }

    /// The documents uploaded before `cutoff` that a worker has finished
    /// with and that are not duplicates of another (those go with it),
    /// oldest first: what a retention period of that age would purge.
    pub async fn purgeable_before(&self, cutoff: DateTime<Utc>, limit: u32) -> DbResult<Vec<Uuid>> {
        on_db!(self, p => {
            let ids: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM documents \
                 WHERE created_at < $1 AND status NOT IN ('queued', 'processing') \
                 AND duplicate_of IS NULL ORDER BY created_at, id LIMIT $2",
            )
            .bind(cutoff)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?;
            Ok(ids.into_iter().map(|r| r.0).collect())
        })
    }

    /// Deletes the batches made before `cutoff` that hold no documents (an
    /// upload whose every file was refused keeps the files' names). Returns
    /// how many.
    pub async fn purge_empty_batches(&self, cutoff: DateTime<Utc>) -> DbResult<u64> {
        on_db!(self, p => {
            Ok(sqlx::query(
                "DELETE FROM batches WHERE created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.batch_id = batches.id)",
            )
            .bind(cutoff)
            .execute(p)
            .await?
            .rows_affected())
        })
    }

    /// Whether any document is stored under the original `sha`.
    pub async fn original_in_use(&self, sha: &str) -> DbResult<bool> {
        on_db!(self, p => {
            let row: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM documents WHERE sha256 = $1 LIMIT 1")
                    .bind(sha)
                    .fetch_optional(p)
                    .await?;
            Ok(row.is_some())
        })
    }
}
