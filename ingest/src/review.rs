//! What a caseworker's correction, approval or rejection does to a record,
//! whether it comes from the review page or from the JSON API: one code
//! path for both.
//!
//! A correction is checked by the engine's own normaliser and the form's
//! rules ([`formflow_extract::review`]). A corrected value that breaks a
//! rule is refused, with an explanation, unless the caseworker confirms it
//! is what the paper says; it is then kept, still flagged `invalid`.
//! Approving is a person's word that every value is what the paper says:
//! the engine's doubts (`low_confidence`, `ambiguous`, `unreadable`) are
//! cleared, and a value that breaks a rule must be corrected or confirmed
//! first. The rule flags (`invalid`, `missing_required`) are worked out
//! afresh for the whole record after every change.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use chrono::{DateTime, Utc};
use formflow_extract::normalise::{Context, Normalised};
use formflow_extract::review::{check_record, check_typed, explain_field, Typed};
use formflow_schemas::{FieldResult, FieldSpec, FieldType, Flag, StoredRecord, Template};
use formflow_service::db::{ChangeRefused, RecordChange, ReviewAction};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The note a field keeps once a person has confirmed a value that breaks
/// a rule is what the paper says.
pub const CONFIRMED: &str = "confirmed as written on the paper";

/// A field the caseworker must look at again before the change is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The field's name.
    pub field: String,
    /// Its label on the form.
    pub label: String,
    /// What is wrong, a sentence each.
    pub messages: Vec<String>,
}

/// A change checked against the form's rules.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Every field of the record as it would be.
    pub fields: Vec<(String, FieldResult)>,
    /// Fields whose values changed.
    pub changed: Vec<String>,
    /// Fields that break a rule and are not confirmed: the change is not
    /// made while there are any.
    pub problems: Vec<Problem>,
    /// Notes for the history of confirmed fields.
    pub notes: HashMap<String, String>,
}

/// The label a caseworker knows a field by.
pub fn label(spec: &FieldSpec) -> String {
    match spec.label.as_deref() {
        Some(l) if !l.trim().is_empty() => l.to_string(),
        _ => {
            let mut s = spec.name.replace('_', " ");
            if let Some(first) = s.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            s
        }
    }
}

/// A stored value as a person would type it: dates as DD MM YYYY, as the
/// forms have them; other text as it is.
pub fn as_typed(spec: &FieldSpec, value: &Value) -> String {
    match (spec.kind, value) {
        (_, Value::Null) => String::new(),
        (FieldType::Date, Value::String(s)) => match s.split('-').collect::<Vec<_>>()[..] {
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => format!("{d} {m} {y}"),
            _ => s.clone(),
        },
        (_, Value::String(s)) => s.clone(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, other) => other.to_string(),
    }
}

/// What a stored value is, as if typed.
fn typed_of(spec: &FieldSpec, value: &Value) -> Typed {
    match spec.kind {
        FieldType::Checkbox | FieldType::Signature => Typed::Mark(value.as_bool().unwrap_or(false)),
        FieldType::Choice => Typed::Choice(value.as_str().map(str::to_string)),
        _ => Typed::Text(as_typed(spec, value)),
    }
}

fn is_doubt(f: &Flag) -> bool {
    matches!(f, Flag::LowConfidence | Flag::Ambiguous | Flag::Unreadable)
}

fn is_rule(f: &Flag) -> bool {
    matches!(f, Flag::Invalid | Flag::MissingRequired)
}

/// Checks corrections (`typed`, by field name) to a record, and for an
/// approval the whole record, against the form's rules. `confirmed` names
/// fields the caseworker confirmed as written.
pub fn check(
    template: &Template,
    record: &StoredRecord,
    typed: &HashMap<String, Typed>,
    confirmed: &HashSet<String>,
    approving: bool,
    ctx: &Context,
) -> Checked {
    let mut fields: Vec<(String, Normalised)> = Vec::with_capacity(template.fields.len());
    let mut changed = Vec::new();
    for spec in &template.fields {
        let current = record
            .record
            .field(&spec.name)
            .cloned()
            .unwrap_or(FieldResult {
                value: Value::Null,
                confidence: 0.0,
                flags: vec![Flag::Unreadable],
                note: None,
            });
        let n = match typed.get(&spec.name).map(|t| check_typed(spec, t, ctx)) {
            Some(n) if n.value != current.value => {
                changed.push(spec.name.clone());
                n
            }
            _ => {
                // Unchanged: the engine's doubts stay (until approval); the
                // rules are checked again, as the other fields may have moved.
                let again = check_typed(spec, &typed_of(spec, &current.value), ctx);
                let mut flags: Vec<Flag> = current.flags.iter().copied().filter(is_doubt).collect();
                flags.extend(again.flags.iter().copied().filter(|f| *f == Flag::Invalid));
                let note = current.note.clone().filter(|_| !flags.is_empty());
                Normalised {
                    value: current.value.clone(),
                    confidence: current.confidence,
                    flags,
                    note,
                }
            }
        };
        fields.push((spec.name.clone(), n));
    }
    check_record(template, &mut fields, ctx);
    if approving {
        // A person has read every value: the engine's doubts are answered.
        for (_, n) in &mut fields {
            n.flags.retain(|f| !is_doubt(f));
        }
    }

    let mut problems = Vec::new();
    let mut notes = HashMap::new();
    let mut settle: Vec<(usize, Option<String>)> = Vec::new();
    for (i, (name, n)) in fields.iter().enumerate() {
        let Some(spec) = template.field(name) else {
            continue;
        };
        if !n.flags.iter().any(is_rule) {
            if n.note.as_deref() == Some(CONFIRMED) {
                settle.push((i, None));
            }
            continue;
        }
        let was_confirmed = !changed.contains(name)
            && record
                .record
                .field(name)
                .is_some_and(|f| f.note.as_deref() == Some(CONFIRMED));
        if confirmed.contains(name) || was_confirmed {
            if confirmed.contains(name) {
                notes.insert(name.clone(), CONFIRMED.to_string());
            }
            settle.push((i, Some(CONFIRMED.to_string())));
            continue;
        }
        // A correction must keep the rules; an approval, every field.
        if changed.contains(name) || approving {
            let messages = explain_field(template, &fields, name, ctx);
            problems.push(Problem {
                field: name.clone(),
                label: label(spec),
                messages,
            });
        }
    }
    for (i, note) in settle {
        fields[i].1.note = note;
    }
    let fields = fields
        .into_iter()
        .map(|(name, n)| {
            // A note speaks of flags: none left, no note.
            let note = n.note.filter(|_| !n.flags.is_empty());
            let result = FieldResult {
                value: n.value,
                confidence: (n.confidence * 1000.0).round() / 1000.0,
                flags: n.flags,
                note,
            };
            (name, result)
        })
        .collect();
    Checked {
        fields,
        changed,
        problems,
        notes,
    }
}

