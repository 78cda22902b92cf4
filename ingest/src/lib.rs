//! formflow's HTTP service: uploads in; documents, records and the review
//! loop out.
//!
//! Owns everything that speaks HTTP:
//! - [`routes`]: the JSON API (`/api/v1/...`, described by the OpenAPI
//!   document at `/api/v1/openapi.json`), health, readiness and metrics,
//!   one file a resource;
//! - [`pages`]: the server-rendered pages people use (sign-in, the review
//!   queue and page, uploads, people and tokens), GOV.UK Frontend styled;
//! - [`auth`]: who is asking and whether they may (the role table),
//!   sessions and CSRF;
//! - [`review`]: what a correction, an approval or a rejection does, one
//!   code path for the pages and the API;
//! - [`crops`]: drawing pages and field crops from the originals, cached;
//! - [`error`]: the one error type, answered as problem details;
//! - [`upload`]: checking and accepting files (also used by `formflow run`);
//! - [`door`]: connections: timeouts, their limit, TLS, shutdown;
//! - [`hosts`]: the names a request may address the service by;
//! - [`metrics`]: the Prometheus exposition.
//!
//! Storage, database, queue and relay are `formflow-service`'s; reading
//! scans and checking values, `formflow-extract`'s.

pub mod auth;
pub mod crops;
pub mod door;
pub mod error;
pub mod hosts;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod review;
pub mod routes;
pub mod upload;

use auth::session::{AuthSettings, Throttle};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use formflow_extract::{Engine, Pool};
use formflow_service::{Blobs, Broker, Db};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub use error::{ApiError, ApiResult};
pub use metrics::Metrics;
pub use upload::{accept, Incoming, Receiving, UploadAnswer};

/// Limits on one upload request.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    /// Largest request body, in bytes (413 beyond).
    pub max_request_bytes: usize,
    /// Most files in one request (413 beyond).
    pub max_files: usize,
    /// Most uploads received at once (503 with Retry-After beyond).
    pub max_concurrent: usize,
    /// Longest wait for the next piece of an upload's body (408 beyond).
    pub body_idle: Duration,
}

impl UploadLimits {
    /// The default largest request, in megabytes (10^6 bytes): the one
    /// source of `FORMFLOW_MAX_UPLOAD_MB`'s default.
    pub const DEFAULT_MAX_REQUEST_MB: usize = 512;
    /// The default most files in one request (`FORMFLOW_MAX_FILES`).
    pub const DEFAULT_MAX_FILES: usize = 1000;
    /// The default most uploads received at once
    /// (`FORMFLOW_MAX_CONCURRENT_UPLOADS`).
    pub const DEFAULT_MAX_CONCURRENT: usize = 4;
    /// The default longest wait for an upload's body to go on
    /// (`FORMFLOW_BODY_IDLE_TIMEOUT`).
    pub const DEFAULT_BODY_IDLE: Duration = Duration::from_secs(30);
}

impl Default for UploadLimits {
    fn default() -> UploadLimits {
        UploadLimits {
            max_request_bytes: UploadLimits::DEFAULT_MAX_REQUEST_MB * 1_000_000,
            max_files: UploadLimits::DEFAULT_MAX_FILES,
            max_concurrent: UploadLimits::DEFAULT_MAX_CONCURRENT,
            body_idle: UploadLimits::DEFAULT_BODY_IDLE,
        }
    }
}

/// How the service behaves, beyond its stores.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Upload limits.
    pub limits: UploadLimits,
    /// Sessions and cookies.
    pub auth: AuthSettings,
    /// How long opening a document for review holds it. Longer lets a
    /// caseworker pause; shorter returns abandoned documents sooner.
    pub review_lease: Duration,
    /// Memory for decoded pages kept to cut crops from, in megabytes.
    pub page_cache_mb: usize,
    /// The names requests may address the service by.
    pub hosts: hosts::Hosts,
}

impl Settings {
    /// How long opening a document holds it, unless set otherwise.
    pub const DEFAULT_REVIEW_LEASE: Duration = Duration::from_secs(15 * 60);
    /// Memory for decoded pages, in megabytes, unless set otherwise.
    pub const DEFAULT_PAGE_CACHE_MB: usize = 256;
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            limits: UploadLimits::default(),
            auth: AuthSettings::default(),
            review_lease: Settings::DEFAULT_REVIEW_LEASE,
            page_cache_mb: Settings::DEFAULT_PAGE_CACHE_MB,
            hosts: hosts::Hosts::Any,
        }
    }
}

