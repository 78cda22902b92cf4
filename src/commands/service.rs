//! `formflow migrate`, `serve`, `worker` and `run`: the pipeline's
//! processes, production and embedded, built from the same parts.

use super::summary::{print_summary, Line};
use super::ExtractOpts;
use anyhow::Context as _;
use formflow_extract::Pool;
use formflow_ingest::auth::session::AuthSettings;
use formflow_ingest::door::Door;
use formflow_ingest::{App, Receiving, Settings, UploadLimits};
use formflow_service::db::Actor;
use formflow_service::db::DocStatus;
use formflow_service::queue::Names;
use formflow_service::{relay, Blobs, Broker, Db};
use secrecy::{ExposeSecret as _, SecretString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// Where the pipeline keeps its state.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreOpts {
    /// The database: postgres://user@host/db, or sqlite://PATH for a file.
    /// Required by migrate, serve and worker; `run` defaults to a SQLite
    /// file in its data folder.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = super::secret)]
    pub database_url: Option<SecretString>,
    /// Where originals are kept: a folder, or s3://bucket/prefix (with the
    /// AWS_* variables for credentials, region and endpoint). Default:
    /// formflow-data/originals.
    #[arg(long, env = "FORMFLOW_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    /// Most database connections this process opens.
    #[arg(long, env = "FORMFLOW_DB_CONNECTIONS", default_value_t = 8)]
    pub db_connections: u32,
}

/// How to reach RabbitMQ.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerOpts {
    /// RabbitMQ's address.
    #[arg(
        long,
        env = "AMQP_URL",
        hide_env_values = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        value_parser = super::secret
    )]
    pub amqp_url: SecretString,
    /// The jobs queue (its dead letters go to <name>.dead).
    #[arg(long, env = "FORMFLOW_QUEUE", default_value = "formflow.jobs")]
    pub queue: String,
    /// The topic exchange events are published on.
    #[arg(
        long,
        env = "FORMFLOW_EVENTS_EXCHANGE",
        default_value = "formflow.events"
    )]
    pub events_exchange: String,
}

impl BrokerOpts {
    fn broker(&self) -> Broker {
        Broker::rabbit(
            self.amqp_url.expose_secret(),
            Names {
                jobs: self.queue.clone(),
                events: self.events_exchange.clone(),
            },
        )
    }
}