/// What a caseworker asked for.
#[derive(Debug, Clone)]
pub enum Ask {
    /// Keep the corrections.
    Save,
    /// Keep them and approve.
    Approve,
    /// Reject, with why.
    Reject(String),
}

/// What came of a review action.
#[derive(Debug)]
pub enum Done {
    /// The record as it now is.
    Changed(Box<StoredRecord>),
    /// Nothing was changed: these fields need another look.
    Problems(Vec<Problem>),
}

/// Saves, approves or rejects `record` for `caller`, with these
/// corrections: the review page and the JSON API both come here.
#[allow(clippy::too_many_arguments)]
pub async fn act(
    app: &App,
    caller: &Caller,
    record: &StoredRecord,
    version: i64,
    typed: &HashMap<String, Typed>,
    confirmed: &HashSet<String>,
    ask: Ask,
    lease_until: Option<DateTime<Utc>>,
) -> ApiResult<Done> {
    let form = record.record.form.as_deref().unwrap_or("");
    let (fields, notes, action) = match ask {
        Ask::Reject(reason) => {
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                return Err(ApiError::unprocessable(
                    "say why the record is rejected: a reason is needed",
                ));
            }
            if reason.chars().count() > 2000 {
                return Err(ApiError::unprocessable(
                    "the reason is too long: keep it under 2000 characters",
                ));
            }
            (Vec::new(), HashMap::new(), ReviewAction::Reject { reason })
        }
        ask => {
            let template = app.engine.templates().get(form).ok_or_else(|| {
                ApiError::unprocessable(
                    "this record is of no known form, so it cannot be corrected: \
                     say which form it is, or reject it",
                )
            })?;
            for name in typed.keys().chain(confirmed.iter()) {
                if template.field(name).is_none() {
                    return Err(ApiError::unprocessable(format!(
                        "the form {form} has no field {name:?}"
                    )));
                }
            }
            let approving = matches!(ask, Ask::Approve);
            let checked = check(
                template,
                record,
                typed,
                confirmed,
                approving,
                &app.engine.context(),
            );
            if !checked.problems.is_empty() {
                return Ok(Done::Problems(checked.problems));
            }
            let action = if approving {
                ReviewAction::Approve
            } else {
                ReviewAction::Save
            };
            (checked.fields, checked.notes, action)
        }
    };
    let change = RecordChange {
        record_id: record.id,
        version,
        actor: &caller.actor,
        action,
        fields: &fields,
        notes: &notes,
        reread: None,
        lease_until,
    };
    let changed = app
        .db
        .change_record(&change)
        .await
        .map_err(ApiError::internal)?;
    changed.map(|r| Done::Changed(Box::new(r))).map_err(refused)
}

/// A refusal from the database, as an answer in plain words.
pub fn refused(r: ChangeRefused) -> ApiError {
    match r {
        ChangeRefused::Missing => ApiError::not_found("there is no such record"),
        ChangeRefused::Stale { current } => ApiError::conflict(
            "somebody changed this record after you opened it, so your change was not saved: \
             reload it to see theirs, then make yours again",
        )
        .with("current_version", current),
        ChangeRefused::Leased(l) => ApiError::conflict(format!(
            "{} is reviewing this document until {} UTC, so it cannot be changed now",
            l.user_name,
            l.until.format("%H:%M")
        ))
        .with("held_by", l.user_name),
        ChangeRefused::Closed { status, by } => ApiError::conflict(format!(
            "this record was already {}{}, so it cannot be changed",
            status.as_str(),
            by.map(|b| format!(" by {b}")).unwrap_or_default()
        )),
        ChangeRefused::NotApplicable(status) => ApiError::unprocessable(match status.as_str() {
            "unclassified" => "this page is of no known form: say which form \
                               and page it is, or reject it"
                .to_string(),
            "failed" => "this file could not be read, so there is nothing to correct \
                         or approve: reject it"
                .to_string(),
            s => format!("a record that is {s} cannot be changed this way"),
        }),
    }
}
