//! Erasure on a real SQLite file, with originals in a real folder: what
//! goes, what stays, and what is left to say it happened.

use super::review_tests::{corrected, waiting_document};
use super::tests::{count, fresh, new_doc, record, tester};
use super::*;
use crate::purge::{purge_before, purge_documents};
use crate::Blobs;
use formflow_schemas::Status;
use std::collections::HashMap;
use uuid::Uuid;

/// Rows left about `doc` in every table that holds its data.
async fn rows_about(db: &Db, doc: Uuid) -> i64 {
    let mut n = 0;
    for sql in [
        "SELECT COUNT(*) FROM documents WHERE id = $1 OR duplicate_of = $1",
        "SELECT COUNT(*) FROM records WHERE document_id = $1",
        "SELECT COUNT(*) FROM pages WHERE document_id = $1",
        "SELECT COUNT(*) FROM document_events WHERE document_id = $1",
        "SELECT COUNT(*) FROM field_values v JOIN records r ON r.id = v.record_id \
         WHERE r.document_id = $1",
        "SELECT COUNT(*) FROM field_history h JOIN records r ON r.id = h.record_id \
         WHERE r.document_id = $1",
    ] {
        n += on_db!(db, p => {
            sqlx::query_as::<_, (i64,)>(sql)
                .bind(doc)
                .fetch_one(p)
                .await
                .unwrap()
                .0
        });
    }
    n
}

