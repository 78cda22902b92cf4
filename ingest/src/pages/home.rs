//! `GET /`: the start page, with what the signed-in person's role can do.

use super::{render, Layout};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use formflow_schemas::Role;
use formflow_service::db::QueueFilter;
use std::sync::Arc;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
    can_review: bool,
    can_upload: bool,
    can_export: bool,
    is_admin: bool,
    waiting: i64,
    forms: Vec<(String, String)>,
}

async fn home(State(app): State<Arc<App>>, caller: Caller) -> ApiResult<Response> {
    let role = caller.role();
    let can_review = matches!(role, Role::Caseworker | Role::Admin);
    let waiting = if can_review {
        let f = QueueFilter {
            limit: 1,
            ..Default::default()
        };
        app.db
            .review_queue(&f)
            .await
            .map_err(ApiError::internal)?
            .1
            .documents
    } else {
        0
    };
    let forms = app
        .engine
        .templates()
        .all()
        .iter()
        .map(|t| (t.form.clone(), format!("{} ({})", t.title, t.code)))
        .collect();
    render(&Home {
        layout: Layout::new("Start", Some(&caller), "/"),
        can_review,
        can_upload: matches!(role, Role::Uploader | Role::Admin),
        can_export: matches!(role, Role::Consumer | Role::Admin),
        is_admin: role == Role::Admin,
        waiting,
        forms,
    })
}
