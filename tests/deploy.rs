//! What `deploy/` gives an operations team holds to the code: the alert
//! rules pass promtool and their own unit tests, and the rules and the
//! Grafana dashboard name only metrics formflow exports (checked against a
//! running serve's and worker's scrapes by the pipeline test, through
//! [`assert_deploy_names_only_scraped`]). And the API's
//! OpenAPI document, which client makers build from, is valid OpenAPI.

use crate::util::{openapi_python, repo};
use std::collections::BTreeSet;
use std::process::Command;

fn promtool() -> std::path::PathBuf {
    let p = repo("vendor/promtool/promtool");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-promtool.sh",
        p.display()
    );
    p
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = repo("deploy/prometheus");
    for args in [
        ["check", "rules", "formflow-rules.yml"],
        ["test", "rules", "formflow-rules.test.yml"],
    ] {
        let out = Command::new(promtool())
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The `formflow_*` names in a text, without the suffixes Prometheus adds
/// to a family's samples.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("formflow_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let mut name = &tail[..end];
        for suffix in ["_bucket", "_count", "_sum", "_total"] {
            name = name.strip_suffix(suffix).unwrap_or(name);
        }
        names.insert(name.to_string());
        rest = &tail[end..];
    }
    names
}

/// The alert rules and the dashboard.
fn deploy_files() -> [(&'static str, String); 2] {
    let read = |p: &str| std::fs::read_to_string(repo(p)).expect(p);
    [
        (
            "deploy/prometheus/formflow-rules.yml",
            read("deploy/prometheus/formflow-rules.yml"),
        ),
        (
            "deploy/grafana/formflow-dashboard.json",
            read("deploy/grafana/formflow-dashboard.json"),
        ),
    ]
}

#[test]
fn the_dashboard_is_grafana_json_and_both_files_name_metrics() {
    let [rules, dashboard] = deploy_files();
    let parsed: serde_json::Value =
        serde_json::from_str(&dashboard.1).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() > 10));
    for (file, text) in [rules, dashboard] {
        assert!(!metric_names(&text).is_empty(), "{file} names no metric");
    }
}

/// Checks that the alert rules and the dashboard name only metric families
/// these scrapes have (by their `# TYPE` lines): the pipeline test calls
/// it with what a running serve's and worker's `/metrics` gave.
pub(crate) fn assert_deploy_names_only_scraped(scrapes: &[&str]) {
    let families: BTreeSet<String> = scrapes
        .iter()
        .flat_map(|s| s.lines())
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|r| r.split(' ').next())
        .map(String::from)
        .collect();
    assert!(families.contains("formflow_queue_depth"), "{families:?}");
    assert!(
        families.contains("formflow_dead_letter_queue_depth"),
        "{families:?}"
    );
    assert!(families.contains("formflow_worker_jobs"), "{families:?}");
    for (file, text) in deploy_files() {
        let used = metric_names(&text);
        let unknown: Vec<_> = used.difference(&families).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics a running formflow does not export: {unknown:?}"
        );
    }
}

/// Runs openapi-spec-validator on a document; its verdict and what it said.
fn validate_openapi(doc: &serde_json::Value) -> (bool, String) {
    let out = openapi_python(&["-m", "openapi_spec_validator"], doc);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_formflow"))
        .arg("openapi")
        .output()
        .expect("formflow runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let (valid, said) = validate_openapi(&doc);
    assert!(valid, "the document is not valid OpenAPI: {said}");
    // The check is live: a document with a broken reference and an
    // operation with no answers is refused.
    let mut broken = doc.clone();
    broken["paths"]["/healthz"]["get"]["responses"] = serde_json::json!("none");
    let (valid, said) = validate_openapi(&broken);
    assert!(!valid, "a broken document passed: {said}");
    let mut dangling = doc;
    dangling["paths"]["/readyz"]["get"]["responses"]["200"] =
        serde_json::json!({ "$ref": "#/components/responses/Nowhere" });
    let (valid, said) = validate_openapi(&dangling);
    assert!(!valid, "a dangling reference passed: {said}");
}
