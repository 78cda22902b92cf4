//! `GET /api/v1/audit`: the audit log, for admins, oldest first from a
//! cursor (or newest first with `order=newest`), filterable by actor,
//! action and subject.

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Query, State};
use axum::Json;
use formflow_service::db::{AuditEvent, AuditFilter};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(audit))
}

/// The audit log's query parameters (read by [`filter`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditQuery {
    /// Carry on after this entry (the previous answer's `next_cursor`).
    after: Option<i64>,
    /// Only entries by this person or token.
    actor: Option<String>,
    /// Only this action (`sign_in`, `record.approve`, ...).
    action: Option<String>,
    /// Only entries about this id.
    subject: Option<String>,
    /// `oldest` first (the default) or `newest` first.
    #[param(pattern = "^(oldest|newest)$")]
    order: Option<String>,
    /// The most entries to give: 1 to 1000 (100 if not given).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// One page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEvent>,
    /// Where the next page starts (as `after`); null at the end.
    pub next_cursor: Option<i64>,
}

/// The filter a query asks for.
pub fn filter(q: &HashMap<String, String>) -> ApiResult<AuditFilter> {
    let bad = ApiError::unprocessable;
    super::only_params::<AuditQuery>(q)?;
    let mut f = AuditFilter {
        actor: q.get("actor").cloned().filter(|s| !s.is_empty()),
        action: q.get("action").cloned().filter(|s| !s.is_empty()),
        subject_id: q.get("subject").cloned().filter(|s| !s.is_empty()),
        limit: 100,
        ..Default::default()
    };
    if let Some(a) = q.get("after").filter(|s| !s.is_empty()) {
        f.after = Some(
            a.parse()
                .map_err(|_| bad(format!("after {a:?} must be an entry's id (a number)")))?,
        );
    }
    f.newest_first = match q.get("order").map(String::as_str) {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(o) => return Err(bad(format!("order {o:?} must be oldest or newest"))),
    };
    if let Some(l) = q.get("limit") {
        f.limit = l
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad(format!("limit {l:?} must be a number from 1 to 1000")))?;
    }
    Ok(f)
}

/// The audit log
///
/// The audit log: who did what and when: sign-ins and failures, uploads,
/// every look by a person at values or originals, corrections, approvals,
/// rejections, people and token changes. Ids and kinds of action, never
/// field values. Oldest first from `after`, or newest first with
/// `order=newest`.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "auditLog",
    tag = "operations",
    params(AuditQuery),
    responses(
        (status = 200, description = "Entries.", body = AuditPage),
        (status = 422, response = crate::openapi::Invalid),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn audit(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<AuditPage>> {
    let f = filter(&q)?;
    let entries = app.db.audit_log(&f).await.map_err(ApiError::internal)?;
    let next = if entries.len() == f.limit as usize {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        entries,
        next_cursor: next,
    }))
}