/// The service's side: HTTP, and the housekeeping `serve` does.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpOpts {
    /// Address to listen on.
    #[arg(long, env = "FORMFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest upload request, in megabytes (413 beyond).
    #[arg(
        long,
        env = "FORMFLOW_MAX_UPLOAD_MB",
        default_value_t = UploadLimits::DEFAULT_MAX_REQUEST_MB
    )]
    pub max_upload_mb: usize,
    /// Most files in one upload (413 beyond).
    #[arg(long, env = "FORMFLOW_MAX_FILES", default_value_t = UploadLimits::DEFAULT_MAX_FILES)]
    pub max_files: usize,
    /// Most uploads received at once; more are answered 503 with
    /// Retry-After. Files are received to disk and checked two at a time,
    /// whatever their number.
    #[arg(
        long,
        env = "FORMFLOW_MAX_CONCURRENT_UPLOADS",
        default_value_t = UploadLimits::DEFAULT_MAX_CONCURRENT
    )]
    pub max_concurrent_uploads: usize,
    /// How long opening a document for review holds it for one caseworker
    /// (minutes, or with a unit: 900s, 15m, 1h). Longer lets them pause;
    /// shorter returns abandoned documents to the queue sooner.
    #[arg(
        long,
        env = "FORMFLOW_REVIEW_LEASE",
        default_value = duration_arg(Settings::DEFAULT_REVIEW_LEASE),
        value_parser = parse_duration
    )]
    pub review_lease: Duration,
    /// A signed-in person unused this long is signed out (minutes, or with
    /// a unit). Shorter is safer on shared desks.
    #[arg(
        long,
        env = "FORMFLOW_SESSION_IDLE",
        default_value = duration_arg(AuthSettings::DEFAULT_IDLE),
        value_parser = parse_duration
    )]
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however busy.
    #[arg(
        long,
        env = "FORMFLOW_SESSION_MAX",
        default_value = duration_arg(AuthSettings::DEFAULT_MAX),
        value_parser = parse_duration
    )]
    pub session_max: Duration,
    /// Memory for decoded pages kept for drawing crops, in megabytes.
    #[arg(
        long,
        env = "FORMFLOW_PAGE_CACHE_MB",
        default_value_t = Settings::DEFAULT_PAGE_CACHE_MB
    )]
    pub page_cache_mb: usize,
    /// A document being read whose worker has said nothing for this long
    /// (workers speak every FORMFLOW_HEARTBEAT) goes back to the queue: its
    /// worker was killed, cut off or hung.
    #[arg(
        long,
        env = "FORMFLOW_STALE_AFTER",
        default_value = "5m",
        value_parser = parse_duration
    )]
    pub stale_after: Duration,
    /// Time a client has to send a request's head (or start its next one
    /// on a kept-alive connection, or finish a TLS handshake).
    #[arg(
        long,
        env = "FORMFLOW_HEADER_TIMEOUT",
        default_value = duration_arg(Door::DEFAULT_HEADER_TIMEOUT),
        value_parser = parse_duration
    )]
    pub header_timeout: Duration,
    /// Longest an upload's body may stop arriving before it is dropped.
    #[arg(
        long,
        env = "FORMFLOW_BODY_IDLE_TIMEOUT",
        default_value = duration_arg(UploadLimits::DEFAULT_BODY_IDLE),
        value_parser = parse_duration
    )]
    pub body_idle_timeout: Duration,
    /// Most connections open at once; more wait until one closes.
    #[arg(
        long,
        env = "FORMFLOW_MAX_CONNECTIONS",
        default_value_t = Door::DEFAULT_MAX_CONNECTIONS
    )]
    pub max_connections: usize,
    /// On stop, how long open requests may finish before their
    /// connections are closed.
    #[arg(
        long,
        env = "FORMFLOW_SHUTDOWN_DEADLINE",
        default_value = duration_arg(Door::DEFAULT_SHUTDOWN_DEADLINE),
        value_parser = parse_duration
    )]
    pub shutdown_deadline: Duration,
    /// A PEM certificate chain: serve HTTPS with it (with
    /// FORMFLOW_TLS_KEY), rather than behind a proxy that terminates TLS.
    #[arg(long, env = "FORMFLOW_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The address people and services reach formflow at
    /// (https://forms.example.gov.uk): requests naming another host are
    /// refused. Unset, formflow on loopback answers to localhost and
    /// 127.0.0.1 only, and elsewhere to any name.
    #[arg(long, env = "FORMFLOW_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Erase each document (records, history, pages, original) this many
    /// days after its upload, checked hourly. Unset, nothing is erased
    /// unless `formflow purge` is run.
    #[arg(
        long,
        env = "FORMFLOW_RETENTION_DAYS",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub retention_days: Option<u32>,
    /// The PEM private key of FORMFLOW_TLS_CERT.
    #[arg(long, env = "FORMFLOW_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// A duration: a number of minutes, or a number with `s`, `m` or `h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], s[i..].trim()),
        None => (s, "m"),
    };
    let n: u64 = n.parse().map_err(|_| {
        format!("{s:?} is not a duration: give minutes, or a number with s, m or h")
    })?;
    let secs = match unit {
        "s" => n,
        "m" | "min" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => {
            return Err(format!(
                "{s:?} is not a duration: give minutes, or a number with s, m or h"
            ))
        }
    };
    if secs == 0 {
        return Err("a duration must be more than nothing".into());
    }
    Ok(Duration::from_secs(secs))
}

