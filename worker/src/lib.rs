//! The worker: takes jobs from the queue, extracts each document, and
//! commits its one outcome.
//!
//! Owns what happens to a job between delivery and ack:
//! - the document is marked `processing` and its attempt counted in the
//!   database before any work, so a file that kills every worker that takes
//!   it is given up on after [`Settings::max_attempts`];
//! - the original is read from storage and extracted off the async threads,
//!   at most [`Settings::concurrency`] at once, each with its own OCR engine;
//! - records, fields, pages, status and the document's event are written
//!   in one transaction, which writes nothing if the document already has
//!   an outcome: a job delivered twice leaves one;
//! - the job is acked only after that commit; a passing failure (database
//!   or storage unreachable) is retried with backoff and, when it outlasts
//!   the retries, the job goes back to the end of the queue; a permanent one
//!   (a corrupt file, an extraction that panicked) is recorded on the
//!   document, which ends `failed`, and the job dead-lettered;
//! - while a document is read its row is touched every
//!   [`Settings::heartbeat`], so that the service's sweeper
//!   ([`formflow_service::Db::sweep`]) returns only the documents of workers
//!   that vanished;
//! - a document of [`Settings::split_pages`] pages or more is not read by
//!   the worker that takes it: that worker splits it into page jobs
//!   ([`Task::Page`]) that any worker takes, each page read alone and its
//!   reading saved; the worker saving the last page queues the join
//!   ([`Task::Join`]), which groups the pages into records exactly as a
//!   whole reading would and commits the one outcome. A page counts its own
//!   attempts and has its own heartbeat and timeout; a page that cannot be
//!   read fails its document, as the file read whole would;
//! - on stop, no new job is taken and those held are finished;
//! - each job's log lines carry its document, page, batch and upload
//!   request (the `job` span), and the worker counts its jobs, pages and
//!   queue waits ([`metrics`]).
//!
//! The same code serves RabbitMQ (`formflow worker`) and the embedded
//! in-process queue (`formflow run`).

use formflow_extract::{ExtractError, Extraction, PageResult, Pool, PreparedPage};
use formflow_schemas::Record;
use formflow_service::db::{
    DbError, DocStatus, DocumentRow, Outcome, PageInfo, PageStarted, PageTask, Saved, Started,
};
use formflow_service::queue::{Consumer, Delivery, Job, Task};
use formflow_service::{Blobs, Broker, Db};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

pub mod metrics;
pub use metrics::WorkerMetrics;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Documents extracted at once (each on its own thread).
    pub concurrency: usize,
    /// Attempts after which a document is failed and its job dead-lettered.
    pub max_attempts: i32,
    /// Tries of one delivery after passing failures before it is given up.
    pub retries: u32,
    /// First wait after a passing failure; doubled each time.
    pub backoff: Duration,
    /// Longest wait between tries.
    pub max_backoff: Duration,
    /// A name for this worker in the broker's consumer list.
    pub tag: String,
    /// How often a document being read is touched in the database.
    pub heartbeat: Duration,
    /// Longest a document may take to read, a page: past it (times its
    /// pages) the reading is taken to have hung, and the document fails.
    pub page_timeout: Duration,
    /// Pages from which a document is split into page jobs that any worker
    /// takes (0: never split).
    pub split_pages: u32,
    /// What this worker measures (shared with its OCR pool's observer).
    pub metrics: Arc<WorkerMetrics>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retries: DEFAULT_RETRIES,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            tag: format!("formflow-worker-{}", std::process::id()),
            heartbeat: DEFAULT_HEARTBEAT,
            page_timeout: DEFAULT_PAGE_TIMEOUT,
            split_pages: SPLIT_PAGES,
            metrics: Arc::default(),
        }
    }
}

/// Attempts at one document before it is failed, unless set otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;

/// Tries of one delivery after passing failures, unless set otherwise.
pub const DEFAULT_RETRIES: u32 = 8;

/// How often a document being read is touched, unless set otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);

/// Longest a document may take to read, a page, unless set otherwise.
pub const DEFAULT_PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Pages from which a document is split into page jobs, unless set
/// otherwise: a stack of forms (the voter registration form has one page,
/// the legal aid form two).
pub const SPLIT_PAGES: u32 = 3;

