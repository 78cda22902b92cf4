//! The worker against a real SQLite file and the in-process queue, with
//! readers that panic, stall or succeed in its place.

use formflow_extract::{ExtractError, Extraction, PageResult, PreparedPage};
use formflow_schemas::{Record, Status};
use formflow_service::db::{Actor, NewDocument};
use formflow_service::queue::{Job, Task};
use formflow_service::{Blobs, Broker, Db};
use formflow_worker::{Handled, Reader, Settings, Worker, PANICKED};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    blobs: Blobs,
    broker: Broker,
    doc: Uuid,
}

/// A database with one uploaded one-page document whose job is on the
/// queue.
async fn fixture() -> Fixture {
    fixture_of(1).await
}

/// A database with one uploaded document of `pages` pages whose job is on
/// the queue.
async fn fixture_of(pages: i32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let db = Db::connect(&url, 4, Duration::from_secs(5)).await.unwrap();
    db.migrate().await.unwrap();
    let blobs = Blobs::open(&dir.path().join("originals").display().to_string()).unwrap();
    let sha = blobs.put(b"not really a scan").await.unwrap();
    let doc = NewDocument {
        id: Uuid::now_v7(),
        source: "a.png".into(),
        sha256: sha,
        bytes: 17,
        format: "PNG".into(),
        page_count: pages,
    };
    db.accept_batch(
        Uuid::now_v7(),
        1,
        &[],
        std::slice::from_ref(&doc),
        &Actor::system("test"),
    )
    .await
    .unwrap();
    let broker = Broker::memory();
    let b = broker.clone();
    let sent = db
        .drain_outbox(10, move |row| {
            let b = b.clone();
            async move { b.publish(&row).await }
        })
        .await
        .unwrap();
    assert_eq!(sent, 1);
    Fixture {
        _dir: dir,
        db,
        blobs,
        broker,
        doc: doc.id,
    }
}

fn settings() -> Settings {
    Settings {
        concurrency: 1,
        retries: 1,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(5),
        heartbeat: Duration::from_millis(40),
        page_timeout: Duration::from_secs(5),
        ..Settings::default()
    }
}

impl Fixture {
    fn worker(&self, reader: Arc<dyn Reader>) -> Arc<Worker> {
        self.worker_with(reader, settings())
    }

    fn worker_with(&self, reader: Arc<dyn Reader>, settings: Settings) -> Arc<Worker> {
        Worker::new(
            self.db.clone(),
            self.blobs.clone(),
            self.broker.clone(),
            reader,
            settings,
        )
    }

    /// Takes the one job and handles it.
    async fn handle_one(&self, w: &Arc<Worker>) -> Handled {
        let mut c = self.broker.consume(1, "test").await.unwrap();
        let d = c.next().await.unwrap().unwrap();
        let (_tx, stop) = watch::channel(false);
        w.handle(d, stop).await
    }

    async fn status(&self) -> (String, Option<String>) {
        let row = self.db.document_row(self.doc).await.unwrap().unwrap();
        (row.status, row.reason)
    }
}

struct Panics;
impl Reader for Panics {
    fn read(&self, _: &str, _: Vec<u8>) -> Result<Extraction, ExtractError> {
        panic!("a fault in the reader")
    }
    fn read_page(&self, _: Vec<u8>, _: u32) -> Result<PageResult, ExtractError> {
        panic!("a fault in the reader")
    }
    fn join(&self, _: &str, _: Vec<PageResult>) -> Extraction {
        panic!("a fault in the reader")
    }
}

/// Takes its time, then finds one record.
struct Slow(Duration, AtomicUsize);
impl Reader for Slow {
    fn read(&self, source: &str, _: Vec<u8>) -> Result<Extraction, ExtractError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.0);
        Ok(Extraction {
            records: vec![Record {
                source: source.into(),
                form: None,
                pages: vec![1],
                status: Status::Unclassified,
                fields: vec![],
                error: None,
            }],
            pages: vec![],
        })
    }
    fn read_page(&self, _: Vec<u8>, number: u32) -> Result<PageResult, ExtractError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.0);
        Ok(blank(number))
    }
    fn join(&self, source: &str, pages: Vec<PageResult>) -> Extraction {
        join_blank(source, pages)
    }
}

/// A page of no known form.
fn blank(number: u32) -> PageResult {
    PageResult {
        number,
        form: None,
        pose: None,
        fields: vec![],
    }
}

