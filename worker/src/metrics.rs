//! What one worker process measures, for Prometheus: its jobs by task and
//! outcome, each page's extraction time by form, the OCR engine's share,
//! and how long documents waited in the queue. `formflow worker` serves
//! them on `FORMFLOW_METRICS_LISTEN`; `formflow run --serve` adds them to
//! the service's `/metrics`. (What all workers did together, from the
//! database, is on the service's `/metrics`.)

use formflow_extract::{Observer, PageTiming};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

type Labels = Vec<(&'static str, String)>;

/// A worker's metrics (cheap to clone: every part is shared).
#[derive(Debug)]
pub struct WorkerMetrics {
    registry: Registry,
    jobs: Family<Labels, Counter>,
    in_progress: Gauge,
    page_seconds: Family<Labels, Histogram>,
    ocr_seconds: Family<Labels, Histogram>,
    queue_wait: Histogram,
}

impl Default for WorkerMetrics {
    fn default() -> WorkerMetrics {
        let mut registry = Registry::default();
        let jobs = Family::<Labels, Counter>::default();
        registry.register(
            "formflow_worker_jobs",
            "Jobs this worker finished, by task (document, page, join) and outcome (done, dead, \
             later, requeued)",
            jobs.clone(),
        );
        let in_progress = Gauge::default();
        registry.register(
            "formflow_worker_jobs_in_progress",
            "Jobs this worker holds now",
            in_progress.clone(),
        );
        let page_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 10))
        });
        registry.register(
            "formflow_extract_page_seconds",
            "Time to identify and read one page, by the form it was read as (none: not recognised)",
            page_seconds.clone(),
        );
        let ocr_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.025, 2.0, 10))
        });
        registry.register(
            "formflow_ocr_page_seconds",
            "Time one page spent in the OCR engine, by engine",
            ocr_seconds.clone(),
        );
        let queue_wait = Histogram::new(exponential_buckets(0.1, 4.0, 9));
        registry.register(
            "formflow_queue_wait_seconds",
            "Time from a document's upload to a worker first taking it",
            queue_wait.clone(),
        );
        WorkerMetrics {
            registry,
            jobs,
            in_progress,
            page_seconds,
            ocr_seconds,
            queue_wait,
        }
    }
}

impl WorkerMetrics {
    /// What the OCR pool tells of each page it reads.
    pub fn observer(self: &Arc<Self>) -> Observer {
        let m = Arc::clone(self);
        Arc::new(move |timings: &[PageTiming]| {
            for t in timings {
                let form = t.form.clone().unwrap_or_else(|| "none".into());
                m.page_seconds
                    .get_or_create(&vec![("form", form)])
                    .observe(t.seconds);
                m.ocr_seconds
                    .get_or_create(&vec![("engine", "tesseract".into())])
                    .observe(t.ocr_seconds);
            }
        })
    }

    /// A job was taken.
    pub(crate) fn started(&self) {
        self.in_progress.inc();
    }

    /// A job ended.
    pub(crate) fn finished(&self, task: &'static str, outcome: &'static str) {
        self.in_progress.dec();
        self.jobs
            .get_or_create(&vec![("task", task.into()), ("outcome", outcome.into())])
            .inc();
    }

    /// A document was first taken this long after its upload.
    pub(crate) fn waited(&self, seconds: f64) {
        self.queue_wait.observe(seconds.max(0.0));
    }

    /// The metrics in the Prometheus text format, without the closing
    /// `# EOF` (so that others can follow).
    pub fn encode_into(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }
}
