//! The records API: `GET /api/v1/records` (for downstream services, by
//! last change, with a cursor), `GET /api/v1/records/{id}`, and the review
//! actions for integrations: `PATCH` (corrections), `/approve`, `/reject`,
//! on the same code path as the review page ([`crate::review`]).

use super::parse_id;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::review::{act, Ask, Done, Problem};
use crate::App;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeZone as _, Utc};
use formflow_extract::review::Typed;
use formflow_schemas::{FieldSpec, FieldType, HistoryEntry, Status, StoredRecord, Template};
use formflow_service::db::{ActorKind, AuditEntry, RecordFilter};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/records", get(list_records))
        .route("/api/v1/records/{id}", get(get_record).patch(patch_record))
        .route("/api/v1/records/{id}/approve", post(approve_record))
        .route("/api/v1/records/{id}/reject", post(reject_record))
}

/// A cursor: the last record's change time (microseconds) and id.
fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", at.timestamp_micros(), id.simple())
}

fn decode_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = s.split_once('.')?;
    let at = Utc.timestamp_micros(micros.parse().ok()?).single()?;
    Some((at, Uuid::parse_str(id).ok()?))
}

/// Records as the API gives them: each with its history.
pub fn records_json(records: &[StoredRecord], history: &[HistoryEntry]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            let mine: Vec<&HistoryEntry> = history.iter().filter(|h| h.record_id == r.id).collect();
            v["history"] = serde_json::to_value(mine).unwrap_or_default();
            v
        })
        .collect()
}

async fn list_records(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let bad = ApiError::unprocessable;
    for k in q.keys() {
        if ![
            "form",
            "status",
            "batch",
            "updated_since",
            "cursor",
            "limit",
        ]
        .contains(&k.as_str())
        {
            return Err(bad(format!(
                "unknown parameter {k:?}: use form, status, batch, updated_since, cursor or limit"
            )));
        }
    }
    let mut f = RecordFilter {
        form: q.get("form").cloned(),
        limit: 100,
        ..Default::default()
    };
    if let Some(s) = q.get("status") {
        for one in s.split(',').map(str::trim) {
            let status: Status = serde_json::from_value(Value::String(one.to_string())).map_err(|_| {
                bad(format!(
                    "status {one:?} is not one of extracted, needs_review, unclassified, failed, approved, rejected (several may be given, comma-separated)"
                ))
            })?;
            f.statuses.push(status);
        }
    }
    if let Some(b) = q.get("batch") {
        f.batch =
            Some(Uuid::parse_str(b).map_err(|_| bad(format!("batch {b:?} is not a batch id")))?);
    }
    if let Some(t) = q.get("updated_since") {
        let at = DateTime::parse_from_rfc3339(t).map_err(|_| {
            bad(format!(
                "updated_since {t:?} must be a date and time like 2026-11-22T09:30:00Z"
            ))
        })?;
        f.updated_since = Some(at.with_timezone(&Utc));
    }
    if let Some(c) = q.get("cursor") {
        f.after = Some(
            decode_cursor(c)
                .ok_or_else(|| bad(format!("cursor {c:?} is not one this service gave")))?,
        );
    }
    if let Some(l) = q.get("limit") {
        f.limit = l
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad(format!("limit {l:?} must be a number from 1 to 1000")))?;
    }
    let page = app.db.records(&f).await.map_err(ApiError::internal)?;
    let ids: Vec<Uuid> = page.records.iter().map(|r| r.id).collect();
    if caller.actor.kind == ActorKind::Person && !ids.is_empty() {
        // A person reading values through the listing: which ones, by count
        // and range (the ids are in the listing's order).
        let entry = AuditEntry::new(&caller.actor, "record.list").detail(json!({
            "count": ids.len(),
            "first": ids.first(),
            "last": ids.last(),
        }));
        app.db.audit(&entry).await.map_err(ApiError::internal)?;
    }
    let history = app.db.history_of(&ids).await.map_err(ApiError::internal)?;
    Ok(Json(json!({
        "records": records_json(&page.records, &history),
        "next_cursor": page.next.map(|(at, id)| encode_cursor(at, id)),
    })))
}

/// The record `raw` names, or 404.
pub async fn find_record(app: &App, raw: &str) -> ApiResult<StoredRecord> {
    let id = parse_id(raw, "record")?;
    app.db
        .record(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("there is no record {id}")))
}

/// One record with its history, as JSON.
pub async fn record_json(app: &App, r: &StoredRecord) -> ApiResult<Value> {
    let history = app
        .db
        .history_of(&[r.id])
        .await
        .map_err(ApiError::internal)?;
    Ok(records_json(std::slice::from_ref(r), &history).remove(0))
}