/// What the engine makes of pages of no known form: one unclassified
/// record a page, in page order.
fn join_blank(source: &str, mut pages: Vec<PageResult>) -> Extraction {
    pages.sort_by_key(|p| p.number);
    Extraction {
        records: pages
            .iter()
            .map(|p| Record {
                source: source.into(),
                form: None,
                pages: vec![p.number],
                status: Status::Unclassified,
                fields: vec![],
                error: None,
            })
            .collect(),
        pages: pages
            .iter()
            .map(|p| PreparedPage {
                number: p.number,
                form: None,
                pose: None,
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extraction_that_panics_fails_its_document_and_is_dead_lettered() {
    let f = fixture().await;
    let w = f.worker(Arc::new(Panics));
    let handled = f.handle_one(&w).await;
    assert_eq!(handled, Handled::Dead(PANICKED.into()));
    assert_eq!(f.status().await, ("failed".into(), Some("panic".into())));
    let view = f.db.document(f.doc).await.unwrap().unwrap();
    assert_eq!(view.records.len(), 1);
    assert_eq!(view.records[0].record.error.as_deref(), Some(PANICKED));
    let dead = f.broker.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0.document_id, f.doc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_failures_outlast_the_retries_goes_back_to_the_queue() {
    let f = fixture().await;
    // The database goes away before the worker can take the document.
    f.db.close().await;
    let w = f.worker(Arc::new(Slow(Duration::ZERO, AtomicUsize::new(0))));
    let handled = f.handle_one(&w).await;
    assert!(matches!(handled, Handled::Later(_)), "{handled:?}");
    assert!(f.broker.dead_letters().is_empty(), "not dead-lettered");
    assert_eq!(
        f.broker.depths().await.unwrap().jobs,
        1,
        "back in the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_that_hangs_fails_its_document_and_keeps_its_slot() {
    let f = fixture().await;
    let hangs = Arc::new(Slow(Duration::from_millis(1500), AtomicUsize::new(0)));
    let w = Worker::new(
        f.db.clone(),
        f.blobs.clone(),
        f.broker.clone(),
        hangs.clone(),
        Settings {
            page_timeout: Duration::from_millis(300),
            ..settings()
        },
    );
    let t = Instant::now();
    let handled = f.handle_one(&w).await;
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1200),
        "{took:?}"
    );
    assert!(
        matches!(
            &handled,
            Handled::Dead(why) if why.starts_with("reading it took longer than 0.3 seconds")
        ),
        "{handled:?}"
    );
    assert_eq!(f.status().await, ("failed".into(), Some("timeout".into())));
    assert_eq!(f.broker.dead_letters().len(), 1);
    // The hung thread keeps its slot until it ends.
    assert_eq!(w.free_slots(), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.free_slots(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_reading_a_long_file_keeps_it_from_the_sweeper() {
    let f = fixture().await;
    let slow = Arc::new(Slow(Duration::from_millis(400), AtomicUsize::new(0)));
    let w = f.worker(slow.clone());
    let started = formflow_service::now();
    let task = {
        let w = Arc::clone(&w);
        let mut c = f.broker.consume(1, "test").await.unwrap();
        let d = c.next().await.unwrap().unwrap();
        tokio::spawn(async move {
            let (_tx, stop) = watch::channel(false);
            w.handle(d, stop).await
        })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(f.status().await.0, "processing");
    // Silent since 100 ms after it started would be stale: the worker's
    // heartbeat says otherwise.
    let cutoff = started + chrono::Duration::milliseconds(100);
    assert_eq!(f.db.sweep(cutoff).await.unwrap(), 0);
    assert_eq!(task.await.unwrap(), Handled::Done);
    assert_eq!(f.status().await.0, "unclassified");
    assert_eq!(slow.1.load(Ordering::SeqCst), 1);
}

/// Reads pages one at a time, noting which, and fails on one page when
/// told to. A split document is never read whole.
struct Pages {
    delay: Duration,
    read: std::sync::Mutex<Vec<u32>>,
    bad: Option<u32>,
}

impl Pages {
    fn new(delay_ms: u64, bad: Option<u32>) -> Arc<Pages> {
        Arc::new(Pages {
            delay: Duration::from_millis(delay_ms),
            read: Default::default(),
            bad,
        })
    }
    fn read(&self) -> Vec<u32> {
        self.read.lock().unwrap().clone()
    }
}

impl Reader for Pages {
    fn read(&self, _: &str, _: Vec<u8>) -> Result<Extraction, ExtractError> {
        panic!("a split document was read whole")
    }
    fn read_page(&self, _: Vec<u8>, number: u32) -> Result<PageResult, ExtractError> {
        std::thread::sleep(self.delay);
        self.read.lock().unwrap().push(number);
        if self.bad == Some(number) {
            return Err(ExtractError::Decode(
                formflow_extract::decode::DecodeError::NoSuchPage {
                    number: number as usize,
                    count: 0,
                },
            ));
        }
        Ok(blank(number))
    }
    fn join(&self, source: &str, pages: Vec<PageResult>) -> Extraction {
        join_blank(source, pages)
    }
}

fn split_at(pages: u32) -> Settings {
    Settings {
        split_pages: pages,
        ..settings()
    }
}

impl Fixture {
    /// Runs these workers and the outbox relay until the document has its
    /// outcome (at most 20 s), then stops them.
    async fn run_until_done(&self, workers: &[Arc<Worker>]) {
        let (tx, stop) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(formflow_service::relay::run(
            self.db.clone(),
            self.broker.clone(),
            Arc::new(tokio::sync::Notify::new()),
            stop.clone(),
        ));
        for w in workers {
            let (w, stop) = (Arc::clone(w), stop.clone());
            tasks.spawn(async move { w.run(stop).await });
        }
        let t = Instant::now();
        while matches!(self.status().await.0.as_str(), "queued" | "processing") {
            assert!(t.elapsed() < Duration::from_secs(20), "not done in 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(true).unwrap();
        while tasks.join_next().await.is_some() {}
    }

    async fn page_tasks_left(&self) -> usize {
        self.db.page_tasks(self.doc).await.unwrap().len()
    }

    /// Publishes what the outbox holds; returns the jobs it held.
    async fn relay_once(&self) -> Vec<Job> {
        let b = self.broker.clone();
        let jobs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&jobs);
        self.db
            .drain_outbox(100, move |row| {
                let b = b.clone();
                if row.kind() == formflow_service::db::OutboxKind::Job {
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_value::<Job>(row.payload.0.clone()).unwrap());
                }
                async move { b.publish(&row).await }
            })
            .await
            .unwrap();
        let out = jobs.lock().unwrap().clone();
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_is_split_into_page_jobs_that_any_worker_takes_and_joined_once() {
    let f = fixture_of(6).await;
    let mut events = f.broker.subscribe().unwrap();
    let (a, b) = (Pages::new(60, None), Pages::new(60, None));
    let wa = f.worker_with(a.clone(), split_at(3));
    let wb = f.worker_with(b.clone(), split_at(3));
    f.run_until_done(&[wa, wb]).await;
    // Both workers read pages, and every page was read once.
    assert!(
        !a.read().is_empty() && !b.read().is_empty(),
        "{:?} {:?}",
        a.read(),
        b.read()
    );
    let mut all = [a.read(), b.read()].concat();
    all.sort();
    assert_eq!(all, vec![1, 2, 3, 4, 5, 6]);
    // One outcome, its records in page order, as a whole reading gives.
    let view = f.db.document(f.doc).await.unwrap().unwrap();
    assert_eq!(view.document.status, "unclassified");
    assert_eq!(view.document.attempts, 1);
    let pages: Vec<Vec<u32>> = view
        .records
        .iter()
        .map(|r| r.record.pages.clone())
        .collect();
    assert_eq!(
        pages,
        vec![vec![1], vec![2], vec![3], vec![4], vec![5], vec![6]]
    );
    assert!(view
        .events
        .iter()
        .any(|e| e.detail.as_deref() == Some("read as 6 page jobs")));
    assert_eq!(f.page_tasks_left().await, 0, "the pages' readings are gone");
    assert!(f.broker.dead_letters().is_empty());
    assert!(f.relay_once().await.is_empty(), "no job left");
    let mut heard = Vec::new();
    while let Ok(e) = events.try_recv() {
        heard.push(e["event"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(heard, vec!["document.needs_review"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_under_the_split_size_is_read_whole() {
    let f = fixture_of(2).await;
    let slow = Arc::new(Slow(Duration::ZERO, AtomicUsize::new(0)));
    let w = f.worker_with(slow.clone(), split_at(3));
    assert_eq!(f.handle_one(&w).await, Handled::Done);
    assert_eq!(f.status().await.0, "unclassified");
    assert_eq!(
        slow.1.load(Ordering::SeqCst),
        1,
        "one reading, of the whole file"
    );
    assert_eq!(f.page_tasks_left().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_cannot_be_read_fails_its_document_as_the_whole_file_would() {
    let f = fixture_of(4).await;
    let reader = Pages::new(0, Some(3));
    let w = f.worker_with(reader.clone(), split_at(3));
    f.run_until_done(&[w]).await;
    let why = "page 3 was asked for, but the file has 0 pages";
    let view = f.db.document(f.doc).await.unwrap().unwrap();
    assert_eq!(view.document.status, "failed");
    assert_eq!(view.document.reason.as_deref(), Some("no_such_page"));
    assert_eq!(view.document.error.as_deref(), Some(why));
    assert_eq!(view.records.len(), 1);
    let dead = f.broker.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0.task, Task::Page(3));
    assert_eq!(dead[0].1, why);
    assert_eq!(f.page_tasks_left().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_document_taken_again_queues_only_its_unread_pages() {
    let f = fixture_of(4).await;
    let w = f.worker_with(Pages::new(0, None), split_at(3));
    // The document's job splits it.
    assert_eq!(f.handle_one(&w).await, Handled::Done);
    let split: Vec<Task> = f.relay_once().await.iter().map(|j| j.task).collect();
    assert_eq!(split, (1..=4).map(Task::Page).collect::<Vec<_>>());
    // Pages 1 and 2 are read.
    for _ in 0..2 {
        assert_eq!(f.handle_one(&w).await, Handled::Done);
    }
    assert!(f.relay_once().await.is_empty(), "no join yet");
    // The embedded runner restarts: its queue is gone, the document's job
    // is put back, and taking it queues pages 3 and 4 alone, counting no
    // attempt.
    let mut c = f.broker.consume(1, "drain").await.unwrap();
    for _ in 0..2 {
        c.next().await.unwrap().unwrap();
    }
    assert_eq!(f.db.requeue_unfinished().await.unwrap(), 1);
    assert_eq!(f.relay_once().await, vec![Job::document(f.doc)]);
    assert_eq!(f.handle_one(&w).await, Handled::Done);
    let again: Vec<Task> = f.relay_once().await.iter().map(|j| j.task).collect();
    assert_eq!(again, vec![Task::Page(3), Task::Page(4)]);
    let row = f.db.document_row(f.doc).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("processing", 1));
    // The last page read queues the join, once.
    for _ in 0..2 {
        assert_eq!(f.handle_one(&w).await, Handled::Done);
    }
    let join = f.relay_once().await;
    assert_eq!(
        join,
        vec![Job {
            document_id: f.doc,
            task: Task::Join
        }]
    );
    assert_eq!(f.handle_one(&w).await, Handled::Done);
    assert_eq!(f.status().await.0, "unclassified");
    let view = f.db.document(f.doc).await.unwrap().unwrap();
    assert_eq!(view.records.len(), 4);
    // A page job delivered again after the outcome finds nothing to do.
    assert!(matches!(
        f.db.start_page(f.doc, 2).await.unwrap(),
        formflow_service::db::PageStarted::Done(_)
    ));
    assert!(f.broker.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_worker_went_silent_is_swept_back_alone() {
    let f = fixture_of(3).await;
    let w = f.worker_with(Pages::new(0, None), split_at(3));
    assert_eq!(f.handle_one(&w).await, Handled::Done);
    assert_eq!(f.relay_once().await.len(), 3);
    // A worker takes page 2 and vanishes.
    match f.db.start_page(f.doc, 2).await.unwrap() {
        formflow_service::db::PageStarted::Go { attempts, .. } => assert_eq!(attempts, 1),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = formflow_service::now();
    // Page 2 goes back; pages 1 and 3, never taken, wait in the queue; the
    // document, split, is not swept whole.
    assert_eq!(f.db.sweep(cutoff).await.unwrap(), 1);
    let swept: Vec<Task> = f.relay_once().await.iter().map(|j| j.task).collect();
    assert_eq!(swept, vec![Task::Page(2)]);
    assert_eq!(f.db.sweep(cutoff).await.unwrap(), 0, "taken by one sweep");
    assert_eq!(f.status().await.0, "processing");
}
