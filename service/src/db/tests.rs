//! The queries on a real SQLite file (the PostgreSQL side is exercised by
//! the integration tests against the real server).

use super::*;
use formflow_schemas::{FieldResult, Flag, Record, Status};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

pub(super) async fn fresh() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let db = Db::connect(&url, 4, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    (dir, db)
}

pub(super) fn tester() -> Actor {
    Actor::system("test")
}

pub(super) fn new_doc(name: &str, sha: &str) -> NewDocument {
    NewDocument {
        id: Uuid::now_v7(),
        source: name.into(),
        sha256: sha.into(),
        bytes: 10,
        format: "PNG".into(),
        page_count: 1,
    }
}

pub(super) fn record(status: Status) -> Record {
    Record {
        source: "a.png".into(),
        form: Some("voter-registration".into()),
        pages: vec![1],
        status,
        fields: vec![
            (
                "surname".into(),
                FieldResult {
                    value: json!("SMITH"),
                    confidence: 0.97,
                    flags: vec![],
                    note: None,
                },
            ),
            (
                "postcode".into(),
                FieldResult {
                    value: json!("SW1A 1AA"),
                    confidence: 0.5,
                    flags: vec![Flag::LowConfidence],
                    note: None,
                },
            ),
        ],
        error: None,
    }
}

pub(super) async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, p => {
        sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(p)
            .await
            .unwrap()
            .0
    })
}

#[tokio::test]
async fn the_database_file_and_its_journal_are_for_this_user_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let (dir, db) = fresh().await;
    // A write, so that the write-ahead log exists too.
    db.migrate().await.unwrap();
    for name in ["t.db", "t.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
    let e = Db::connect(
        &format!(
            "sqlite://{}",
            dir.path().join("no/such/folder/t.db").display()
        ),
        1,
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("could not be created"), "{e}");
}

#[tokio::test]
async fn a_database_without_migrations_is_refused_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        1,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let e = db.check_migrated().await.unwrap_err().to_string();
    assert!(e.contains("formflow migrate"), "{e}");
    db.migrate().await.unwrap();
    db.check_migrated().await.unwrap();
    assert!(
        Db::connect("mysql://x", 1, std::time::Duration::from_secs(1))
            .await
            .unwrap_err()
            .to_string()
            .contains("postgres://")
    );
}

#[tokio::test]
async fn an_accepted_batch_has_its_documents_and_a_job_each_and_repeats_are_duplicates() {
    let (_d, db) = fresh().await;
    let a = new_doc("a.png", &"a".repeat(64));
    let b = new_doc("b.png", &"b".repeat(64));
    let a_again = new_doc("a-copy.png", &"a".repeat(64));
    let out = db
        .accept_batch(
            Uuid::now_v7(),
            4,
            &[Refusal {
                file: "x.bin".into(),
                error: "no".into(),
            }],
            &[a.clone(), b, a_again.clone()],
            &tester(),
        )
        .await
        .unwrap();
    assert_eq!(out[0].duplicate_of, None);
    assert_eq!(
        out[2],
        Accepted {
            id: a_again.id,
            duplicate_of: Some(a.id)
        }
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM documents").await, 3);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM documents WHERE status = 'duplicate'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'job'").await,
        2,
        "no job for a duplicate"
    );
    // In a later batch too.
    let again = db
        .accept_batch(
            Uuid::now_v7(),
            1,
            &[],
            &[new_doc("a.png", &"a".repeat(64))],
            &tester(),
        )
        .await
        .unwrap();
    assert_eq!(again[0].duplicate_of, Some(a.id));
}

#[tokio::test]
async fn the_write_check_fails_while_another_holds_the_write_lock() {
    let (dir, db) = fresh().await;
    db.check_write().await.unwrap();
    // Another process holds SQLite's write lock (as a failed commit left
    // it, once).
    let other = Db::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        1,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let Db::Sqlite(p) = &other else {
        panic!("SQLite")
    };
    let mut holder = p.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let blocked =
        tokio::time::timeout(std::time::Duration::from_millis(500), db.check_write()).await;
    assert!(blocked.is_err(), "a write went through a held lock");
    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    db.check_write().await.unwrap();
}

