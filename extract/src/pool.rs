//! The OCR engines a process shares, and the one call that extracts a file.
//!
//! This module owns:
//! - [`Pool`]: an [`Engine`] and the [`Worker`]s (each with its own
//!   Tesseract handle) made for it, taken by one caller at a time and put
//!   back after; the service's workers and its review pages (page images,
//!   a page read again as a form page) use the same pool;
//! - [`Extraction`]: what one file gives, its records and its pages as
//!   identified and placed, from one fallible call ([`Pool::extract`],
//!   [`Worker::extract_file`]).

use crate::error::ExtractError;
use crate::pipeline::{Engine, Worker};
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
}

impl Pool {
    /// An empty pool for `engine`: workers are made when first needed.
    pub fn new(engine: Arc<Engine>) -> Pool {
        Pool {
            engine,
            idle: Mutex::new(Vec::new()),
        }
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
}
