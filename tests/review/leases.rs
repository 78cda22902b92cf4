//! Two caseworkers on one document: the second sees who holds it and
//! cannot save; once the lease runs out the document is back in the queue.

use super::web::hidden;
use super::{document_of, stack_with};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_caseworker_is_refused_until_the_lease_runs_out() {
    let env = [("FORMFLOW_REVIEW_LEASE", "3s")];
    let (s, view) = stack_with(
        "leases",
        &["samples/documents/voter-registration-025.jpg"],
        &env,
    )
    .await;
    s.add_person("ann", "caseworker");
    s.add_person("bob", "caseworker");
    let ann = s.sign_in("ann").await;
    let bob = s.sign_in("bob").await;
    let doc = document_of(&view, "voter-registration-025.jpg");
    let page = format!("/review/documents/{doc}");

    // Ann takes the next document: this one.
    let r = ann
        .post("/review/next", &[("form", ""), ("batch", "")])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], page);
    let (_, html) = ann.get(&page).await;
    let record = hidden(&html, "record").unwrap();
    assert!(
        html.contains("This document is yours to review until"),
        "{html}"
    );

    // Bob sees who holds it, cannot take it next, and cannot save.
    let (st, html) = bob.get(&page).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("ann is reviewing this document until"),
        "{html}"
    );
    assert!(
        html.contains("<fieldset class=\"ff-plain\" disabled>"),
        "read-only for bob"
    );
    let r = bob
        .post("/review/next", &[("form", ""), ("batch", "")])
        .await;
    assert_eq!(r.headers()["location"], "/review?done=empty&form=&batch=");
    let form = [
        ("record", record.as_str()),
        ("version", "1"),
        ("action", "save"),
        ("surname", "WATSONN"),
    ];
    let r = bob.post(&page, &form).await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("ann is reviewing this document until"),
        "{html}"
    );
    let api = bob
        .request(reqwest::Method::PATCH, &format!("/api/v1/records/{record}"))
        .json(&serde_json::json!({"version": 1, "fields": {"surname": "WATSONN"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 409);
    let v: serde_json::Value = api.json().await.unwrap();
    assert_eq!(v["held_by"], "ann");
    assert_eq!(
        s.count("SELECT COUNT(*) FROM field_history WHERE actor = 'bob'")
            .await,
        0
    );
    let (_, queue) = bob.get("/review").await;
    assert!(
        queue.contains("ann until"),
        "the queue says who holds it: {queue}"
    );

    // The lease runs out: back in the queue, and Bob may take it.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (_, queue) = bob.get("/review").await;
    assert!(
        !queue.contains("ann until") && queue.contains(">Nobody<"),
        "{queue}"
    );
    let r = bob
        .post("/review/next", &[("form", ""), ("batch", "")])
        .await;
    assert_eq!(r.headers()["location"], page);
    let r = bob.post(&page, &form).await;
    assert_eq!(r.status(), 303, "bob saves now");
    // And now Ann is the one refused.
    let r = ann
        .post(
            &page,
            &[
                ("record", record.as_str()),
                ("version", "2"),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("bob is reviewing this document until"));
    // Bob gives it back; Ann may then approve it (version 2, after Bob's save).
    assert_eq!(
        bob.post(&format!("{page}/release"), &[]).await.status(),
        303
    );
    let r = ann
        .post(
            &page,
            &[
                ("record", record.as_str()),
                ("version", "2"),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (status, by): (String, String) = sqlx::query_as("SELECT status, reviewed_by FROM records")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), by.as_str()), ("approved", "ann"));
}
