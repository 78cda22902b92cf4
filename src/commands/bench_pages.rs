//! `formflow bench --pages`: how fast the pages and the API answer with a
//! realistic amount of work in the database.
//!
//! Makes a fresh database on the PostgreSQL server of `--admin-url`, fills
//! it with `--records` voter-registration records (one document each, in
//! batches of 200; about half waiting for review with a few flagged fields,
//! the rest read with no doubt or approved), plus one real scan extracted
//! by the engine so that its crops can be drawn. Then it serves the app in
//! this process on loopback, signs a caseworker and an admin in, and times
//! each page over HTTP `--repeat` times (after one warm-up call): median,
//! 95th percentile and worst. The database is dropped at the end.

use anyhow::Context as _;
use formflow_ingest::{App, Settings};
use formflow_schemas::{FieldResult, Flag, Record, Role, Status, TemplateSet};
use formflow_service::access::hash_password;
use formflow_service::db::{Actor, NewDocument, Outcome, PageInfo, Started};
use formflow_service::{Blobs, Broker, Db};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Documents accepted a batch.
const BATCH: usize = 200;

/// A record of the voter form with plausible values; `flagged` of its
/// fields carry `low_confidence`.
fn voter_record(i: usize, status: Status, flagged: usize) -> Record {
    let t = TemplateSet::builtin();
    let form = t
        .get("voter-registration")
        .expect("the built-in voter form");
    let fields = form
        .fields
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let value = match f.name.as_str() {
                "surname" => json!(format!("SURNAME{}", i % 977)),
                "first_names" => json!("ALEX"),
                "date_of_birth" => {
                    json!(format!("19{:02}-0{}-1{}", 40 + i % 50, 1 + i % 9, i % 10))
                }
                "ni_number" => json!(format!("AB{:06}C", i % 1_000_000)),
                "postcode" => json!("SW1A 1AA"),
                "nationality" => json!("british"),
                "moved_recently" => json!("no"),
                "signature" => json!(true),
                "signed_on" => json!("2026-09-23"),
                _ => match f.kind {
                    formflow_schemas::FieldType::Checkbox => json!(false),
                    _ => Value::Null,
                },
            };
            let doubt = k < flagged;
            let result = FieldResult {
                value,
                confidence: if doubt { 0.42 } else { 0.99 },
                flags: if doubt {
                    vec![Flag::LowConfidence]
                } else {
                    Vec::new()
                },
                note: doubt.then(|| "the third letter could be O or N".to_string()),
            };
            (f.name.clone(), result)
        })
        .collect();
    Record {
        source: format!("scan-{i:05}.pdf"),
        form: Some("voter-registration".into()),
        pages: vec![1],
        status,
        fields,
        error: None,
    }
}

/// Fills the database: `n` records, one document each.
async fn seed(db: &Db, n: usize) -> anyhow::Result<()> {
    let by = Actor::system("formflow bench");
    let mut i = 0;
    while i < n {
        let docs: Vec<NewDocument> = (i..(i + BATCH).min(n))
            .map(|k| NewDocument {
                id: Uuid::now_v7(),
                source: format!("scan-{k:05}.pdf"),
                sha256: format!("{k:064x}"),
                bytes: 200_000,
                format: "PDF".into(),
                page_count: 1,
            })
            .collect();
        db.accept_batch(Uuid::now_v7(), docs.len(), &[], &docs, &by)
            .await?;
        for (j, d) in docs.iter().enumerate() {
            let k = i + j;
            let Started::Go(row) = db.start(d.id).await? else {
                anyhow::bail!("document {k} was not started")
            };
            // Half wait for review, a third were read with no doubt.
            let (status, flagged) = match k % 6 {
                0..=2 => (Status::NeedsReview, 3 + k % 3),
                3 | 4 => (Status::Extracted, 0),
                _ => (Status::NeedsReview, 1),
            };
            let records = [voter_record(k, status, flagged)];
            let pages = [PageInfo {
                number: 1,
                form: Some(("voter-registration".into(), 1)),
                pose: None,
            }];
            db.finish(
                &row,
                &Outcome {
                    records: &records,
                    pages: &pages,
                    extract_ms: Some(900),
                    extract_cpu_ms: Some(850),
                    reason: None,
                },
            )
            .await?;
        }
        i += docs.len();
        eprint!("\rseeded {i} of {n} records");
    }
    eprintln!();
    Ok(())
}

/// A signed-in browser's cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn value_of(html: &str, key: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{key}\" value=\""))? + key.len() + 15;
    Some(html[at..at + html[at..].find('"')?].to_string())
}

