//! Rows as the queries return them, and the document's life cycle.

use chrono::{DateTime, Utc};
use formflow_schemas::{FieldResult, Flag, HistoryEntry, Record, Status, StoredRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

pub use formflow_schemas::DocStatus;

/// A file refused at upload, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refusal {
    /// The file's name as sent.
    pub file: String,
    /// Why, in plain words.
    pub error: String,
}

/// A `batches` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchRow {
    /// Its id.
    pub id: Uuid,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// Files sent, accepted or not.
    pub files: i32,
    /// Files refused, with why.
    pub refused: Json<Vec<Refusal>>,
    /// Who sent it.
    pub uploaded_by: Option<String>,
}

/// A `documents` row: one uploaded file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    /// Its id.
    pub id: Uuid,
    /// The batch it came in.
    pub batch_id: Uuid,
    /// Its place in the batch, from 0.
    pub position: i32,
    /// The file's name as uploaded.
    pub source: String,
    /// SHA-256 of the bytes, hex: the original's key in storage.
    pub sha256: String,
    /// Its size.
    pub bytes: i64,
    /// PDF, TIFF, PNG or JPEG.
    pub format: String,
    /// Pages in the file.
    pub page_count: i32,
    /// Where it stands ([`DocStatus`]).
    pub status: String,
    /// For a duplicate, the document first uploaded with these bytes.
    pub duplicate_of: Option<Uuid>,
    /// Why it failed, in plain words.
    pub error: Option<String>,
    /// Why it failed, as a short key.
    pub reason: Option<String>,
    /// How many times a worker has taken it.
    pub attempts: i32,
    /// Milliseconds extraction took, on the attempt that finished it.
    pub extract_ms: Option<i64>,
    /// CPU milliseconds the extraction thread used on that attempt.
    pub extract_cpu_ms: Option<i64>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The caseworker holding it for review, while `lease_until` is ahead.
    pub lease_user_id: Option<Uuid>,
    /// When that hold ends.
    pub lease_until: Option<DateTime<Utc>>,
    /// The id of the HTTP request that uploaded it, for log lines.
    pub request_id: Option<String>,
}

impl DocumentRow {
    /// Its status as a type (a status this build does not know reads as
    /// `queued`, which keeps it from being taken as finished).
    pub fn status(&self) -> DocStatus {
        DocStatus::parse(&self.status).unwrap_or(DocStatus::Queued)
    }
}

/// A `records` row: one form found in a document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRow {
    /// Its id.
    pub id: Uuid,
    /// The document (file) it was found in.
    pub document_id: Uuid,
    /// Its place among the document's records, from 0.
    pub ordinal: i32,
    /// The batch the document came in.
    pub batch_id: Uuid,
    /// The file's name.
    pub source: String,
    /// The template key, or none when unclassified.
    pub form: Option<String>,
    /// Its pages within the file, from 1, in the form's order.
    pub pages: Json<Vec<u32>>,
    /// `extracted`, `needs_review`, `unclassified`, `failed`, and later
    /// `approved` or `rejected`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Every save adds one.
    pub version: i64,
    /// Who approved or rejected it.
    pub reviewed_by: Option<String>,
    /// When.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
}

impl RecordRow {
    /// The record with these fields (its own, in the template's order).
    pub fn into_stored(self, fields: Vec<FieldRow>) -> StoredRecord {
        // A status this build does not know reads as needing review, which
        // keeps it in front of a person.
        let status: Status = serde_json::from_value(Value::String(self.status.clone()))
            .unwrap_or(Status::NeedsReview);
        StoredRecord {
            id: self.id,
            document_id: self.document_id,
            batch_id: self.batch_id,
            record: Record {
                source: self.source,
                form: self.form,
                pages: self.pages.0,
                status,
                fields: fields.into_iter().map(FieldRow::into_result).collect(),
                error: self.error,
            },
            version: self.version,
            reviewed_by: self.reviewed_by,
            reviewed_at: self.reviewed_at,
            reject_reason: self.reject_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A `field_values` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FieldRow {
    /// The record it belongs to.
    pub record_id: Uuid,
    /// Its place in the template.
    pub position: i32,
    /// The field's name.
    pub name: String,
    /// Its value (JSON null when blank).
    pub value: Json<Value>,
    /// The engine's belief that the value is right.
    pub confidence: f64,
    /// Why it needs review.
    pub flags: Json<Vec<Flag>>,
    /// The engine's sentence on why it is flagged.
    pub note: Option<String>,
}

impl FieldRow {
    /// The field's name and reading.
    pub fn into_result(self) -> (String, FieldResult) {
        let result = FieldResult {
            value: self.value.0,
            confidence: self.confidence,
            flags: self.flags.0,
            note: self.note,
        };
        (self.name, result)
    }
}

/// A `field_history` row: one value a field has had.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HistoryRow {
    /// Its place in the history.
    pub id: i64,
    /// The record.
    pub record_id: Uuid,
    /// The field's name.
    pub name: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `formflow-extract` for the reading, else the caseworker.
    pub actor: String,
    /// The value before (none for the first reading).
    pub old_value: Option<Json<Value>>,
    /// The value after.
    pub new_value: Json<Value>,
    /// Why, when given.
    pub note: Option<String>,
}

impl HistoryRow {
    /// The entry it records.
    pub fn into_entry(self) -> HistoryEntry {
        HistoryEntry {
            record_id: self.record_id,
            name: self.name,
            at: self.at,
            actor: self.actor,
            old_value: self.old_value.map(|v| v.0),
            new_value: self.new_value.0,
            note: self.note,
        }
    }
}

/// A `document_events` row: a change in a document's status.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct EventRow {
    /// When.
    pub at: DateTime<Utc>,
    /// The status it moved to.
    #[schema(value_type = formflow_schemas::DocStatus)]
    pub status: String,
    /// What happened, in plain words.
    pub detail: Option<String>,
}

/// What an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// A job for the worker queue.
    Job,
    /// An event for the events exchange.
    Event,
}

impl OutboxKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Job => "job",
            OutboxKind::Event => "event",
        }
    }
}

/// An `outbox` row: a message waiting to be published.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// Its id (publishing order).
    pub id: i64,
    /// `job` or `event`.
    pub kind: String,
    /// For an event, its routing key (`document.extracted`, ...).
    pub routing_key: String,
    /// The message body.
    pub payload: Json<Value>,
}

impl OutboxRow {
    /// What it carries.
    pub fn kind(&self) -> OutboxKind {
        if self.kind == "job" {
            OutboxKind::Job
        } else {
            OutboxKind::Event
        }
    }
}
