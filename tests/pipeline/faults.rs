//! Faults: a worker killed mid-job, a worker frozen mid-job, RabbitMQ
//! unreachable while uploading, a corrupt file in a batch, a job the broker
//! gives up on. After each, every accepted file has its document and every
//! document its one outcome, and dead letters are counted wherever they
//! come from.

use super::by_file;
use super::stack::Stack;
use crate::util::repo;
use std::path::Path;
use std::time::{Duration, Instant};

/// Workers that read every document whole (these tests are of a document's
/// own job; a stack's page jobs have theirs below).
const WHOLE: &[(&str, &str)] = &[("FORMFLOW_SPLIT_PAGES", "0")];
const WHOLE_1S: &[(&str, &str)] = &[("FORMFLOW_SPLIT_PAGES", "0"), ("FORMFLOW_HEARTBEAT", "1s")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_leaves_the_document_one_outcome() {
    let mut s = Stack::new("kill", true).await;
    s.start("serve", &["serve"], &[]);
    s.start("worker-a", &["worker"], WHOLE);
    s.wait_serving().await;
    let (batch, doc) = stack_taken_by(&s, "worker-a").await;
    s.signal("worker-a", "KILL");
    s.wait_exit("worker-a", Duration::from_secs(10));
    let (_, d) = s.get(&format!("/api/v1/documents/{doc}")).await;
    assert_eq!(d["status"], "processing", "killed mid-job: {d}");
    assert_eq!(s.count("SELECT COUNT(*) FROM records").await, 0);

    s.start("worker", &["worker"], WHOLE);
    let view = s.wait_batch(&batch, Duration::from_secs(120)).await;
    assert_eq!(view["documents"][0]["status"], "needs_review", "{view}");
    let (_, d) = s.get(&format!("/api/v1/documents/{doc}")).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["records"].as_array().map(Vec::len), Some(2), "{d}");
    the_stack_has_one_outcome(&s).await;
}