fn cookie_of(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> anyhow::Result<Session> {
    let page = client.get(format!("{base}/sign-in")).send().await?;
    let form_cookie = cookie_of(&page, "formflow-sign-in").context("no sign-in cookie")?;
    let token = value_of(&page.text().await?, "csrf").context("no sign-in token")?;
    let res = client
        .post(format!("{base}/sign-in"))
        .header("Cookie", format!("formflow-sign-in={form_cookie}"))
        .form(&[
            ("username", name),
            ("password", password),
            ("csrf", &token),
            ("next", "/"),
        ])
        .send()
        .await?;
    let cookie = cookie_of(&res, "formflow-session").context("sign-in failed")?;
    let home = client
        .get(format!("{base}/"))
        .header("Cookie", format!("formflow-session={cookie}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = value_of(&home, "csrf").context("no CSRF token")?;
    Ok(Session { cookie, csrf })
}

/// Median, 95th percentile and worst of `times`, in milliseconds.
fn summary(mut times: Vec<f64>) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95), times[times.len() - 1])
}

/// Runs the benchmark and prints its table.
pub fn bench_pages(admin_url: &str, records: usize, repeat: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(admin_url, records.max(10), repeat.max(3)))
}

async fn run(admin_url: &str, records: usize, repeat: usize) -> anyhow::Result<()> {
    let name = format!("formflow_bench_pages_{}", std::process::id());
    let admin = sqlx::PgPool::connect(admin_url).await.with_context(|| {
        format!(
            "Failed to reach PostgreSQL at {}",
            super::server_of(admin_url)
        )
    })?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    let result = timed(admin_url, &name, records, repeat).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    result
}

