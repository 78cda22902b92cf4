//! Records and documents as the service keeps them: the record of
//! `CONTRACT.md` with its ids, version and review, a document's status, and
//! the history of a field's values.
//!
//! The database layer (`formflow-service`) hands these back, so that the
//! API, the pages and the command line read one shape, with typed statuses,
//! instead of each mapping rows its own way.

use crate::record::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an uploaded file stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = DocumentStatus)]
pub enum DocStatus {
    /// Stored and waiting for a worker.
    Queued,
    /// A worker has it.
    Processing,
    /// Every form in it was read with no flag.
    Extracted,
    /// Some field, or some page of no known form, needs a caseworker.
    NeedsReview,
    /// No page of it is a known form.
    Unclassified,
    /// It could not be read; `error` says why.
    Failed,
    /// The same bytes were uploaded before; `duplicate_of` names that document.
    Duplicate,
    /// A caseworker has approved or rejected every record that needed it.
    Reviewed,
}

impl DocStatus {
    /// Every status, in the order summaries list them.
    pub const ALL: [DocStatus; 8] = [
        DocStatus::Queued,
        DocStatus::Processing,
        DocStatus::Extracted,
        DocStatus::NeedsReview,
        DocStatus::Unclassified,
        DocStatus::Failed,
        DocStatus::Duplicate,
        DocStatus::Reviewed,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocStatus::Queued => "queued",
            DocStatus::Processing => "processing",
            DocStatus::Extracted => "extracted",
            DocStatus::NeedsReview => "needs_review",
            DocStatus::Unclassified => "unclassified",
            DocStatus::Failed => "failed",
            DocStatus::Duplicate => "duplicate",
            DocStatus::Reviewed => "reviewed",
        }
    }

    /// The status stored as `s`.
    pub fn parse(s: &str) -> Option<DocStatus> {
        DocStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Whether the document has its outcome from the machine (nothing more
    /// will happen to it without a person).
    pub fn is_final(self) -> bool {
        !matches!(self, DocStatus::Queued | DocStatus::Processing)
    }

    /// Whether it waits for a caseworker.
    pub fn awaits_review(self) -> bool {
        matches!(self, DocStatus::NeedsReview | DocStatus::Unclassified)
    }
}

/// A record as the service keeps it: `CONTRACT.md`'s record, its ids, its
/// version (every save adds one) and who reviewed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredRecord {
    /// The record's id.
    pub id: Uuid,
    /// The document (uploaded file) it was found in.
    pub document_id: Uuid,
    /// The batch the document came in.
    pub batch_id: Uuid,
    /// The record itself, with its current (perhaps corrected) values.
    #[serde(flatten)]
    pub record: Record,
    /// Its version: a change must name the version it was based on.
    pub version: i64,
    /// Who approved or rejected it.
    pub reviewed_by: Option<String>,
    /// When.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Why it was rejected, in the caseworker's words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reject_reason: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One value a field has had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// The record.
    pub record_id: Uuid,
    /// The field's name.
    pub name: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `formflow-extract` for the machine's reading, else the person
    /// or service that changed it.
    pub actor: String,
    /// The value before (none for the first reading).
    #[schema(schema_with = crate::record::field_value)]
    pub old_value: Option<Value>,
    /// The value after.
    #[schema(schema_with = crate::record::field_value)]
    pub new_value: Value,
    /// Why, when given (a re-read, a value confirmed as written).
    pub note: Option<String>,
}

/// What a person or service may do. Every request to the service but its
/// health checks is made as one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The scanning desk: uploads batches and follows them, never sees a
    /// field's value.
    Uploader,
    /// Reviews, corrects, approves and rejects records.
    Caseworker,
    /// A downstream service: reads records and exports.
    Consumer,
    /// People, tokens, the audit log, and everything the others may do.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Uploader,
        Role::Caseworker,
        Role::Consumer,
        Role::Admin,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Uploader => "uploader",
            Role::Caseworker => "caseworker",
            Role::Consumer => "consumer",
            Role::Admin => "admin",
        }
    }

    /// The role called `s`.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s).ok_or_else(|| {
            format!("{s:?} is not a role: use uploader, caseworker, consumer or admin")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_roles_round_trip_their_names() {
        for s in DocStatus::ALL {
            assert_eq!(DocStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                Value::String(s.as_str().into())
            );
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!(
            "boss".parse::<Role>().unwrap_err(),
            "\"boss\" is not a role: use uploader, caseworker, consumer or admin"
        );
        assert!(DocStatus::NeedsReview.awaits_review() && !DocStatus::Reviewed.awaits_review());
        assert!(DocStatus::Reviewed.is_final() && !DocStatus::Processing.is_final());
    }
}
