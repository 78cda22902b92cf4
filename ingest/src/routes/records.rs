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
use axum::Json;
use chrono::{DateTime, TimeZone as _, Utc};
use formflow_extract::review::Typed;
use formflow_schemas::{FieldSpec, FieldType, HistoryEntry, Status, StoredRecord, Template};
use formflow_service::db::{ActorKind, AuditEntry, RecordFilter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_records))
        .routes(routes!(get_record, patch_record))
        .routes(routes!(approve_record))
        .routes(routes!(reject_record))
}

/// A record as the API gives it: the record format of `CONTRACT.md` with
/// its ids, version, review and times, and every value its fields have
/// had.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Record)]
pub struct RecordOut {
    /// The record.
    #[serde(flatten)]
    pub record: StoredRecord,
    /// Every value its fields have had, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// One page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsPage {
    /// The records, by `updated_at` then `id`.
    pub records: Vec<RecordOut>,
    /// Pass as `cursor` for the next page; null when there is none.
    pub next_cursor: Option<String>,
}

/// The record listing's query parameters (each read by `list_records`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct RecordsQuery {
    /// Only records of this form (its template key).
    form: Option<String>,
    /// Only records with one of these statuses, comma-separated (e.g.
    /// `extracted,approved` for every record ready to use).
    status: Option<String>,
    /// Only records from this batch.
    batch: Option<Uuid>,
    /// Only records changed at or after this time, e.g.
    /// 2026-11-22T09:30:00Z.
    updated_since: Option<DateTime<Utc>>,
    /// Where to carry on: the `next_cursor` of the previous answer. Opaque.
    cursor: Option<String>,
    /// The most records to give: 1 to 1000 (100 if not given).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
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
pub fn records_json(records: &[StoredRecord], history: &[HistoryEntry]) -> Vec<RecordOut> {
    records
        .iter()
        .map(|r| RecordOut {
            record: r.clone(),
            history: history
                .iter()
                .filter(|h| h.record_id == r.id)
                .cloned()
                .collect(),
        })
        .collect()
}