/// What a worker needs.
pub struct Worker {
    db: Db,
    blobs: Blobs,
    broker: Broker,
    reader: Arc<dyn Reader>,
    settings: Settings,
    slots: Arc<Semaphore>,
    /// The original the last page job read, for the same stack's next
    /// pages (one file: its other pages are what this worker takes next;
    /// let go once its last page is read, or for the next stack's).
    stack: std::sync::Mutex<Option<(String, Arc<Vec<u8>>)>>,
}

/// What reads a file: the OCR pool ([`Pool`]) in service; tests give
/// others (one that panics, say). Blocking: the worker calls it off async
/// threads.
pub trait Reader: Send + Sync + 'static {
    /// Extracts one file.
    fn read(&self, source: &str, bytes: Vec<u8>) -> Result<Extraction, ExtractError>;
    /// Reads page `number` (from 1) of a file alone.
    fn read_page(&self, bytes: Vec<u8>, number: u32) -> Result<PageResult, ExtractError>;
    /// A file's extraction from its pages read alone: the same as
    /// [`Reader::read`] gives.
    fn join(&self, source: &str, pages: Vec<PageResult>) -> Extraction;
}

impl Reader for Pool {
    fn read(&self, source: &str, bytes: Vec<u8>) -> Result<Extraction, ExtractError> {
        self.extract(source, bytes)
    }
    fn read_page(&self, bytes: Vec<u8>, number: u32) -> Result<PageResult, ExtractError> {
        Pool::read_page(self, bytes, number)
    }
    fn join(&self, source: &str, pages: Vec<PageResult>) -> Extraction {
        Pool::join(self, source, pages)
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The document has its outcome (now or before); the job was acked.
    Done,
    /// The job was dead-lettered, with why.
    Dead(String),
    /// The worker is stopping: the job was given back.
    Requeued,
    /// Its failures outlasted the retries: it is back at the end of the
    /// queue, with why.
    Later(String),
}

/// A failure that may pass.
#[derive(Debug)]
struct Passing(String);

/// What the document whose original is gone says.
const MISSING: &str = "the original file is missing from storage: upload it again";

/// What the record of a document whose extraction panicked says.
pub const PANICKED: &str =
    "formflow stopped on this file with an internal fault, which is logged for \
                        support: scan it again or send it to support";

/// What became of a job's work.
enum Step {
    Done,
    Dead(String),
}

/// What a job's delivery took hold of, once: the attempt is counted when
/// it is taken, however many tries its work then takes.
enum Taken {
    /// A document, to read whole or split.
    Document(DocumentRow),
    /// A page of a split document.
    Page {
        doc: DocumentRow,
        number: u32,
        attempts: i32,
    },
    /// A split document whose pages are all read.
    Join(DocumentRow),
}

impl Taken {
    /// The document it is about.
    fn doc(&self) -> &DocumentRow {
        match self {
            Taken::Document(d) | Taken::Join(d) | Taken::Page { doc: d, .. } => d,
        }
    }
}

/// What a blocking reading touches while it runs.
#[derive(Clone, Copy)]
enum Beat {
    Document(Uuid),
    Page(Uuid, u32),
}

impl Worker {
    /// A worker over these stores.
    pub fn new(
        db: Db,
        blobs: Blobs,
        broker: Broker,
        reader: Arc<dyn Reader>,
        settings: Settings,
    ) -> Arc<Worker> {
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Arc::new(Worker {
            db,
            blobs,
            broker,
            reader,
            settings,
            slots,
            stack: std::sync::Mutex::new(None),
        })
    }

