//! What formflow's parts agree on.
//!
//! This crate owns the form templates (the data that tells the engine where
//! each field sits on the paper and which rules it must obey), the record
//! format of `CONTRACT.md` that extraction produces and downstream services
//! consume, and the record as the service keeps it ([`stored`]: ids,
//! version, review, history, document statuses, roles). It knows nothing
//! of images, queues or databases.

pub mod record;
pub mod stored;
pub mod template;

pub use record::{FieldResult, Flag, Record, Status};
pub use stored::{DocStatus, HistoryEntry, Role, StoredRecord};
pub use template::{
    BoxMm, Condition, FieldSpec, FieldType, PageMark, Template, TemplateError, TemplateSet,
};
