//! `GET /api/v1/audit`: the audit log, for admins, oldest first from a
//! cursor (or newest first with `order=newest`), filterable by actor,
//! action and subject.

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use formflow_service::db::AuditFilter;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/api/v1/audit", get(audit))
}

/// The filter a query asks for.
pub fn filter(q: &HashMap<String, String>) -> ApiResult<AuditFilter> {
    let bad = ApiError::unprocessable;
    for k in q.keys() {
        if !["after", "actor", "action", "subject", "order", "limit"].contains(&k.as_str()) {
            return Err(bad(format!(
                "unknown parameter {k:?}: use after, actor, action, subject, order or limit"
            )));
        }
    }
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

async fn audit(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let f = filter(&q)?;
    let entries = app.db.audit_log(&f).await.map_err(ApiError::internal)?;
    let next = if entries.len() == f.limit as usize {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(json!({ "entries": entries, "next_cursor": next })))
}