/// List records
///
/// Records found in every document, ordered by `updated_at` then `id`. To
/// read them all, or to follow changes, pass each answer's `next_cursor` as
/// `cursor` until it is null. Any other query parameter is refused.
#[utoipa::path(
    get,
    path = "/api/v1/records",
    operation_id = "listRecords",
    tag = "records",
    params(RecordsQuery),
    responses(
        (status = 200, description = "One page of records.", body = RecordsPage),
        (status = 422, response = crate::openapi::Invalid),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn list_records(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<RecordsPage>> {
    let bad = ApiError::unprocessable;
    super::only_params::<RecordsQuery>(&q)?;
    let mut f = RecordFilter {
        form: q.get("form").cloned(),
        limit: 100,
        ..Default::default()
    };
    if let Some(s) = q.get("status") {
        for one in s.split(',').map(str::trim) {
            let status: Status =
                serde_json::from_value(Value::String(one.to_string())).map_err(|_| {
                    bad(format!(
                        "status {one:?} is not one of extracted, needs_review, \
                         unclassified, failed, approved, rejected \
                         (several may be given, comma-separated)"
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
    Ok(Json(RecordsPage {
        records: records_json(&page.records, &history),
        next_cursor: page.next.map(|(at, id)| encode_cursor(at, id)),
    }))
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

/// One record with its history, as the API gives it.
pub async fn record_json(app: &App, r: &StoredRecord) -> ApiResult<RecordOut> {
    let history = app
        .db
        .history_of(&[r.id])
        .await
        .map_err(ApiError::internal)?;
    Ok(records_json(std::slice::from_ref(r), &history).remove(0))
}

/// One record
///
/// One record, with every value its fields have had.
#[utoipa::path(
    get,
    path = "/api/v1/records/{id}",
    operation_id = "getRecord",
    tag = "records",
    params(("id" = Uuid, Path, description = "The record id.")),
    responses(
        (status = 200, description = "The record.", body = RecordOut),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn get_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RecordOut>> {
    let r = find_record(&app, &id).await?;
    if caller.actor.kind == ActorKind::Person {
        app.db
            .audit(&AuditEntry::new(&caller.actor, "record.view").on("record", r.id))
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(Json(record_json(&app, &r).await?))
}

/// A review action's body: the version it is based on, and any
/// corrections.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Change {
    /// The record's version the change is based on.
    version: i64,
    /// Corrections by field name: text as written (dates as DD MM YYYY or
    /// ISO), `true`/`false` for tick boxes and signatures, an option key for
    /// a choice, `null` for blank.
    #[serde(default)]
    #[schema(value_type = Object)]
    fields: serde_json::Map<String, Value>,
    /// Fields whose values break a rule but are what the paper says: kept,
    /// flagged `invalid`.
    #[serde(default)]
    confirm: Vec<String>,
    /// For a rejection, why, in the caseworker's words (kept on the record,
    /// not in events or the audit log).
    #[serde(default)]
    reason: Option<String>,
}

/// A field whose new value breaks a rule of the form.
#[derive(Debug, Serialize, ToSchema)]
struct FieldProblem {
    /// The field's name in the template.
    field: String,
    /// Its label on the form.
    label: String,
    /// What is wrong, a sentence each.
    messages: Vec<String>,
}

/// Nothing was changed: each value that breaks a rule of the form is
/// listed in `problems` with why.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Problems {
    /// The error answer.
    #[serde(flatten)]
    problem: crate::error::Problem,
    /// Each field that breaks a rule.
    problems: Vec<FieldProblem>,
}

/// Nothing was changed: a value breaks a rule of the form (each listed in
/// `problems` with why), or the request is not valid.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotChanged(#[allow(dead_code)] Problems);

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
            .map(|p| FieldProblem {
                field: p.field.clone(),
                label: p.label.clone(),
                messages: p.messages.clone(),
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    ApiError::unprocessable(format!(
        "{n} field(s) break a rule of the form, so nothing was changed: \
         correct them, or name them in \"confirm\" if they are what the paper says"
    ))
    .with("problems", list)
}

async fn review(
    app: &App,
    caller: &Caller,
    id: &str,
    body: Result<Json<Change>, JsonRejection>,
    ask: fn(Option<String>) -> Ask,
) -> ApiResult<Json<RecordOut>> {
    let Json(change) = body.map_err(|e| {
        ApiError::unprocessable(format!(
            "send JSON like {{\"version\": 3, \
             \"fields\": {{\"surname\": \"SMITH\"}}, \"confirm\": []}}: {}",
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

/// Correct fields
///
/// Correct fields of a record, checked by the same normaliser and rules as
/// extraction. A value that breaks a rule is refused (422, with why)
/// unless named in `confirm`. Refused with 409 when the version is stale,
/// another caseworker holds the document, or the record is already
/// approved or rejected. Each changed value is added to the history.
#[utoipa::path(
    patch,
    path = "/api/v1/records/{id}",
    operation_id = "correctRecord",
    tag = "review",
    params(("id" = Uuid, Path, description = "The record id.")),
    request_body = Change,
    responses(
        (status = 200, description = "The record as it now is.", body = RecordOut),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, response = NotChanged),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn patch_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> ApiResult<Json<RecordOut>> {
    review(&app, &caller, &id, body, |_| Ask::Save).await
}

/// Approve a record
///
/// Approve a record, with any last corrections: it becomes `approved`,
/// with `reviewed_by` and `reviewed_at`, the engine's doubts on its fields
/// are cleared, and `record.approved` is published on the events exchange.
/// A value that breaks a rule must be corrected or named in `confirm`.
#[utoipa::path(
    post,
    path = "/api/v1/records/{id}/approve",
    operation_id = "approveRecord",
    tag = "review",
    params(("id" = Uuid, Path, description = "The record id.")),
    request_body = Change,
    responses(
        (status = 200, description = "The record as it now is.", body = RecordOut),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, response = NotChanged),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn approve_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> ApiResult<Json<RecordOut>> {
    review(&app, &caller, &id, body, |_| Ask::Approve).await
}

/// Reject a record
///
/// Reject a record with a reason: it becomes `rejected`, and
/// `record.rejected` is published on the events exchange.
#[utoipa::path(
    post,
    path = "/api/v1/records/{id}/reject",
    operation_id = "rejectRecord",
    tag = "review",
    params(("id" = Uuid, Path, description = "The record id.")),
    request_body = Change,
    responses(
        (status = 200, description = "The record as it now is.", body = RecordOut),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, response = NotChanged),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn reject_record(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> ApiResult<Json<RecordOut>> {
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