/// `d` as [`parse_duration`] reads it, in the largest whole unit (`30s`,
/// `15m`, `12h`): a clap default built from a constant the library uses
/// too.
fn duration_arg(d: Duration) -> String {
    debug_assert!(d.subsec_nanos() == 0 && d.as_secs() > 0, "{d:?}");
    let secs = d.as_secs();
    let text = if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    };
    text
}

impl HttpOpts {
    /// Starts the sweeper for documents of vanished workers.
    fn sweeper(
        &self,
        db: &Db,
        wake: &Arc<Notify>,
        stop: &watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        // Looked at a few times within the stale time, at most each minute.
        let every = (self.stale_after / 4).min(Duration::from_secs(60));
        tokio::spawn(formflow_service::sweep::run(
            db.clone(),
            self.stale_after,
            every,
            Arc::clone(wake),
            stop.clone(),
        ))
    }

    /// Starts the retention loop, when a retention period is set.
    fn retention(
        &self,
        db: &Db,
        blobs: &Blobs,
        stop: &watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let days = self.retention_days?;
        Some(tokio::spawn(formflow_service::purge::run(
            db.clone(),
            blobs.clone(),
            Duration::from_secs(u64::from(days) * 86_400),
            Duration::from_secs(3600),
            stop.clone(),
        )))
    }

    /// How connections are taken: timeouts, their limit, TLS.
    fn door(&self) -> anyhow::Result<Door> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                Some(formflow_ingest::door::tls_config(cert, key).map_err(anyhow::Error::msg)?)
            }
            _ => None,
        };
        Ok(Door {
            header_timeout: self.header_timeout,
            max_connections: self.max_connections.max(1),
            shutdown_deadline: self.shutdown_deadline,
            tls,
        })
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        let hosts = formflow_ingest::hosts::Hosts::new(
            self.public_url.as_deref(),
            self.listen.ip().is_loopback(),
        )
        .map_err(anyhow::Error::msg)?;
        Ok(Settings {
            limits: UploadLimits {
                max_request_bytes: self.max_upload_mb.saturating_mul(1_000_000),
                max_files: self.max_files.max(1),
                max_concurrent: self.max_concurrent_uploads.max(1),
                body_idle: self.body_idle_timeout,
            },
            auth: AuthSettings {
                // Browsers send a Secure cookie over HTTPS only; on loopback
                // they also accept plain HTTP, where nobody else can listen.
                secure_cookies: !self.listen.ip().is_loopback() || self.tls_cert.is_some(),
                idle: self.session_idle,
                max: self.session_max.max(self.session_idle),
            },
            review_lease: self.review_lease,
            page_cache_mb: self.page_cache_mb,
            hosts,
        })
    }
}

