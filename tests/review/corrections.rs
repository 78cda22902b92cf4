//! Corrections, approvals and rejections: through the JSON API and through
//! the review page, one code path; the form's rules on what is typed; the
//! history, the events, the exports; and no value where it must not be.

use super::{document_of, stack_with};
use serde_json::{json, Value};

/// The record found in a document, through the API.
async fn record_of(s: &crate::pipeline::stack::Stack, doc: &str) -> Value {
    let (st, d) = s.get(&format!("/api/v1/documents/{doc}")).await;
    assert_eq!(st, 200, "{d}");
    d["records"][0].clone()
}

async fn send(
    s: &crate::pipeline::stack::Stack,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = s
        .client("caseworker")
        .request(method, format!("{}{path}", s.base()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_approvals_and_rejections_through_the_api() {
    let files = [
        "samples/documents/voter-registration-025.jpg",
        "samples/documents/voter-registration-002.jpg",
    ];
    let (s, view) = stack_with("api_review", &files, &[]).await;
    let (_conn, events) = s.listen("record.#", "record-events").await;
    let doc = document_of(&view, "voter-registration-025.jpg");
    let rec = record_of(&s, &doc).await;
    let id = rec["id"].as_str().unwrap().to_string();
    assert_eq!(rec["status"], "needs_review");
    assert_eq!(rec["version"], 1);
    assert_eq!(
        rec["fields"]["postcode"]["flags"],
        json!(["low_confidence"])
    );
    assert!(
        rec["fields"]["postcode"]["note"]
            .as_str()
            .unwrap()
            .contains("inward code"),
        "{rec}"
    );

    // A date that does not exist is refused, with why, and nothing changes.
    let (st, v) = send(
        &s,
        reqwest::Method::PATCH,
        &format!("/api/v1/records/{id}"),
        json!({"version": 1, "fields": {"date_of_birth": "31 02 1970"}}),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["problems"][0]["field"], "date_of_birth", "{v}");
    assert!(
        !v["problems"][0]["messages"][0].as_str().unwrap().is_empty(),
        "{v}"
    );
    assert_eq!(record_of(&s, &doc).await["version"], 1);
    // Confirmed as written: kept, still flagged invalid.
    let (st, v) = send(
        &s,
        reqwest::Method::PATCH,
        &format!("/api/v1/records/{id}"),
        json!({
            "version": 1,
            "fields": {"date_of_birth": "31 02 1970"},
            "confirm": ["date_of_birth"]
        }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["version"], 2);
    assert_eq!(
        v["fields"]["date_of_birth"]["flags"],
        json!(["invalid"]),
        "{v}"
    );
    assert_eq!(
        v["fields"]["date_of_birth"]["note"],
        "confirmed as written on the paper"
    );
    // A change based on the old version is refused, never merged.
    let (st, v) = send(
        &s,
        reqwest::Method::PATCH,
        &format!("/api/v1/records/{id}"),
        json!({"version": 1, "fields": {"surname": "WATSON"}}),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["current_version"], 2);
    // The right date after all, then approval: the engine's doubts go.
    let (st, v) = send(
        &s,
        reqwest::Method::PATCH,
        &format!("/api/v1/records/{id}"),
        json!({"version": 2, "fields": {"date_of_birth": "24/05/1970"}}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["fields"]["date_of_birth"],
        json!({"value": "1970-05-24", "confidence": 1.0, "flags": []})
    );
    let (st, v) = send(
        &s,
        reqwest::Method::POST,
        &format!("/api/v1/records/{id}/approve"),
        json!({"version": 3}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "approved");
    assert_eq!(v["reviewed_by"], "test-caseworker");
    assert!(v["reviewed_at"].is_string());
    assert!(
        v["fields"]
            .as_object()
            .unwrap()
            .values()
            .all(|f| f["flags"].as_array().unwrap().is_empty()),
        "{v}"
    );
    let changes: Vec<(&str, &Value, &Value)> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["actor"] != "formflow-extract")
        .map(|h| {
            (
                h["name"].as_str().unwrap(),
                &h["old_value"],
                &h["new_value"],
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("date_of_birth", &json!("1970-05-24"), &json!("1970-02-31")),
            ("date_of_birth", &json!("1970-02-31"), &json!("1970-05-24"))
        ]
        .iter()
        .map(|(a, b, c)| (*a, *b, *c))
        .collect::<Vec<_>>()
    );
    let (st, v) = send(
        &s,
        reqwest::Method::POST,
        &format!("/api/v1/records/{id}/approve"),
        json!({"version": 4}),
    )
    .await;
    assert_eq!(st, 409, "approved once: {v}");

    // Rejection, with a reason.
    let other = record_of(&s, &document_of(&view, "voter-registration-002.jpg")).await;
    let oid = other["id"].as_str().unwrap();
    let (st, v) = send(
        &s,
        reqwest::Method::POST,
        &format!("/api/v1/records/{oid}/reject"),
        json!({"version": 1}),
    )
    .await;
    assert_eq!(st, 422, "a reason is needed: {v}");
    let (st, v) = send(
        &s,
        reqwest::Method::POST,
        &format!("/api/v1/records/{oid}/reject"),
        json!({"version": 1, "reason": "sent twice"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["reject_reason"].as_str()),
        (Some("rejected"), Some("sent twice"))
    );

    // Downstream: the approved record, its events, its export; the documents are reviewed.
    let (st, page) = s.get("/api/v1/records?status=approved").await;
    assert_eq!(st, 200);
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        page["records"][0]["fields"]["date_of_birth"]["value"],
        "1970-05-24"
    );
    assert!(page["records"][0]["history"].as_array().unwrap().len() > 20);
    let (_, d) = s.get(&format!("/api/v1/documents/{doc}")).await;
    assert_eq!(d["status"], "reviewed");
    s.wait_outbox_empty().await;
    let got = s.drain(&events).await;
    let keys: Vec<&str> = got.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys, ["record.approved", "record.rejected"]);
    assert_eq!(got[0].1["record_id"], json!(id));
    assert_eq!(got[0].1["form"], "voter-registration");
    for (_, body, _) in &got {
        let text = body.to_string();
        assert!(
            !text.contains("WATSON") && !text.contains("1970") && !text.contains("sent twice"),
            "{text}"
        );
    }
    let csv = s
        .client("consumer")
        .get(format!(
            "{}/api/v1/exports/voter-registration.csv?status=approved",
            s.base()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with(concat!(
            "record_id,document_id,batch_id,source,pages,status,version,reviewed_by,",
            "reviewed_at,updated_at,surname,first_names,date_of_birth"
        )),
        "{csv}"
    );
    assert!(
        lines[1].contains(",approved,4,test-caseworker,")
            && lines[1].contains(",WATSON,")
            && lines[1].contains(",1970-05-24,"),
        "{csv}"
    );
    // The uploader sees the batch and what was found, never a value.
    let b = s
        .client("uploader")
        .get(format!(
            "{}/api/v1/batches/{}",
            s.base(),
            view["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        b.contains("voter-registration") && !b.contains("WATSON") && !b.contains("KE779739B"),
        "{b}"
    );
    // The audit log has the actions, without values.
    let audit: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT actor, action, detail FROM audit WHERE action LIKE 'record.%' ORDER BY id",
    )
    .fetch_all(&s.pool)
    .await
    .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(
        actions,
        [
            "record.save",
            "record.save",
            "record.approve",
            "record.reject"
        ]
    );
    assert!(audit.iter().all(|a| a.0 == "test-caseworker"));
    // Nor in the logs of serve and the worker.
    for label in ["serve", "worker"] {
        let log = s.log(label);
        assert!(
            !log.contains("WATSON") && !log.contains("KE779739B") && !log.contains("sent twice"),
            "{label} logged a value"
        );
    }
    let all: Vec<(Value,)> = sqlx::query_as("SELECT detail FROM audit")
        .fetch_all(&s.pool)
        .await
        .unwrap();
    let text = serde_json::to_string(&all).unwrap();
    assert!(
        !text.contains("WATSON") && !text.contains("1970") && !text.contains("sent twice"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_page_refuses_a_broken_rule_until_it_is_confirmed() {
    let (s, view) = stack_with(
        "page_review",
        &["samples/documents/voter-registration-025.jpg"],
        &[],
    )
    .await;
    s.add_person("cas", "caseworker");
    let cas = s.sign_in("cas").await;
    let doc = document_of(&view, "voter-registration-025.jpg");
    let page = format!("/review/documents/{doc}");
    let (st, html) = cas.get(&page).await;
    assert_eq!(st, 200);
    // Flagged fields first, the first of them focused, each with its doubt
    // in words and its crop. Which fields the engine doubts is the
    // reader's business; the page must show exactly those, first.
    let fields: Vec<(String, Value, Option<String>)> =
        sqlx::query_as("SELECT name, flags, note FROM field_values ORDER BY position")
            .fetch_all(&s.pool)
            .await
            .unwrap();
    let (flagged, unflagged): (Vec<_>, Vec<_>) =
        fields.iter().partition(|(_, flags, _)| flags != &json!([]));
    assert!(!flagged.is_empty(), "this scan has a field in doubt");
    let heading = html
        .find(&format!("Fields to check ({})", flagged.len()))
        .expect("the flagged fields come first");
    let at = |name: &str| html.find(&format!("name=\"{name}\"")).unwrap();
    let last_flagged = flagged.iter().map(|f| at(&f.0)).max().unwrap();
    let first_unflagged = unflagged
        .iter()
        .filter(|f| html.contains(&format!("name=\"{}\"", f.0)))
        .map(|f| at(&f.0))
        .min()
        .unwrap();
    assert!(
        heading < at(&flagged[0].0) && last_flagged < first_unflagged,
        "flagged first"
    );
    let first = &flagged[0].0;
    assert!(
        html[at(first)..]
            .split('>')
            .next()
            .unwrap()
            .contains("autofocus"),
        "the first flagged field has focus"
    );
    for (name, _, note) in &flagged {
        let note = note.as_deref().unwrap_or_else(|| panic!("{name} says why"));
        // Shown as a sentence (capitalised), HTML-escaped.
        let words = note[1..].replace('\'', "&#39;");
        assert!(html.contains(&words), "the doubt in words: {note}");
    }
    let record = super::web::hidden(&html, "record").unwrap();
    let crop = format!("/review/documents/{doc}/fields/{record}/{first}.png");
    assert!(html.contains(&crop));
    let png = cas
        .client
        .get(format!("{}{crop}", s.base()))
        .header("Cookie", format!("formflow-session={}", cas.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    let img = image::load_from_memory(&png.bytes().await.unwrap()).expect("a PNG");
    // A one-line box with the paper around it: wide, and tall enough to read.
    assert!(
        img.width() > 2 * img.height() && img.height() > 40,
        "{}x{}",
        img.width(),
        img.height()
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM documents WHERE lease_until IS NOT NULL")
            .await,
        1,
        "opening took the lease"
    );

    // The date typed breaks a rule: refused, with the error summary.
    let form = [
        ("record", record.as_str()),
        ("version", "1"),
        ("action", "save"),
        ("date_of_birth", "31 02 1970"),
    ];
    let r = cas.post(&page, &form).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("govuk-error-summary") && html.contains("There is a problem"),
        "{html}"
    );
    assert!(
        html.contains("href=\"#date_of_birth\""),
        "the summary links to the field"
    );
    assert!(html.contains("This is what the paper says"));
    assert!(
        html.contains("value=\"31 02 1970\""),
        "what was typed is shown back"
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM field_history WHERE actor = 'cas'")
            .await,
        0
    );
    // Confirmed as written on the paper: kept, flagged invalid.
    let mut confirmed = form.to_vec();
    confirmed.push(("confirm", "date_of_birth"));
    let r = cas.post(&page, &confirmed).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/review/documents/{doc}?record={record}&done=saved")
    );
    let (flags, note): (Value, Option<String>) =
        sqlx::query_as("SELECT flags, note FROM field_values WHERE name = 'date_of_birth'")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(
        (flags, note.as_deref()),
        (
            json!(["invalid"]),
            Some("confirmed as written on the paper")
        )
    );
    // Approval keeps it so, and the record leaves the queue.
    let r = cas
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
    assert_eq!(r.headers()["location"], "/review?done=approved");
    let (status, by): (String, String) = sqlx::query_as("SELECT status, reviewed_by FROM records")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), by.as_str()), ("approved", "cas"));
    let (flags,): (Value,) =
        sqlx::query_as("SELECT flags FROM field_values WHERE name = 'date_of_birth'")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(flags, json!(["invalid"]));
    let (_, queue) = cas.get("/review").await;
    assert!(queue.contains("Nothing is waiting for review"), "{queue}");
}

/// voter-registration-035.png with its printed marks (form code, page
/// number) painted out, so that no page of it is recognised.
fn unmarked_scan(dir: &std::path::Path) -> std::path::PathBuf {
    let mut img = image::open(crate::util::repo(
        "samples/documents/voter-registration-035.png",
    ))
    .unwrap()
    .to_luma8();
    let (w, h) = img.dimensions();
    for (x, y, p) in img.enumerate_pixels_mut() {
        let top_right = y < h * 8 / 100 && x > w * 7 / 10;
        let bottom = y > h * 94 / 100;
        if top_right || bottom {
            *p = image::Luma([255]);
        }
    }
    let path = dir.join("unmarked-voter-form.png");
    img.save(&path).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclassified_page_is_read_again_as_the_form_a_caseworker_names() {
    let dir = tempfile::tempdir().unwrap();
    let scan = unmarked_scan(dir.path());
    let files = [scan.to_str().unwrap(), "samples/bad-inputs/blank-page.jpg"];
    let (s, view) = stack_with("reread", &files, &[]).await;
    let doc = document_of(&view, "unmarked-voter-form.png");
    let blank = document_of(&view, "blank-page.jpg");
    assert_eq!(view["counts"]["unclassified"], 2, "{view}");
    s.add_person("cas", "caseworker");
    let cas = s.sign_in("cas").await;

    // The page of no known form is shown whole, with the forms it may be.
    let page = format!("/review/documents/{doc}");
    let (_, html) = cas.get(&page).await;
    assert!(html.contains("Which form and page is this?"), "{html}");
    assert!(
        html.contains("value=\"voter-registration:1\"")
            && html.contains("value=\"legal-aid-cw1:2\"")
    );
    let (st, _) = cas.get(&format!("{page}/pages/1.png")).await;
    assert_eq!(st, 200);
    let record = super::web::hidden(&html, "record").unwrap();
    let r = cas
        .post(
            &page,
            &[
                ("record", record.as_str()),
                ("version", "1"),
                ("action", "classify"),
                ("form_page", "voter-registration:1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(
        r.headers()["location"],
        format!("{page}?record={record}&done=reread")
    );

    // Read again: the form's fields, their first history, the page placed.
    let (form, status): (Option<String>, String) =
        sqlx::query_as("SELECT form, status FROM records WHERE document_id = $1")
            .bind(uuid::Uuid::parse_str(&doc).unwrap())
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(form.as_deref(), Some("voter-registration"));
    assert!(
        status == "needs_review" || status == "extracted",
        "{status}"
    );
    let (st, rec) = s.get(&format!("/api/v1/records/{record}")).await;
    assert_eq!(st, 200);
    assert_eq!(rec["fields"]["surname"]["value"], "THOMPSON");
    assert_eq!(rec["fields"]["postcode"]["value"], "LL34 5ZD");
    let first = rec["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "surname")
        .unwrap();
    assert_eq!(
        (first["actor"].as_str(), first["note"].as_str()),
        (
            Some("formflow-extract"),
            Some("read again at the word of cas")
        )
    );
    let (form_page, pose): (Option<i32>, Option<Value>) =
        sqlx::query_as("SELECT form_page, pose FROM pages WHERE document_id = $1")
            .bind(uuid::Uuid::parse_str(&doc).unwrap())
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(form_page, Some(1));
    assert!(pose.is_some());
    let (st, _) = cas
        .get(&format!("{page}/fields/{record}/surname.png"))
        .await;
    assert_eq!(st, 200, "a crop now that the page is placed");

    // A blank page cannot be read as a form, and says why; one that is
    // none of ours is rejected as such.
    let bpage = format!("/review/documents/{blank}");
    let (_, html) = cas.get(&bpage).await;
    let brec = super::web::hidden(&html, "record").unwrap();
    let r = cas
        .post(
            &bpage,
            &[
                ("record", brec.as_str()),
                ("version", "1"),
                ("action", "classify"),
                ("form_page", "voter-registration:1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("There is a problem")
            && html.contains("could not be matched to page 1 of voter-registration"),
        "{html}"
    );
    let r = cas
        .post(
            &bpage,
            &[
                ("record", brec.as_str()),
                ("version", "1"),
                ("action", "classify"),
                ("form_page", "none"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, reject_reason FROM records WHERE id = $1")
            .bind(uuid::Uuid::parse_str(&brec).unwrap())
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("rejected", Some("not one of our forms"))
    );
}