async fn get_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = find_record(&app, &id).await?;
    if caller.actor.kind == ActorKind::Person {
        app.db
            .audit(&AuditEntry::new(&caller.actor, "record.view").on("record", r.id))
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(Json(record_json(&app, &r).await?))
}

/// A review action's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    /// The version the change is based on.
    version: i64,
    /// Corrections, by field name.
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
    /// Fields whose values break a rule but are what the paper says.
    #[serde(default)]
    confirm: Vec<String>,
    /// For a rejection, why.
    #[serde(default)]
    reason: Option<String>,
}

/// What a JSON value means for a field of this type.
pub fn typed_from_json(spec: &FieldSpec, v: &Value) -> Result<Typed, String> {
    Ok(match (spec.kind, v) {
        (FieldType::Checkbox | FieldType::Signature, Value::Bool(b)) => Typed::Mark(*b),
        (FieldType::Checkbox | FieldType::Signature, Value::Null) => Typed::Mark(false),
        (FieldType::Checkbox | FieldType::Signature, _) => {
            return Err(format!("{} is a tick box: give true or false", spec.name))
        }
        (FieldType::Choice, Value::String(s)) => Typed::Choice(Some(s.clone())),
        (FieldType::Choice, Value::Null) => Typed::Choice(None),
        (FieldType::Choice, _) => {
            return Err(format!(
                "{} is a choice: give one of its options as a string, or null",
                spec.name
            ))
        }
        (_, Value::String(s)) => Typed::Text(s.clone()),
        (_, Value::Null) => Typed::Text(String::new()),
        (_, Value::Number(n)) => Typed::Text(n.to_string()),
        _ => {
            return Err(format!(
                "{} takes text: give a string, or null for blank",
                spec.name
            ))
        }
    })
}

fn corrections(
    template: Option<&Template>,
    fields: &serde_json::Map<String, Value>,
) -> ApiResult<HashMap<String, Typed>> {
    let mut out = HashMap::new();
    if fields.is_empty() {
        return Ok(out);
    }
    let t = template.ok_or_else(|| {
        ApiError::unprocessable(
            "this record is of no known form, so its fields cannot be corrected",
        )
    })?;
    for (name, v) in fields {
        let spec = t.field(name).ok_or_else(|| {
            ApiError::unprocessable(format!("the form {} has no field {name:?}", t.form))
        })?;
        out.insert(
            name.clone(),
            typed_from_json(spec, v).map_err(ApiError::unprocessable)?,
        );
    }
    Ok(out)
}

fn problems_error(problems: Vec<Problem>) -> ApiError {
    let n = problems.len();
    let list = serde_json::to_value(
        problems
            .iter()
            .map(|p| json!({ "field": p.field, "label": p.label, "messages": p.messages }))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    ApiError::unprocessable(format!(
        "{n} field(s) break a rule of the form, so nothing was changed: correct them, or name them in \"confirm\" if they are what the paper says"
    ))
    .with("problems", list)
}

async fn review(
    app: &App,
    caller: &Caller,
    id: &str,
    body: Result<Json<Change>, JsonRejection>,
    ask: fn(Option<String>) -> Ask,
) -> ApiResult<Json<Value>> {
    let Json(change) = body.map_err(|e| {
        ApiError::unprocessable(format!(
            "send JSON like {{\"version\": 3, \"fields\": {{\"surname\": \"SMITH\"}}, \"confirm\": []}}: {}",
            e.body_text()
        ))
    })?;
    let record = find_record(app, id).await?;
    let template = record
        .record
        .form
        .as_deref()
        .and_then(|f| app.engine.templates().get(f));
    let typed = corrections(template, &change.fields)?;
    let confirmed: HashSet<String> = change.confirm.into_iter().collect();
    let lease = (caller.actor.kind == ActorKind::Person).then(|| app.lease_until());
    match act(
        app,
        caller,
        &record,
        change.version,
        &typed,
        &confirmed,
        ask(change.reason),
        lease,
    )
    .await?
    {
        Done::Changed(r) => Ok(Json(record_json(app, &r).await?)),
        Done::Problems(p) => Err(problems_error(p)),
    }
}

async fn patch_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    review(&app, &caller, &id, body, |_| Ask::Save).await
}

async fn approve_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    review(&app, &caller, &id, body, |_| Ask::Approve).await
}

async fn reject_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    review(&app, &caller, &id, body, |reason| {
        Ask::Reject(reason.unwrap_or_default())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let at = formflow_service::now();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("garbage"), None);
    }
}
