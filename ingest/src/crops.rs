//! Drawing from the originals: a whole page upright and cut to the form,
//! the crop of the paper where a field was read, and a page read again as
//! a form a caseworker names.
//!
//! A review page shows a crop beside every field, so one page of a scan is
//! asked for twenty or forty times in a moment. Each page is decoded once,
//! kept in a cache bounded by [`crate::Settings::page_cache_mb`], and every
//! crop is cut from it through the pose the worker stored when it read the
//! page (no registration again). Decoding, drawing and reading run off the
//! async threads, a few at a time; reading uses OCR engines kept in a pool.

use crate::error::{ApiError, ApiResult};
use crate::App;
use formflow_extract::decode::{DecodeError, Page};
use formflow_extract::register::Pose;
use formflow_extract::{Engine, ExtractError, Pool};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OnceCell, Semaphore};

/// The resolution crops and pages are drawn at. Handwriting stays legible
/// at 150 dpi on screen; more only makes the images heavier.
pub const DRAW_DPI: f64 = 150.0;

/// Millimetres of paper shown around a field's box, so that writing that
/// strays over the line is seen.
pub const CROP_MARGIN_MM: f64 = 2.5;

type Key = (String, u32);

/// The page cache, the drawing slots and the OCR engines.
pub struct Drawing {
    engine: Arc<Engine>,
    pool: Arc<Pool>,
    budget: usize,
    cache: Mutex<Cache>,
    slots: Semaphore,
}

/// A page being decoded or decoded, shared by every request for it.
type Slot = Arc<OnceCell<Arc<Page>>>;

#[derive(Default)]
struct Cache {
    /// Each page and when it was last asked for.
    pages: HashMap<Key, (Slot, u64)>,
    tick: u64,
}

impl Drawing {
    /// Drawing with the engine of this pool (whose OCR engines read pages
    /// again), keeping up to `cache_mb` of decoded pages.
    pub fn new(pool: Arc<Pool>, cache_mb: usize) -> Drawing {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Drawing {
            engine: Arc::clone(pool.engine()),
            pool,
            budget: cache_mb.saturating_mul(1 << 20),
            cache: Mutex::new(Cache::default()),
            slots: Semaphore::new(cores),
        }
    }

    /// Page `number` of the original `sha256`, decoded once and kept.
    pub async fn page(&self, app: &App, sha256: &str, number: u32) -> ApiResult<Arc<Page>> {
        let key = (sha256.to_string(), number);
        let cell = {
            let mut c = self
                .cache
                .lock()
                .map_err(|_| ApiError::internal("the page cache is poisoned"))?;
            c.tick += 1;
            let tick = c.tick;
            let entry = c
                .pages
                .entry(key.clone())
                .or_insert_with(|| (Arc::new(OnceCell::new()), tick));
            entry.1 = tick;
            Arc::clone(&entry.0)
        };
        let page = cell
            .get_or_try_init(|| async {
                // A slot before anything is loaded: at most a few originals
                // in memory for drawing at once.
                let _slot = self.slots.acquire().await.map_err(ApiError::internal)?;
                let bytes = app.blobs.get(sha256).await.map_err(original_error)?;
                let engine = Arc::clone(&self.engine);
                let decoded =
                    tokio::task::spawn_blocking(move || engine.decode_page(bytes, number))
                        .await
                        .map_err(ApiError::internal)?;
                decoded.map(Arc::new).map_err(|e| drawing_error(e, number))
            })
            .await;
        match page {
            Ok(p) => {
                let p = Arc::clone(p);
                self.evict();
                Ok(p)
            }
            Err(e) => {
                // Not kept: the next request tries again.
                if let Ok(mut c) = self.cache.lock() {
                    c.pages.remove(&key);
                }
                Err(e)
            }
        }
    }

    /// Drops the least recently used pages beyond the budget.
    fn evict(&self) {
        let Ok(mut c) = self.cache.lock() else { return };
        let size = |cell: &OnceCell<Arc<Page>>| cell.get().map_or(0, |p| p.image.as_raw().len());
        let mut total: usize = c.pages.values().map(|(cell, _)| size(cell)).sum();
        while total > self.budget && c.pages.len() > 1 {
            let Some(oldest) = c
                .pages
                .iter()
                .filter(|(_, (cell, _))| cell.get().is_some())
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((cell, _)) = c.pages.remove(&oldest) {
                total -= size(&cell);
            }
        }
    }

    /// Runs `f` on a blocking thread with a drawing slot.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> ApiResult<R> {
        let _slot = self.slots.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(ApiError::internal)
    }

    /// Runs `f` on a blocking thread with an OCR engine from the pool.
    pub async fn with_ocr<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut formflow_extract::Worker) -> R + Send + 'static,
    ) -> ApiResult<R> {
        let _slot = self.slots.acquire().await.map_err(ApiError::internal)?;
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }
}

/// A failure to read an original from storage, as an answer: a passing
/// one is ours (503), a missing file is gone (410).
pub fn original_error(e: formflow_service::blobs::BlobError) -> ApiError {
    if e.is_transient() {
        ApiError::internal(e)
    } else {
        ApiError::new(
            axum::http::StatusCode::GONE,
            "the original of this document is missing from storage",
        )
    }
}

/// A decoding failure as an answer.
pub fn drawing_error(e: ExtractError, page: u32) -> ApiError {
    if e.is_transient() {
        ApiError::internal(e)
    } else {
        ApiError::unprocessable(format!("page {page} could not be drawn: {e}"))
    }
}

/// An image as PNG bytes.
pub fn png(img: &image::GrayImage) -> ApiResult<Vec<u8>> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| {
            ApiError::internal(ExtractError::Decode(DecodeError::RenderFailed {
                page: 0,
                cause: Some(Box::new(e)),
            }))
        })?;
    Ok(out)
}

/// A stored pose, if it reads back.
pub fn pose_of(v: Option<&serde_json::Value>) -> Option<Pose> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
}
