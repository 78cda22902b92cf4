//! The JSON API, one file a resource, each with its own `router()`, merged
//! here. Who may call what is [`crate::auth::RULES`]'.

pub mod audit;
pub mod batches;
pub mod documents;
pub mod exports;
pub mod health;
pub mod records;

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::Router;
use std::sync::Arc;
use uuid::Uuid;

/// The API's routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .merge(batches::router())
        .merge(documents::router())
        .merge(records::router())
        .merge(exports::router())
        .merge(audit::router())
        .merge(health::router())
}

/// The answer for an address with nothing at it.
pub async fn not_found() -> ApiError {
    ApiError::not_found("there is nothing at this address; see /api/v1/openapi.json")
}

/// An id from a path, or 404 in plain words.
pub fn parse_id(raw: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::not_found(format!(
            "there is no {what} {raw:?}: ids look like 0193a1b2-..."
        ))
    })
}
