//! `/metrics`, in the Prometheus text format (OpenMetrics), by the
//! Prometheus conventions: counters end `_total`, durations are histograms
//! in seconds, units are in the names.
//!
//! Counts made in this process (uploads, bytes, HTTP requests and their
//! durations) live in a `prometheus-client` registry. What every worker
//! does (documents by status, pages done, failures by reason, extraction
//! time, the jobs and dead letters queued, outbox, the review backlog and
//! its age) is read from the database and the broker at each scrape, so
//! that one scrape of `serve` covers the whole pipeline. Other parts of the same process (the
//! embedded worker of `formflow run`, the hot folder) add theirs with
//! [`Metrics::add_source`].

use formflow_service::db::MetricsSnapshot;
use formflow_service::queue::Depths;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};

type Labels = Vec<(&'static str, String)>;

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    uploads: Family<Labels, Counter>,
    upload_bytes: Counter,
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
    pipeline: Arc<Pipeline>,
    sources: Mutex<Vec<Source>>,
}

/// Writes more metrics in the text format, without `# EOF`.
pub type Source = Box<dyn Fn(&mut String) -> std::fmt::Result + Send + Sync>;

/// The pipeline's state as last read, encoded at scrape.
#[derive(Debug, Default)]
struct Pipeline {
    snapshot: Mutex<Option<(MetricsSnapshot, Option<Depths>)>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let uploads = Family::<Labels, Counter>::default();
        registry.register(
            "formflow_uploads",
            "Files received, by outcome (accepted, duplicate, refused)",
            uploads.clone(),
        );
        let upload_bytes = Counter::default();
        registry.register(
            "formflow_upload_bytes",
            "Bytes of files received",
            upload_bytes.clone(),
        );
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "formflow_http_requests",
            "HTTP requests, by route and status",
            requests.clone(),
        );
        let durations = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 4.0, 9))
        });
        registry.register(
            "formflow_http_request_duration_seconds",
            "HTTP request durations, by route",
            durations.clone(),
        );
        let pipeline = Arc::new(Pipeline::default());
        registry.register_collector(Box::new(PipelineCollector(Arc::clone(&pipeline))));
        Metrics {
            registry,
            uploads,
            upload_bytes,
            requests,
            durations,
            pipeline,
            sources: Mutex::new(Vec::new()),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A file was refused.
    pub fn refused(&self, bytes: usize) {
        self.uploads
            .get_or_create(&vec![("outcome", "refused".into())])
            .inc();
        self.upload_bytes.inc_by(bytes as u64);
    }

    /// A file was accepted (perhaps as a duplicate).
    pub fn accepted(&self, bytes: usize, duplicate: bool) {
        let outcome = if duplicate { "duplicate" } else { "accepted" };
        self.uploads
            .get_or_create(&vec![("outcome", outcome.into())])
            .inc();
        self.upload_bytes.inc_by(bytes as u64);
    }

    /// An HTTP request was answered.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.durations
            .get_or_create(&vec![("route", route.to_string())])
            .observe(seconds);
    }

    /// The text exposition, with the pipeline's state as given.
    pub fn encode(&self, snapshot: MetricsSnapshot, depths: Option<Depths>) -> String {
        if let Ok(mut s) = self.pipeline.snapshot.lock() {
            *s = Some((snapshot, depths));
        }
        exposition(|out| {
            prometheus_client::encoding::text::encode_registry(out, &self.registry)?;
            if let Ok(sources) = self.sources.lock() {
                for source in sources.iter() {
                    source(out)?;
                }
            }
            Ok(())
        })
    }

    /// Adds metrics kept elsewhere in this process to every scrape.
    pub fn add_source(&self, source: Source) {
        if let Ok(mut sources) = self.sources.lock() {
            sources.push(source);
        }
    }
}

#[derive(Debug)]
struct PipelineCollector(Arc<Pipeline>);

