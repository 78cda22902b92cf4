//! People, tokens, sessions, the audit log, the review queue, leases and
//! record changes, on a real SQLite file (the integration tests run the
//! same SQL on PostgreSQL through the service).

use super::tests::{count, fresh, new_doc, record, tester};
use super::*;
use crate::access::{hash_password, secret_hash};
use chrono::TimeDelta;
use formflow_schemas::{FieldResult, Flag, Role, Status};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// A document read into one record needing review; its id and the record.
pub(super) async fn waiting_document(db: &Db, name: &str) -> (Uuid, Uuid) {
    let doc = new_doc(
        name,
        &format!("{:0>64}", name.len() + name.as_bytes()[0] as usize),
    );
    db.accept_batch(
        Uuid::now_v7(),
        1,
        &[],
        std::slice::from_ref(&doc),
        &tester(),
    )
    .await
    .unwrap();
    let Started::Go(row) = db.start(doc.id).await.unwrap() else {
        panic!("not started")
    };
    let records = [record(Status::NeedsReview)];
    let pages = [PageInfo {
        number: 1,
        form: Some(("voter-registration".into(), 1)),
        pose: Some(json!({"sx": 1})),
    }];
    let outcome = Outcome {
        records: &records,
        pages: &pages,
        extract_ms: Some(5),
        extract_cpu_ms: None,
        reason: None,
    };
    assert!(db.finish(&row, &outcome).await.unwrap());
    let rid = db.records_of(doc.id).await.unwrap()[0].id;
    (doc.id, rid)
}

