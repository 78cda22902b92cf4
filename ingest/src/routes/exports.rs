//! `GET /api/v1/exports/{form}.csv`: one form's records as CSV for back
//! offices that live in spreadsheets: one row a record, one column a field
//! in the template's order, streamed a page of records at a time so that a
//! large export holds little memory.
//!
//! A cell a spreadsheet would run as a formula (starting `=`, `@`, or `+`
//! or `-` not followed by a digit) is prefixed with `'`, as OWASP advises;
//! telephone numbers like `+44 20 7946 0000` are left alone.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Utc};
use formflow_schemas::{Status, StoredRecord, Template};
use formflow_service::db::{AuditEntry, RecordFilter};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Records fetched for each chunk of the stream.
const CHUNK: u32 = 500;

/// The routes.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(export))
}

/// The header row: the record's ids and status, then every field.
pub fn header_row(t: &Template) -> Vec<String> {
    let mut h: Vec<String> = [
        "record_id",
        "document_id",
        "batch_id",
        "source",
        "pages",
        "status",
        "version",
        "reviewed_by",
        "reviewed_at",
        "updated_at",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(t.fields.iter().map(|f| f.name.clone()));
    h
}

/// A cell that no spreadsheet runs as a formula.
pub fn safe_cell(s: String) -> String {
    let mut chars = s.chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars.next().is_some_and(|c| c.is_ascii_digit() || c == ' '),
        _ => false,
    };
    if risky {
        format!("'{s}")
    } else {
        s
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => safe_cell(s.clone()),
        Some(other) => other.to_string(),
    }
}

/// One record's row.
pub fn row(t: &Template, r: &StoredRecord) -> Vec<String> {
    let pages: Vec<String> = r.record.pages.iter().map(u32::to_string).collect();
    let mut out = vec![
        r.id.to_string(),
        r.document_id.to_string(),
        r.batch_id.to_string(),
        safe_cell(r.record.source.clone()),
        pages.join(" "),
        r.record.status.as_str().to_string(),
        r.version.to_string(),
        safe_cell(r.reviewed_by.clone().unwrap_or_default()),
        r.reviewed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        r.updated_at.to_rfc3339(),
    ];
    out.extend(
        t.fields
            .iter()
            .map(|f| cell(r.record.field(&f.name).map(|x| &x.value))),
    );
    out
}

fn csv_bytes(rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        // Writing to memory cannot fail.
        let _ = w.write_record(&r);
    }
    w.into_inner().unwrap_or_default()
}

/// An export's query parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ExportQuery {
    /// Record statuses to include, comma-separated (`extracted,approved` if
    /// not given).
    status: Option<String>,
    /// Only records changed at or after this time.
    since: Option<DateTime<Utc>>,
}

/// Export a form's records as CSV
///
/// Export a form's records as CSV: one row a record, one column a field in
/// the template's order, after the record's ids, status and review;
/// streamed. `file` is the form's key and `.csv`, e.g.
/// `voter-registration.csv`. Cells a spreadsheet would run as formulas are
/// prefixed with `'`.
#[utoipa::path(
    get,
    path = "/api/v1/exports/{file}",
    operation_id = "exportRecords",
    tag = "records",
    params(
        (
            "file" = String,
            Path,
            pattern = "^[A-Za-z0-9_-]+\\.csv$",
            description = "The form key and `.csv`."
        ),
        ExportQuery,
    ),
    responses(
        (status = 200, description = "The CSV.", body = String, content_type = "text/csv"),
        (status = 404, response = crate::openapi::NotFound),
        (status = 422, response = crate::openapi::Invalid),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn export(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let form = file
        .strip_suffix(".csv")
        .ok_or_else(|| ApiError::not_found(format!("exports are CSV files: ask for {file}.csv")))?;
    let template = app
        .engine
        .templates()
        .get(form)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("there is no form {form:?}")))?;
    super::only_params::<ExportQuery>(&q)?;
    let mut statuses = Vec::new();
    for one in q
        .get("status")
        .map_or("extracted,approved", String::as_str)
        .split(',')
        .map(str::trim)
    {
        let s: Status = serde_json::from_value(Value::String(one.to_string())).map_err(|_| {
            ApiError::unprocessable(format!(
                "status {one:?} is not a record status \
                 (extracted, needs_review, approved, rejected, ...)"
            ))
        })?;
        statuses.push(s);
    }
    let since = match q.get("since") {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    ApiError::unprocessable(format!(
                        "since {t:?} must be a date and time like 2026-11-22T09:30:00Z"
                    ))
                })?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let entry = AuditEntry::new(&caller.actor, "export")
        .on("form", form)
        .detail(json!({
            "statuses": statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "since": since,
        }));
    app.db.audit(&entry).await.map_err(ApiError::internal)?;

    let filter = RecordFilter {
        form: Some(form.to_string()),
        statuses,
        updated_since: since,
        limit: CHUNK,
        ..Default::default()
    };
    let head = csv_bytes([header_row(&template)]);
    let template = Arc::new(template);
    // The header, then a chunk of rows per page of records, until none is left.
    let state = (Some(head), Some(filter), app, template);
    let stream = futures_util::stream::unfold(state, |(head, filter, app, t)| async move {
        if let Some(h) = head {
            return Some((Ok::<_, std::io::Error>(h), (None, filter, app, t)));
        }
        let mut f = filter?;
        match app.db.records(&f).await {
            Ok(page) => {
                let bytes = csv_bytes(page.records.iter().map(|r| row(&t, r)));
                let next = page.next.map(|after| {
                    f.after = Some(after);
                    f
                });
                if bytes.is_empty() {
                    return None;
                }
                Some((Ok(bytes), (None, next, app, t)))
            }
            Err(e) => {
                tracing::error!(error = %e, "an export stopped: the database failed");
                Some((
                    Err(std::io::Error::other(
                        "the export stopped: the database failed",
                    )),
                    (None, None, app, t),
                ))
            }
        }
    });
    let mut res = Response::new(Body::from_stream(stream));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{form}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_phone_numbers_kept() {
        assert_eq!(safe_cell("=SUM(A1)".into()), "'=SUM(A1)");
        assert_eq!(safe_cell("@cmd".into()), "'@cmd");
        assert_eq!(safe_cell("-2+3".into()), "-2+3");
        assert_eq!(safe_cell("-x".into()), "'-x");
        assert_eq!(safe_cell("+44 20 7946 0000".into()), "+44 20 7946 0000");
        assert_eq!(safe_cell("SMITH".into()), "SMITH");
        assert_eq!(safe_cell(String::new()), "");
    }

    #[test]
    fn rows_follow_the_template() {
        let t = formflow_schemas::TemplateSet::builtin()
            .get("voter-registration")
            .unwrap()
            .clone();
        let h = header_row(&t);
        assert_eq!(h[10], "surname");
        assert_eq!(h.len(), 10 + t.fields.len());
        let bytes = csv_bytes([vec!["a,b".to_string(), "say \"hi\"".to_string()]]);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\"\n"
        );
    }
}
