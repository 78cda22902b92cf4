//! The review page, `GET /review/documents/{id}`: one record of a document
//! at a time (a stack gives several; they are listed above it), every
//! field of the form with the crop of the paper where it was read, flagged
//! fields first, the first of them focused. One HTML form; each field's
//! input is named after the template's field; hidden inputs carry the
//! record, its version and the CSRF token; the buttons are `action` =
//! `approve`, `save` or `reject` (with a `reason`), and for a page of no
//! known form, `classify` (with `form_page`).
//!
//! Opening the page takes the document's lease; while another caseworker
//! holds it the page is read-only and a save is refused (`409`). The lease
//! is renewed by `POST .../lease` (the page's script does so while the
//! caseworker works, and warns before it runs out) and given back by
//! `POST .../release`. Crops come from `GET .../fields/{record}/{field}.png`,
//! whole pages from `GET .../pages/{n}.png`.

use super::filters;
use super::queue::{form_title, when};
use super::{render_status, see_other, Layout};
use crate::auth::Caller;
use crate::crops::{png, pose_of, CROP_MARGIN_MM, DRAW_DPI};
use crate::error::{ApiError, ApiResult};
use crate::review::{act, as_typed, label, refused, Ask, Done, Problem};
use crate::routes::documents::{document_row, page_png};
use crate::routes::parse_id;
use crate::App;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use formflow_extract::crop::field_crop;
use formflow_extract::review::{explain, Typed};
use formflow_schemas::{FieldSpec, FieldType, Flag, Status, StoredRecord, Template as Form_};
use formflow_service::db::{
    AuditEntry, ChangeRefused, DocumentRow, LeaseOutcome, RecordChange, Reread, ReviewAction,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/review/documents/{id}", get(show).post(submit))
        .route("/review/documents/{id}/lease", post(renew))
        .route("/review/documents/{id}/release", post(release))
        .route("/review/documents/{id}/fields/{record}/{file}", get(crop))
        .route("/review/documents/{id}/pages/{file}", get(page_image))
}

struct OptionView {
    key: String,
    label: String,
    checked: bool,
}

struct FieldView {
    name: String,
    label: String,
    /// text, checkbox, signature or choice.
    kind: &'static str,
    value: String,
    checked: bool,
    options: Vec<OptionView>,
    any_checked: bool,
    crop: String,
    /// The engine's doubts and the rules broken, in words.
    hints: Vec<String>,
    /// Why the value typed was refused.
    errors: Vec<String>,
    /// Offer "this is what the paper says".
    confirmable: bool,
    confirmed: bool,
    width: &'static str,
    inputmode: &'static str,
    autofocus: bool,
}

struct RecordLink {
    href: String,
    text: String,
    status: String,
    current: bool,
}

struct RecordView {
    id: Uuid,
    version: i64,
    title: String,
    pages: String,
    status: String,
    /// fields, unclassified or closed.
    mode: &'static str,
    flagged: Vec<FieldView>,
    others: Vec<FieldView>,
    /// For a page of no known form: each form page it may be.
    form_pages: Vec<(String, String)>,
    page_images: Vec<(u32, String)>,
    reviewed: Option<String>,
    reject_reason: String,
}

struct LeaseView {
    mine: bool,
    holder: String,
    until_iso: String,
    until_text: String,
}

#[derive(Template)]
#[template(path = "review_document.html")]
struct ReviewPage {
    layout: Layout,
    doc_id: Uuid,
    source: String,
    records: Vec<RecordLink>,
    record: Option<RecordView>,
    lease: Option<LeaseView>,
    problems: Vec<Problem>,
    reason_error: Option<String>,
    conflict: Option<String>,
    banner: Option<String>,
}

/// What the caseworker sent, to show back when it was refused.
#[derive(Default)]
struct Sent {
    values: HashMap<String, String>,
    ticked: HashSet<String>,
    confirmed: HashSet<String>,
    reason: String,
    full: bool,
}

fn width(kind: FieldType) -> (&'static str, &'static str) {
    match kind {
        FieldType::Date | FieldType::NiNumber | FieldType::Postcode | FieldType::Money => {
            ("govuk-input--width-10", "text")
        }
        FieldType::Integer => ("govuk-input--width-4", "numeric"),
        FieldType::Phone => ("govuk-input--width-20", "tel"),
        FieldType::Email => ("govuk-!-width-full", "email"),
        _ => ("govuk-!-width-full", "text"),
    }
}

