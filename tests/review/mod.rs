//! The review loop and the door in front of it, against the real
//! PostgreSQL and RabbitMQ:
//!
//! - `web`: people signed in through the sign-in page, over plain HTTP;
//! - `access`: the role table over every route, revoked tokens, disabled
//!   people, CSRF, and `serve` refusing to listen openly with nobody able
//!   to sign in;
//! - `corrections`: corrections, approval and rejection through the JSON
//!   API and the review page, the rules on corrections, events, exports;
//! - `leases`: two caseworkers on one document, and a lease running out;
//! - `browser`: a caseworker in a real browser (Chromium through
//!   WebDriver), keyboard only, and an accessibility check of every page.

mod access;
mod browser;
mod corrections;
mod leases;
pub mod web;

use crate::pipeline::stack::Stack;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A stack with `serve` and a worker that has read `files` (paths in the
/// repository) as one batch; the finished batch.
pub async fn stack_with(test: &str, files: &[&str], env: &[(&str, &str)]) -> (Stack, Value) {
    let mut s = Stack::new(test, true).await;
    s.start("serve", &["serve"], env);
    s.start("worker", &["worker"], env);
    s.wait_serving().await;
    let paths: Vec<&Path> = files.iter().map(Path::new).collect();
    let (status, answer) = s.upload(&paths).await;
    assert_eq!(status, 202, "{answer}");
    let batch = answer["batch_id"].as_str().expect("a batch").to_string();
    let view = s.wait_batch(&batch, Duration::from_secs(180)).await;
    (s, view)
}

/// The id of the document uploaded as `file` in a batch view.
pub fn document_of(view: &Value, file: &str) -> String {
    view["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .find(|d| d["source"] == file)
        .and_then(|d| d["id"].as_str())
        .unwrap_or_else(|| panic!("{file} is not in {view}"))
        .to_string()
}