impl Collector for PipelineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(guard) = self.0.snapshot.lock() else {
            return Ok(());
        };
        let Some((s, depth)) = guard.as_ref() else {
            return Ok(());
        };
        let mut family = |name: &str,
                          help: &str,
                          label: &'static str,
                          rows: &[(String, i64)]|
         -> Result<(), std::fmt::Error> {
            let mut e = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (v, n) in rows {
                let labels = [(label, v.as_str())];
                ConstGauge::new(*n).encode(e.encode_family(&labels)?)?;
            }
            Ok(())
        };
        family(
            "formflow_documents",
            "Documents, by status",
            "status",
            &s.documents,
        )?;
        let mut e = encoder.encode_descriptor(
            "formflow_documents_failed",
            "Documents that failed, by reason (erasing them lowers it)",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in &s.failures {
            let labels = [("reason", reason.as_str())];
            ConstCounter::new((*n).max(0) as u64).encode(e.encode_family(&labels)?)?;
        }
        let c = ConstCounter::new(s.pages_done.max(0) as u64);
        c.encode(encoder.encode_descriptor(
            "formflow_pages_done",
            "Pages of documents that have their outcome (erasing them lowers it)",
            None,
            MetricType::Counter,
        )?)?;
        let mut single = |name: &str, help: &str, v: i64| -> Result<(), std::fmt::Error> {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
        };
        single(
            "formflow_outbox_pending",
            "Messages committed but not yet published to the broker",
            s.outbox,
        )?;
        let now = formflow_service::now();
        let age = |t: &Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or(0, |t| (now - t).num_seconds().max(0))
        };
        single(
            "formflow_outbox_oldest_age_seconds",
            "How long the oldest message waiting in the outbox has waited (0: none waits)",
            age(&s.outbox_oldest),
        )?;
        single(
            "formflow_review_backlog_documents",
            "Documents waiting for a person",
            s.documents
                .iter()
                .find(|(status, _)| status == "needs_review")
                .map_or(0, |(_, n)| *n),
        )?;
        single(
            "formflow_review_backlog_oldest_age_seconds",
            "How long the document longest waiting for a person has waited \
             since it last changed (0: none waits)",
            age(&s.review_oldest),
        )?;
        if let Some(d) = depth {
            single(
                "formflow_queue_depth",
                "Jobs waiting in the queue",
                d.jobs as i64,
            )?;
            single(
                "formflow_dead_letter_queue_depth",
                "Jobs in the dead-letter queue, given up by a worker or by the broker, \
                 until a person takes them",
                d.dead as i64,
            )?;
        }
        let mut buckets = Vec::with_capacity(s.extract_buckets.len() + 1);
        let mut below = 0;
        for (le, cumulative) in &s.extract_buckets {
            buckets.push((*le, (*cumulative - below).max(0) as u64));
            below = *cumulative;
        }
        buckets.push((f64::MAX, (s.extract_count - below).max(0) as u64));
        let e = encoder.encode_descriptor(
            "formflow_extract_seconds",
            "Time to extract a whole document, across every worker",
            None,
            MetricType::Histogram,
        )?;
        let mut e = e;
        e.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            s.extract_sum_seconds,
            s.extract_count.max(0) as u64,
            &buckets,
            None,
        )
    }
}

/// A whole text exposition: what `parts` writes, ended by `# EOF`; empty
/// if a part cannot be encoded (a scrape then fails visibly, rather than
/// reading half a page).
pub fn exposition(parts: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut out = String::new();
    if parts(&mut out)
        .and_then(|()| prometheus_client::encoding::text::encode_eof(&mut out))
        .is_err()
    {
        out.clear();
    }
    out
}

/// Serves `GET /metrics` (what `scrape` writes, in the text format) and
/// `GET /healthz` on `listener` until `stop` completes: a worker's or a
/// hot folder's own metrics address (`FORMFLOW_METRICS_LISTEN`). Its
/// metrics hold no personal data, so it asks for no credentials; bind it
/// where only Prometheus can reach it.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    scrape: Arc<dyn Fn(&mut String) -> std::fmt::Result + Send + Sync>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::header;
    use axum::routing::get;
    let router = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let scrape = Arc::clone(&scrape);
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        exposition(|out| scrape(out)),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
}
