//! A caseworker in a real browser: Debian's Chromium, headless, driven
//! through chromedriver (WebDriver) with fantoccini. Signs in, takes the
//! next document, corrects the flagged fields using only the keyboard and
//! approves; the record is approved in the database and through the API,
//! with the corrected values and their history. Every page is checked with
//! axe-core (vendored by `scripts/fetch-axe.sh`) against WCAG 2.2 A and AA,
//! and the review and sign-in pages for reflow at the width of 400% zoom.
//! Screenshots go to `target/screenshots/` for people to look at.

use super::web::PASSWORD;
use super::{document_of, stack_with};
use crate::util::repo;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const CONTROL: &str = "\u{E009}";

/// A browser, and the keys pressed in it that are not characters typed.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    keys: usize,
    shots: std::path::PathBuf,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test.sh installs chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }))
        .unwrap();
        let start = Instant::now();
        let client = loop {
            let mut b =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            match b
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        start.elapsed() < Duration::from_secs(30),
                        "chromium did not start: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        let shots = repo("target/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
            keys: 0,
            shots,
        }
    }

    /// Presses keys (WebDriver key codes) in the focused element; each one
    /// counts as a keystroke (a chord counts each key).
    async fn press(&mut self, keys: &str) {
        self.keys += keys.chars().count();
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(keys)
            .await
            .unwrap();
    }

    /// Types characters into the focused element (not counted: they are the
    /// correction itself).
    async fn type_text(&mut self, text: &str) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn focused(&self, attr: &str) -> Option<String> {
        self.client
            .active_element()
            .await
            .unwrap()
            .attr(attr)
            .await
            .unwrap()
    }

    async fn wait_path(&self, starts: &str) -> String {
        let start = Instant::now();
        loop {
            let url = self.client.current_url().await.unwrap();
            let path = format!(
                "{}{}",
                url.path(),
                url.query().map(|q| format!("?{q}")).unwrap_or_default()
            );
            // "/?home" is the start page itself.
            let here = if starts == "/?home" {
                path == "/"
            } else {
                path.starts_with(starts)
            };
            if here {
                // Let the page's module script run.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return path;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "still at {path}, waiting for {starts}:\n{}",
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// axe-core's WCAG 2.2 A and AA violations on the page, none expected;
    /// a screenshot for people.
    async fn check(&self, name: &str) {
        let shot = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), shot).unwrap();
        let axe = std::fs::read_to_string(repo("vendor/axe-core/axe.min.js"))
            .expect("axe-core is in vendor/ (scripts/fetch-axe.sh)");
        self.client.execute(&axe, vec![]).await.unwrap();
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', \
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
              .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, \
              nodes: v.nodes.map(n => n.target.join(' ')) }))))
              .catch(e => done([{ id: 'axe-error', help: String(e) }]));";
        let violations = self.client.execute_async(script, vec![]).await.unwrap();
        assert_eq!(violations, json!([]), "{name}: accessibility violations");
    }

    /// At 320 CSS pixels wide (1280 at 400% zoom) the page reflows: nothing
    /// needs scrolling sideways.
    async fn reflows(&self, name: &str) {
        self.client.set_window_size(320, 900).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let wide = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        let shot = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}-400pc.png")), shot).unwrap();
        self.client.set_window_size(1280, 1000).await.unwrap();
        assert!(
            wide.as_i64().unwrap_or(1) <= 0,
            "{name} scrolls sideways at 400% zoom by {wide}px"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A value as a person types it into the review page (dates DD MM YYYY).
fn as_typed(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() == 10 && s.as_bytes()[4] == b'-' => {
            format!("{} {} {}", &s[8..10], &s[5..7], &s[..4])
        }
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caseworker_corrects_and_approves_with_the_keyboard_alone() {
    let files = [
        "samples/documents/voter-registration-012.tif",
        "samples/documents/voter-registration-025.jpg",
    ];
    let (s, view) = stack_with("browser", &files, &[]).await;
    s.add_person("cas", "caseworker");
    s.add_person("ada", "admin");
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("samples/documents/voter-registration-012.json")).unwrap(),
    )
    .unwrap();
    let mut b = Browser::start().await;
    let base = s.base();

    // Signing in: the name field has focus.
    b.client.goto(&format!("{base}/review")).await.unwrap();
    b.check("01-sign-in").await;
    b.reflows("01-sign-in").await;
    assert_eq!(b.focused("id").await.as_deref(), Some("username"));
    b.type_text("cas").await;
    b.press(TAB).await;
    b.type_text(PASSWORD).await;
    b.press(ENTER).await;
    b.wait_path("/review").await;
    b.check("02-queue").await;

    // The queue: "Review next" has focus.
    assert_eq!(b.focused("id").await.as_deref(), Some("review-next"));
    b.press(ENTER).await;
    let doc = document_of(&view, "voter-registration-012.tif");
    b.wait_path(&format!("/review/documents/{doc}")).await;
    b.check("03-review").await;
    b.reflows("03-review").await;

    // The flagged fields, in page order; the first has focus.
    let flagged: Vec<String> = serde_json::from_value(
        b.client
            .execute(
                "return Array.from(document.querySelectorAll('.ff-value')).slice(0, \
                 arguments[0]).map(e => e.name)",
                vec![json!(100)],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    let heading = b
        .client
        .find(Locator::Css("h2.govuk-heading-m"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let n: usize = heading
        .trim_start_matches("Fields to check (")
        .trim_end_matches(')')
        .parse()
        .expect(&heading);
    let mut names: Vec<String> = Vec::new();
    for f in flagged {
        if !names.contains(&f) {
            names.push(f);
        }
    }
    let flagged: Vec<String> = names.into_iter().take(n).collect();
    assert!(n >= 5, "a document with at least 5 flagged fields: {n}");
    let mut corrected = Vec::new();
    for (i, name) in flagged.iter().enumerate() {
        assert_eq!(
            b.focused("name").await.as_deref(),
            Some(name.as_str()),
            "focus is on the {i}th flagged field"
        );
        let want = as_typed(&truth["fields"][name]);
        let is_text = b.focused("type").await.as_deref() == Some("text");
        let shown = b
            .client
            .active_element()
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        if is_text && shown != want {
            // The field's text is selected on focus: typing replaces it.
            b.type_text(&want).await;
            corrected.push(name.clone());
        }
        if i + 1 < flagged.len() {
            b.press(TAB).await;
        }
    }
    assert!(corrected.len() >= 3, "corrected {corrected:?}");
    b.press(&format!("{CONTROL}{ENTER}")).await;
    b.wait_path("/review?done=approved").await;
    eprintln!(
        "keystrokes: {} for {n} flagged fields ({} corrected), besides the characters typed",
        b.keys,
        corrected.len()
    );
    assert!(b.keys < 25, "{} keystrokes", b.keys);

    // The record is approved, in the database and through the API, with
    // the corrected values and their history.
    let (status, by, id): (String, String, uuid::Uuid) = sqlx::query_as(
        "SELECT r.status, r.reviewed_by, r.id FROM records r \
             JOIN documents d ON d.id = r.document_id \
             WHERE d.source = 'voter-registration-012.tif'",
    )
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), by.as_str()), ("approved", "cas"));
    let (st, rec) = s.get(&format!("/api/v1/records/{id}")).await;
    assert_eq!(st, 200);
    for name in &flagged {
        let want = match &truth["fields"][name] {
            Value::String(x) if x.is_empty() => Value::Null,
            v => v.clone(),
        };
        assert_eq!(rec["fields"][name]["value"], want, "{name}");
        assert_eq!(rec["fields"][name]["flags"], json!([]), "{name}");
    }
    for name in &corrected {
        let h = rec["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name.as_str() && h["actor"] == "cas");
        assert!(
            h.is_some_and(|h| h["old_value"] != h["new_value"]),
            "{name} has its correction in the history"
        );
    }
    let (_, approved) = s.get("/api/v1/records?status=approved").await;
    assert_eq!(approved["records"][0]["id"], json!(id));
    assert_eq!(approved["records"][0]["reviewed_by"], "cas");

    // The next document, with a correction that breaks a rule: the error summary.
    b.client.goto(&format!("{base}/review")).await.unwrap();
    b.wait_path("/review").await;
    b.press(ENTER).await;
    b.wait_path("/review/documents/").await;
    let dob = b.client.find(Locator::Id("date_of_birth")).await.unwrap();
    dob.clear().await.unwrap();
    dob.send_keys("31 02 1970").await.unwrap();
    b.client
        .find(Locator::Css("button[value=save]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let start = Instant::now();
    while b
        .client
        .find(Locator::Css(".govuk-error-summary"))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no error summary"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.check("04-review-error").await;

    // The other pages, as an admin.
    b.client.goto(&format!("{base}/review")).await.unwrap();
    b.client
        .find(Locator::Css(".ff-sign-out button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_path("/sign-in").await;
    b.client
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("ada")
        .await
        .unwrap();
    b.client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(&format!("{PASSWORD}{ENTER}"))
        .await
        .unwrap();
    b.wait_path("/?home").await;
    b.check("05-home-admin").await;
    let batch = view["id"].as_str().unwrap();
    for (name, path) in [
        ("06-upload", "/upload".to_string()),
        ("07-batch", format!("/upload/batches/{batch}")),
        ("08-people", "/admin/users".to_string()),
        ("09-tokens", "/admin/tokens".to_string()),
        ("10-audit", "/admin/audit".to_string()),
        (
            "11-not-found",
            "/review/documents/0193a1b2-0000-7000-8000-000000000000".to_string(),
        ),
    ] {
        b.client.goto(&format!("{base}{path}")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.check(name).await;
    }

    // The audit log holds the caseworker's actions, and no value.
    let audit: Vec<(String, String, Value)> =
        sqlx::query_as("SELECT actor, action, detail FROM audit ORDER BY id")
            .fetch_all(&s.pool)
            .await
            .unwrap();
    let cas: Vec<&str> = audit
        .iter()
        .filter(|a| a.0 == "cas")
        .map(|a| a.1.as_str())
        .collect();
    for want in ["sign_in", "review.view", "record.approve", "sign_out"] {
        assert!(cas.contains(&want), "{want} not in {cas:?}");
    }
    let text = serde_json::to_string(&audit).unwrap();
    for v in truth["fields"].as_object().unwrap().values() {
        if let Value::String(x) = v {
            if x.len() > 4 {
                assert!(!text.contains(x.as_str()), "{x} is in the audit log");
            }
        }
    }
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_warns_before_the_lease_runs_out_and_keeps_it_on_request() {
    // A lease under two minutes: the warning is due as soon as the page opens.
    let env = [("FORMFLOW_REVIEW_LEASE", "90s")];
    let (s, view) = stack_with(
        "lease_warning",
        &["samples/documents/voter-registration-025.jpg"],
        &env,
    )
    .await;
    s.add_person("cas", "caseworker");
    let doc = document_of(&view, "voter-registration-025.jpg");
    let mut b = Browser::start().await;
    b.client
        .goto(&format!("{}/review/documents/{doc}", s.base()))
        .await
        .unwrap();
    b.type_text("cas").await;
    b.press(TAB).await;
    b.type_text(&format!("{PASSWORD}{ENTER}")).await;
    b.wait_path(&format!("/review/documents/{doc}")).await;
    let warning = b.client.find(Locator::Id("lease-warning")).await.unwrap();
    let start = Instant::now();
    while !warning.is_displayed().await.unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no warning before the lease ends"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        warning.attr("role").await.unwrap().as_deref(),
        Some("alert")
    );
    let text = b
        .client
        .find(Locator::Id("lease-warning-text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("in under 2 minutes"), "{text}");
    b.check("12-lease-warning").await;
    let (before,): (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT lease_until FROM documents")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // "Keep working on it", by keyboard.
    let keep = b.client.find(Locator::Id("lease-keep")).await.unwrap();
    b.client
        .execute(
            "arguments[0].focus()",
            vec![serde_json::to_value(&keep).unwrap()],
        )
        .await
        .unwrap();
    b.press(ENTER).await;
    let start = Instant::now();
    loop {
        let (after,): (chrono::DateTime<chrono::Utc>,) =
            sqlx::query_as("SELECT lease_until FROM documents")
                .fetch_one(&s.pool)
                .await
                .unwrap();
        if after > before {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the lease was not renewed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
