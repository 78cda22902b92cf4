//! Live answers against the OpenAPI document: what `serve` sends for each
//! operation a document's life touches (uploaded, refused, followed, read
//! as a record) is valid against the schema the document gives for that
//! operation, status and media type. The schemas are checked with
//! `jsonschema` (JSON Schema 2020-12, as OpenAPI 3.1 uses), from the
//! openapi-spec-validator install in `vendor/`.

use super::stack::Stack;
use crate::util::openapi_python;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Checks each answer (`path` as the document writes it, `method`,
/// `status`, `type`, `body`) against `spec`; what was wrong, one line an
/// answer.
fn invalid_answers(spec: &Value, answers: &[Value]) -> Vec<String> {
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
given = json.load(open(sys.argv[1]))
spec = given["spec"]
for a in given["answers"]:
    name = f"{a['method'].upper()} {a['path']} {a['status']}"
    op = spec["paths"].get(a["path"], {}).get(a["method"])
    if op is None:
        print(f"{name}: no such operation in the document")
        continue
    content = op["responses"].get(str(a["status"]), {}).get("content", {})
    if a["type"] not in content:
        print(f"{name}: the document gives no {a['type']} body for it")
        continue
    schema = dict(content[a["type"]]["schema"])
    schema["components"] = spec["components"]
    for e in Draft202012Validator(schema).iter_errors(a["body"]):
        print(f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
"#;
    let input = json!({ "spec": spec, "answers": answers });
    let out = openapi_python(&["-c", script], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// One answer to check.
fn answer(path: &str, method: &str, status: u16, kind: &str, body: &Value) -> Value {
    json!({ "path": path, "method": method, "status": status, "type": kind, "body": body })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_answers_are_valid_against_the_document() {
    let mut s = Stack::new("answers", true).await;
    s.start("serve", &["serve"], &[]);
    s.start("worker", &["worker"], &[]);
    s.wait_serving().await;
    let (_, spec) = s.get("/api/v1/openapi.json").await;
    let mut answers = Vec::new();
    let json_ = "application/json";
    let problem = "application/problem+json";

    let (st, batch) = s
        .upload(&[
            Path::new("samples/documents/voter-registration-035.png"),
            Path::new("samples/bad-inputs/random.bin"),
        ])
        .await;
    assert_eq!(st, 202, "{batch}");
    answers.push(answer("/api/v1/batches", "post", st, json_, &batch));
    let (st, refused) = s
        .upload(&[Path::new("samples/bad-inputs/random.bin")])
        .await;
    assert_eq!(st, 422, "{refused}");
    answers.push(answer("/api/v1/batches", "post", st, problem, &refused));

    let id = batch["batch_id"].as_str().unwrap();
    let done = s.wait_batch(id, Duration::from_secs(60)).await;
    answers.push(answer("/api/v1/batches/{id}", "get", 200, json_, &done));
    let (st, v) = s.get("/api/v1/batches").await;
    answers.push(answer("/api/v1/batches", "get", st, json_, &v));
    let document = batch["documents"][0]["document_id"].as_str().unwrap();
    let (st, v) = s.get(&format!("/api/v1/documents/{document}")).await;
    answers.push(answer("/api/v1/documents/{id}", "get", st, json_, &v));
    let (st, page) = s.get("/api/v1/records").await;
    answers.push(answer("/api/v1/records", "get", st, json_, &page));
    let record = page["records"][0]["id"].as_str().expect("a record");
    let (st, v) = s.get(&format!("/api/v1/records/{record}")).await;
    answers.push(answer("/api/v1/records/{id}", "get", st, json_, &v));
    for probe in ["/healthz", "/readyz"] {
        let (st, v) = s.get(probe).await;
        answers.push(answer(probe, "get", st, json_, &v));
    }
    for a in &answers {
        assert!(
            a["status"].as_u64().unwrap() < 300 || a["type"] == problem,
            "{a}"
        );
    }

    let wrong = invalid_answers(&spec, &answers);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The check is live: a batch whose documents are not a list, and a
    // record without its id, are each found wrong.
    let at = |path: &str| answers.iter().position(|a| a["path"] == path).unwrap();
    let mut broken = answers.clone();
    broken[at("/api/v1/batches")]["body"]["documents"] = json!("none");
    broken[at("/api/v1/records/{id}")]["body"]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let wrong = invalid_answers(&spec, &broken);
    assert_eq!(wrong.len(), 2, "{}", wrong.join("\n"));
    assert!(
        wrong[0].starts_with("POST /api/v1/batches 202: documents"),
        "{wrong:?}"
    );
    assert!(
        wrong[1].starts_with("GET /api/v1/records/{id} 200"),
        "{wrong:?}"
    );
}