    /// How many more readings it could start now: a reading that overran
    /// its timeout keeps its slot until its thread ends.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Takes jobs until `stop` turns true, then finishes those it holds and
    /// returns. Reconnects, with backoff, when the broker goes away.
    pub async fn run(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let prefetch = u16::try_from(self.settings.concurrency.max(1)).unwrap_or(u16::MAX);
        let mut tasks: JoinSet<Handled> = JoinSet::new();
        let mut wait = self.settings.backoff;
        while !*stop.borrow() {
            let mut consumer: Consumer =
                match self.broker.consume(prefetch, &self.settings.tag).await {
                    Ok(c) => {
                        wait = self.settings.backoff;
                        c
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "worker: cannot take jobs yet; trying again");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop.changed() => {}
                        }
                        wait = (wait * 2).min(self.settings.max_backoff);
                        continue;
                    }
                };
            tracing::info!("worker: taking jobs");
            loop {
                tokio::select! {
                    // At most `prefetch` jobs in hand: the broker's prefetch
                    // bounds RabbitMQ, this bounds the in-process queue (each
                    // job in hand may hold its original in memory).
                    d = consumer.next(), if tasks.len() < usize::from(prefetch) => match d {
                        Some(Ok(d)) => {
                            let me = Arc::clone(self);
                            let stop = stop.clone();
                            tasks.spawn(async move { me.handle(d, stop).await });
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "worker: lost the broker; reconnecting");
                            break;
                        }
                        None => break,
                    },
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                    _ = stop.changed() => {
                        consumer.cancel().await;
                        // What is in hand is acked on this channel: finish
                        // it before the channel goes.
                        while tasks.join_next().await.is_some() {}
                        consumer.close().await;
                        break;
                    }
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!("worker: stopped");
    }

    /// Handles one delivery to its end: ack, dead letter or requeue. Its
    /// log lines carry the job's document, page, batch and the id of the
    /// upload request that brought the document (a span, `job`).
    pub async fn handle(&self, d: Delivery, stop: watch::Receiver<bool>) -> Handled {
        use tracing::field::Empty;
        use tracing::Instrument as _;
        let span = match d.job {
            Some(job) => {
                let page = match job.task {
                    Task::Page(n) => Some(n),
                    Task::Document | Task::Join => None,
                };
                let task = match job.task {
                    Task::Document => "document",
                    Task::Page(_) => "page",
                    Task::Join => "join",
                };
                tracing::info_span!(
                    "job",
                    document_id = %job.document_id,
                    task,
                    page,
                    batch_id = Empty,
                    request_id = Empty
                )
            }
            None => tracing::info_span!("job", document_id = "-"),
        };
        let task = match d.job.map(|j| j.task) {
            Some(Task::Document) | None => "document",
            Some(Task::Page(_)) => "page",
            Some(Task::Join) => "join",
        };
        let metrics = &self.settings.metrics;
        metrics.started();
        let started = Instant::now();
        let handled = self.handle_in(d, stop).instrument(span.clone()).await;
        let seconds = started.elapsed().as_secs_f64();
        metrics.finished(
            task,
            match handled {
                Handled::Done => "done",
                Handled::Dead(_) => "dead",
                Handled::Later(_) => "later",
                Handled::Requeued => "requeued",
            },
        );
        span.in_scope(|| match &handled {
            Handled::Done => tracing::info!(seconds, "worker: job done"),
            Handled::Dead(why) => {
                tracing::warn!(seconds, reason = %why, "worker: job dead-lettered")
            }
            Handled::Later(why) => {
                tracing::warn!(seconds, error = %why, "worker: job put back for later")
            }
            Handled::Requeued => tracing::info!(seconds, "worker: job given back on stop"),
        });
        handled
    }

