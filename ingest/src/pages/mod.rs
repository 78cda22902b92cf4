//! The pages people use, rendered on the server from templates checked at
//! compile time (askama, `ingest/templates/`), styled with GOV.UK Frontend
//! (vendored in `ingest/assets/`, served from `/assets/`). Every form works
//! without JavaScript; `formflow.js` only adds to them (keyboard review,
//! lease warnings, upload progress).
//!
//! Owns the layout every page shares ([`Layout`]: the header, navigation by
//! role, the sign-out form), the rendering of error answers as pages for
//! browsers ([`html_errors`]) and one file a group of pages: [`sign_in`],
//! [`home`], [`queue`] and [`review`] (caseworkers), [`upload`]
//! (uploaders), [`admin`] (people, tokens, the audit log), [`assets`].

pub mod admin;
pub mod assets;
pub mod home;
pub mod queue;
pub mod review;
pub mod sign_in;
pub mod upload;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, PROBLEM_JSON};
use crate::App;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use formflow_schemas::Role;
use std::sync::Arc;

/// The pages' routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .merge(sign_in::router())
        .merge(home::router())
        .merge(queue::router())
        .merge(review::router())
        .merge(upload::router())
        .merge(admin::router())
        .merge(assets::router())
}

/// A link in the service navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub text: &'static str,
    /// Whether it is the page shown.
    pub current: bool,
}

/// What every page's frame needs.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The page's title (before " – formflow").
    pub title: String,
    /// Who is signed in.
    pub user: Option<String>,
    /// Their role.
    pub role: Option<Role>,
    /// The session's CSRF token, for the forms.
    pub csrf: String,
    /// The navigation, by role.
    pub nav: Vec<NavItem>,
}

impl Layout {
    /// The frame of a page for `caller`, with `current` the navigation
    /// item to mark (its href).
    pub fn new(title: impl Into<String>, caller: Option<&Caller>, current: &str) -> Layout {
        let role = caller.map(Caller::role);
        let mut nav = Vec::new();
        let mut add = |href: &'static str, text: &'static str, roles: &[Role]| {
            if role.is_some_and(|r| roles.contains(&r)) {
                nav.push(NavItem {
                    href,
                    text,
                    current: href == current,
                });
            }
        };
        add("/review", "Review", &[Role::Caseworker, Role::Admin]);
        add("/upload", "Upload", &[Role::Uploader, Role::Admin]);
        add("/admin/users", "People", &[Role::Admin]);
        add("/admin/tokens", "Tokens", &[Role::Admin]);
        add("/admin/audit", "Audit log", &[Role::Admin]);
        Layout {
            title: title.into(),
            user: caller.map(|c| c.actor.name.clone()),
            role,
            csrf: caller.map(|c| c.csrf().to_string()).unwrap_or_default(),
            nav,
        }
    }
}

/// A rendered page.
pub fn render(t: &impl Template) -> ApiResult<Response> {
    render_status(StatusCode::OK, t)
}

/// A rendered page with this status.
pub fn render_status(status: StatusCode, t: &impl Template) -> ApiResult<Response> {
    let html = t.render().map_err(ApiError::internal)?;
    Ok((status, Html(html)).into_response())
}

/// A redirect after a form (303: the browser follows with a GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The frame.
    pub layout: Layout,
    /// The status.
    pub status: u16,
    /// What went wrong.
    pub detail: String,
}

/// Renders problem answers to page routes as pages, for browsers: a `401`
/// as the sign-in page (which brings the person back afterwards), any
/// other as an error page with the same status and sentence. API routes
/// keep their problem details.
pub async fn html_errors(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let page_route =
        !path.starts_with("/api/") && !["/metrics", "/healthz", "/readyz"].contains(&path.as_str());
    let caller = req.extensions().get::<Caller>().cloned();
    let res = next.run(req).await;
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|c| c == PROBLEM_JSON);
    if !(wants_html && page_route && is_problem) {
        return res;
    }
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| "something went wrong".into());
    let page = if status == StatusCode::UNAUTHORIZED {
        sign_in::page(&app, &format!("{path}{query}"), "", None, None)
    } else {
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        render_status(
            status,
            &ErrorPage {
                layout: Layout::new(title, caller.as_ref(), ""),
                status: status.as_u16(),
                detail,
            },
        )
    };
    let mut res = page.unwrap_or_else(IntoResponse::into_response);
    *res.status_mut() = status;
    res
}

/// Filters the page templates use, besides askama's own.
#[allow(missing_docs)] // askama's filter_fn generates undocumented items.
pub mod filters {
    /// A sentence as it starts a line: its first letter upper case, the
    /// rest as it is (askama's `capitalize` would lower "NI" to "ni").
    #[askama::filter_fn]
    pub fn sentence<T: std::fmt::Display>(s: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::sentence(&s.to_string()))
    }
}

/// `s` with its first letter upper case.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A value for a header, or none.
pub fn header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|e| e[2..].to_string())
        .unwrap_or_default()
}
