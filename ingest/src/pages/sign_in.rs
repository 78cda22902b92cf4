//! `GET /sign-in` and `POST /sign-in` (form fields `username` and
//! `password`), `POST /sign-out`.
//!
//! The sign-in form is protected from cross-site posting before anyone is
//! signed in by a token in a short-lived cookie that the form repeats.

use super::filters;
use super::{header_value, render_status, see_other, Layout};
use crate::auth::session::{self, cookie_value, set_cookie, SignIn, SIGN_IN_COOKIE};
use crate::auth::{same, Caller, ClientAddr};
use crate::error::{ApiError, ApiResult};
use crate::App;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use formflow_service::access::random_hex;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/sign-in", get(show).post(submit))
        .route("/sign-out", post(sign_out))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    next: String,
    username: String,
    error: Option<String>,
    token: String,
}

/// Where a person may be sent after signing in: a path of this service.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n']);
    if local && !next.starts_with("/sign-in") && !next.starts_with("/sign-out") {
        next
    } else {
        "/"
    }
}

/// The sign-in page, with its form token set in a cookie (a new one unless
/// `token` is given).
pub fn page(
    app: &App,
    next: &str,
    username: &str,
    error: Option<&str>,
    token: Option<String>,
) -> ApiResult<Response> {
    let token = match token {
        Some(t) => t,
        None => random_hex(16).map_err(ApiError::internal)?,
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let p = SignInPage {
        layout: Layout::new("Sign in", None, ""),
        next: safe_next(next).to_string(),
        username: username.to_string(),
        error: error.map(str::to_string),
        token: token.clone(),
    };
    let mut res = render_status(status, &p)?;
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        &token,
        "/sign-in",
        Some(Duration::from_secs(3600)),
        app.auth.secure_cookies,
    );
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn show(State(app): State<Arc<App>>, Query(q): Query<NextQuery>) -> ApiResult<Response> {
    page(&app, q.next.as_deref().unwrap_or("/"), "", None, None)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

async fn submit(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> ApiResult<Response> {
    let expected = cookie_value(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(f.csrf.as_bytes(), expected.as_bytes()) {
        return page(
            &app,
            &f.next,
            &f.username,
            Some("the sign-in form had expired: try again"),
            None,
        );
    }
    if f.username.trim().is_empty() || f.password.is_empty() {
        return page(
            &app,
            &f.next,
            &f.username,
            Some("enter your name and your password"),
            Some(expected),
        );
    }
    let old = cookie_value(&headers, app.auth.cookie_name());
    match session::sign_in(&app, &f.username, &f.password, old.as_deref(), &client).await? {
        SignIn::Started { cookie, .. } => {
            let mut res = see_other(safe_next(&f.next));
            res.headers_mut().append(header::SET_COOKIE, cookie);
            res.headers_mut().append(
                header::SET_COOKIE,
                session::clear_cookie(SIGN_IN_COOKIE, "/sign-in", app.auth.secure_cookies),
            );
            Ok(res)
        }
        SignIn::Refused(why) => page(&app, &f.next, &f.username, Some(&why), Some(expected)),
    }
}

async fn sign_out(State(app): State<Arc<App>>, caller: Caller) -> ApiResult<Response> {
    let clear = session::sign_out(&app, &caller).await?;
    let mut res = see_other("/sign-in");
    res.headers_mut().append(header::SET_COOKIE, clear);
    if let Some(v) = header_value("\"cache\", \"storage\"") {
        res.headers_mut().insert("clear-site-data", v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/review?form=x"), "/review?form=x");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next("/sign-in"), "/");
        assert_eq!(safe_next(""), "/");
    }
}