async fn timed(db_url: &str, name: &str, records: usize, repeat: usize) -> anyhow::Result<()> {
    let db = Db::connect(db_url, 8, Duration::from_secs(10)).await?;
    db.migrate().await?;
    let started = Instant::now();
    seed(&db, records).await?;
    eprintln!("seeding took {:.0} s", started.elapsed().as_secs_f64());

    // One real scan, extracted, for the crops.
    let tmp = tempfile_dir(name)?;
    let blobs = Blobs::open(&tmp.join("originals").display().to_string())?;
    let engine = super::ExtractOpts::single_thread().engine()?;
    let scan_path = std::path::Path::new("samples/documents/voter-registration-012.tif");
    let scan = std::fs::read(scan_path).with_context(|| {
        format!(
            "Failed to read {} (run from the repository)",
            scan_path.display()
        )
    })?;
    let sha = blobs.put(&scan).await?;
    let real = NewDocument {
        id: Uuid::now_v7(),
        source: "voter-registration-012.tif".into(),
        sha256: sha,
        bytes: scan.len() as i64,
        format: "TIFF".into(),
        page_count: 1,
    };
    db.accept_batch(
        Uuid::now_v7(),
        1,
        &[],
        std::slice::from_ref(&real),
        &Actor::system("formflow bench"),
    )
    .await?;
    let Started::Go(row) = db.start(real.id).await? else {
        anyhow::bail!("the scan was not started")
    };
    let x = engine
        .worker()?
        .extract_file("voter-registration-012.tif", scan.clone())?;
    let info: Vec<PageInfo> = x
        .pages
        .iter()
        .map(|p| PageInfo {
            number: p.number,
            form: p.form.clone(),
            pose: p.pose.as_ref().and_then(|x| serde_json::to_value(x).ok()),
        })
        .collect();
    let recs = x.records;
    db.finish(
        &row,
        &Outcome {
            records: &recs,
            pages: &info,
            extract_ms: None,
            extract_cpu_ms: None,
            reason: None,
        },
    )
    .await?;
    let real_record = db
        .records_of(real.id)
        .await?
        .first()
        .map(|r| r.id)
        .context("the scan gave no record")?;

    for (user, role) in [
        ("bench-caseworker", Role::Caseworker),
        ("bench-admin", Role::Admin),
    ] {
        db.add_user(user, role, &hash_password("benchmark password")?)
            .await?
            .map_err(anyhow::Error::msg)?;
    }
    let settings = Settings {
        auth: formflow_ingest::auth::session::AuthSettings {
            secure_cookies: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let app = App::new(
        db.clone(),
        blobs,
        Broker::memory(),
        Arc::new(formflow_extract::Pool::new(engine)),
        settings,
        Arc::new(tokio::sync::Notify::new()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(formflow_ingest::serve(
        listener,
        Arc::clone(&app),
        formflow_ingest::door::Door::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cas = sign_in(&client, &base, "bench-caseworker", "benchmark password").await?;
    let adm = sign_in(&client, &base, "bench-admin", "benchmark password").await?;
    let (queue_items, counts) = db
        .review_queue(&formflow_service::db::QueueFilter {
            limit: 1,
            ..Default::default()
        })
        .await?;
    let waiting_doc = queue_items
        .first()
        .map(|i| i.document_id)
        .context("nothing waits")?;
    let some_batch = db
        .recent_batches(1)
        .await?
        .first()
        .map(|b| b.batch.id)
        .context("no batch")?;
    let mid_record = db
        .records(&formflow_service::db::RecordFilter {
            limit: 1,
            ..Default::default()
        })
        .await?
        .records[0]
        .clone();

    let gets: Vec<(&str, String, &Session)> = vec![
        ("review queue", "/review".into(), &cas),
        (
            "review page (20 fields)",
            format!("/review/documents/{waiting_doc}"),
            &cas,
        ),
        (
            "field crop (real scan)",
            format!(
                "/review/documents/{}/fields/{real_record}/surname.png",
                real.id
            ),
            &cas,
        ),
        (
            "whole page (real scan)",
            format!("/review/documents/{}/pages/1.png", real.id),
            &cas,
        ),
        ("start page", "/".into(), &cas),
        ("records API, 100", "/api/v1/records?limit=100".into(), &cas),
        (
            "records API, approved",
            "/api/v1/records?status=approved&limit=100".into(),
            &cas,
        ),
        (
            "document API",
            format!("/api/v1/documents/{}", mid_record.document_id),
            &cas,
        ),
        ("upload page", "/upload".into(), &adm),
        (
            "batch page (200 files)",
            format!("/upload/batches/{some_batch}"),
            &adm,
        ),
        ("audit log page", "/admin/audit".into(), &adm),
        ("people page", "/admin/users".into(), &adm),
    ];
    println!(
        "{records} records in the database ({} documents waiting for review); {repeat} calls \
         each, after one warm-up",
        counts.documents
    );
    println!();
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>8}",
        "page", "median ms", "p95 ms", "worst ms", "KiB"
    );
    for (label, path, who) in &gets {
        let mut times = Vec::with_capacity(repeat);
        let mut bytes = 0;
        for k in 0..=repeat {
            let t = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .header("Cookie", format!("formflow-session={}", who.cookie))
                .send()
                .await?;
            let status = res.status();
            let body = res.bytes().await?;
            anyhow::ensure!(
                status.is_success(),
                "{label}: {status}: {}",
                String::from_utf8_lossy(&body)
            );
            if k > 0 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            bytes = body.len();
        }
        let (m, p95, worst) = summary(times);
        println!(
            "{label:<28} {m:>9.1} {p95:>9.1} {worst:>9.1} {:>8.0}",
            bytes as f64 / 1024.0
        );
    }

    // Writes: a save of one corrected field on different records.
    let waiting = db
        .review_queue(&formflow_service::db::QueueFilter {
            limit: (repeat + 1) as u32,
            ..Default::default()
        })
        .await?
        .0;
    let mut times = Vec::new();
    for item in waiting.iter().skip(1).take(repeat) {
        let rid = item.records[0].id;
        let t = Instant::now();
        let res = client
            .patch(format!("{base}/api/v1/records/{rid}"))
            .header("Cookie", format!("formflow-session={}", cas.cookie))
            .header("X-CSRF-Token", &cas.csrf)
            .json(&json!({"version": 1, "fields": {"first_names": "ALEXANDER"}}))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "save: {}", res.text().await?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    if !times.is_empty() {
        let (m, p95, worst) = summary(times);
        println!(
            "{:<28} {m:>9.1} {p95:>9.1} {worst:>9.1}",
            "save a correction (API)"
        );
    }
    // The whole form as CSV.
    let t = Instant::now();
    let res = client
        .get(format!(
            "{base}/api/v1/exports/voter-registration.csv?status=extracted,needs_review,approved"
        ))
        .header("Cookie", format!("formflow-session={}", adm.cookie))
        .send()
        .await?;
    let csv = res.bytes().await?;
    let rows = csv
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1);
    println!(
        "{:<28} {:>9.1} ms for {rows} rows, {:.1} MiB",
        "CSV export",
        t.elapsed().as_secs_f64() * 1000.0,
        csv.len() as f64 / 1048576.0
    );

    let _ = stop_tx.send(());
    let _ = server.await;
    db.close().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn tempfile_dir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let p = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&p)?;
    Ok(p)
}
