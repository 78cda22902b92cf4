//! `GET /assets/{file}`: the pages' CSS and JavaScript, built into the
//! binary (GOV.UK Frontend, vendored by `scripts/vendor-frontend.sh`, and
//! formflow's own). Nothing is fetched from elsewhere.

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/assets/{file}", get(asset))
}

/// Every asset: its name, media type and bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "govuk-frontend.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/govuk-frontend/govuk-frontend.min.css"),
    ),
    (
        "govuk-frontend.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/govuk-frontend/govuk-frontend.min.js"),
    ),
    (
        "govuk-frontend-licence.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/govuk-frontend/LICENSE.txt"),
    ),
    (
        "formflow.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/formflow.css"),
    ),
    (
        "formflow.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/formflow.js"),
    ),
];

async fn asset(Path(file): Path<String>) -> ApiResult<Response> {
    let (_, kind, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::not_found(format!("there is no asset {file:?}")))?;
    // Assets change only with the binary: an hour's caching is safe.
    Ok((
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *bytes,
    )
        .into_response())
}