/// How workers behave.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerOpts {
    /// Attempts at one document before it is failed and dead-lettered.
    #[arg(
        long,
        env = "FORMFLOW_MAX_ATTEMPTS",
        default_value_t = formflow_worker::DEFAULT_MAX_ATTEMPTS
    )]
    pub max_attempts: i32,
    /// Tries of one job after passing failures (database or storage down)
    /// before it goes back to the end of the queue; waits double from 0.5 s
    /// up to 30 s.
    #[arg(long, env = "FORMFLOW_RETRIES", default_value_t = formflow_worker::DEFAULT_RETRIES)]
    pub retries: u32,
    /// How often a worker tells the database it is still reading a
    /// document; keep it well under the service's FORMFLOW_STALE_AFTER.
    #[arg(
        long,
        env = "FORMFLOW_HEARTBEAT",
        default_value = duration_arg(formflow_worker::DEFAULT_HEARTBEAT),
        value_parser = parse_duration
    )]
    pub heartbeat: Duration,
    /// Longest reading a document may take, a page (a page takes about a
    /// second); past it the reading is taken to have hung and the document
    /// is failed with the reason `timeout`.
    #[arg(
        long,
        env = "FORMFLOW_PAGE_TIMEOUT",
        default_value = duration_arg(formflow_worker::DEFAULT_PAGE_TIMEOUT),
        value_parser = parse_duration
    )]
    pub page_timeout: Duration,
    /// Pages from which a document (a stack) is split into page jobs that
    /// every worker shares, its records joined when all its pages are
    /// read; 0 reads every document whole, on one thread.
    #[arg(long, env = "FORMFLOW_SPLIT_PAGES", default_value_t = formflow_worker::SPLIT_PAGES)]
    pub split_pages: u32,
    /// Serve this worker's own metrics (jobs, page and OCR times, queue
    /// waits) at http://ADDRESS/metrics, for Prometheus. No credentials
    /// are asked: bind it where only Prometheus reaches (127.0.0.1:9464).
    #[arg(long, env = "FORMFLOW_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl WorkerOpts {
    /// Serves `metrics` on `--metrics-listen`, if given, until `stop`.
    async fn serve_metrics(
        &self,
        metrics: &Arc<formflow_worker::WorkerMetrics>,
        stop: &watch::Receiver<bool>,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let Some(addr) = self.metrics_listen else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("Failed to listen for metrics on {addr}"))?;
        tracing::info!(
            "metrics on http://{}/metrics",
            listener.local_addr().unwrap_or(addr)
        );
        let m = Arc::clone(metrics);
        let stop = stop.clone();
        Ok(Some(tokio::spawn(async move {
            let scrape = Arc::new(move |out: &mut String| m.encode_into(out));
            if let Err(e) =
                formflow_ingest::metrics::serve_metrics(listener, scrape, wait_for(stop)).await
            {
                tracing::warn!(error = %e, "the metrics address stopped answering");
            }
        })))
    }

    fn settings(&self, concurrency: usize) -> formflow_worker::Settings {
        formflow_worker::Settings {
            concurrency,
            max_attempts: self.max_attempts.max(1),
            retries: self.retries,
            heartbeat: self.heartbeat,
            page_timeout: self.page_timeout,
            split_pages: self.split_pages,
            ..formflow_worker::Settings::default()
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("Failed to start the async runtime")
}

async fn connect(store: &StoreOpts, url: Option<&str>) -> anyhow::Result<Db> {
    let url = url
        .map(str::to_string)
        .or_else(|| {
            store
                .database_url
                .as_ref()
                .map(|u| u.expose_secret().to_string())
        })
        .context(
            "DATABASE_URL is not set: give a postgres:// or sqlite:// URL (or --database-url)",
        )?;
    Db::connect(&url, store.db_connections.max(1), Duration::from_secs(10))
        .await
        .map_err(Into::into)
}

/// Connects, waiting (with backoff, until `stop`) while the database is
/// unreachable, and checks it is migrated.
async fn connect_migrated(store: &StoreOpts, stop: &watch::Receiver<bool>) -> anyhow::Result<Db> {
    let mut wait = Duration::from_millis(500);
    loop {
        match connect(store, None).await {
            Ok(db) => {
                db.check_migrated().await?;
                return Ok(db);
            }
            Err(e)
                if e.downcast_ref::<formflow_service::db::DbError>()
                    .is_some_and(|d| d.is_transient())
                    && !*stop.borrow() =>
            {
                tracing::warn!(error = %e, "waiting for the database");
                let mut stop = stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

fn blobs(store: &StoreOpts, default: &Path) -> anyhow::Result<Blobs> {
    let setting = store
        .storage
        .clone()
        .unwrap_or_else(|| default.display().to_string());
    Ok(Blobs::open(&setting)?)
}

/// A channel that turns true on SIGTERM or SIGINT.
pub(super) fn stop_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping: finishing what is in hand");
        let _ = tx.send(true);
    });
    rx
}

pub(super) async fn wait_for(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// The folder `formflow run` keeps its state in, by default.
pub const DEFAULT_DATA: &str = "formflow-data";

/// `formflow openapi`: the API's description, as `serve` gives it.
pub fn openapi() -> anyhow::Result<()> {
    let doc = serde_json::to_string_pretty(formflow_ingest::openapi::document())?;
    println!("{doc}");
    Ok(())
}

/// `formflow migrate`.
pub fn migrate(store: &StoreOpts) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let db = connect(store, None).await?;
        db.migrate().await?;
        tracing::info!(engine = db.engine(), "the database is migrated");
        Ok(())
    })
}