async fn person(db: &Db, name: &str, role: Role) -> Actor {
    let u = db
        .add_user(
            name,
            role,
            &hash_password("a long enough password").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    Actor::person(u.id, &u.name, u.role)
}

#[tokio::test]
async fn people_tokens_and_sessions_sign_in_only_while_live() {
    let (_d, db) = fresh().await;
    assert!(!db.has_principals().await.unwrap());
    let ann = person(&db, "ann", Role::Caseworker).await;
    assert!(db.has_principals().await.unwrap());
    assert_eq!(
        db.add_user("ann", Role::Admin, "x").await.unwrap(),
        Err(NameTaken("ann".into()))
    );
    let (u, hash) = db.user_for_sign_in("ann").await.unwrap().unwrap();
    assert_eq!((u.name.as_str(), u.role), ("ann", Role::Caseworker));
    assert!(crate::access::verify_password(
        "a long enough password",
        &hash
    ));
    assert!(db.user_for_sign_in("nobody").await.unwrap().is_none());

    let expires = crate::now() + TimeDelta::minutes(30);
    db.start_session(
        &secret_hash("cookie-1"),
        ann.user_id.unwrap(),
        "csrf-1",
        expires,
    )
    .await
    .unwrap();
    let s = db.session(&secret_hash("cookie-1")).await.unwrap().unwrap();
    assert_eq!((s.user.name.as_str(), s.csrf.as_str()), ("ann", "csrf-1"));
    assert!(db
        .session(&secret_hash("cookie-2"))
        .await
        .unwrap()
        .is_none());
    // An ended session is gone, and purged.
    db.start_session(
        &secret_hash("old"),
        ann.user_id.unwrap(),
        "c",
        crate::now() - TimeDelta::seconds(1),
    )
    .await
    .unwrap();
    assert!(db.session(&secret_hash("old")).await.unwrap().is_none());
    assert_eq!(db.purge_sessions().await.unwrap(), 1);
    // Disabling ends every session.
    assert!(db.set_user_disabled("ann", true).await.unwrap());
    assert!(db
        .session(&secret_hash("cookie-1"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sessions").await, 0);
    assert!(
        !db.has_principals().await.unwrap(),
        "a disabled person signs nobody in"
    );
    assert!(!db.set_user_disabled("nobody", true).await.unwrap());

    let t = db
        .add_token("mis", Role::Consumer, &secret_hash("ff_secret"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        db.token_by_hash(&secret_hash("ff_secret"))
            .await
            .unwrap()
            .map(|t| t.name),
        Some("mis".into())
    );
    assert!(db
        .add_token("mis", Role::Consumer, &secret_hash("ff_other"))
        .await
        .unwrap()
        .is_err());
    assert!(db.revoke_token("mis").await.unwrap());
    assert!(db
        .token_by_hash(&secret_hash("ff_secret"))
        .await
        .unwrap()
        .is_none());
    assert!(!db.revoke_token("mis").await.unwrap());
    // The name is free again once revoked; the revoked one stays listed.
    db.add_token("mis", Role::Consumer, &secret_hash("ff_new"))
        .await
        .unwrap()
        .unwrap();
    let all = db.tokens().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].revoked_at.is_none() && all[1].revoked_at.is_some() && all[1].id == t.id);
}

#[tokio::test]
async fn the_queue_lists_waiting_documents_and_leases_keep_caseworkers_apart() {
    let (_d, db) = fresh().await;
    let ann = person(&db, "ann", Role::Caseworker).await;
    let bob = person(&db, "bob", Role::Caseworker).await;
    let (first, _) = waiting_document(&db, "first.png").await;
    let (second, _) = waiting_document(&db, "second.png").await;
    let all = QueueFilter {
        limit: 50,
        ..Default::default()
    };
    let (items, counts) = db.review_queue(&all).await.unwrap();
    assert_eq!(
        items.iter().map(|i| i.document_id).collect::<Vec<_>>(),
        [first, second],
        "oldest first"
    );
    assert_eq!(counts.documents, 2);
    assert_eq!(counts.by_form, [("voter-registration".to_string(), 2)]);
    assert_eq!(items[0].records[0].flagged, 1);
    let only_la = QueueFilter {
        form: Some("legal-aid-cw1".into()),
        limit: 50,
        ..Default::default()
    };
    assert!(db.review_queue(&only_la).await.unwrap().0.is_empty());

    let soon = crate::now() + TimeDelta::minutes(15);
    assert_eq!(
        db.take_next(ann.user_id.unwrap(), &all, soon)
            .await
            .unwrap(),
        Some(first)
    );
    assert_eq!(
        db.take_next(bob.user_id.unwrap(), &all, soon)
            .await
            .unwrap(),
        Some(second),
        "the held one is skipped"
    );
    let held = db
        .take_lease(first, bob.user_id.unwrap(), soon)
        .await
        .unwrap();
    assert!(
        matches!(held, LeaseOutcome::HeldBy(ref l) if l.user_name == "ann"),
        "{held:?}"
    );
    let (items, counts) = db.review_queue(&all).await.unwrap();
    assert_eq!(counts.leased, 2);
    assert_eq!(
        items[0].lease.as_ref().map(|l| l.user_name.as_str()),
        Some("ann")
    );
    // A lease that has run out is anybody's.
    assert!(matches!(
        db.take_lease(
            first,
            ann.user_id.unwrap(),
            crate::now() - TimeDelta::seconds(1)
        )
        .await
        .unwrap(),
        LeaseOutcome::Taken(_)
    ));
    assert!(matches!(
        db.take_lease(first, bob.user_id.unwrap(), soon)
            .await
            .unwrap(),
        LeaseOutcome::Taken(_)
    ));
    db.release_lease(first, bob.user_id.unwrap()).await.unwrap();
    assert!(db.lease_of(first).await.unwrap().is_none());
    assert!(matches!(
        db.take_lease(Uuid::now_v7(), ann.user_id.unwrap(), soon)
            .await
            .unwrap(),
        LeaseOutcome::Missing
    ));
}

pub(super) fn corrected(value: &str) -> Vec<(String, FieldResult)> {
    vec![
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
                value: json!(value),
                confidence: 1.0,
                flags: vec![],
                note: None,
            },
        ),
    ]
}

#[tokio::test]
async fn a_change_checks_version_and_lease_and_keeps_history_events_and_audit() {
    let (_d, db) = fresh().await;
    let ann = person(&db, "ann", Role::Caseworker).await;
    let bob = person(&db, "bob", Role::Caseworker).await;
    let (doc, rid) = waiting_document(&db, "form.png").await;
    let soon = crate::now() + TimeDelta::minutes(15);
    assert!(matches!(
        db.take_lease(doc, ann.user_id.unwrap(), soon)
            .await
            .unwrap(),
        LeaseOutcome::Taken(_)
    ));
    let notes = HashMap::new();
    let fields = corrected("SW1A 2AA");
    let change = |actor, version, action| RecordChange {
        record_id: rid,
        version,
        actor,
        action,
        fields: &fields,
        notes: &notes,
        reread: None,
        lease_until: Some(soon),
    };

    // Bob cannot change what Ann holds.
    let r = db
        .change_record(&change(&bob, 1, ReviewAction::Save))
        .await
        .unwrap();
    assert!(
        matches!(r, Err(ChangeRefused::Leased(ref l)) if l.user_name == "ann"),
        "{r:?}"
    );
    // Ann saves: one history entry for the changed value, version 2.
    let saved = db
        .change_record(&change(&ann, 1, ReviewAction::Save))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.version, saved.record.status),
        (2, Status::NeedsReview)
    );
    assert_eq!(
        saved.record.field("postcode").unwrap().value,
        json!("SW1A 2AA")
    );
    let history = db.history_of(&[rid]).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.actor.as_str()),
        ("postcode", "ann")
    );
    assert_eq!(
        (last.old_value.clone(), last.new_value.clone()),
        (Some(json!("SW1A 1AA")), json!("SW1A 2AA"))
    );
    assert_eq!(history.len(), 3, "two first readings and one correction");
    // A save based on version 1 is stale now.
    assert_eq!(
        db.change_record(&change(&ann, 1, ReviewAction::Save))
            .await
            .unwrap()
            .unwrap_err(),
        ChangeRefused::Stale { current: 2 }
    );

    // Approval: the record, its reviewer, the event, the document, the log.
    let approved = db
        .change_record(&change(&ann, 2, ReviewAction::Approve))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.record.status, Status::Approved);
    assert_eq!(approved.reviewed_by.as_deref(), Some("ann"));
    assert!(approved.reviewed_at.is_some());
    let events: Vec<(String, sqlx::types::Json<serde_json::Value>)> = on_db!(&db, p => {
        sqlx::query_as("SELECT routing_key, payload FROM outbox WHERE kind = 'event' ORDER BY id")
            .fetch_all(p)
            .await
            .unwrap()
    });
    let (key, payload) = events.last().unwrap();
    assert_eq!(key, "record.approved");
    assert_eq!(payload.0["record_id"], json!(rid));
    assert_eq!(payload.0["form"], json!("voter-registration"));
    assert!(
        !payload.0.to_string().contains("SW1A"),
        "no values in events"
    );
    let d = db.document_row(doc).await.unwrap().unwrap();
    assert_eq!((d.status(), d.lease_user_id), (DocStatus::Reviewed, None));
    assert!(db
        .review_queue(&QueueFilter {
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .0
        .is_empty());
    let log = db
        .audit_log(&AuditFilter {
            actor: Some("ann".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["record.save", "record.approve"]);
    assert_eq!(log[0].detail["fields_changed"], json!(["postcode"]));
    assert!(
        !serde_json::to_string(&log).unwrap().contains("SW1A"),
        "no values in the audit log"
    );

    // Closed now: neither saved nor rejected again.
    let again = db
        .change_record(&change(
            &ann,
            3,
            ReviewAction::Reject { reason: "x".into() },
        ))
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            Err(ChangeRefused::Closed {
                status: Status::Approved,
                ..
            })
        ),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_rejection_keeps_its_reason_and_an_unclassified_page_cannot_be_approved() {
    let (_d, db) = fresh().await;
    let ann = person(&db, "ann", Role::Caseworker).await;
    let (_, rid) = waiting_document(&db, "scan.png").await;
    let notes = HashMap::new();
    let rejected = db
        .change_record(&RecordChange {
            record_id: rid,
            version: 1,
            actor: &ann,
            action: ReviewAction::Reject {
                reason: "a test form".into(),
            },
            fields: &[],
            notes: &notes,
            reread: None,
            lease_until: None,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rejected.record.status, Status::Rejected);
    assert_eq!(rejected.reject_reason.as_deref(), Some("a test form"));
    assert_eq!(
        rejected.record.field("postcode").unwrap().flags,
        [Flag::LowConfidence],
        "fields untouched"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE routing_key = 'record.rejected'"
        )
        .await,
        1
    );
    let pages = db.pages_of(rejected.document_id).await.unwrap();
    assert_eq!(
        pages[0].pose.as_ref().map(|p| p.0.clone()),
        Some(json!({"sx": 1}))
    );
}
