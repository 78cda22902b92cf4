//! The events downstream services receive on the `formflow.events` topic
//! exchange: `document.extracted`, `document.needs_review` (unclassified
//! pages included) and `document.failed` when the machine is done with a
//! document, and `record.approved` and `record.rejected` when a caseworker
//! is done with a record.
//!
//! An event carries ids, forms and statuses, never a field's value or any
//! other personal data: a consumer that needs the values reads them from the
//! records API with the ids.

use crate::db::{DocStatus, DocumentRow};
use chrono::{DateTime, Utc};
use formflow_schemas::Record;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One record in an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The record's id.
    pub id: Uuid,
    /// Its form, or none when unclassified.
    pub form: Option<String>,
    /// Its status.
    pub status: String,
    /// Its pages within the file.
    pub pages: Vec<u32>,
}

/// A document reached its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `document.extracted`, `document.needs_review` or `document.failed`.
    pub event: String,
    /// The document.
    pub document_id: Uuid,
    /// Its batch.
    pub batch_id: Uuid,
    /// The document's status.
    pub status: String,
    /// Each record found in it.
    pub records: Vec<EventRecord>,
    /// A short key for why it failed, when it did.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl Event {
    /// The event for a document that reached `status` with these records.
    pub fn for_document(
        doc: &DocumentRow,
        status: DocStatus,
        records: &[Record],
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> Event {
        let event = match status {
            DocStatus::Extracted => "document.extracted",
            DocStatus::Failed => "document.failed",
            _ => "document.needs_review",
        };
        Event {
            event: event.to_string(),
            document_id: doc.id,
            batch_id: doc.batch_id,
            status: status.as_str().to_string(),
            records: records
                .iter()
                .zip(ids)
                .map(|(r, id)| EventRecord {
                    id: *id,
                    form: r.form.clone(),
                    status: r.status.as_str().to_string(),
                    pages: r.pages.clone(),
                })
                .collect(),
            reason: None,
            at,
        }
    }

    /// The routing key it is published with (its name).
    pub fn routing_key(&self) -> &str {
        &self.event
    }
}

/// A caseworker approved or rejected a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEvent {
    /// `record.approved` or `record.rejected`.
    pub event: String,
    /// The record.
    pub record_id: Uuid,
    /// Its document.
    pub document_id: Uuid,
    /// Its batch.
    pub batch_id: Uuid,
    /// Its form.
    pub form: Option<String>,
    /// Its new status: `approved` or `rejected`.
    pub status: String,
    /// Its version after the change.
    pub version: i64,
    /// When.
    pub at: DateTime<Utc>,
}