#[tokio::test]
async fn documents_left_processing_by_a_silent_worker_are_swept_back_to_the_queue() {
    let (_d, db) = fresh().await;
    let docs = [
        new_doc("quiet.png", &"1".repeat(64)),
        new_doc("busy.png", &"2".repeat(64)),
        new_doc("waiting.png", &"3".repeat(64)),
    ];
    db.accept_batch(Uuid::now_v7(), 3, &[], &docs, &tester())
        .await
        .unwrap();
    on_db!(&db, p => {
        sqlx::query("DELETE FROM outbox").execute(p).await.unwrap();
    });
    for d in &docs[..2] {
        assert!(matches!(db.start(d.id).await.unwrap(), Started::Go(_)));
    }
    let cutoff = crate::now() + chrono::Duration::milliseconds(500);
    // The busy one's worker still speaks after the cutoff; the quiet one's
    // does not; the waiting one was never taken.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    db.touch(docs[1].id).await.unwrap();
    assert_eq!(db.sweep(cutoff).await.unwrap(), 1);
    let status = |i: usize| {
        let db = db.clone();
        let id = docs[i].id;
        async move { db.document_row(id).await.unwrap().unwrap().status }
    };
    assert_eq!(status(0).await, "queued");
    assert_eq!(status(1).await, "processing");
    assert_eq!(status(2).await, "queued");
    let jobs: Vec<(String, Json<serde_json::Value>)> = on_db!(&db, p => {
        sqlx::query_as("SELECT kind, payload FROM outbox").fetch_all(p).await.unwrap()
    });
    assert_eq!(jobs.len(), 1, "one new job, for the one put back");
    assert_eq!(jobs[0].0, "job");
    assert_eq!(jobs[0].1 .0, json!({ "document_id": docs[0].id }));
    // A second sweep finds nothing: each is taken once.
    assert_eq!(db.sweep(cutoff).await.unwrap(), 0);
    // Taken again, its earlier attempt still counts.
    let Started::Go(row) = db.start(docs[0].id).await.unwrap() else {
        panic!("not started")
    };
    assert_eq!(row.attempts, 2);
}

#[tokio::test]
async fn a_document_gets_one_outcome_however_often_it_is_processed() {
    let (_d, db) = fresh().await;
    let doc = new_doc("a.png", &"c".repeat(64));
    db.accept_batch(
        Uuid::now_v7(),
        1,
        &[],
        std::slice::from_ref(&doc),
        &tester(),
    )
    .await
    .unwrap();
    let Started::Go(first) = db.start(doc.id).await.unwrap() else {
        panic!("not started")
    };
    assert_eq!(first.attempts, 1);
    // A redelivery while the first attempt still runs (its worker was lost).
    let Started::Go(second) = db.start(doc.id).await.unwrap() else {
        panic!("not started")
    };
    assert_eq!(second.attempts, 2);
    let records = [record(Status::NeedsReview)];
    let pages = [PageInfo {
        number: 1,
        form: Some(("voter-registration".into(), 1)),
        pose: None,
    }];
    let outcome = Outcome {
        records: &records,
        pages: &pages,
        extract_ms: Some(120),
        extract_cpu_ms: Some(110),
        reason: None,
    };
    assert!(db.finish(&second, &outcome).await.unwrap());
    assert!(
        !db.finish(&first, &outcome).await.unwrap(),
        "the second commit writes nothing"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM records").await, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM field_values").await, 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM field_history").await, 2);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM pages WHERE record_id IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM outbox \
             WHERE kind = 'event' AND routing_key = 'document.needs_review'"
        )
        .await,
        1
    );
    assert!(matches!(
        db.start(doc.id).await.unwrap(),
        Started::Done(DocStatus::NeedsReview)
    ));
    assert!(matches!(
        db.start(Uuid::now_v7()).await.unwrap(),
        Started::Missing
    ));

    let view = db.document(doc.id).await.unwrap().unwrap();
    assert_eq!(view.document.status, "needs_review");
    assert_eq!(view.records.len(), 1);
    let names: Vec<&str> = view.records[0]
        .record
        .fields
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        ["surname", "postcode"],
        "fields keep the template's order"
    );
    assert_eq!(
        view.records[0].record.fields[1].1.flags,
        vec![Flag::LowConfidence]
    );
    let statuses: Vec<&str> = view.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["queued", "processing", "processing", "needs_review"]
    );
    assert_eq!(view.history[0].actor, "formflow-extract");
}