/// What every handler shares.
pub struct App {
    /// The database.
    pub db: Db,
    /// The originals.
    pub blobs: Blobs,
    /// The queue (for readiness and depth; jobs go through the outbox).
    pub broker: Broker,
    /// The engine: its limits check uploads, its templates and rules check
    /// corrections, and it draws pages.
    pub engine: Arc<Engine>,
    /// Upload limits.
    pub limits: UploadLimits,
    /// Sessions and cookies.
    pub auth: AuthSettings,
    /// How long a review lease lasts.
    pub review_lease: Duration,
    /// The names requests may address the service by.
    pub hosts: hosts::Hosts,
    /// Woken when the outbox has new messages.
    pub wake: Arc<Notify>,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// Failed sign-ins, to slow guessing.
    pub throttle: Throttle,
    /// Decoded pages, and the OCR engines (the process's pool, shared with
    /// an embedded worker) that draw and read them.
    pub crops: crops::Drawing,
    /// Uploads being received, at most [`UploadLimits::max_concurrent`].
    pub uploads: tokio::sync::Semaphore,
    /// Files being checked (each read whole into memory), at most two
    /// across every upload.
    pub checking: tokio::sync::Semaphore,
}

impl App {
    /// An app over these stores.
    pub fn new(
        db: Db,
        blobs: Blobs,
        broker: Broker,
        pool: Arc<Pool>,
        settings: Settings,
        wake: Arc<Notify>,
    ) -> Arc<App> {
        let engine = Arc::clone(pool.engine());
        let crops = crops::Drawing::new(pool, settings.page_cache_mb);
        let uploads = tokio::sync::Semaphore::new(settings.limits.max_concurrent.max(1));
        Arc::new(App {
            db,
            blobs,
            broker,
            engine,
            limits: settings.limits,
            auth: settings.auth,
            review_lease: settings.review_lease,
            hosts: settings.hosts,
            wake,
            metrics: Metrics::default(),
            throttle: Throttle::default(),
            crops,
            uploads,
            checking: tokio::sync::Semaphore::new(2),
        })
    }

    /// When a lease taken now ends.
    pub fn lease_until(&self) -> chrono::DateTime<chrono::Utc> {
        formflow_service::now()
            + chrono::TimeDelta::from_std(self.review_lease)
                .unwrap_or(chrono::TimeDelta::minutes(15))
    }
}

/// The service's routes, behind the role table.
pub fn router(app: Arc<App>) -> Router {
    let body_limit = app.limits.max_request_bytes;
    let (api, _) = routes::router().split_for_parts();
    api.merge(pages::router())
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            auth::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            pages::html_errors,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            hosts::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            observe,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}

/// Serves on `listener` until `shutdown` completes, behind `door`, then
/// finishes the requests in hand (up to the door's deadline).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    door: door::Door,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let purge = tokio::spawn(purge_sessions(Arc::clone(&app)));
    let served = door::serve(listener, router(app), door, shutdown).await;
    purge.abort();
    served
}

/// Deletes ended sessions every hour.
async fn purge_sessions(app: Arc<App>) {
    loop {
        if let Err(e) = app.db.purge_sessions().await {
            tracing::warn!(
                error = %e,
                "ended sessions could not be deleted; trying again in an hour"
            );
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

tokio::task_local! {
    /// The id of the request being answered (see [`observe`]).
    static REQUEST_ID: String;
}

/// The id of the request being answered, when called while answering one.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(String::clone).ok()
}

/// The request's id: the client's `X-Request-Id` when it is a short plain
/// token (a proxy's, say), else a new one.
fn request_id_of(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
}

/// Counts and times every answer by route, and gives each request an id:
/// in its log lines (a span), in error answers, and in `X-Request-Id` on
/// the answer.
async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let id = request_id_of(&req);
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let start = Instant::now();
    let mut res = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    let seconds = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    app.metrics.request(&route, status, seconds);
    // The access log: the route's pattern, never the path or query, which
    // can hold ids and search terms.
    tracing::info!(
        target: "formflow::access",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        seconds,
        "answered"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Headers on every answer: nothing personal is kept in caches (assets
/// excepted), pages are never framed, scripts and styles come from here
/// only.
async fn security_headers(req: Request, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; \
             img-src 'self' data:; font-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    res
}