/// Uploads a three-page stack (long enough to be caught in the middle)
/// and waits until `worker` has taken it: its batch and document.
async fn stack_taken_by(s: &Stack, worker: &str) -> (String, String) {
    let (status, answer) = s
        .upload(&[Path::new("samples/batches/batch-mini.pdf")])
        .await;
    assert_eq!(status, 202, "{answer}");
    let batch = answer["batch_id"].as_str().unwrap().to_string();
    let doc = answer["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_processing(s, &doc, worker).await;
    (batch, doc)
}

/// The stack's two records and three pages, written once, and nothing
/// left on the queue or in the outbox.
async fn the_stack_has_one_outcome(s: &Stack) {
    assert_eq!(s.count("SELECT COUNT(*) FROM records").await, 2);
    assert_eq!(s.count("SELECT COUNT(*) FROM pages").await, 3);
    let finals = s
        .count("SELECT COUNT(*) FROM document_events WHERE status NOT IN ('queued', 'processing')")
        .await;
    assert_eq!(finals, 1, "one outcome");
    s.wait_outbox_empty().await;
    assert!(s.drain(&s.queue.clone()).await.is_empty());
}

/// Waits until the document is taken by a worker.
async fn wait_processing(s: &Stack, doc: &str, worker: &str) {
    let start = Instant::now();
    loop {
        let (_, d) = s.get(&format!("/api/v1/documents/{doc}")).await;
        if d["status"] == "processing" {
            return;
        }
        assert_eq!(
            d["status"], "queued",
            "the job finished before it could be interrupted: {d}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never taken: {}",
            s.log(worker)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_whose_worker_froze_is_swept_back_and_read_by_another() {
    let mut s = Stack::new("frozen", true).await;
    s.start("serve", &["serve"], &[("FORMFLOW_STALE_AFTER", "3s")]);
    s.start("worker-a", &["worker"], WHOLE_1S);
    s.wait_serving().await;
    let (batch, doc) = stack_taken_by(&s, "worker-a").await;
    // Frozen, not dead: its connection stays open, so the broker keeps
    // its job; only the sweeper can see that it has gone quiet.
    s.signal("worker-a", "STOP");
    s.start("worker", &["worker"], WHOLE_1S);
    let view = s.wait_batch(&batch, Duration::from_secs(120)).await;
    assert_eq!(view["documents"][0]["status"], "needs_review", "{view}");
    let (_, d) = s.get(&format!("/api/v1/documents/{doc}")).await;
    assert_eq!(d["attempts"], 2, "{d}");
    let back = s
        .count(
            "SELECT COUNT(*) FROM document_events \
             WHERE status = 'queued' AND detail LIKE 'back in the queue%'",
        )
        .await;
    assert_eq!(back, 1, "swept back once");
    // The frozen worker wakes, finishes its copy, and writes nothing.
    // Stopping, it finishes what it holds first.
    s.signal("worker-a", "CONT");
    s.signal("worker-a", "TERM");
    assert!(
        s.wait_exit("worker-a", Duration::from_secs(60)).success(),
        "{}",
        s.log("worker-a")
    );
    the_stack_has_one_outcome(&s).await;
}

/// Uploads the three-page stack to workers that split it, and waits until
/// `worker` is reading one of its pages: its batch and document.
async fn page_taken_by(s: &Stack, worker: &str) -> (String, String) {
    let (batch, doc) = stack_taken_by(s, worker).await;
    let start = Instant::now();
    while s
        .count("SELECT COUNT(*) FROM page_tasks WHERE touched_at IS NOT NULL AND result IS NULL")
        .await
        == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no page taken: {}",
            s.log(worker)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (batch, doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_or_frozen_on_a_page_leave_the_stack_one_outcome() {
    let mut s = Stack::new("pagefaults", true).await;
    s.start("serve", &["serve"], &[("FORMFLOW_STALE_AFTER", "3s")]);
    let split: &[(&str, &str)] = &[("FORMFLOW_SPLIT_PAGES", "3"), ("FORMFLOW_HEARTBEAT", "1s")];
    s.start("worker-a", &["worker"], split);
    s.wait_serving().await;
    // Killed while reading a page: the broker gives the page job to the
    // next worker.
    let (batch, doc) = page_taken_by(&s, "worker-a").await;
    s.signal("worker-a", "KILL");
    s.wait_exit("worker-a", Duration::from_secs(10));
    // Frozen while reading a page: its connection stays open, so the
    // broker keeps the page job; the sweeper sends the page again alone.
    s.start("worker-b", &["worker"], split);
    let start = Instant::now();
    while s
        .count(
            "SELECT COUNT(*) FROM page_tasks \
             WHERE touched_at IS NOT NULL AND result IS NULL AND attempts = 2",
        )
        .await
        == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the killed page was not taken again: {}",
            s.log("worker-b")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.signal("worker-b", "STOP");
    s.start("worker", &["worker"], split);
    let view = s.wait_batch(&batch, Duration::from_secs(120)).await;
    assert_eq!(view["documents"][0]["status"], "needs_review", "{view}");
    let (_, d) = s.get(&format!("/api/v1/documents/{doc}")).await;
    assert_eq!(d["attempts"], 1, "the document was taken once: {d}");
    assert_eq!(d["records"].as_array().map(Vec::len), Some(2), "{d}");
    let swept = s
        .count("SELECT COUNT(*) FROM document_events WHERE detail LIKE 'page % back in the queue%'")
        .await;
    assert_eq!(swept, 1, "the frozen worker's page swept back once");
    let split_once = s
        .count("SELECT COUNT(*) FROM document_events WHERE detail = 'read as 3 page jobs'")
        .await;
    assert_eq!(split_once, 1);
    assert_eq!(s.count("SELECT COUNT(*) FROM page_tasks").await, 0);
    s.signal("worker-b", "CONT");
    s.signal("worker-b", "TERM");
    assert!(
        s.wait_exit("worker-b", Duration::from_secs(60)).success(),
        "{}",
        s.log("worker-b")
    );
    the_stack_has_one_outcome(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_while_rabbitmq_is_unreachable_are_kept_and_sent_when_it_is_back() {
    let mut s = Stack::new("brokerdown", true).await;
    // Nothing listens on port 9: the broker is unreachable.
    s.start(
        "serve-down",
        &["serve"],
        &[("AMQP_URL", "amqp://guest:guest@127.0.0.1:9/%2f")],
    );
    s.wait_serving().await;
    let files = [
        "samples/documents/voter-registration-035.png",
        "samples/documents/voter-registration-002.jpg",
    ];
    let (status, answer) = s
        .upload(&files.iter().map(Path::new).collect::<Vec<_>>())
        .await;
    assert_eq!(
        status, 202,
        "uploads are taken while the broker is down: {answer}"
    );
    let batch = answer["batch_id"].as_str().unwrap().to_string();
    let (st, ready) = s.get("/readyz").await;
    assert_eq!(st, 503, "{ready}");
    assert_eq!(ready["database"], "ok");
    assert_ne!(ready["broker"], "ok");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.count("SELECT COUNT(*) FROM outbox WHERE kind = 'job'")
            .await,
        2,
        "both jobs wait in the outbox"
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM documents WHERE status = 'queued'")
            .await,
        2
    );
    let metrics = s.raw("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("formflow_outbox_pending 2"), "{metrics}");
    // The service restarts with the broker reachable; nothing was lost.
    s.signal("serve-down", "TERM");
    assert!(
        s.wait_exit("serve-down", Duration::from_secs(30)).success(),
        "{}",
        s.log("serve-down")
    );
    s.start("serve", &["serve"], &[]);
    s.start("worker", &["worker"], &[]);
    s.wait_serving().await;
    let view = s.wait_batch(&batch, Duration::from_secs(120)).await;
    assert!(
        view["documents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] != "failed"),
        "{view}"
    );
    s.wait_outbox_empty().await;
    assert_eq!(s.count("SELECT COUNT(*) FROM records").await, 2);
}

/// A PNG whose header is sound (so it is accepted) and whose pixels are
/// scrambled (so it cannot be decoded).
fn corrupt_png(dir: &Path) -> std::path::PathBuf {
    let mut b = std::fs::read(repo("samples/documents/voter-registration-035.png")).unwrap();
    let at = b
        .windows(4)
        .position(|w| w == b"IDAT")
        .expect("a PNG has IDAT");
    let len = u32::from_be_bytes(b[at - 4..at].try_into().unwrap()) as usize;
    for x in &mut b[at + 4 + len / 2..at + 4 + len / 2 + 200] {
        *x ^= 0x5a;
    }
    let p = dir.join("scrambled.png");
    std::fs::write(&p, b).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_fails_with_its_reason_is_dead_lettered_and_the_batch_goes_on() {
    let mut s = Stack::new("corrupt", true).await;
    s.start("serve", &["serve"], &[]);
    s.start("worker", &["worker"], &[]);
    s.wait_serving().await;
    let tmp = tempfile::tempdir().unwrap();
    let bad = corrupt_png(tmp.path());
    let files = [
        repo("samples/documents/voter-registration-035.png"),
        bad,
        repo("samples/bad-inputs/blank-page.jpg"),
    ];
    let (status, answer) = s
        .upload(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>())
        .await;
    assert_eq!(status, 202, "{answer}");
    let batch = answer["batch_id"].as_str().unwrap().to_string();
    let view = s.wait_batch(&batch, Duration::from_secs(120)).await;
    let docs = by_file(&view);
    assert_eq!(
        docs["voter-registration-035.png"]["status"], "extracted",
        "{view}"
    );
    assert_eq!(docs["blank-page.jpg"]["status"], "unclassified", "{view}");
    let failed = &docs["scrambled.png"];
    assert_eq!(failed["status"], "failed", "{view}");
    assert_eq!(
        failed["error"], "the PNG is damaged and cannot be read: scan it again",
        "{view}"
    );
    let (_, d) = s
        .get(&format!(
            "/api/v1/documents/{}",
            failed["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(d["reason"], "damaged", "{d}");
    assert_eq!(d["records"][0]["status"], "failed", "{d}");
    // Dead-lettered, with the reason on the message, and counted.
    let metrics = scrape_until(&s, "formflow_dead_letter_queue_depth 1").await;
    assert!(metrics.contains("formflow_queue_depth 0"), "{metrics}");
    let mut dead = Vec::new();
    for _ in 0..50 {
        dead = s.drain(&format!("{}.dead", s.queue)).await;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].1["document_id"], failed["id"]);
    let reason = match dead[0].2.inner().get("x-formflow-reason") {
        Some(lapin::types::AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("no reason header: {other:?}"),
    };
    assert_eq!(
        reason,
        "the PNG is damaged and cannot be read: scan it again"
    );
    let metrics = s.raw("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("formflow_documents_failed_total{reason=\"damaged\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("formflow_dead_letter_queue_depth 0"),
        "drained: {metrics}"
    );
}

/// Scrapes serve's `/metrics` until it holds `line` (10 s at most).
async fn scrape_until(s: &Stack, line: &str) -> String {
    let started = Instant::now();
    loop {
        let metrics = s.raw("/metrics").await.text().await.unwrap();
        if metrics.lines().any(|l| l == line) {
            return metrics;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {line:?} in {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_broker_dead_letters_by_itself_is_counted_too() {
    use lapin::options::{BasicGetOptions, BasicPublishOptions, BasicRejectOptions};
    let mut s = Stack::new("brokerdead", true).await;
    s.start("serve", &["serve"], &[]);
    s.wait_serving().await;
    // Ready: serve has reached RabbitMQ and declared its queues.
    let started = Instant::now();
    while s.raw("/readyz").await.status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    scrape_until(&s, "formflow_dead_letter_queue_depth 0").await;
    // A job whose every taker dies without a word to the database: taken
    // and handed back until the broker's delivery limit.
    let conn = lapin::Connection::connect(super::stack::AMQP, Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let job = format!(r#"{{"document_id":"{}"}}"#, uuid::Uuid::now_v7());
    ch.basic_publish(
        "".into(),
        s.queue.as_str().into(),
        BasicPublishOptions::default(),
        job.as_bytes(),
        Default::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let mut deliveries = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        match ch
            .basic_get(s.queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap()
        {
            Some(m) => {
                deliveries += 1;
                m.delivery
                    .reject(BasicRejectOptions { requeue: true })
                    .await
                    .unwrap();
            }
            None if deliveries > 0 => break,
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let _ = ch.close(200, "done".into()).await;
    let _ = conn.close(200, "done".into()).await;
    assert!(
        deliveries > formflow_service::queue::DELIVERY_LIMIT,
        "taken {deliveries} times"
    );
    let metrics = scrape_until(&s, "formflow_dead_letter_queue_depth 1").await;
    assert!(metrics.contains("formflow_queue_depth 0"), "{metrics}");
    // The broker's own: no reason from a worker on it.
    let dead = s.drain(&format!("{}.dead", s.queue)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        dead[0].1,
        serde_json::from_str::<serde_json::Value>(&job).unwrap()
    );
    assert!(dead[0].2.inner().get("x-formflow-reason").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_is_answered_plainly_with_the_request_id_in_the_log() {
    let mut s = Stack::new("reqid", true).await;
    s.start("serve", &["serve"], &[]);
    s.wait_serving().await;
    let get = |path: &str, id: Option<&str>| {
        let mut r = s.client("caseworker").get(format!("{}{path}", s.base()));
        if let Some(id) = id {
            r = r.header("X-Request-Id", id);
        }
        r.send()
    };
    // A request id the client gives comes back; without one, one is made.
    let r = get("/healthz", Some("trace-abc-123")).await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123");
    let r = get("/healthz", None).await.unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made.len(), 32, "{made}");
    // A table goes missing under the service: its own fault.
    sqlx::query("ALTER TABLE batches RENAME TO batches_gone")
        .execute(&s.pool)
        .await
        .unwrap();
    let r = get("/api/v1/batches", None).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "60");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str());
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.ends_with(&format!("(request {id})")), "{detail}");
    assert!(
        !detail.contains("batches"),
        "the cause is not sent: {detail}"
    );
    // The log has the cause under the same id.
    let start = Instant::now();
    while !s.log("serve").contains(&id) && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = s
        .log("serve")
        .lines()
        .find(|l| l.contains(&id) && l.contains("request failed"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no log line for {id}:\n{}", s.log("serve")));
    assert!(line.contains("batches"), "{line}");
}