    async fn handle_in(&self, d: Delivery, mut stop: watch::Receiver<bool>) -> Handled {
        let Some(job) = d.job else {
            let reason = "the message is not a formflow job";
            if let Err(e) = d.dead_letter(&self.broker, reason).await {
                tracing::warn!(error = %e, "worker: could not dead-letter a malformed message");
            }
            return Handled::Dead(reason.into());
        };
        let mut wait = self.settings.backoff;
        let mut tries = 0;
        // The attempt is counted once a delivery, however many tries it takes.
        let mut taken: Option<Taken> = None;
        let step = loop {
            let result = match &taken {
                None => match self.take(job).await {
                    Ok(Ok(t)) => {
                        let doc = t.doc();
                        let span = tracing::Span::current();
                        span.record("batch_id", tracing::field::display(doc.batch_id));
                        if let Some(r) = &doc.request_id {
                            span.record("request_id", r.as_str());
                        }
                        if let Taken::Document(d) = &t {
                            if d.attempts == 1 {
                                let waited = formflow_service::now() - d.created_at;
                                self.settings.metrics.waited(waited.as_seconds_f64());
                            }
                        }
                        taken = Some(t);
                        continue;
                    }
                    Ok(Err(step)) => Ok(step),
                    Err(p) => Err(p),
                },
                Some(Taken::Document(d)) => self.work(d).await,
                Some(Taken::Page {
                    doc,
                    number,
                    attempts,
                }) => self.read_page(doc, *number, *attempts).await,
                Some(Taken::Join(d)) => self.join(d).await,
            };
            match result {
                Ok(step) => break step,
                Err(Passing(why)) => {
                    tries += 1;
                    if tries > self.settings.retries {
                        tracing::warn!(
                            document = %job.document_id,
                            error = %why,
                            "worker: still failing after {tries} tries; the job goes back to the \
                             queue"
                        );
                        if let Err(e) = d.retry_later(&self.broker).await {
                            tracing::warn!(
                                error = %e,
                                "worker: could not put a job back; the broker will redeliver it"
                            );
                        }
                        return Handled::Later(why);
                    }
                    tracing::warn!(
                        document = %job.document_id,
                        error = %why,
                        "worker: passing failure; trying again in {wait:?}"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {
                            if let Err(e) = d.requeue().await {
                                tracing::warn!(
                                    error = %e,
                                    "worker: could not give a job back; the broker will redeliver \
                                     it"
                                );
                            }
                            return Handled::Requeued;
                        }
                    }
                    wait = (wait * 2).min(self.settings.max_backoff);
                }
            }
        };
        match step {
            Step::Done => {
                if let Err(e) = d.ack().await {
                    // The broker redelivers it; the outcome is committed, so
                    // the next worker only acks.
                    tracing::warn!(
                        document = %job.document_id,
                        error = %e,
                        "worker: ack failed after commit"
                    );
                }
                Handled::Done
            }
            Step::Dead(reason) => {
                if let Err(e) = d.dead_letter(&self.broker, &reason).await {
                    tracing::warn!(
                        document = %job.document_id,
                        error = %e,
                        "worker: could not dead-letter; the broker will redeliver it"
                    );
                }
                Handled::Dead(reason)
            }
        }
    }

    /// Takes what the job is about: `Ok(Err(step))` when there is nothing
    /// to do with it. `Err` is a failure that may pass.
    async fn take(&self, job: Job) -> Result<Result<Taken, Step>, Passing> {
        let id = job.document_id;
        let missing = || Err(Step::Dead(format!("there is no document {id}")));
        Ok(match job.task {
            Task::Document => match self.db.start(id).await.map_err(passing)? {
                Started::Missing => missing(),
                Started::Done(_) => Err(Step::Done),
                Started::Go(doc) => Ok(Taken::Document(*doc)),
            },
            Task::Page(number) => match self.db.start_page(id, number).await.map_err(passing)? {
                PageStarted::Missing => missing(),
                PageStarted::Done(_) | PageStarted::Nothing => Err(Step::Done),
                PageStarted::Go { doc, attempts } => Ok(Taken::Page {
                    doc: *doc,
                    number,
                    attempts,
                }),
            },
            Task::Join => match self.db.document_row(id).await.map_err(passing)? {
                None => missing(),
                Some(doc) if doc.status == DocStatus::Processing.as_str() => Ok(Taken::Join(doc)),
                Some(_) => Err(Step::Done),
            },
        })
    }