fn option_label(key: &str) -> String {
    let s = key.replace('_', " ");
    if s.len() <= 3 {
        return s.to_uppercase();
    }
    super::sentence(&s)
}

fn field_view(
    app: &App,
    doc: Uuid,
    r: &StoredRecord,
    spec: &FieldSpec,
    sent: &Sent,
    problems: &[Problem],
) -> FieldView {
    let current = r.record.field(&spec.name);
    let value = current.map_or(&Value::Null, |f| &f.value);
    let flags: Vec<Flag> = current.map(|f| f.flags.clone()).unwrap_or_default();
    let ctx = app.engine.context();
    let mut hints = Vec::new();
    if let Some(note) = current.and_then(|f| f.note.as_deref()) {
        hints.push(note.to_string());
    }
    for h in explain(spec, value, &flags, &ctx) {
        if !hints.contains(&h) {
            hints.push(h);
        }
    }
    if !flags.is_empty() {
        if let Some(c) = current {
            hints.push(format!("confidence {:.0}%", c.confidence * 100.0));
        }
    }
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| p.field == spec.name)
        .flat_map(|p| p.messages.clone())
        .collect();
    let (w, inputmode) = width(spec.kind);
    let shown_value = if sent.full {
        sent.values.get(&spec.name).cloned().unwrap_or_default()
    } else {
        as_typed(spec, value)
    };
    let checked = if sent.full {
        sent.ticked.contains(&spec.name)
    } else {
        value.as_bool().unwrap_or(false)
    };
    let chosen = if sent.full {
        sent.values.get(&spec.name).cloned()
    } else {
        value.as_str().map(str::to_string)
    };
    let kind = match spec.kind {
        FieldType::Checkbox => "checkbox",
        FieldType::Signature => "signature",
        FieldType::Choice => "choice",
        _ => "text",
    };
    let options: Vec<OptionView> = spec
        .options
        .iter()
        .flatten()
        .map(|(k, _)| OptionView {
            key: k.clone(),
            label: option_label(k),
            checked: chosen.as_deref() == Some(k.as_str()),
        })
        .collect();
    FieldView {
        name: spec.name.clone(),
        label: label(spec),
        kind,
        value: shown_value,
        checked,
        any_checked: options.iter().any(|o| o.checked),
        options,
        crop: format!("/review/documents/{doc}/fields/{}/{}.png", r.id, spec.name),
        hints,
        confirmable: !errors.is_empty()
            || (flags.contains(&Flag::Invalid) || flags.contains(&Flag::MissingRequired)),
        confirmed: sent.confirmed.contains(&spec.name)
            || current.and_then(|f| f.note.as_deref()) == Some(crate::review::CONFIRMED),
        errors,
        width: w,
        inputmode,
        autofocus: false,
    }
}

fn status_words(s: Status) -> &'static str {
    match s {
        Status::Extracted => "read with no doubt",
        Status::NeedsReview => "to review",
        Status::Unclassified => "form not known",
        Status::Failed => "could not be read",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
    }
}

