//! The worker against a real SQLite file and the in-process queue, with
//! readers that panic, stall or succeed in its place.

use super::*;
use formflow_schemas::{Record, Status};
use formflow_service::db::{Actor, NewDocument};
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    blobs: Blobs,
    broker: Broker,
    doc: Uuid,
}

/// A database with one uploaded document whose job is on the queue.
async fn fixture() -> Fixture {
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
        page_count: 1,
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
        Worker::new(
            self.db.clone(),
            self.blobs.clone(),
            self.broker.clone(),
            reader,
            settings(),
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
    assert_eq!(f.broker.depth().await.unwrap(), 1, "back in the queue");
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
        matches!(&handled, Handled::Dead(why) if why.starts_with("reading it took longer than 0.3 seconds")),
        "{handled:?}"
    );
    assert_eq!(f.status().await, ("failed".into(), Some("timeout".into())));
    assert_eq!(f.broker.dead_letters().len(), 1);
    // The hung thread keeps its slot until it ends.
    assert_eq!(w.slots.available_permits(), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.slots.available_permits(), 1);
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