    /// Does a document's work. `Err` is a failure that may pass.
    async fn work(&self, doc: &DocumentRow) -> Result<Step, Passing> {
        if doc.attempts > self.settings.max_attempts {
            let why = format!(
                "gave up after {} attempts: the file stopped every worker that took it; scan it \
                 again or send it to support",
                doc.attempts - 1
            );
            return self.fail(doc, &why, "attempts").await;
        }
        // A document split before (by this or another worker, whatever
        // their settings) stays split: its pages are seen to, or joined.
        let tasks = self.db.page_tasks(doc.id).await.map_err(passing)?;
        if !tasks.is_empty() {
            return self.see_to_pages(doc, &tasks).await;
        }
        let split = self.settings.split_pages;
        if split > 0 && doc.page_count > 1 && doc.page_count >= split as i32 {
            let all: Vec<u32> = (1..=doc.page_count.max(0) as u32).collect();
            self.db.queue_pages(doc, &all).await.map_err(passing)?;
            return Ok(Step::Done);
        }
        let Some(bytes) = self.original(doc).await? else {
            return self.fail(doc, MISSING, "missing_original").await;
        };
        let started = Instant::now();
        let reader = Arc::clone(&self.reader);
        let source = doc.source.clone();
        let limit = self
            .settings
            .page_timeout
            .saturating_mul(doc.page_count.max(1) as u32);
        let read = self
            .blocking(doc, Beat::Document(doc.id), limit, move || {
                reader.read(&source, bytes)
            })
            .await?;
        let (result, extract_cpu_ms) = match read {
            Read::Done(x) => x,
            Read::Panicked => return self.fail(doc, PANICKED, "panic").await,
            Read::Hung(limit) => return self.fail(doc, &hung(limit), "timeout").await,
        };
        let extract_ms = Some(started.elapsed().as_millis() as i64);
        match result {
            Ok(x) => self.commit(doc, x, extract_ms, extract_cpu_ms).await,
            Err(e) => self.unreadable(doc, e).await,
        }
    }

    /// Commits a read document's records and pages; the job is
    /// dead-lettered when a record failed.
    async fn commit(
        &self,
        doc: &DocumentRow,
        x: Extraction,
        extract_ms: Option<i64>,
        extract_cpu_ms: Option<i64>,
    ) -> Result<Step, Passing> {
        let pages: Vec<PageInfo> = x.pages.iter().map(page_info).collect();
        let outcome = Outcome {
            records: &x.records,
            pages: &pages,
            extract_ms,
            extract_cpu_ms,
            reason: None,
        };
        let committed = self.db.finish(doc, &outcome).await.map_err(passing)?;
        match (committed, x.records.iter().find_map(|r| r.error.clone())) {
            (true, Some(error)) => Ok(Step::Dead(error)),
            _ => Ok(Step::Done),
        }
    }

    /// A file (or a page of it) the engine could not read: a failure that
    /// may pass (the OCR engine could not start), or the document's
    /// failure, saying why.
    async fn unreadable(&self, doc: &DocumentRow, e: ExtractError) -> Result<Step, Passing> {
        if e.is_transient() {
            return Err(Passing(e.to_string()));
        }
        self.fail(doc, &e.to_string(), e.kind()).await
    }

    /// The document's original; `None` when storage does not have it.
    async fn original(&self, doc: &DocumentRow) -> Result<Option<Vec<u8>>, Passing> {
        match self.blobs.get(&doc.sha256).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_transient() => Err(Passing(e.to_string())),
            Err(_) => Ok(None),
        }
    }

    /// A split document's original, from storage once for all the pages
    /// of it this worker reads in a row (200 reads of a 16 MB stack from an
    /// object store would be 3.2 GB).
    async fn stack_original(&self, doc: &DocumentRow) -> Result<Option<Arc<Vec<u8>>>, Passing> {
        let kept = self.stack.lock().ok().and_then(|k| {
            k.as_ref()
                .filter(|(sha, _)| *sha == doc.sha256)
                .map(|(_, b)| Arc::clone(b))
        });
        if let Some(b) = kept {
            return Ok(Some(b));
        }
        let Some(b) = self.original(doc).await? else {
            return Ok(None);
        };
        let b = Arc::new(b);
        if let Ok(mut k) = self.stack.lock() {
            *k = Some((doc.sha256.clone(), Arc::clone(&b)));
        }
        Ok(Some(b))
    }

    /// A split document taken again (its job delivered twice, or put back
    /// by the embedded runner at start): its pages still to read are
    /// queued again, or, when all are read, they are joined.
    async fn see_to_pages(&self, doc: &DocumentRow, tasks: &[PageTask]) -> Result<Step, Passing> {
        let unread: Vec<u32> = tasks
            .iter()
            .filter(|t| t.result.is_none())
            .map(|t| t.number)
            .collect();
        if unread.is_empty() {
            return self.join_tasks(doc, tasks).await;
        }
        self.db.queue_pages(doc, &unread).await.map_err(passing)?;
        Ok(Step::Done)
    }

