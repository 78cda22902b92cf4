//! Who is asking, and whether they may: the door in front of every route.
//!
//! Owns the role table ([`RULES`]: every route, the roles that may call it),
//! the middleware that enforces it ([`authorize`]), and the [`Caller`] it
//! hands to handlers. A request carries either an API token
//! (`Authorization: Bearer ff_...`, for services) or a session cookie (for
//! people, see [`session`]). No credentials: `401`; the wrong role: `403`;
//! both as problem details in plain words. A route missing from the table
//! is refused to everyone, so a new route cannot be open by mistake.
//!
//! A session-authenticated request that changes something must also carry
//! the session's CSRF token (the `csrf` form field or the `X-CSRF-Token`
//! header) and, when the browser sends one, an `Origin` of this service.

pub mod session;

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use formflow_schemas::Role;
use formflow_service::access::secret_hash;
use formflow_service::db::Actor;
use std::sync::Arc;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health checks, the sign-in page, the pages' CSS.
    Public,
    /// Anyone signed in or holding a token, whatever their role.
    Signed,
    /// These roles only.
    Roles(&'static [Role]),
}

/// Where a form's CSRF token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csrf {
    /// By [`authorize`], from the `X-CSRF-Token` header or the `csrf` field
    /// of a URL-encoded form.
    Here,
    /// By the handler, which reads a multipart body (the upload page).
    InHandler,
}

/// One line of the role table.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The method.
    pub method: Method,
    /// The route, as the router spells it.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Where its CSRF token is checked (for session-authenticated changes).
    pub csrf: Csrf,
}

use Role::{Admin, Caseworker, Consumer, Uploader};

const UPLOADERS: Access = Access::Roles(&[Uploader, Admin]);
const FOLLOWERS: Access = Access::Roles(&[Uploader, Caseworker, Consumer, Admin]);
const READERS: Access = Access::Roles(&[Caseworker, Consumer, Admin]);
const REVIEWERS: Access = Access::Roles(&[Caseworker, Admin]);
const EXPORTERS: Access = Access::Roles(&[Consumer, Admin]);
const ADMINS: Access = Access::Roles(&[Admin]);

const fn rule(method: Method, path: &'static str, access: Access) -> Rule {
    Rule {
        method,
        path,
        access,
        csrf: Csrf::Here,
    }
}

/// The role table: every route, and who may call it. Field values (records,
/// documents, originals, pages, crops, exports) are for caseworkers,
/// consumers and admins; uploaders see batches and their progress only.
pub const RULES: &[Rule] = &[
    // The API.
    rule(Method::POST, "/api/v1/batches", UPLOADERS),
    rule(Method::GET, "/api/v1/batches", FOLLOWERS),
    rule(Method::GET, "/api/v1/batches/{id}", FOLLOWERS),
    rule(Method::GET, "/api/v1/documents/{id}", READERS),
    rule(Method::GET, "/api/v1/documents/{id}/original", READERS),
    rule(Method::GET, "/api/v1/documents/{id}/pages/{n}", REVIEWERS),
    rule(Method::GET, "/api/v1/records", READERS),
    rule(Method::GET, "/api/v1/records/{id}", READERS),
    rule(Method::PATCH, "/api/v1/records/{id}", REVIEWERS),
    rule(Method::POST, "/api/v1/records/{id}/approve", REVIEWERS),
    rule(Method::POST, "/api/v1/records/{id}/reject", REVIEWERS),
    rule(Method::GET, "/api/v1/exports/{file}", EXPORTERS),
    rule(Method::GET, "/api/v1/audit", ADMINS),
    rule(Method::GET, "/api/v1/openapi.json", Access::Signed),
    rule(Method::GET, "/metrics", Access::Signed),
    rule(Method::GET, "/healthz", Access::Public),
    rule(Method::GET, "/readyz", Access::Public),
    // Signing in and out.
    rule(Method::GET, "/sign-in", Access::Public),
    rule(Method::POST, "/sign-in", Access::Public),
    rule(Method::POST, "/sign-out", Access::Signed),
    rule(Method::GET, "/assets/{file}", Access::Public),
    rule(Method::GET, "/", Access::Signed),
    // Caseworkers' pages.
    rule(Method::GET, "/review", REVIEWERS),
    rule(Method::POST, "/review/next", REVIEWERS),
    rule(Method::GET, "/review/documents/{id}", REVIEWERS),
    rule(Method::POST, "/review/documents/{id}", REVIEWERS),
    rule(Method::POST, "/review/documents/{id}/lease", REVIEWERS),
    rule(Method::POST, "/review/documents/{id}/release", REVIEWERS),
    rule(
        Method::GET,
        "/review/documents/{id}/fields/{record}/{file}",
        REVIEWERS,
    ),
    rule(
        Method::GET,
        "/review/documents/{id}/pages/{file}",
        REVIEWERS,
    ),
    // Uploaders' pages.
    rule(Method::GET, "/upload", UPLOADERS),
    Rule {
        method: Method::POST,
        path: "/upload",
        access: UPLOADERS,
        csrf: Csrf::InHandler,
    },
    rule(Method::GET, "/upload/batches/{id}", UPLOADERS),
    // Admins' pages.
    rule(Method::GET, "/admin/users", ADMINS),
    rule(Method::POST, "/admin/users", ADMINS),
    rule(Method::POST, "/admin/users/{name}/disable", ADMINS),
    rule(Method::POST, "/admin/users/{name}/enable", ADMINS),
    rule(Method::GET, "/admin/tokens", ADMINS),
    rule(Method::POST, "/admin/tokens", ADMINS),
    rule(Method::POST, "/admin/tokens/{name}/revoke", ADMINS),
    rule(Method::GET, "/admin/audit", ADMINS),
];