async fn http(app: Arc<App>, opts: &HttpOpts, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let door = opts.door()?;
    let listen = opts.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("Failed to listen on {listen}"))?;
    tracing::info!(
        "serving on {}://{}",
        if door.tls.is_some() { "https" } else { "http" },
        listener.local_addr().unwrap_or(listen)
    );
    formflow_ingest::serve(listener, app, door, wait_for(stop))
        .await
        .context("The HTTP server failed")
}

/// `formflow serve`.
pub fn serve(
    store: &StoreOpts,
    broker: &BrokerOpts,
    http_opts: &HttpOpts,
    extract: &ExtractOpts,
) -> anyhow::Result<()> {
    let engine = extract.engine()?;
    runtime()?.block_on(async {
        let stop = stop_on_signals();
        let db = connect_migrated(store, &stop).await?;
        if !http_opts.listen.ip().is_loopback() && !db.has_principals().await? {
            anyhow::bail!(
                "formflow will not listen on {} while nobody can sign in: anyone who reached it \
                 could read every form. Add a person first (formflow user add NAME --role \
                 admin) or a token (formflow token create NAME --role consumer), or listen on \
                 127.0.0.1",
                http_opts.listen
            );
        }
        let blobs = blobs(store, &Path::new(DEFAULT_DATA).join("originals"))?;
        let broker = broker.broker();
        let wake = Arc::new(Notify::new());
        let relay = tokio::spawn(relay::run(
            db.clone(),
            broker.clone(),
            Arc::clone(&wake),
            stop.clone(),
        ));
        let sweeper = http_opts.sweeper(&db, &wake, &stop);
        let retention = http_opts.retention(&db, &blobs, &stop);
        let app = App::new(
            db.clone(),
            blobs,
            broker.clone(),
            Arc::new(Pool::new(engine)),
            http_opts.settings()?,
            wake,
        );
        let served = http(app, http_opts, stop.clone()).await;
        let _ = relay.await;
        let _ = sweeper.await;
        if let Some(r) = retention {
            let _ = r.await;
        }
        broker.close().await;
        db.close().await;
        served
    })
}

/// `formflow worker`.
pub fn worker(
    store: &StoreOpts,
    broker: &BrokerOpts,
    opts: &WorkerOpts,
    extract: &ExtractOpts,
) -> anyhow::Result<()> {
    let engine = extract.engine()?;
    let concurrency = extract.threads();
    runtime()?.block_on(async {
        let stop = stop_on_signals();
        let db = connect_migrated(store, &stop).await?;
        let blobs = blobs(store, &Path::new(DEFAULT_DATA).join("originals"))?;
        let broker = broker.broker();
        let settings = opts.settings(concurrency);
        let metrics = opts.serve_metrics(&settings.metrics, &stop).await?;
        let pool = Pool::new(engine).observed(settings.metrics.observer());
        let w = formflow_worker::Worker::new(
            db.clone(),
            blobs,
            broker.clone(),
            Arc::new(pool),
            settings,
        );
        tracing::info!(concurrency, "worker started");
        w.run(stop).await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
        broker.close().await;
        db.close().await;
        Ok(())
    })
}

/// What `formflow purge` erases.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["document", "older_than"])))]
pub struct PurgeOpts {
    /// A document to erase, by id (repeat for more). Its duplicates (the
    /// same file uploaded again) go with it.
    #[arg(long = "document", value_name = "ID")]
    pub document: Vec<Uuid>,
    /// Erase every document uploaded more than this many days ago, and its
    /// duplicates.
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u32>,
    /// With --older-than: count what would be erased, erase nothing.
    #[arg(long, requires = "older_than")]
    pub dry_run: bool,
}