    /// Reads one page of a split document and saves what it gave.
    async fn read_page(
        &self,
        doc: &DocumentRow,
        number: u32,
        attempts: i32,
    ) -> Result<Step, Passing> {
        if attempts > self.settings.max_attempts {
            let why = format!(
                "gave up on page {number} after {} attempts: it stopped every worker that took \
                 it; scan it again or send it to support",
                attempts - 1
            );
            return self.fail(doc, &why, "attempts").await;
        }
        let Some(bytes) = self.stack_original(doc).await? else {
            return self.fail(doc, MISSING, "missing_original").await;
        };
        let started = Instant::now();
        let reader = Arc::clone(&self.reader);
        let read = self
            .blocking(
                doc,
                Beat::Page(doc.id, number),
                self.settings.page_timeout,
                // The copy is made on the reading thread.
                move || reader.read_page(bytes.as_ref().clone(), number),
            )
            .await?;
        let (result, cpu_ms) = match read {
            Read::Done(x) => x,
            Read::Panicked => return self.fail(doc, PANICKED, "panic").await,
            Read::Hung(limit) => return self.fail(doc, &hung(limit), "timeout").await,
        };
        let page = match result {
            Ok(p) => p,
            Err(e) => return self.unreadable(doc, e).await,
        };
        let value = serde_json::to_value(&page)
            .map_err(|e| Passing(format!("a page's reading could not be put into JSON: {e}")))?;
        let read_ms = Some(started.elapsed().as_millis() as i64);
        let saved = self
            .db
            .save_page(doc.id, number, &value, read_ms, cpu_ms)
            .await
            .map_err(passing)?;
        if saved != Saved::More {
            // No page of it is left to read.
            if let Ok(mut k) = self.stack.lock() {
                k.take_if(|(sha, _)| *sha == doc.sha256);
            }
        }
        Ok(Step::Done)
    }

    /// Joins a split document whose pages are all read.
    async fn join(&self, doc: &DocumentRow) -> Result<Step, Passing> {
        let tasks = self.db.page_tasks(doc.id).await.map_err(passing)?;
        if tasks.is_empty() {
            // Not split (any more): the document's own job sees to it.
            return Ok(Step::Done);
        }
        self.see_to_pages(doc, &tasks).await
    }

    /// Groups the pages' readings into records and commits the outcome.
    /// A reading that no longer parses (saved by another version of
    /// formflow) is read again.
    async fn join_tasks(&self, doc: &DocumentRow, tasks: &[PageTask]) -> Result<Step, Passing> {
        let mut pages = Vec::with_capacity(tasks.len());
        let mut again = Vec::new();
        for t in tasks {
            match t.result.clone().map(serde_json::from_value::<PageResult>) {
                Some(Ok(p)) if p.number == t.number => pages.push(p),
                _ => again.push(t.number),
            }
        }
        if !again.is_empty() {
            tracing::warn!(
                document = %doc.id,
                pages = again.len(),
                "worker: saved page readings did not parse; reading them again"
            );
            self.db.queue_pages(doc, &again).await.map_err(passing)?;
            return Ok(Step::Done);
        }
        let sum = |f: fn(&PageTask) -> Option<i64>| tasks.iter().map(f).sum::<Option<i64>>();
        let (extract_ms, extract_cpu_ms) = (sum(|t| t.read_ms), sum(|t| t.cpu_ms));
        let reader = Arc::clone(&self.reader);
        let source = doc.source.clone();
        let read = self
            .blocking(
                doc,
                Beat::Document(doc.id),
                self.settings.page_timeout,
                move || reader.join(&source, pages),
            )
            .await?;
        match read {
            Read::Done((x, _)) => self.commit(doc, x, extract_ms, extract_cpu_ms).await,
            Read::Panicked => self.fail(doc, PANICKED, "panic").await,
            Read::Hung(limit) => self.fail(doc, &hung(limit), "timeout").await,
        }
    }

