//! `GET /review`: the documents waiting for a person (fields flagged, or
//! pages of no known form), oldest first, filterable by form and batch,
//! with counts; `POST /review/next` takes the oldest document nobody holds
//! and opens it.

use super::filters;
use super::{encode, render, see_other, Layout};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use formflow_service::db::{QueueFilter, QueueItem};
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/review", get(queue))
        .route("/review/next", post(next))
}

/// Documents listed on the queue page.
const PAGE: u32 = 50;

/// A time as people read it, in UTC.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%-d %b %Y, %H:%M UTC").to_string()
}

struct Row {
    href: String,
    source: String,
    forms: String,
    pages: i32,
    flagged: i64,
    since: String,
    held: Option<String>,
}

#[derive(Template)]
#[template(path = "review_queue.html")]
struct QueuePage {
    layout: Layout,
    rows: Vec<Row>,
    documents: i64,
    leased: i64,
    oldest: Option<String>,
    by_form: Vec<(String, i64)>,
    forms: Vec<(String, String)>,
    form: String,
    batch: String,
    banner: Option<String>,
    error: Option<String>,
}

/// The queue's filter, as the page's form sends it.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    form: String,
    #[serde(default)]
    batch: String,
    #[serde(default)]
    done: String,
}

fn filter_of(f: &Filter) -> Result<QueueFilter, String> {
    let batch = match f.batch.trim() {
        "" => None,
        b => Some(
            Uuid::parse_str(b)
                .map_err(|_| "the batch must be a batch id, like 0193a1b2-...".to_string())?,
        ),
    };
    let form = Some(f.form.trim().to_string()).filter(|s| !s.is_empty());
    Ok(QueueFilter {
        form,
        batch,
        limit: PAGE,
    })
}

/// What a form key is called on the page.
pub fn form_title(app: &App, form: Option<&str>) -> String {
    match form {
        None | Some("unclassified") => "Page of no known form".into(),
        Some(f) => app
            .engine
            .templates()
            .get(f)
            .map_or_else(|| f.to_string(), |t| format!("{} ({})", t.title, t.code)),
    }
}

fn row(app: &App, item: &QueueItem) -> Row {
    let mut forms: Vec<String> = item
        .records
        .iter()
        .map(|r| form_title(app, r.form.as_deref()))
        .collect();
    forms.dedup();
    Row {
        href: format!("/review/documents/{}", item.document_id),
        source: item.source.clone(),
        forms: forms.join(", "),
        pages: item.page_count,
        flagged: item.records.iter().map(|r| r.flagged).sum(),
        since: when(item.created_at),
        held: item
            .lease
            .as_ref()
            .map(|l| format!("{} until {}", l.user_name, l.until.format("%H:%M UTC"))),
    }
}

fn banner(done: &str) -> Option<String> {
    Some(
        match done {
            "approved" => "The record was approved, and the document is done.",
            "rejected" => "The record was rejected, and the document is done.",
            "released" => "The document is back in the queue for someone else.",
            "empty" => "No document is waiting that somebody else is not already reviewing.",
            _ => return None,
        }
        .to_string(),
    )
}

async fn queue(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(f): Query<Filter>,
) -> ApiResult<Response> {
    let layout = Layout::new("Review", Some(&caller), "/review");
    let forms: Vec<(String, String)> = app
        .engine
        .templates()
        .all()
        .iter()
        .map(|t| (t.form.clone(), format!("{} ({})", t.title, t.code)))
        .chain(std::iter::once((
            "unclassified".to_string(),
            "Pages of no known form".to_string(),
        )))
        .collect();
    let (filter, error) = match filter_of(&f) {
        Ok(q) => (q, None),
        Err(e) => (
            QueueFilter {
                limit: PAGE,
                ..Default::default()
            },
            Some(e),
        ),
    };
    let (items, counts) = app
        .db
        .review_queue(&filter)
        .await
        .map_err(ApiError::internal)?;
    let by_form = counts
        .by_form
        .iter()
        .map(|(k, n)| (form_title(&app, Some(k)), *n))
        .collect();
    render(&QueuePage {
        layout,
        rows: items.iter().map(|i| row(&app, i)).collect(),
        documents: counts.documents,
        leased: counts.leased,
        oldest: counts.oldest.map(when),
        by_form,
        forms,
        form: f.form.clone(),
        batch: f.batch.clone(),
        banner: banner(&f.done),
        error,
    })
}

async fn next(
    State(app): State<Arc<App>>,
    caller: Caller,
    Form(f): Form<Filter>,
) -> ApiResult<Response> {
    let user = caller
        .actor
        .user_id
        .ok_or_else(|| ApiError::forbidden("the review pages are for people who sign in"))?;
    let filter = filter_of(&f).map_err(ApiError::unprocessable)?;
    match app
        .db
        .take_next(user, &filter, app.lease_until())
        .await
        .map_err(ApiError::internal)?
    {
        Some(id) => Ok(see_other(&format!("/review/documents/{id}"))),
        None => Ok(see_other(&format!(
            "/review?done=empty&form={}&batch={}",
            encode(&f.form),
            encode(&f.batch)
        ))),
    }
}
