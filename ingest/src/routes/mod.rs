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
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

/// The API's routes, each with its description for the OpenAPI document
/// ([`crate::openapi`]).
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
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

/// Refuses a query parameter that `P` (the parameters the OpenAPI document
/// gives for the route) does not describe, naming those it does; so that a
/// parameter the handler reads is one the document describes.
pub fn only_params<P: IntoParams>(q: &HashMap<String, String>) -> ApiResult<()> {
    let names: Vec<String> = P::into_params(|| None)
        .into_iter()
        .map(|p| p.name)
        .collect();
    let Some(unknown) = q.keys().find(|k| !names.contains(k)) else {
        return Ok(());
    };
    let known = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "none".to_string(),
    };
    Err(ApiError::unprocessable(format!(
        "unknown parameter {unknown:?}: use {known}"
    )))
}