/// The rule for a method and route.
pub fn rule_for(method: &Method, path: &str) -> Option<&'static Rule> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    RULES.iter().find(|r| r.path == path && r.method == method)
}

/// Whether the role table lets `role` call `method` `path`.
pub fn may(role: Role, method: Method, path: &str) -> bool {
    rule_for(&method, path).is_some_and(|r| match r.access {
        Access::Public | Access::Signed => true,
        Access::Roles(roles) => roles.contains(&role),
    })
}

/// Whether `role` may look at a document by its id: only then may it learn
/// another upload's document id (a duplicate's `duplicate_of`).
pub fn sees_documents(role: Role) -> bool {
    may(role, Method::GET, "/api/v1/documents/{id}")
}

/// Who is making a request, as [`authorize`] found it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The person or service.
    pub actor: Actor,
    /// The session, when a person came with a cookie.
    pub session: Option<SessionRef>,
}

/// The parts of a session a handler needs.
#[derive(Debug, Clone)]
pub struct SessionRef {
    /// The SHA-256 of the cookie's id.
    pub id_hash: String,
    /// The token its forms carry.
    pub csrf: String,
}

impl Caller {
    /// The caller's role.
    pub fn role(&self) -> Role {
        self.actor.role
    }

    /// The session's CSRF token, for the pages' forms (empty for a token).
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.csrf.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized(NO_CREDENTIALS))
    }
}

/// The client's address, for the audit log of sign-ins (`unknown` when the
/// server was not started with connection info, as in unit tests).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientAddr, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientAddr(ip.unwrap_or_else(|| "unknown".into())))
    }
}

const NO_CREDENTIALS: &str = "sign in first, or send an API token in the Authorization header \
                              (Authorization: Bearer ff_...)";

/// Most bytes of a URL-encoded form read to find its CSRF token.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The middleware: finds the route's rule, the caller and their role, and
/// the CSRF token of a session's change; refuses in plain words.
pub async fn authorize(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let refused = match admit(&app, &mut parts).await {
        Ok(None) => return next.run(Request::from_parts(parts, body)).await,
        Ok(Some((caller, csrf))) => {
            let checked = match csrf {
                Some(expected) => check_csrf(&parts.headers, body, &expected).await,
                None => Ok(body),
            };
            match checked {
                Ok(body) => {
                    parts.extensions.insert(caller);
                    return next.run(Request::from_parts(parts, body)).await;
                }
                Err(refusal) => refusal,
            }
        }
        Err(e) => (e, Some(body)),
    };
    // Read what the client is still sending (within reason) before the
    // answer, so that it sees the refusal rather than a broken connection.
    let (e, rest) = refused;
    if let Some(rest) = rest {
        let _ = axum::body::to_bytes(rest, DRAIN_BYTES).await;
    }
    axum::response::IntoResponse::into_response(e)
}

/// Most bytes of a refused request's body read before answering; a
/// larger body's connection is closed instead.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// Whether the request may go on: `None` when the route needs nobody,
/// else the caller, and the CSRF token a signed-in change must carry.
async fn admit(app: &App, parts: &mut Parts) -> ApiResult<Option<(Caller, Option<String>)>> {
    let Some(path) = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        // No route matched: the fallback answers 404 to anyone.
        return Ok(None);
    };
    let Some(rule) = rule_for(&parts.method, &path) else {
        if RULES.iter().any(|r| r.path == path) {
            // A method the route does not have: the router answers 405.
            return Ok(None);
        }
        tracing::error!(route = %path, "a route has no line in the role table; refused");
        return Err(ApiError::forbidden(
            "this address is not open to anyone yet",
        ));
    };
    if rule.access == Access::Public {
        return Ok(None);
    }
    let caller = identify(app, &parts.headers)
        .await?
        .ok_or_else(|| ApiError::unauthorized(NO_CREDENTIALS))?;
    if let Access::Roles(roles) = rule.access {
        if !roles.contains(&caller.role()) {
            return Err(ApiError::forbidden(format!(
                "your role ({}) cannot do this: it is for {}",
                caller.role(),
                roles_in_words(roles)
            )));
        }
    }
    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut csrf = None;
    if let (Some(s), true) = (&caller.session, unsafe_method) {
        check_origin(&parts.headers)?;
        if rule.csrf == Csrf::Here {
            csrf = Some(s.csrf.clone());
        }
    }
    Ok(Some((caller, csrf)))
}

