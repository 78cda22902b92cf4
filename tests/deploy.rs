//! What `deploy/` gives an operations team holds to the code: the alert
//! rules pass promtool and their own unit tests, and the rules and the
//! Grafana dashboard name only metrics formflow exports.

use crate::util::repo;
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

#[test]
fn the_rules_and_the_dashboard_name_only_metrics_formflow_exports() {
    let read = |p: &str| std::fs::read_to_string(repo(p)).expect(p);
    // Every family formflow registers, by the name it is registered under.
    let code = read("ingest/src/metrics.rs") + &read("worker/src/metrics.rs");
    let exported: BTreeSet<String> = metric_names(&code)
        .into_iter()
        .filter(|n| code.contains(&format!("\"{n}\"")))
        .collect();
    assert!(exported.contains("formflow_queue_depth"), "{exported:?}");
    assert!(exported.contains("formflow_worker_jobs"), "{exported:?}");
    let dashboard = read("deploy/grafana/formflow-dashboard.json");
    let parsed: serde_json::Value =
        serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() > 10));
    for (file, text) in [
        (
            "deploy/prometheus/formflow-rules.yml",
            read("deploy/prometheus/formflow-rules.yml"),
        ),
        ("deploy/grafana/formflow-dashboard.json", dashboard),
    ] {
        let used = metric_names(&text);
        assert!(!used.is_empty(), "{file} names no metric");
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics formflow does not export: {unknown:?}"
        );
    }
}
