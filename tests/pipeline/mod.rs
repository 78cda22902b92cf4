//! The pipeline against the real services: `formflow serve` and `formflow
//! worker` processes on PostgreSQL and RabbitMQ, each test with its own
//! database and queue names; and `formflow run` on SQLite.

mod answers;
mod disk;
mod door;
mod faults;
mod hot_folder;
mod limits;
mod s3;
pub mod stack;
mod tls;

use crate::util::{extract, repo};
use serde_json::Value;
use stack::Stack;
use std::path::Path;
use std::time::Duration;

/// A record as the API gives it, reduced to what `formflow extract` writes.
fn contract_record(r: &Value) -> Value {
    let mut r = r.clone();
    let o = r.as_object_mut().expect("a record is an object");
    for k in [
        "id",
        "document_id",
        "batch_id",
        "created_at",
        "updated_at",
        "version",
        "reviewed_by",
        "reviewed_at",
    ] {
        assert!(o.remove(k).is_some(), "the record carries {k}");
    }
    r
}

/// The documents of a batch answer, by file name.
fn by_file(batch: &Value) -> std::collections::HashMap<String, Value> {
    batch["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| (d["source"].as_str().expect("source").to_string(), d.clone()))
        .collect()
}

/// Checks a scrape keeps the Prometheus conventions: every family has
/// help and a type; counters' samples end `_total`, and nothing else's
/// does; histograms are in seconds.
fn assert_prometheus_conventions(scrape: &str) {
    let mut types = std::collections::HashMap::new();
    for l in scrape.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_string(), kind.to_string());
            assert!(
                scrape.contains(&format!("# HELP {name} ")),
                "{name} has no help"
            );
            match kind {
                "counter" => assert!(!name.ends_with("_total"), "{name}"),
                "histogram" => assert!(name.ends_with("_seconds"), "{name} is a histogram"),
                "gauge" => assert!(!name.ends_with("_total"), "{name} is a gauge"),
                other => panic!("{name}: unexpected type {other}"),
            }
        }
    }
    for l in scrape.lines().filter(|l| !l.starts_with('#')) {
        let name = l.split(['{', ' ']).next().unwrap();
        let family = types
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("{name} has no # TYPE"));
        if types[family] == "counter" {
            assert_eq!(name, format!("{family}_total"), "a counter's sample");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_uploaded_through_the_api_ends_as_records_rows_and_events() {
    let mut s = Stack::new("api", true).await;
    let worker_metrics = format!("127.0.0.1:{}", stack::free_port());
    s.start("serve", &["serve"], &[("FORMFLOW_LOG_FORMAT", "json")]);
    s.start(
        "worker",
        &["worker"],
        &[
            ("FORMFLOW_LOG_FORMAT", "json"),
            ("FORMFLOW_METRICS_LISTEN", &worker_metrics),
        ],
    );
    s.wait_serving().await;
    let (_events_conn, events_queue) = s.listen_events().await;

    let files = [
        "samples/documents/voter-registration-035.png",
        "samples/documents/legal-aid-cw1-018.tif",
        "samples/batches/batch-mini.pdf",
        "samples/bad-inputs/blank-page.jpg",
    ];
    let paths: Vec<&Path> = files.iter().map(Path::new).collect();
    let (status, answer) = s.upload(&paths).await;
    assert_eq!(status, 202, "{answer}");
    let batch = answer["batch_id"].as_str().expect("a batch id").to_string();
    assert_eq!(
        answer["documents"].as_array().map(Vec::len),
        Some(4),
        "{answer}"
    );
    assert!(
        answer["documents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "queued"),
        "{answer}"
    );

    let view = s.wait_batch(&batch, Duration::from_secs(180)).await;
    let docs = by_file(&view);
    assert_eq!(
        docs["voter-registration-035.png"]["status"], "extracted",
        "{view}"
    );
    assert_eq!(
        docs["legal-aid-cw1-018.tif"]["status"], "needs_review",
        "{view}"
    );
    assert_eq!(docs["batch-mini.pdf"]["status"], "needs_review", "{view}");
    assert_eq!(docs["blank-page.jpg"]["status"], "unclassified", "{view}");
    assert_eq!(view["counts"]["extracted"], 1);
    assert_eq!(view["counts"]["needs_review"], 2);
    assert_eq!(view["counts"]["unclassified"], 1);

    // The worker's own metrics: every job it finished, each page's time by
    // form, the OCR engine's, and the documents' wait in the queue (the
    // 3-page stack is read as 3 page jobs and a join).
    let pages: i64 = docs
        .values()
        .map(|d| d["page_count"].as_i64().unwrap())
        .sum();
    let scraped = reqwest::get(format!("http://{worker_metrics}/metrics"))
        .await
        .expect("the worker's metrics answer");
    assert_eq!(scraped.status(), 200);
    let scraped = scraped.text().await.unwrap();
    for line in [
        "formflow_worker_jobs_total{task=\"document\",outcome=\"done\"} 4".to_string(),
        "formflow_worker_jobs_total{task=\"page\",outcome=\"done\"} 3".to_string(),
        "formflow_worker_jobs_total{task=\"join\",outcome=\"done\"} 1".to_string(),
        "formflow_worker_jobs_in_progress 0".to_string(),
        format!("formflow_ocr_page_seconds_count{{engine=\"tesseract\"}} {pages}"),
        "formflow_queue_wait_seconds_count 4".to_string(),
    ] {
        assert!(scraped.contains(&line), "{line} in {scraped}");
    }
    assert!(
        scraped.contains("formflow_extract_page_seconds_count{form=\"voter-registration\"}"),
        "{scraped}"
    );
    assert!(scraped.ends_with("# EOF\n"), "{scraped}");
    assert_prometheus_conventions(&scraped);

    // Each document's records are exactly what the engine reads off the file.
    for f in files {
        let id = docs[Path::new(f).file_name().unwrap().to_str().unwrap()]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (st, doc) = s.get(&format!("/api/v1/documents/{id}")).await;
        assert_eq!(st, 200, "{doc}");
        assert_eq!(doc["attempts"], 1, "{doc}");
        let got: Vec<Value> = doc["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(contract_record)
            .collect();
        let want: Vec<Value> = extract(f)
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        assert_eq!(got, want, "{f}");
        let statuses: Vec<&str> = doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses.first(), Some(&"queued"), "{doc}");
        assert_eq!(statuses.get(1), Some(&"processing"), "{doc}");
        if f.ends_with("batch-mini.pdf") {
            // A stack of three pages is split into page jobs (and its
            // records, above, are still those of the whole reading).
            assert_eq!(statuses.len(), 4, "{doc}");
            assert_eq!(doc["events"][2]["detail"], "read as 3 page jobs", "{doc}");
        } else {
            assert_eq!(statuses.len(), 3, "{doc}");
        }
    }

    // Rows: one record per form found, every field of each, a history entry
    // for each field's first value, every page placed.
    let batch_mini_docs = extract("samples/batches/batch-mini.pdf").len() as i64;
    assert_eq!(batch_mini_docs, 2);
    assert_eq!(s.count("SELECT COUNT(*) FROM documents").await, 4);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM records").await,
        3 + batch_mini_docs
    );
    let voter_fields = formflow_schemas::TemplateSet::builtin()
        .get("voter-registration")
        .unwrap()
        .fields
        .len() as i64;
    assert_eq!(
        s.count(
            "SELECT COUNT(*) FROM field_values f JOIN records r ON r.id = f.record_id \
             WHERE r.source = 'voter-registration-035.png'"
        )
        .await,
        voter_fields
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM field_history").await,
        s.count("SELECT COUNT(*) FROM field_values").await
    );
    assert_eq!(
        s.count("SELECT CAST(SUM(page_count) AS BIGINT) FROM documents")
            .await,
        s.count("SELECT COUNT(*) FROM pages").await
    );
    s.wait_outbox_empty().await;

    // The records API: every record of the batch, page by page, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/records?batch={batch}&limit=2&cursor={c}"),
            None => format!("/api/v1/records?batch={batch}&limit=2"),
        };
        let (st, page) = s.get(&q).await;
        assert_eq!(st, 200, "{page}");
        for r in page["records"].as_array().unwrap() {
            seen.push((
                r["updated_at"].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, 3 + batch_mini_docs);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        seen, sorted,
        "records come once each, in (updated_at, id) order"
    );
    let (_, voters) = s
        .get(&format!(
            "/api/v1/records?batch={batch}&form=voter-registration&status=extracted"
        ))
        .await;
    let voters = voters["records"].as_array().unwrap();
    assert_eq!(voters.len(), 1);
    assert_eq!(voters[0]["source"], "voter-registration-035.png");
    let (st, bad) = s.get("/api/v1/records?updated_since=yesterday").await;
    assert_eq!(st, 422);
    assert!(
        bad["detail"].as_str().unwrap().contains("updated_since"),
        "{bad}"
    );

    // The original comes back byte for byte; a page comes back as a PNG.
    let id = docs["legal-aid-cw1-018.tif"]["id"].as_str().unwrap();
    let original = s
        .raw(&format!("/api/v1/documents/{id}/original"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        original.as_ref(),
        std::fs::read(repo("samples/documents/legal-aid-cw1-018.tif"))
            .unwrap()
            .as_slice()
    );
    let page = s.raw(&format!("/api/v1/documents/{id}/pages/2")).await;
    assert_eq!(page.status(), 200);
    let png = page.bytes().await.unwrap();
    let img = image::load_from_memory(&png).expect("a PNG");
    // The form's A4 page at 150 dpi.
    assert_eq!((img.width(), img.height()), (1240, 1754));
    let (st, _) = s.get(&format!("/api/v1/documents/{id}/pages/3")).await;
    assert_eq!(st, 404);

    // One event per document, with ids, forms and statuses but no values.
    let mut events = Vec::new();
    for _ in 0..50 {
        events.extend(s.drain(&events_queue).await);
        if events.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut keys: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "document.extracted",
            "document.needs_review",
            "document.needs_review",
            "document.needs_review"
        ]
    );
    let surname = extract("samples/documents/voter-registration-035.png")[0]
        .field("surname")
        .unwrap()
        .value
        .clone();
    for (_, body, _) in &events {
        assert!(
            body["document_id"].is_string() && body["batch_id"] == batch.as_str(),
            "{body}"
        );
        assert!(
            !body.to_string().contains(surname.as_str().unwrap()),
            "an event carries a value: {body}"
        );
    }

    // The same bytes again are recognised, and not processed twice.
    let (status, again) = s
        .upload(&[Path::new("samples/documents/voter-registration-035.png")])
        .await;
    assert_eq!(status, 202);
    assert_eq!(again["documents"][0]["status"], "duplicate", "{again}");
    // An uploader is not told the id of another upload's document, which
    // it may not look at; a caseworker, who may, is.
    assert!(
        again["documents"][0].get("duplicate_of").is_none(),
        "{again}"
    );
    let again_batch = again["batch_id"].as_str().unwrap();
    let as_uploader: Value = s
        .client("uploader")
        .get(format!("{}/api/v1/batches/{again_batch}", s.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(as_uploader["documents"][0]["status"], "duplicate");
    assert!(
        as_uploader["documents"][0].get("duplicate_of").is_none(),
        "{as_uploader}"
    );
    let (_, as_caseworker) = s.get(&format!("/api/v1/batches/{again_batch}")).await;
    assert_eq!(
        as_caseworker["documents"][0]["duplicate_of"],
        docs["voter-registration-035.png"]["id"]
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM records").await,
        3 + batch_mini_docs
    );

    // Erasure on PostgreSQL: the document and its duplicate go, with their
    // original; downstream services hear of it, with the record id.
    let voter = docs["voter-registration-035.png"]["id"].as_str().unwrap();
    let (_, before) = s.get(&format!("/api/v1/documents/{voter}")).await;
    let record_id = before["records"][0]["id"].clone();
    let out = s.command(&["purge", "--document", voter]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.starts_with("erased 2 document(s): 1 record(s)"),
        "{said}"
    );
    let (st, _) = s.get(&format!("/api/v1/documents/{voter}")).await;
    assert_eq!(st, 404);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM records").await,
        2 + batch_mini_docs
    );
    assert_eq!(
        s.count(&format!(
            "SELECT COUNT(*) FROM field_values f JOIN records r ON r.id = f.record_id \
             WHERE r.document_id = '{voter}'"
        ))
        .await,
        0
    );
    let sha = formflow_service::blobs::sha256_hex(
        &std::fs::read(repo("samples/documents/voter-registration-035.png")).unwrap(),
    );
    assert!(!s
        .storage
        .path()
        .join(format!("originals/sha256/{}/{sha}", &sha[..2]))
        .exists());
    let mut purged = Vec::new();
    for _ in 0..50 {
        purged.extend(s.drain(&events_queue).await);
        if purged.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(purged.len(), 2, "{purged:?}");
    let first = purged
        .iter()
        .find(|e| e.1["document_id"] == voter)
        .expect("its event");
    assert_eq!(first.0, "document.purged");
    assert_eq!(first.1["record_ids"], serde_json::json!([record_id]));

    // Metrics cover the whole pipeline.
    let metrics = s.raw("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("formflow_documents{status=\"needs_review\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("formflow_uploads_total{outcome=\"accepted\"} 4"),
        "{metrics}"
    );
    // Read from the documents' rows: the erased one's time went with it.
    assert!(
        metrics.contains("formflow_extract_seconds_count 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("formflow_review_backlog_documents 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("formflow_outbox_oldest_age_seconds 0"),
        "{metrics}"
    );
    let age = metrics
        .lines()
        .find_map(|l| l.strip_prefix("formflow_review_backlog_oldest_age_seconds "))
        .and_then(|v| v.parse::<i64>().ok())
        .expect("the backlog's age");
    assert!((0..600).contains(&age), "{metrics}");
    assert!(metrics.contains("formflow_pages_done_total "), "{metrics}");
    assert_prometheus_conventions(&metrics);
    crate::deploy::assert_deploy_names_only_scraped(&[&metrics, &scraped]);
    let (st, ready) = s.get("/readyz").await;
    assert_eq!(st, 200, "{ready}");
    assert_eq!(
        ready,
        serde_json::json!({"ready": true, "database": "ok", "broker": "ok", "storage": "ok"})
    );

    // Both stop cleanly on SIGTERM.
    s.signal("worker", "TERM");
    s.signal("serve", "TERM");
    assert!(
        s.wait_exit("worker", Duration::from_secs(30)).success(),
        "{}",
        s.log("worker")
    );
    assert!(
        s.wait_exit("serve", Duration::from_secs(30)).success(),
        "{}",
        s.log("serve")
    );
    // The logs are one JSON object a line. The upload's access line names
    // its request id, and the worker's lines about the documents that
    // request brought carry it, with the document and batch.
    let lines = |label: &str| -> Vec<Value> {
        s.log(label)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let served = lines("serve");
    // A run with no fault logs no error, stopping included (a channel left
    // open when the broker connection closed was once logged by lapin).
    for (label, log) in [("serve", &served), ("worker", &lines("worker"))] {
        let errors: Vec<&Value> = log.iter().filter(|l| l["level"] == "ERROR").collect();
        assert!(errors.is_empty(), "{label} logged errors: {errors:?}");
    }
    let upload = served
        .iter()
        .find(|l| {
            l["target"] == "formflow::access"
                && l["method"] == "POST"
                && l["route"] == "/api/v1/batches"
                && l["status"] == 202
        })
        .expect("the upload's access line");
    assert!(upload["seconds"].as_f64().is_some(), "{upload}");
    let request_id = upload["request_id"].as_str().expect("a request id");
    let voter = docs["voter-registration-035.png"]["id"].as_str().unwrap();
    let about: Vec<Value> = lines("worker")
        .into_iter()
        .filter(|l| l["span"]["document_id"] == voter)
        .collect();
    assert!(
        about.iter().any(|l| l["message"] == "worker: job done"),
        "{about:?}"
    );
    for l in &about {
        assert_eq!(l["span"]["request_id"], request_id, "{l}");
        assert_eq!(l["span"]["batch_id"], batch.as_str(), "{l}");
    }

    // No personal data in the logs.
    for label in ["worker", "serve"] {
        assert!(
            !s.log(label).contains(surname.as_str().unwrap()),
            "{label} logged a value"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_expected_outcome_through_the_api() {
    let mut s = Stack::new("bad", true).await;
    s.start("serve", &["serve"], &[]);
    s.start("worker", &["worker"], &[]);
    s.wait_serving().await;
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("samples/bad-inputs/expectations.json")).unwrap(),
    )
    .unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let mut accepted = 0;
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let path = format!("samples/bad-inputs/{file}");
        let (status, answer) = s.upload(&[Path::new(&path)]).await;
        if status == 202 {
            accepted += 1;
        }
        match expect {
            "rejected" => {
                assert!((400..500).contains(&status), "{file}: {status} {answer}");
                let why = answer["refused"][0]["error"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: {answer}"));
                assert!(why.len() > 10 && !why.contains("Error"), "{file}: {why}");
            }
            "rejected_or_failed" if status != 202 => {
                assert!((400..500).contains(&status), "{file}: {status} {answer}");
                assert!(
                    answer["refused"][0]["error"]
                        .as_str()
                        .is_some_and(|e| e.len() > 10),
                    "{file}: {answer}"
                );
            }
            "rejected_or_failed" => {
                let batch = answer["batch_id"].as_str().unwrap();
                let view = s.wait_batch(batch, Duration::from_secs(120)).await;
                assert_eq!(view["documents"][0]["status"], "failed", "{file}: {view}");
                assert!(
                    view["documents"][0]["error"]
                        .as_str()
                        .is_some_and(|e| e.len() > 10),
                    "{file}: {view}"
                );
            }
            "unclassified" => {
                assert_eq!(status, 202, "{file}: {answer}");
                let batch = answer["batch_id"].as_str().unwrap();
                let view = s.wait_batch(batch, Duration::from_secs(120)).await;
                assert_eq!(
                    view["documents"][0]["status"], "unclassified",
                    "{file}: {view}"
                );
            }
            other => panic!("unknown expectation {other}"),
        }
    }
    // Nothing of a refused file was kept.
    let kept = s.count("SELECT COUNT(*) FROM documents").await;
    assert_eq!(
        kept, accepted,
        "a document for each accepted file, none for refused ones"
    );
    let stored = walk(&s.storage.path().join("originals/sha256")).len() as i64;
    assert_eq!(
        stored, kept,
        "one original per accepted file, none for refused ones"
    );
    // A request that is not multipart, and one with no file, are refused in words.
    let r = s
        .client("uploader")
        .post(format!("{}/api/v1/batches", s.base()))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let v: Value = r.json().await.expect("a JSON error");
    assert!(v["detail"].as_str().unwrap().contains("multipart"), "{v}");
    let r = s
        .client("uploader")
        .post(format!("{}/api/v1/batches", s.base()))
        .multipart(reqwest::multipart::Form::new().text("note", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Unknown ids are 404 with a sentence.
    let (st, v) = s.get("/api/v1/documents/not-an-id").await;
    assert_eq!(st, 404);
    assert!(v["detail"].is_string());

    // `formflow upload` sends a batch to this service, waits, and sums up;
    // a file refused makes its exit code 2.
    let journal = s.storage.path().join("sent.jsonl");
    let upload = |args: &[&str]| {
        let mut c = s.command(&["upload"]);
        c.args(args)
            .arg("--journal")
            .arg(&journal)
            .current_dir(repo(""))
            .env("FORMFLOW_SERVER", s.base())
            .env("FORMFLOW_TOKEN", &s.tokens["uploader"]);
        c.output().unwrap()
    };
    let out = upload(&[
        "samples/documents/voter-registration-035.png",
        "samples/bad-inputs/random.bin",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("voter-registration-035.png") && table.contains("extracted"),
        "{table}"
    );
    assert!(
        table.contains(
            "2 file(s): extracted 1 · needs review 0 · unclassified 0 · failed 0 · refused 1"
        ),
        "{table}"
    );

    // A folder goes in batches under the server's file limit, as JSON.
    let folder = s.storage.path().join("scans");
    std::fs::create_dir(&folder).unwrap();
    for f in [
        "voter-registration-002.jpg",
        "legal-aid-cw1-038.tif",
        "voter-registration-012.tif",
    ] {
        std::fs::copy(repo(&format!("samples/documents/{f}")), folder.join(f)).unwrap();
    }
    let folder_arg = folder.to_str().unwrap();
    let out = upload(&[folder_arg, "--json", "--max-files", "2"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(sent["batches"].as_array().map(Vec::len), Some(2), "{sent}");
    assert_eq!(
        sent["documents"].as_array().map(Vec::len),
        Some(3),
        "{sent}"
    );
    assert_eq!(sent["skipped"], serde_json::json!([]), "{sent}");
    assert_eq!(sent["totals"]["failed"], 0, "{sent}");
    assert!(
        sent["documents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["document_id"].is_string() && d["status"] == "needs_review"),
        "{sent}"
    );
    // Run again after one more file arrived: only that one is sent.
    std::fs::copy(
        repo("samples/documents/voter-registration-025.jpg"),
        folder.join("voter-registration-025.jpg"),
    )
    .unwrap();
    let out = upload(&[folder_arg, "--json", "--max-files", "2"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(
        again["skipped"].as_array().map(Vec::len),
        Some(3),
        "{again}"
    );
    assert_eq!(
        again["batches"].as_array().map(Vec::len),
        Some(1),
        "{again}"
    );
    assert_eq!(
        again["documents"].as_array().map(Vec::len),
        Some(1),
        "{again}"
    );
    assert_eq!(again["documents"][0]["file"], "voter-registration-025.jpg");
    let duplicates = s
        .count("SELECT COUNT(*) FROM documents WHERE status = 'duplicate'")
        .await;
    assert_eq!(duplicates, 0, "no file was sent twice");

    // A service that cannot be reached is exit code 3, after its retries.
    let out = upload(&[
        folder_arg,
        "--again",
        "--retries",
        "1",
        "--server",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not be reached"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limits_are_answered_413_in_plain_words() {
    let mut s = Stack::new("limits", true).await;
    s.start(
        "serve",
        &["serve"],
        &[("FORMFLOW_MAX_UPLOAD_MB", "1"), ("FORMFLOW_MAX_FILES", "2")],
    );
    s.wait_serving().await;
    let small = Path::new("samples/documents/voter-registration-035.png");
    let (st, v) = s.upload(&[small, small, small]).await;
    assert_eq!(st, 413, "{v}");
    assert_eq!(
        v["detail"],
        "more than 2 files in one upload: send them as several batches"
    );
    let (st, v) = s
        .upload(&[Path::new("samples/documents/legal-aid-cw1-003.pdf")])
        .await;
    assert_eq!(st, 413, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("larger than the limit of 1 MB"),
        "{v}"
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM documents").await,
        0,
        "nothing half-stored"
    );
    assert!(walk(&s.storage.path().join("originals/sha256")).is_empty());

    // `formflow upload`, not told the server's lower limits, halves a batch
    // the server finds too large; a file over the size limit alone is
    // refused in the server's words (exit code 2), the rest accepted.
    let out = s
        .command(&[
            "upload",
            "--no-wait",
            "--json",
            "samples/documents/voter-registration-035.png",
            "samples/documents/voter-registration-002.jpg",
            "samples/documents/legal-aid-cw1-018.tif",
            "samples/documents/legal-aid-cw1-003.pdf",
        ])
        .arg("--journal")
        .arg(s.storage.path().join("sent.jsonl"))
        .current_dir(repo(""))
        .env("FORMFLOW_SERVER", s.base())
        .env("FORMFLOW_TOKEN", &s.tokens["uploader"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(sent["batches"].as_array().map(Vec::len), Some(2), "{sent}");
    assert_eq!(sent["refused"].as_array().map(Vec::len), Some(1), "{sent}");
    assert!(
        sent["refused"][0]["error"]
            .as_str()
            .unwrap()
            .contains("larger than the limit of 1 MB"),
        "{sent}"
    );
    assert_eq!(s.count("SELECT COUNT(*) FROM documents").await, 3);
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let e = e.path();
        if e.is_dir() {
            out.extend(walk(&e));
        } else {
            out.push(e);
        }
    }
    out
}

#[test]
fn formflow_run_processes_scans_on_sqlite_and_remembers_them() {
    let dir = tempfile::tempdir().unwrap();
    let run_with = |args: &[&str], code: i32| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_formflow"))
            .arg("run")
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .env("FORMFLOW_TODAY", "2026-11-22")
            .env_remove("DATABASE_URL")
            .env_remove("FORMFLOW_STORAGE")
            .current_dir(dir.path())
            .output()
            .expect("formflow runs");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // A refused file makes the exit code 2.
    let run = |args: &[&str]| run_with(args, 2);
    let files = [
        repo("samples/documents/voter-registration-035.png"),
        repo("samples/batches/batch-mini.pdf"),
        repo("samples/bad-inputs/random.bin"),
    ];
    let args: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let out = run(&args);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{out}"))
            .to_string()
    };
    assert!(
        line("voter-registration-035.png").contains("extracted"),
        "{out}"
    );
    assert!(
        line("batch-mini.pdf").contains("legal-aid-cw1, voter-registration"),
        "{out}"
    );
    assert!(line("random.bin").contains("refused"), "{out}");
    assert!(
        out.contains(
            "3 file(s): extracted 1 · needs review 1 · unclassified 0 · failed 0 · refused 1"
        ),
        "{out}"
    );

    // The SQLite rows hold what the engine reads.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("formflow.db").display());
    let (records, fields): (i64, i64) = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
        let r: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM records")
            .fetch_one(&pool)
            .await
            .unwrap();
        let f: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM field_values f JOIN records r ON r.id = f.record_id \
             WHERE r.source = 'voter-registration-035.png' AND f.value = ?",
        )
        .bind(
            serde_json::to_string(
                &extract("samples/documents/voter-registration-035.png")[0]
                    .field("surname")
                    .unwrap()
                    .value,
            )
            .unwrap(),
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (r.0, f.0)
    });
    assert_eq!(records, 3);
    assert_eq!(fields, 1, "the surname is stored as read");

    // Again: the same files are recognised, nothing is extracted twice.
    let again = run(&args);
    assert!(again.contains("duplicate (extracted)"), "{again}");
    let records_after: i64 = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
        sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM records")
            .fetch_one(&pool)
            .await
            .unwrap()
            .0
    });
    assert_eq!(records_after, 3);

    // --json: one object on stdout, and 0 when every file was read.
    let voter = repo("samples/documents/voter-registration-035.png");
    let json: Value = serde_json::from_str(&run_with(&[voter.to_str().unwrap(), "--json"], 0))
        .expect("one JSON object");
    assert_eq!(
        json["documents"][0]["file"], "voter-registration-035.png",
        "{json}"
    );
    assert_eq!(
        json["documents"][0]["status"], "duplicate (extracted)",
        "{json}"
    );
    assert!(json["documents"][0]["document_id"].is_string(), "{json}");
    assert_eq!(json["refused"], serde_json::json!([]), "{json}");
}

#[test]
fn formflow_purge_erases_a_document_its_copies_and_its_original() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let db_url = format!("sqlite://{data}/formflow.db");
    let formflow = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_formflow"))
            .args(args)
            .env("FORMFLOW_TODAY", "2026-11-22")
            .env("DATABASE_URL", &db_url)
            .env("FORMFLOW_STORAGE", format!("{data}/originals"))
            .current_dir(dir.path())
            .output()
            .expect("formflow runs")
    };
    let scan = repo("samples/documents/voter-registration-035.png");
    let stack = repo("samples/batches/batch-mini.pdf");
    for args in [
        vec![scan.to_str().unwrap(), stack.to_str().unwrap()],
        // The same scan again: a duplicate, which goes with it.
        vec![scan.to_str().unwrap()],
    ] {
        let mut all = vec!["run", "--data", data.as_str()];
        all.extend(args);
        let out = formflow(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let query = |sql: &'static str| {
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
            let n: (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n.0
        })
    };
    let (id, sha): (uuid::Uuid, String) = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
        sqlx::query_as(
            "SELECT id, sha256 FROM documents \
             WHERE source = 'voter-registration-035.png' AND duplicate_of IS NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    });
    let original = dir
        .path()
        .join(format!("originals/sha256/{}/{sha}", &sha[..2]));
    assert!(original.exists());
    assert_eq!(query("SELECT COUNT(*) FROM records"), 3);

    let out = formflow(&["purge", "--document", &id.to_string()]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.starts_with("erased 2 document(s): 1 record(s)"),
        "{said}"
    );
    assert!(said.contains(&id.to_string()), "{said}");
    assert!(!original.exists(), "the original is deleted");
    assert_eq!(
        query("SELECT COUNT(*) FROM records"),
        2,
        "the stack's two records stay"
    );
    assert_eq!(query("SELECT COUNT(*) FROM documents"), 1);
    assert_eq!(
        query(
            "SELECT COUNT(*) FROM audit \
             WHERE action = 'document.purge' AND actor = 'formflow purge'"
        ),
        2
    );

    // Again: nothing to erase, said plainly, and a failure for scripts.
    let out = formflow(&["purge", "--document", &id.to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("no such document: {id}")));
    // By age: counted first, then erased, with the stack's original.
    let out = formflow(&["purge", "--older-than", "0", "--dry-run"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.starts_with("1 document(s) uploaded more than 0 day(s) ago would be erased"),
        "{said}"
    );
    assert_eq!(query("SELECT COUNT(*) FROM records"), 2);
    let out = formflow(&["purge", "--older-than", "0"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.starts_with("erased 1 document(s): 2 record(s)"),
        "{said}"
    );
    assert_eq!(
        query("SELECT COUNT(*) FROM records") + query("SELECT COUNT(*) FROM batches"),
        0
    );
    assert!(walk(&dir.path().join("originals/sha256")).is_empty());
    // Neither a document nor an age: a usage error.
    let out = formflow(&["purge"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--document"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_worker_refuse_an_unmigrated_database_in_plain_words() {
    let s = Stack::new("unmigrated", false).await;
    for cmd in ["serve", "worker"] {
        let out = s.command(&[cmd]).output().expect("formflow runs");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not migrated") && err.contains("formflow migrate"),
            "{cmd}: {err}"
        );
    }
}