fn record_view(
    app: &App,
    doc: &DocumentRow,
    r: &StoredRecord,
    sent: &Sent,
    problems: &[Problem],
) -> RecordView {
    let template = r
        .record
        .form
        .as_deref()
        .and_then(|f| app.engine.templates().get(f));
    let closed = matches!(
        r.record.status,
        Status::Approved | Status::Rejected | Status::Failed
    );
    let mode = match (closed, r.record.status, template) {
        (true, _, _) => "closed",
        (false, Status::Unclassified, _) | (false, _, None) => "unclassified",
        _ => "fields",
    };
    let (mut flagged, mut others) = (Vec::new(), Vec::new());
    if let Some(t) = template {
        for spec in &t.fields {
            let v = field_view(app, doc.id, r, spec, sent, problems);
            let is_flagged = r
                .record
                .field(&spec.name)
                .is_some_and(|f| !f.flags.is_empty())
                || !v.errors.is_empty();
            if is_flagged {
                flagged.push(v);
            } else {
                others.push(v);
            }
        }
    }
    // The first field with a problem, else the first flagged one, has focus.
    if let Some(f) = flagged.iter_mut().find(|f| !f.errors.is_empty()) {
        f.autofocus = true;
    } else if let Some(f) = flagged.first_mut().or(others.first_mut()) {
        f.autofocus = true;
    }
    let form_pages = app
        .engine
        .templates()
        .all()
        .iter()
        .flat_map(|t: &Form_| {
            (1..=t.pages).map(move |p| {
                (
                    format!("{}:{p}", t.form),
                    format!("{} ({}), page {p} of {}", t.title, t.code, t.pages),
                )
            })
        })
        .collect();
    let reviewed = match (r.record.status, &r.reviewed_by, r.reviewed_at) {
        (Status::Approved | Status::Rejected, Some(by), Some(at)) => Some(format!(
            "{} by {by}, {}",
            status_words(r.record.status),
            when(at)
        )),
        _ => None,
    };
    RecordView {
        id: r.id,
        version: r.version,
        title: form_title(app, r.record.form.as_deref()),
        pages: r
            .record
            .pages
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        status: status_words(r.record.status).to_string(),
        mode,
        flagged,
        others,
        form_pages,
        page_images: r
            .record
            .pages
            .iter()
            .map(|n| (*n, format!("/review/documents/{}/pages/{n}.png", doc.id)))
            .collect(),
        reviewed: reviewed.map(|s| super::sentence(&s)),
        reject_reason: if sent.reason.is_empty() {
            r.reject_reason.clone().unwrap_or_default()
        } else {
            sent.reason.clone()
        },
    }
}