#[tokio::test]
async fn a_purged_document_leaves_only_its_audit_entry_and_event() {
    let (dir, db) = fresh().await;
    let blobs = Blobs::open(dir.path().join("originals").to_str().unwrap()).unwrap();
    // A document read, corrected once (so it has history), and uploaded
    // again in another batch (a duplicate); another document; one queued.
    let (doc, rid) = waiting_document(&db, "smith.png").await;
    let sha = db.document_row(doc).await.unwrap().unwrap().sha256;
    let bytes_path = dir.path().join("originals/tmp/x");
    std::fs::write(&bytes_path, b"the scan").unwrap();
    blobs.put_file(&bytes_path, &sha).await.unwrap();
    let ann = Actor::system("ann");
    let fields = corrected("SW1A 2AA");
    let notes = HashMap::new();
    db.change_record(&RecordChange {
        record_id: rid,
        version: 1,
        actor: &ann,
        action: ReviewAction::Save,
        fields: &fields,
        notes: &notes,
        reread: None,
        lease_until: None,
    })
    .await
    .unwrap()
    .unwrap();
    let again = db
        .accept_batch(
            Uuid::now_v7(),
            1,
            &[],
            &[new_doc("smith-again.png", &sha)],
            &tester(),
        )
        .await
        .unwrap();
    assert_eq!(again[0].duplicate_of, Some(doc));
    let (other, _) = waiting_document(&db, "jones.png").await;
    // Before: the document and its duplicate, a record, a page, three
    // events (queued, processing, needs_review), two values, three in
    // history.
    assert_eq!(rows_about(&db, doc).await, 2 + 1 + 1 + 3 + 2 + 3);
    let queued = new_doc("queued.png", &"9".repeat(64));
    db.accept_batch(
        Uuid::now_v7(),
        1,
        &[],
        std::slice::from_ref(&queued),
        &tester(),
    )
    .await
    .unwrap();
    let batches = count(&db, "SELECT COUNT(*) FROM batches").await;
    let outbox_before = count(&db, "SELECT COUNT(*) FROM outbox").await;

    let by = Actor::system("formflow purge");
    let report = purge_documents(
        &db,
        &blobs,
        &[doc, queued.id, Uuid::nil()],
        PurgeReason::Request,
        &by,
    )
    .await
    .unwrap();
    assert_eq!(report.documents, vec![doc, again[0].id]);
    assert_eq!(report.records, 1);
    assert_eq!(report.history, 3, "two first readings and one correction");
    assert_eq!(report.batches, 2, "both batches were left empty");
    assert_eq!(report.originals, 1);
    assert_eq!(
        report.busy,
        vec![queued.id],
        "a queued document is not purged"
    );
    assert_eq!(report.missing, vec![Uuid::nil()]);

    assert_eq!(rows_about(&db, doc).await, 0);
    assert_eq!(rows_about(&db, again[0].id).await, 0);
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM field_history WHERE record_id = '{rid}'")
        )
        .await,
        0
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM batches").await,
        batches - 2
    );
    assert!(!dir
        .path()
        .join(format!("originals/sha256/{}/{sha}", &sha[..2]))
        .exists());
    assert!(matches!(
        blobs.get(&sha).await,
        Err(crate::blobs::BlobError::Missing(_))
    ));
    // The others are untouched.
    assert_eq!(rows_about(&db, other).await, 1 + 1 + 1 + 3 + 2 + 2);
    assert_eq!(
        db.document_row(queued.id).await.unwrap().unwrap().status,
        "queued"
    );

    // One audit entry and one event a document, with ids and counts only.
    let log = db
        .audit_log(&AuditFilter {
            action: Some("document.purge".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let subjects: Vec<_> = log.iter().map(|e| e.subject_id.clone().unwrap()).collect();
    assert_eq!(subjects, vec![again[0].id.to_string(), doc.to_string()]);
    assert_eq!(log[1].detail["records"], 1);
    assert_eq!(log[1].detail["reason"], "request");
    assert_eq!(log[0].detail["duplicate_of"], doc.to_string());
    let events: Vec<(String, sqlx::types::Json<serde_json::Value>)> = on_db!(&db, p => {
        sqlx::query_as(
            "SELECT routing_key, payload FROM outbox \
             WHERE routing_key = 'document.purged' ORDER BY id",
        )
        .fetch_all(p)
        .await
        .unwrap()
    });
    assert_eq!(events.len(), 2);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox").await,
        outbox_before + 2
    );
    assert_eq!(events[1].1 .0["document_id"], doc.to_string());
    assert_eq!(events[1].1 .0["record_ids"], serde_json::json!([rid]));
    let kept = format!("{log:?}{events:?}");
    for personal in ["SMITH", "SW1A", "smith.png"] {
        assert!(
            !kept.contains(personal),
            "{personal} is still in the audit log or an event"
        );
    }
    // Purging it again finds nothing.
    let r = purge_documents(&db, &blobs, &[doc], PurgeReason::Request, &by)
        .await
        .unwrap();
    assert_eq!((r.documents.len(), r.missing), (0, vec![doc]));
}

#[tokio::test]
async fn an_original_another_document_uses_is_kept_and_retention_takes_only_the_old() {
    let (dir, db) = fresh().await;
    let blobs = Blobs::open(dir.path().join("originals").to_str().unwrap()).unwrap();
    // A document that failed, then the same file uploaded again: not a
    // duplicate (the first failed), so two documents share one original.
    let sha = "f".repeat(64);
    let first = new_doc("first.png", &sha);
    db.accept_batch(
        Uuid::now_v7(),
        1,
        &[],
        std::slice::from_ref(&first),
        &tester(),
    )
    .await
    .unwrap();
    let Started::Go(row) = db.start(first.id).await.unwrap() else {
        panic!("not started")
    };
    let mut failed = record(Status::Failed);
    failed.fields.clear();
    failed.error = Some("unreadable".into());
    db.finish(
        &row,
        &Outcome {
            records: &[failed],
            pages: &[],
            extract_ms: None,
            extract_cpu_ms: None,
            reason: Some("decode"),
        },
    )
    .await
    .unwrap();
    let cutoff = crate::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = new_doc("second.png", &sha);
    let out = db
        .accept_batch(
            Uuid::now_v7(),
            1,
            &[],
            std::slice::from_ref(&second),
            &tester(),
        )
        .await
        .unwrap();
    assert_eq!(out[0].duplicate_of, None);
    let spool = dir.path().join("originals/tmp/x");
    std::fs::write(&spool, b"bytes").unwrap();
    blobs.put_file(&spool, &sha).await.unwrap();
    // An upload whose every file was refused, old enough to go.
    db.accept_batch(
        Uuid::now_v7(),
        1,
        &[Refusal {
            file: "jones-passport.png".into(),
            error: "not a form".into(),
        }],
        &[],
        &tester(),
    )
    .await
    .unwrap();
    let later = crate::now();

    // Only what was uploaded before the cutoff, and the original stays for
    // the second document.
    let dry = purge_before(&db, &blobs, cutoff, PurgeReason::Retention, &tester(), true)
        .await
        .unwrap();
    assert_eq!(dry.documents, vec![first.id]);
    assert_eq!(
        db.document_row(first.id).await.unwrap().unwrap().status,
        "failed",
        "a dry run erases nothing"
    );
    let r = purge_before(
        &db,
        &blobs,
        cutoff,
        PurgeReason::Retention,
        &tester(),
        false,
    )
    .await
    .unwrap();
    assert_eq!((r.documents, r.originals), (vec![first.id], 0));
    assert_eq!(blobs.get(&sha).await.unwrap(), b"bytes");
    assert!(db.original_in_use(&sha).await.unwrap());
    // The second (queued) is never taken, however old; the empty batch goes.
    let r = purge_before(&db, &blobs, later, PurgeReason::Retention, &tester(), false)
        .await
        .unwrap();
    assert!(r.documents.is_empty());
    assert_eq!(r.batches, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM batches").await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit \
             WHERE action = 'document.purge' AND detail LIKE '%retention%'"
        )
        .await,
        1
    );
}