#[tokio::test]
async fn the_outbox_lets_messages_go_only_once_published_in_order() {
    let (_d, db) = fresh().await;
    let docs: Vec<NewDocument> = (0..3)
        .map(|i| new_doc(&format!("{i}.png"), &format!("{i}").repeat(64)))
        .collect();
    db.accept_batch(Uuid::now_v7(), 3, &[], &docs, &tester())
        .await
        .unwrap();
    let failed = db
        .drain_outbox(10, |_row| async { Err::<(), &str>("broker down") })
        .await;
    assert!(matches!(failed, Err(DrainError::Publish("broker down"))));
    assert_eq!(
        db.outbox_len().await.unwrap(),
        3,
        "nothing is lost when publishing fails"
    );
    let mut seen = Vec::new();
    let n = db
        .drain_outbox(2, |row| {
            seen.push(row.payload.0["document_id"].as_str().unwrap().to_string());
            async { Ok::<(), &str>(()) }
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(seen, [docs[0].id.to_string(), docs[1].id.to_string()]);
    assert_eq!(db.outbox_len().await.unwrap(), 1);
    // The embedded runner's restart puts back a job for every unfinished document, once.
    assert_eq!(db.requeue_unfinished().await.unwrap(), 3);
    assert_eq!(db.outbox_len().await.unwrap(), 3);
}

#[tokio::test]
async fn records_are_listed_by_change_then_id_and_filtered() {
    let (_d, db) = fresh().await;
    let docs: Vec<NewDocument> = (0..5)
        .map(|i| new_doc(&format!("{i}.png"), &format!("{i}").repeat(64)))
        .collect();
    let batch = Uuid::now_v7();
    db.accept_batch(batch, 5, &[], &docs, &tester())
        .await
        .unwrap();
    for (i, d) in docs.iter().enumerate() {
        let Started::Go(row) = db.start(d.id).await.unwrap() else {
            panic!()
        };
        let status = if i % 2 == 0 {
            Status::Extracted
        } else {
            Status::NeedsReview
        };
        let records = [record(status)];
        db.finish(
            &row,
            &Outcome {
                records: &records,
                pages: &[],
                extract_ms: Some(10),
                extract_cpu_ms: Some(9),
                reason: None,
            },
        )
        .await
        .unwrap();
    }
    let mut all = Vec::new();
    let mut f = RecordFilter {
        batch: Some(batch),
        limit: 2,
        ..Default::default()
    };
    loop {
        let page = db.records(&f).await.unwrap();
        all.extend(page.records.iter().map(|r| (r.updated_at, r.id)));
        match page.next {
            Some(c) => f.after = Some(c),
            None => break,
        }
    }
    assert_eq!(all.len(), 5);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "strictly ordered, no repeats"
    );
    let extracted = db
        .records(&RecordFilter {
            statuses: vec![Status::Extracted],
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(extracted.records.len(), 3);
    let none = db
        .records(&RecordFilter {
            form: Some("legal-aid-cw1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.records.is_empty());
    let m = db.metrics().await.unwrap();
    assert_eq!(m.extract_count, 5);
    assert_eq!(m.pages_done, 5);
    assert_eq!(m.extract_buckets[0], (0.25, 5));
}

#[test]
fn a_documents_status_adds_up_its_records() {
    assert_eq!(
        document_status(&[record(Status::Extracted)]),
        DocStatus::Extracted
    );
    assert_eq!(
        document_status(&[record(Status::Extracted), record(Status::NeedsReview)]),
        DocStatus::NeedsReview
    );
    let mut u = record(Status::Unclassified);
    u.form = None;
    assert_eq!(document_status(&[u.clone()]), DocStatus::Unclassified);
    assert_eq!(
        document_status(&[record(Status::Extracted), u]),
        DocStatus::NeedsReview,
        "an unknown page needs a person"
    );
    assert_eq!(
        document_status(&[Record::failed("a", "bad")]),
        DocStatus::Failed
    );
}