/// Which record to show: the one asked for, else the first still waiting,
/// else the first.
fn pick(records: &[StoredRecord], asked: Option<Uuid>) -> Option<&StoredRecord> {
    asked
        .and_then(|id| records.iter().find(|r| r.id == id))
        .or_else(|| {
            records
                .iter()
                .find(|r| matches!(r.record.status, Status::NeedsReview | Status::Unclassified))
        })
        .or(records.first())
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    record: Option<String>,
    done: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn page(
    app: &App,
    caller: &Caller,
    doc: &DocumentRow,
    asked: Option<Uuid>,
    sent: &Sent,
    problems: Vec<Problem>,
    reason_error: Option<String>,
    conflict: Option<String>,
    banner: Option<String>,
    status: StatusCode,
) -> ApiResult<Response> {
    let read_as = doc.duplicate_of.unwrap_or(doc.id);
    let records = app
        .db
        .records_of(read_as)
        .await
        .map_err(ApiError::internal)?;
    let current = pick(&records, asked);
    // Opening a document that waits for review takes its lease.
    let lease = match (caller.actor.user_id, doc.status().awaits_review()) {
        (Some(user), true) => match app
            .db
            .take_lease(doc.id, user, app.lease_until())
            .await
            .map_err(ApiError::internal)?
        {
            LeaseOutcome::Taken(until) => Some(LeaseView {
                mine: true,
                holder: caller.actor.name.clone(),
                until_iso: until.to_rfc3339(),
                until_text: until.format("%H:%M UTC").to_string(),
            }),
            LeaseOutcome::HeldBy(l) => Some(LeaseView {
                mine: false,
                holder: l.user_name,
                until_iso: l.until.to_rfc3339(),
                until_text: l.until.format("%H:%M UTC").to_string(),
            }),
            LeaseOutcome::Missing => None,
        },
        _ => None,
    };
    app.db
        .audit(
            &AuditEntry::new(&caller.actor, "review.view")
                .on("document", doc.id)
                .detail(json!({ "record": current.map(|r| r.id) })),
        )
        .await
        .map_err(ApiError::internal)?;
    let links = records
        .iter()
        .enumerate()
        .map(|(i, r)| RecordLink {
            href: format!("/review/documents/{}?record={}", doc.id, r.id),
            text: format!(
                "{}. {}, page{} {}",
                i + 1,
                form_title(app, r.record.form.as_deref()),
                if r.record.pages.len() == 1 { "" } else { "s" },
                r.record
                    .pages
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            status: status_words(r.record.status).to_string(),
            current: current.is_some_and(|c| c.id == r.id),
        })
        .collect();
    let p = ReviewPage {
        layout: Layout::new(format!("Review {}", doc.source), Some(caller), "/review"),
        doc_id: doc.id,
        source: doc.source.clone(),
        records: links,
        record: current.map(|r| record_view(app, doc, r, sent, &problems)),
        lease,
        problems,
        reason_error,
        conflict,
        banner,
    };
    render_status(status, &p)
}

async fn show(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> ApiResult<Response> {
    let doc = document_row(&app, &id).await?;
    let asked = q.record.as_deref().and_then(|r| Uuid::parse_str(r).ok());
    let banner = match q.done.as_deref() {
        Some("saved") => {
            Some("Your corrections are saved. The record still waits for approval.".to_string())
        }
        Some("approved") => {
            Some("The record was approved. Here is the next one in this file.".to_string())
        }
        Some("rejected") => {
            Some("The record was rejected. Here is the next one in this file.".to_string())
        }
        Some("reread") => {
            Some("The page was read again as the form you chose. Check its fields.".to_string())
        }
        _ => None,
    };
    page(
        &app,
        &caller,
        &doc,
        asked,
        &Sent::default(),
        Vec::new(),
        None,
        None,
        banner,
        StatusCode::OK,
    )
    .await
}

/// The form as sent: every name with its values, in order.
type Pairs = Vec<(String, String)>;

fn one<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn sent_of(pairs: &Pairs) -> Sent {
    let mut s = Sent {
        full: true,
        ..Default::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "confirm" => {
                s.confirmed.insert(v.clone());
            }
            "reason" => s.reason = v.clone(),
            _ => {
                if v == "true" {
                    s.ticked.insert(k.clone());
                }
                // A ticked box sends its hidden "false", then "true".
                if !(v == "false" && s.ticked.contains(k)) {
                    s.values.insert(k.clone(), v.clone());
                }
            }
        }
    }
    s
}

/// What the form says of each field of the template.
fn typed_of(t: &Form_, sent: &Sent) -> HashMap<String, Typed> {
    let mut out = HashMap::new();
    for spec in &t.fields {
        // A field the form did not carry is left as it is: a tick box
        // carries a hidden "false" before it, so that unticking it shows.
        let Some(v) = sent.values.get(&spec.name) else {
            continue;
        };
        let typed = match spec.kind {
            FieldType::Checkbox | FieldType::Signature => {
                Typed::Mark(sent.ticked.contains(&spec.name))
            }
            FieldType::Choice => Typed::Choice(Some(v.clone()).filter(|v| !v.is_empty())),
            _ => Typed::Text(v.clone()),
        };
        out.insert(spec.name.clone(), typed);
    }
    out
}

async fn submit(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(pairs): Form<Pairs>,
) -> ApiResult<Response> {
    let doc = document_row(&app, &id).await?;
    if caller.actor.user_id.is_none() {
        return Err(ApiError::forbidden(
            "the review pages are for people who sign in",
        ));
    }
    let action = one(&pairs, "action").unwrap_or("save").to_string();
    if action == "release" {
        return release_doc(&app, &caller, &doc).await;
    }
    let record_id = one(&pairs, "record")
        .and_then(|r| Uuid::parse_str(r).ok())
        .ok_or_else(|| ApiError::unprocessable("the form names no record: reload the page"))?;
    let version: i64 = one(&pairs, "version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::unprocessable("the form names no version: reload the page"))?;
    let read_as = doc.duplicate_of.unwrap_or(doc.id);
    let records = app
        .db
        .records_of(read_as)
        .await
        .map_err(ApiError::internal)?;
    let record = records
        .iter()
        .find(|r| r.id == record_id)
        .ok_or_else(|| ApiError::not_found("this document has no such record"))?;
    let sent = sent_of(&pairs);
    let lease = Some(app.lease_until());
    let outcome = match action.as_str() {
        "approve" | "save" => {
            let template = record
                .record
                .form
                .as_deref()
                .and_then(|f| app.engine.templates().get(f));
            let typed = template.map(|t| typed_of(t, &sent)).unwrap_or_default();
            let ask = if action == "approve" {
                Ask::Approve
            } else {
                Ask::Save
            };
            act(
                &app,
                &caller,
                record,
                version,
                &typed,
                &sent.confirmed,
                ask,
                lease,
            )
            .await
        }
        "reject" => {
            if sent.reason.trim().is_empty() {
                let why = "say why the record is rejected".to_string();
                return page(
                    &app,
                    &caller,
                    &doc,
                    Some(record.id),
                    &sent,
                    Vec::new(),
                    Some(why),
                    None,
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
            act(
                &app,
                &caller,
                record,
                version,
                &HashMap::new(),
                &HashSet::new(),
                Ask::Reject(sent.reason.clone()),
                lease,
            )
            .await
        }
        "classify" => {
            classify(
                &app,
                &caller,
                &doc,
                record,
                version,
                one(&pairs, "form_page").unwrap_or(""),
            )
            .await
        }
        other => {
            return Err(ApiError::unprocessable(format!(
                "{other:?} is not an action: use approve, save, reject or classify"
            )))
        }
    };
    match outcome {
        Ok(Done::Changed(r)) => Ok(after(&app, &doc, &r, &action).await?),
        Ok(Done::Problems(problems)) => {
            page(
                &app,
                &caller,
                &doc,
                Some(record.id),
                &sent,
                problems,
                None,
                None,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        // Somebody else got there first, or the page cannot be read as the
        // form chosen: said on the page, with what was typed kept.
        Err(e)
            if matches!(
                e.status,
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
            ) =>
        {
            page(
                &app,
                &caller,
                &doc,
                Some(record.id),
                &sent,
                Vec::new(),
                None,
                Some(e.detail.clone()),
                None,
                e.status,
            )
            .await
        }
        Err(e) => Err(e),
    }
}

/// Where a caseworker goes after an action: the same record after a save,
/// the next waiting record of the file after an approval or rejection, the
/// queue when the file is done.
async fn after(
    app: &App,
    doc: &DocumentRow,
    r: &StoredRecord,
    action: &str,
) -> ApiResult<Response> {
    let here = format!("/review/documents/{}", doc.id);
    match action {
        "save" => Ok(see_other(&format!("{here}?record={}&done=saved", r.id))),
        "classify" => Ok(see_other(&format!("{here}?record={}&done=reread", r.id))),
        _ => {
            let done = if r.record.status == Status::Rejected {
                "rejected"
            } else {
                "approved"
            };
            let read_as = doc.duplicate_of.unwrap_or(doc.id);
            let records = app
                .db
                .records_of(read_as)
                .await
                .map_err(ApiError::internal)?;
            match records
                .iter()
                .find(|x| matches!(x.record.status, Status::NeedsReview | Status::Unclassified))
            {
                Some(next) => Ok(see_other(&format!("{here}?record={}&done={done}", next.id))),
                None => Ok(see_other(&format!("/review?done={done}"))),
            }
        }
    }
}

/// Reads an unclassified page again as the form page the caseworker chose
/// (`form:page`), or rejects it as none of ours (`none`).
async fn classify(
    app: &App,
    caller: &Caller,
    doc: &DocumentRow,
    record: &StoredRecord,
    version: i64,
    choice: &str,
) -> ApiResult<Done> {
    let lease = Some(app.lease_until());
    if choice == "none" {
        let reason = "not one of our forms".to_string();
        return act(
            app,
            caller,
            record,
            version,
            &HashMap::new(),
            &HashSet::new(),
            Ask::Reject(reason),
            lease,
        )
        .await;
    }
    let (form, form_page) = choice
        .split_once(':')
        .and_then(|(f, p)| Some((f.to_string(), p.parse::<u32>().ok()?)))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "choose which form and page this is, or that it is not one of our forms",
            )
        })?;
    if record.record.status != Status::Unclassified {
        return Err(refused(ChangeRefused::NotApplicable(record.record.status)));
    }
    let Some(&number) = record.record.pages.first() else {
        return Err(ApiError::unprocessable("this record has no page to read"));
    };
    let scan = app.crops.page(app, &doc.sha256, number).await?;
    let source = doc.source.clone();
    let (f2, fp2) = (form.clone(), form_page);
    let read = app
        .crops
        .with_ocr(move |w| {
            let result = w.read_page_as(&scan, &f2, fp2)?;
            let pose = result.pose.and_then(|p| serde_json::to_value(p).ok());
            let records = w.records(&source, vec![result]);
            Ok::<_, formflow_extract::ExtractError>((records, pose))
        })
        .await?;
    let (mut records, pose) = read.map_err(|e| {
        if e.is_transient() {
            ApiError::internal(e)
        } else {
            ApiError::unprocessable(e.to_string())
        }
    })?;
    let new = records
        .pop()
        .ok_or_else(|| ApiError::unprocessable("the page gave no record"))?;
    let placed = [(number, form_page, pose)];
    let pages = [number];
    let change = RecordChange {
        record_id: record.id,
        version,
        actor: &caller.actor,
        action: ReviewAction::Reread,
        fields: &new.fields,
        notes: &HashMap::new(),
        reread: Some(Reread {
            form: &form,
            pages: &pages,
            placed: &placed,
        }),
        lease_until: lease,
    };
    let changed = app
        .db
        .change_record(&change)
        .await
        .map_err(ApiError::internal)?;
    changed.map(|r| Done::Changed(Box::new(r))).map_err(refused)
}

async fn renew(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id, "document")?;
    let user = caller
        .actor
        .user_id
        .ok_or_else(|| ApiError::forbidden("leases are held by people who sign in"))?;
    match app
        .db
        .take_lease(id, user, app.lease_until())
        .await
        .map_err(ApiError::internal)?
    {
        LeaseOutcome::Taken(until) => {
            Ok(Json(json!({ "until": until, "held_by": caller.actor.name })).into_response())
        }
        LeaseOutcome::HeldBy(l) => Err(ApiError::conflict(format!(
            "{} is reviewing this document until {}",
            l.user_name,
            l.until.format("%H:%M UTC")
        ))
        .with("held_by", l.user_name)),
        LeaseOutcome::Missing => Err(ApiError::not_found(format!("there is no document {id}"))),
    }
}

async fn release_doc(app: &App, caller: &Caller, doc: &DocumentRow) -> ApiResult<Response> {
    if let Some(user) = caller.actor.user_id {
        app.db
            .release_lease(doc.id, user)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(see_other("/review?done=released"))
}

async fn release(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let doc = document_row(&app, &id).await?;
    release_doc(&app, &caller, &doc).await
}

async fn crop(
    State(app): State<Arc<App>>,
    Path((id, record, file)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let doc = document_row(&app, &id).await?;
    let record_id = parse_id(&record, "record")?;
    let name = file.strip_suffix(".png").unwrap_or(&file);
    let read_as = doc.duplicate_of.unwrap_or(doc.id);
    let r = app
        .db
        .record(record_id)
        .await
        .map_err(ApiError::internal)?
        .filter(|r| r.document_id == read_as)
        .ok_or_else(|| ApiError::not_found("this document has no such record"))?;
    let spec = r
        .record
        .form
        .as_deref()
        .and_then(|f| app.engine.templates().get(f))
        .and_then(|t| t.field(name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("this record has no field {name:?}")))?;
    let placed = app
        .db
        .pages_of(read_as)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .find(|p| p.record_id == Some(r.id) && p.form_page == Some(spec.page as i32))
        .ok_or_else(|| ApiError::not_found("the page this field is on is missing from the file"))?;
    let pose = pose_of(placed.pose.as_ref().map(|j| &j.0)).ok_or_else(|| {
        ApiError::not_found(
            "this page was read before crops were kept: open the whole page instead",
        )
    })?;
    let scan = app
        .crops
        .page(&app, &doc.sha256, placed.number as u32)
        .await?;
    let area = spec.box_mm.grow(CROP_MARGIN_MM);
    let img = app
        .crops
        .blocking(move || field_crop(&scan.image, &pose, area, DRAW_DPI))
        .await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png(&img)?).into_response())
}

async fn page_image(
    State(app): State<Arc<App>>,
    Path((id, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let doc = document_row(&app, &id).await?;
    let bytes = page_png(&app, &doc, &file).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_keys_read_as_labels() {
        assert_eq!(option_label("british"), "British");
        assert_eq!(option_label("eu"), "EU");
        assert_eq!(option_label("commonwealth"), "Commonwealth");
        assert_eq!(option_label("self_employed"), "Self employed");
    }
}