/// "caseworkers and admins".
pub fn roles_in_words(roles: &[Role]) -> String {
    let names: Vec<String> = roles.iter().map(|r| format!("{}s", r.as_str())).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "nobody".into(),
    }
}

/// The caller a request's credentials name: a token, else a session.
async fn identify(app: &App, headers: &axum::http::HeaderMap) -> ApiResult<Option<Caller>> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let value = auth.to_str().unwrap_or("");
        let Some(token) = value.strip_prefix("Bearer ").map(str::trim) else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be \"Bearer\" and an API token \
                 (formflow token create makes one)",
            ));
        };
        let found = app
            .db
            .token_by_hash(&secret_hash(token))
            .await
            .map_err(ApiError::internal)?;
        let Some(t) = found else {
            return Err(ApiError::unauthorized(
                "this API token is not known, or has been revoked",
            ));
        };
        return Ok(Some(Caller {
            actor: Actor::service(&t.name, t.role),
            session: None,
        }));
    }
    session::caller(app, headers).await
}

fn check_origin(headers: &axum::http::HeaderMap) -> ApiResult<()> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    if origin == "null" || origin_host != host {
        return Err(ApiError::forbidden(
            "this request came from another site, so it was refused",
        ));
    }
    Ok(())
}

const STALE_FORM: &str =
    "the form had expired or did not come from formflow, so nothing was changed: \
     go back, reload the page and try again";

/// The body of a signed-in change whose CSRF token is right; else the
/// refusal, with what is left of the body.
async fn check_csrf(
    headers: &axum::http::HeaderMap,
    body: Body,
    expected: &str,
) -> Result<Body, (ApiError, Option<Body>)> {
    if let Some(h) = headers.get("x-csrf-token") {
        return if same(h.as_bytes(), expected.as_bytes()) {
            Ok(body)
        } else {
            Err((ApiError::forbidden(STALE_FORM), Some(body)))
        };
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        let e = ApiError::forbidden(
            "a signed-in change must carry its CSRF token (the X-CSRF-Token header, \
             or the csrf field of the page's form)",
        );
        return Err((e, Some(body)));
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            (
                ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "the form is too large",
                ),
                None,
            )
        })?;
    let given = form_urlencoded_value(&bytes, "csrf");
    if !given.is_some_and(|g| same(g.as_bytes(), expected.as_bytes())) {
        return Err((ApiError::forbidden(STALE_FORM), None));
    }
    Ok(Body::from(bytes))
}

/// The first value of `key` in a URL-encoded body.
pub fn form_urlencoded_value(body: &[u8], key: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table_says_what_the_issue_asks() {
        let allowed = |m: Method, p: &str, r: Role| {
            assert!(rule_for(&m, p).is_some(), "no rule for {m} {p}");
            may(r, m, p)
        };
        assert!(allowed(Method::POST, "/api/v1/batches", Uploader));
        assert!(!allowed(Method::GET, "/api/v1/records", Uploader));
        assert!(!allowed(Method::GET, "/api/v1/documents/{id}", Uploader));
        assert!(allowed(Method::GET, "/api/v1/records", Consumer));
        assert!(!allowed(Method::PATCH, "/api/v1/records/{id}", Consumer));
        assert!(allowed(Method::PATCH, "/api/v1/records/{id}", Caseworker));
        assert!(!allowed(Method::GET, "/api/v1/exports/{file}", Caseworker));
        assert!(allowed(Method::GET, "/api/v1/exports/{file}", Consumer));
        assert!(!allowed(Method::GET, "/api/v1/audit", Caseworker));
        assert!(allowed(Method::GET, "/api/v1/audit", Admin));
        assert!(!allowed(Method::GET, "/review", Consumer));
        assert_eq!(
            rule_for(&Method::HEAD, "/healthz").unwrap().access,
            Access::Public
        );
        // Every line is unique.
        for (i, a) in RULES.iter().enumerate() {
            assert!(
                !RULES[i + 1..]
                    .iter()
                    .any(|b| a.path == b.path && a.method == b.method),
                "{} {}",
                a.method,
                a.path
            );
        }
    }

    #[test]
    fn roles_read_as_words() {
        assert_eq!(
            roles_in_words(&[Caseworker, Admin]),
            "caseworkers and admins"
        );
        assert_eq!(
            roles_in_words(&[Uploader, Caseworker, Admin]),
            "uploaders, caseworkers and admins"
        );
        assert_eq!(roles_in_words(&[Admin]), "admins");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
