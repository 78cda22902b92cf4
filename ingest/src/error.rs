//! The one error type every handler returns: a status and one plain
//! sentence for the caller, answered as `application/problem+json`
//! (RFC 9457), or as an HTML page for a browser ([`crate::pages`] renders
//! problem answers to page routes).
//!
//! Internal causes (a database down, a bug) are logged with their chain
//! and never sent: the caller is told to try again.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The media type of error answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to do, in one plain sentence.
    pub detail: String,
    /// Extension members (a list of refused files, the current version).
    pub extra: Map<String, Value>,
    /// Seconds after which trying again may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An answer with this status and sentence.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 422: the request was understood but cannot be done as asked.
    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// 409: somebody else got there first.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }

    /// 403: signed in, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 401: nobody is signed in.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 503 for a failure of ours: logs `cause` (with its chain) and tells
    /// the caller only to try again.
    /// The answer carries the request's id, which the log line has too, so
    /// that support can find the cause.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        let id = crate::request_id();
        let shown = id.as_deref().unwrap_or("-");
        tracing::error!(error = %cause, request_id = shown, "request failed");
        let detail = match &id {
            Some(id) => format!(
                "the service cannot answer just now: try again in a minute, \
                 and tell support if it goes on (request {id})"
            ),
            None => "the service cannot answer just now: try again in a minute, \
                     and tell support if it goes on"
                .to_string(),
        };
        let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail).retry_after(60);
        match id {
            Some(id) => e.with("request_id", id),
            None => e,
        }
    }

    /// 507 when the disk is full: the cause is logged, the caller told in
    /// plain words that nothing of the upload was kept.
    pub fn full(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "no room left to keep uploads");
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "the service has no room left to keep uploads, so nothing of this one was kept: \
             tell support, and send it again once they have made room",
        )
        .retry_after(60)
    }

    /// 507 for a full disk ([`ApiError::full`]), otherwise
    /// [`ApiError::internal`].
    pub fn io(cause: std::io::Error) -> ApiError {
        if formflow_service::blobs::is_full(&cause) {
            ApiError::full(cause)
        } else {
            ApiError::internal(cause)
        }
    }

    /// The same answer, telling the caller when to try again.
    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// The same answer with an extension member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

/// An error answer: problem details (RFC 9457). Some answers add members:
/// `request_id` on a 503 for a fault of the service's own (also in
/// `X-Request-Id` and in the service's log beside the cause, to quote to
/// support), `refused` on an upload with no file accepted, `problems` on a
/// correction that breaks a rule of the form, `current_version` on a stale
/// change.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of error it is.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    /// The status in words.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong and what to do, in plain words.
    pub detail: String,
    /// The members some answers add.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail,
            extra: self.extra,
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"formflow\""),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn errors_are_problem_details_and_hide_internal_causes() {
        let res = ApiError::conflict("taken")
            .with("current_version", 3)
            .into_response();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(res.into_body(), 10_000).await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "about:blank",
                "title": "Conflict",
                "status": 409,
                "detail": "taken",
                "current_version": 3
            })
        );

        let res = ApiError::internal("password=hunter2 connection refused").into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(res.into_body(), 10_000).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("hunter2"));

        let res = ApiError::unauthorized("sign in").into_response();
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"formflow\""
        );
    }
}