    /// Records a permanent failure; the job is then dead-lettered.
    async fn fail(&self, doc: &DocumentRow, why: &str, reason: &str) -> Result<Step, Passing> {
        let records = [Record::failed(doc.source.clone(), why)];
        let outcome = Outcome {
            records: &records,
            pages: &[],
            extract_ms: None,
            extract_cpu_ms: None,
            reason: Some(reason),
        };
        self.db.finish(doc, &outcome).await.map_err(passing)?;
        Ok(Step::Dead(why.to_string()))
    }

    /// Runs `f` (a reading) on a blocking thread, at most `concurrency` at
    /// once, touching what it reads every heartbeat while it runs, for at
    /// most `limit`. Also gives the CPU milliseconds the thread used.
    ///
    /// A thread cannot be stopped: a hung one keeps its slot until it
    /// ends, so a worker whose every thread hung takes no more jobs (and
    /// says so in its log) until it is restarted.
    async fn blocking<T: Send + 'static>(
        &self,
        doc: &DocumentRow,
        beat_on: Beat,
        limit: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Read<T>, Passing> {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| Passing("the worker is closing".into()))?;
        let mut task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let cpu0 = thread_cpu_ms();
            let out = f();
            let cpu = thread_cpu_ms().zip(cpu0).map(|(b, a)| b - a);
            (out, cpu)
        });
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        let mut beat =
            tokio::time::interval(self.settings.heartbeat.max(Duration::from_millis(10)));
        beat.tick().await;
        let joined = loop {
            tokio::select! {
                j = &mut task => break j,
                _ = &mut deadline => {
                    let free = self.slots.available_permits();
                    tracing::error!(
                        document = %doc.id,
                        seconds = limit.as_secs(),
                        free_slots = free,
                        "worker: a reading hung; the document is failed and its thread left to end"
                    );
                    if free == 0 {
                        tracing::error!(
                            "worker: every reading thread has hung: restart this worker"
                        );
                    }
                    return Ok(Read::Hung(limit));
                }
                _ = beat.tick() => {
                    let touched = match beat_on {
                        Beat::Document(id) => self.db.touch(id).await,
                        Beat::Page(id, n) => self.db.touch_page(id, n).await,
                    };
                    if let Err(e) = touched {
                        tracing::warn!(
                            document = %doc.id,
                            error = %e,
                            "worker: could not touch the document"
                        );
                    }
                }
            }
        };
        match joined {
            Ok(x) => Ok(Read::Done(x)),
            Err(e) if e.is_panic() => {
                tracing::error!(
                    document = %doc.id,
                    "worker: extraction panicked; the document is failed"
                );
                Ok(Read::Panicked)
            }
            Err(e) => Err(Passing(format!("extraction stopped unexpectedly: {e}"))),
        }
    }
}

/// How a reading ended.
enum Read<T> {
    /// With its result and the CPU milliseconds it took.
    Done((T, Option<i64>)),
    /// In a panic.
    Panicked,
    /// Not within this time.
    Hung(Duration),
}

/// CPU milliseconds the calling thread has used, from
/// `/proc/thread-self/stat` (10 ms ticks; none where there is no /proc).
fn thread_cpu_ms() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<i64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15: 11 and 12 after the name.
    Some((f.get(11)? + f.get(12)?) * 10)
}

/// What the document of a reading stopped after `limit` says.
fn hung(limit: Duration) -> String {
    let secs = limit.as_secs_f64();
    let secs = if secs < 10.0 {
        format!("{secs:.1}")
    } else {
        format!("{secs:.0}")
    };
    format!(
        "reading it took longer than {secs} seconds and was stopped: scan it again or send it to \
         support"
    )
}

fn page_info(p: &PreparedPage) -> PageInfo {
    PageInfo {
        number: p.number,
        form: p.form.clone(),
        pose: p
            .pose
            .as_ref()
            .and_then(|pose| serde_json::to_value(pose).ok()),
    }
}

fn passing(e: DbError) -> Passing {
    // A database error that is not transient (a bug, a broken schema) is
    // still retried: giving up on a document because of our own fault would
    // lose it; the attempts cap bounds the loop.
    Passing(e.to_string())
}