/// `formflow purge`: erases documents (records, values, history, pages,
/// events, and each original no other document shares), leaving an audit
/// entry and a `document.purged` event for each.
pub fn purge(store: &StoreOpts, opts: &PurgeOpts) -> anyhow::Result<()> {
    use formflow_service::db::PurgeReason;
    runtime()?.block_on(async {
        let db = connect(store, None).await?;
        db.check_migrated().await?;
        let blobs = blobs(store, &Path::new(DEFAULT_DATA).join("originals"))?;
        let by = Actor::system("formflow purge");
        let report = match opts.older_than {
            Some(days) => {
                let cutoff = formflow_service::now()
                    .checked_sub_signed(chrono::Duration::days(i64::from(days)))
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
                let r = formflow_service::purge::purge_before(
                    &db,
                    &blobs,
                    cutoff,
                    PurgeReason::Retention,
                    &by,
                    opts.dry_run,
                )
                .await?;
                if opts.dry_run {
                    println!(
                        "{} document(s) uploaded more than {days} day(s) ago would be erased, \
                         with their duplicates",
                        r.documents.len()
                    );
                    return Ok(());
                }
                r
            }
            None => {
                formflow_service::purge::purge_documents(
                    &db,
                    &blobs,
                    &opts.document,
                    PurgeReason::Request,
                    &by,
                )
                .await?
            }
        };
        println!(
            "erased {} document(s): {} record(s), {} earlier value(s), {} original(s), {} empty \
             batch(es)",
            report.documents.len(),
            report.records,
            report.history,
            report.originals,
            report.batches
        );
        for id in &report.documents {
            println!("  {id}");
        }
        db.close().await;
        let mut problems = Vec::new();
        if !report.missing.is_empty() {
            problems.push(format!("no such document: {}", join(&report.missing)));
        }
        if !report.busy.is_empty() {
            problems.push(format!(
                "still being read, so not erased (try again once it is done): {}",
                join(&report.busy)
            ));
        }
        anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(())
    })
}

fn join(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Options of `formflow run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// Folder for the embedded database and originals.
    #[arg(long, env = "FORMFLOW_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// Keep serving the HTTP API on the results (until Ctrl-C).
    #[arg(long)]
    pub serve: bool,
    /// Files sent to the pipeline per batch.
    #[arg(long, default_value_t = 50)]
    pub batch_size: usize,
    /// Print the outcome as one JSON object (each document, each refused
    /// file, the totals) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// With --serve, also watch this hot folder: each new scan is read once
    /// complete, then moved to DIR/done/ or DIR/refused/ (see `formflow
    /// watch`).
    #[arg(long, env = "FORMFLOW_WATCH", requires = "serve", value_name = "DIR")]
    pub watch: Option<PathBuf>,
    /// How the hot folder is watched.
    #[command(flatten)]
    pub watch_opts: super::WatchOpts,
}

