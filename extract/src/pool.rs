//! The OCR engines a process shares, and the one call that extracts a file.
//!
//! This module owns:
//! - [`Pool`]: an [`Engine`] and the [`Worker`]s (each with its own
//!   Tesseract handle) made for it, taken by one caller at a time and put
//!   back after; the service's workers and its review pages (page images,
//!   a page read again as a form page) use the same pool;
//! - [`Extraction`]: what one file gives, its records and its pages as
//!   identified and placed, from one fallible call ([`Pool::extract`],
//!   [`Worker::extract_file`]);
//! - the same work split for a stack spread over many workers: one page
//!   read alone ([`Pool::read_page`]), and the pages, read anywhere, joined
//!   into the file's extraction ([`Pool::join`]), which is the same as
//!   reading the file whole.

use crate::error::ExtractError;
use crate::pipeline::{Engine, PageResult, PageTiming, Worker};
use crate::register::Pose;
use formflow_schemas::Record;
use std::sync::{Arc, Mutex};

/// One page of a file as the engine identified and placed it.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPage {
    /// Its number in the file, from 1.
    pub number: u32,
    /// The form and page of the form it was recognised as.
    pub form: Option<(String, u32)>,
    /// Where the template lies on the scan (what crops are cut through).
    pub pose: Option<Pose>,
}

/// Everything one file gives.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// Every document found, as a checked record.
    pub records: Vec<Record>,
    /// Every page, in file order.
    pub pages: Vec<PreparedPage>,
}

/// OCR engines for an engine, shared by the threads of a process.
pub struct Pool {
    engine: Arc<Engine>,
    idle: Mutex<Vec<Worker>>,
    observer: Option<Observer>,
}

/// Told the timing of every page the pool's workers read.
pub type Observer = Arc<dyn Fn(&[PageTiming]) + Send + Sync>;

impl Pool {
    /// An empty pool for `engine`: workers are made when first needed.
    pub fn new(engine: Arc<Engine>) -> Pool {
        Pool {
            engine,
            idle: Mutex::new(Vec::new()),
            observer: None,
        }
    }

    /// The same pool, telling `observer` how long each page took (for
    /// metrics), right after the call that read it.
    pub fn observed(mut self, observer: Observer) -> Pool {
        self.observer = Some(observer);
        self
    }

    /// The engine the pool's workers use.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Runs `f` with a worker of the pool (a new one when none is idle),
    /// then puts it back. Blocking: call it off async threads. Fails only
    /// when a new OCR engine cannot start.
    pub fn with<R>(&self, f: impl FnOnce(&mut Worker) -> R) -> Result<R, ExtractError> {
        let reused = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut w = match reused {
            Some(w) => w,
            None => self.engine.worker()?,
        };
        let out = f(&mut w);
        let timings = w.take_timings();
        if let (Some(observe), false) = (&self.observer, timings.is_empty()) {
            observe(&timings);
        }
        if let Ok(mut v) = self.idle.lock() {
            v.push(w);
        }
        Ok(out)
    }

    /// Extracts one file: its records and its pages. Fails when the file
    /// cannot be read (the error says why in plain words) or no OCR engine
    /// can start.
    pub fn extract(&self, source: &str, bytes: Vec<u8>) -> Result<Extraction, ExtractError> {
        self.with(|w| w.extract_file(source, bytes))?
    }

    /// Reads page `number` (from 1) of a file alone: decoded, identified
    /// and read as [`Worker::extract_file`] reads it in the whole file.
    /// Fails when that page cannot be decoded (saying why) or no OCR engine
    /// can start.
    pub fn read_page(&self, bytes: Vec<u8>, number: u32) -> Result<PageResult, ExtractError> {
        self.with(|w| {
            let page = w.decode_page(bytes, number)?;
            Ok(w.read_page(&page))
        })?
    }

    /// A file's extraction from its pages, each read by [`Pool::read_page`]
    /// anywhere, in any order (see [`Engine::extraction`]).
    pub fn join(&self, source: &str, pages: Vec<PageResult>) -> Extraction {
        self.engine.extraction(source, pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::test_support::sample;
    use crate::pipeline::Config;
    use formflow_schemas::TemplateSet;

    /// An observed pool is told each page's time, form and OCR share once,
    /// right after the call that read it.
    #[test]
    fn an_observed_pool_reports_each_page_it_reads() {
        let seen: Arc<Mutex<Vec<PageTiming>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let pool = Pool::new(Arc::new(Engine::new(
            TemplateSet::builtin(),
            Config::default(),
        )))
        .observed(Arc::new(move |t: &[PageTiming]| {
            sink.lock().unwrap().extend_from_slice(t)
        }));
        let bytes = sample("batches/batch-mini.pdf");
        pool.extract("batch-mini.pdf", bytes.clone()).unwrap();
        let whole = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(whole.len(), 3, "{whole:?}");
        for t in &whole {
            assert!(t.form.is_some(), "{t:?}");
            assert!(t.seconds > 0.0 && t.ocr_seconds > 0.0, "{t:?}");
            assert!(t.ocr_seconds <= t.seconds, "{t:?}");
        }
        pool.read_page(bytes, 2).unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    /// A stack read a page at a time, each page passed on as JSON (as the
    /// service's page jobs store it) and joined out of order, gives exactly
    /// what reading it whole gives: the same records, fields, beliefs and
    /// page order.
    #[test]
    fn a_stack_read_page_by_page_joins_to_the_whole_reading() {
        let config = Config {
            today: chrono::NaiveDate::from_ymd_opt(2026, 6, 1),
            ..Config::default()
        };
        let pool = Pool::new(Arc::new(Engine::new(TemplateSet::builtin(), config)));
        let bytes = sample("batches/batch-mini.pdf");
        let whole = pool.extract("batch-mini.pdf", bytes.clone()).unwrap();
        assert_eq!(whole.pages.len(), 3);
        assert_eq!(whole.records.len(), 2);
        let mut pages = Vec::new();
        for number in [3, 1, 2] {
            let read = pool.read_page(bytes.clone(), number).unwrap();
            assert_eq!(read.number, number);
            let stored = serde_json::to_string(&read).unwrap();
            let back: PageResult = serde_json::from_str(&stored).unwrap();
            assert_eq!(back, read, "page {number} survives JSON exactly");
            pages.push(back);
        }
        let joined = pool.join("batch-mini.pdf", pages);
        assert_eq!(joined.records, whole.records);
        assert_eq!(joined.pages, whole.pages);
        // The first document's pages were scanned in reverse.
        assert_eq!(joined.records[0].pages, vec![2, 1]);
        match pool.read_page(bytes, 4) {
            Err(ExtractError::Decode(e)) => assert_eq!(
                e.to_string(),
                crate::decode::DecodeError::NoSuchPage {
                    number: 4,
                    count: 3
                }
                .to_string()
            ),
            other => panic!("{other:?}"),
        }
    }
}