/// `formflow run`: the whole pipeline in one process, on SQLite, an
/// in-process queue and a local folder.
pub fn run(
    paths: &[PathBuf],
    opts: &RunOpts,
    store: &StoreOpts,
    http_opts: &HttpOpts,
    worker_opts: &WorkerOpts,
    extract: &ExtractOpts,
) -> anyhow::Result<()> {
    let files = super::scan_files(paths)?;
    let engine = extract.engine()?;
    let concurrency = extract.threads();
    runtime()?.block_on(async {
        formflow_service::blobs::create_private_dir(&opts.data)
            .with_context(|| format!("Failed to create the data folder {}", opts.data.display()))?;
        let default_db = format!("sqlite://{}", opts.data.join("formflow.db").display());
        let db = connect(
            store,
            Some(
                store
                    .database_url
                    .as_ref()
                    .map_or(default_db.as_str(), |u| u.expose_secret()),
            ),
        )
        .await?;
        db.migrate().await?;
        let blobs = blobs(store, &opts.data.join("originals"))?;
        let broker = Broker::memory();
        let requeued = db.requeue_unfinished().await?;
        if requeued > 0 {
            eprintln!(
                "formflow: {requeued} document(s) left unfinished last time are queued again"
            );
        }
        let wake = Arc::new(Notify::new());
        let (stop_tx, stop) = watch::channel(false);
        let relay = tokio::spawn(relay::run(
            db.clone(),
            broker.clone(),
            Arc::clone(&wake),
            stop.clone(),
        ));
        let sweeper = http_opts.sweeper(&db, &wake, &stop);
        let retention = http_opts.retention(&db, &blobs, &stop);
        // One pool of OCR engines for the worker and the review pages.
        let settings = worker_opts.settings(concurrency);
        let worker_metrics = Arc::clone(&settings.metrics);
        let metrics_server = worker_opts.serve_metrics(&worker_metrics, &stop).await?;
        let pool = Arc::new(Pool::new(engine).observed(worker_metrics.observer()));
        let w = formflow_worker::Worker::new(
            db.clone(),
            blobs.clone(),
            broker.clone(),
            pool.clone(),
            settings,
        );
        let worker = {
            let stop = stop.clone();
            tokio::spawn(async move { w.run(stop).await })
        };
        let app = App::new(
            db.clone(),
            blobs,
            broker.clone(),
            pool,
            http_opts.settings()?,
            wake,
        );
        app.metrics
            .add_source(Box::new(move |out| worker_metrics.encode_into(out)));
        let mut batches = Vec::new();
        let mut refused = Vec::new();
        let bar = progress(files.len() as u64, "storing");
        for chunk in files.chunks(opts.batch_size.max(1)) {
            let mut incoming = Vec::with_capacity(chunk.len());
            for f in chunk {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let file = tokio::fs::File::open(f)
                    .await
                    .with_context(|| format!("Failed to read {}", f.display()))?;
                let received = Receiving::start(&app, &name)
                    .context("Failed to make a file in the data folder")?
                    .read_from(&app, file)
                    .await
                    .with_context(|| format!("Failed to read {}", f.display()))?;
                incoming.push(received);
            }
            let answer =
                formflow_ingest::accept(&app, incoming, &Actor::system("formflow run")).await?;
            bar.inc(chunk.len() as u64);
            refused.extend(answer.refused);
            batches.extend(answer.batch_id);
        }
        bar.finish_and_clear();
        let total: i64 = {
            let mut n = 0;
            for b in &batches {
                n += db
                    .batch(*b)
                    .await?
                    .map(|v| v.documents.len() as i64)
                    .unwrap_or(0);
            }
            n
        };
        let bar = progress(total as u64, "extracting");
        loop {
            let mut left = 0;
            for b in &batches {
                left += db.unfinished(*b).await?;
            }
            bar.set_position((total - left).max(0) as u64);
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bar.finish_and_clear();
        let lines = summary_lines(&db, &batches).await?;
        if opts.json {
            println!("{}", super::summary::summary_json(&lines, &refused));
        } else {
            print_summary(&lines, &refused);
        }
        let data = std::path::absolute(&opts.data).unwrap_or_else(|_| opts.data.clone());
        let kept: Vec<&str> = [
            store
                .database_url
                .is_none()
                .then_some("the database formflow.db"),
            store.storage.is_none().then_some("the scans in originals/"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !kept.is_empty() && !opts.json {
            println!(
                "\nformflow keeps what it read in {} ({}).",
                data.display(),
                kept.join(", ")
            );
        }
        if !opts.serve && !opts.json {
            println!(
                "To review and correct it in the browser: formflow run --serve, then open \
                 http://{}/review",
                http_opts.listen
            );
        }
        if opts.serve {
            // Under --json, standard output holds the JSON alone.
            let say = |s: String| {
                if opts.json {
                    eprintln!("{s}");
                } else {
                    println!("{s}");
                }
            };
            say(format!(
                "Review pages: http://{}/review (Ctrl-C stops)",
                http_opts.listen
            ));
            if let Some(password) = super::people::local_admin(&db).await? {
                say(format!(
                    "\nSign in at http://{}/sign-in as {} with the password {password}\n(shown \
                     this once; formflow user password {} sets another)",
                    http_opts.listen,
                    super::people::LOCAL_ADMIN,
                    super::people::LOCAL_ADMIN
                ));
            }
            let stop_signal = stop_on_signals();
            let forward = stop_tx.clone();
            tokio::spawn(async move {
                wait_for(stop_signal).await;
                let _ = forward.send(true);
            });
            let hot_folder = opts.watch.clone().map(|dir| {
                let metrics = Arc::new(super::WatchMetrics::default());
                let m = Arc::clone(&metrics);
                app.metrics
                    .add_source(Box::new(move |out| m.encode_into(out)));
                let target = super::watch::Target::Local(Arc::clone(&app));
                let (watch_opts, stop) = (opts.watch_opts.clone(), stop.clone());
                tokio::spawn(async move {
                    let watched =
                        super::watch::watch_folder(&dir, &target, &watch_opts, &metrics, stop)
                            .await;
                    if let Err(e) = watched {
                        tracing::error!(error = %e, "the hot folder stopped");
                    }
                })
            });
            http(Arc::clone(&app), http_opts, stop.clone()).await?;
            if let Some(h) = hot_folder {
                let _ = h.await;
            }
        }
        let _ = stop_tx.send(true);
        if let Some(m) = metrics_server {
            let _ = m.await;
        }
        let _ = worker.await;
        let _ = relay.await;
        let _ = sweeper.await;
        if let Some(r) = retention {
            let _ = r.await;
        }
        db.close().await;
        super::summary::outcome(&lines, &refused)
    })
}

fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// One summary line for each document of these batches.
async fn summary_lines(db: &Db, batches: &[Uuid]) -> anyhow::Result<Vec<Line>> {
    let mut lines = Vec::new();
    for b in batches {
        let Some(view) = db.batch(*b).await? else {
            continue;
        };
        for d in view.documents {
            let full = db.document(d.id).await?;
            let records = full.map(|v| v.records).unwrap_or_default();
            let status = match (d.status(), records.is_empty()) {
                // A duplicate reads as the outcome of the document it repeats.
                (DocStatus::Duplicate, false) => format!(
                    "duplicate ({})",
                    document_status_of(db, d.duplicate_of).await
                ),
                _ => d.status.clone(),
            };
            lines.push(Line {
                file: d.source.clone(),
                status,
                forms: records
                    .iter()
                    .map(|r| r.record.form.clone().unwrap_or_else(|| "-".into()))
                    .collect(),
                flagged: records
                    .iter()
                    .map(|r| {
                        r.record
                            .fields
                            .iter()
                            .filter(|(_, f)| !f.flags.is_empty())
                            .count()
                    })
                    .sum(),
                error: d.error.clone(),
                document_id: Some(d.id.to_string()),
            });
        }
    }
    Ok(lines)
}

async fn document_status_of(db: &Db, id: Option<Uuid>) -> String {
    match id {
        Some(id) => db
            .document_row(id)
            .await
            .ok()
            .flatten()
            .map(|d| d.status)
            .unwrap_or_else(|| "?".into()),
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{duration_arg, parse_duration};
    use std::time::Duration;

    #[test]
    fn a_default_duration_reads_back_as_itself() {
        for d in [
            formflow_worker::DEFAULT_HEARTBEAT,
            formflow_worker::DEFAULT_PAGE_TIMEOUT,
            Duration::from_secs(1),
            Duration::from_secs(90),
            Duration::from_secs(15 * 60),
            Duration::from_secs(12 * 3600),
        ] {
            assert_eq!(
                parse_duration(&duration_arg(d)),
                Ok(d),
                "{}",
                duration_arg(d)
            );
        }
        assert_eq!(duration_arg(Duration::from_secs(30)), "30s");
        assert_eq!(duration_arg(Duration::from_secs(15 * 60)), "15m");
        assert_eq!(duration_arg(Duration::from_secs(12 * 3600)), "12h");
    }
}
