//! Helpers shared by the integration tests.

use formflow_extract::pipeline::Config;
use formflow_extract::Engine;
use formflow_schemas::{Record, TemplateSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The date rules are checked against in tests, so that they do not change
/// with the calendar.
pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("a real date")
}

/// A path inside the repository.
pub fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// One engine for the whole test binary.
pub fn engine() -> Arc<Engine> {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        Arc::new(Engine::new(
            TemplateSet::builtin(),
            Config {
                today: Some(today()),
                ..Config::default()
            },
        ))
    })
    .clone()
}

/// Extracts one file with a fresh worker.
pub fn extract(rel: &str) -> Vec<Record> {
    let path = repo(rel);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    extract_bytes(&file_name(rel), bytes)
}

/// Extracts bytes as a file called `name`.
pub fn extract_bytes(name: &str, bytes: Vec<u8>) -> Vec<Record> {
    let mut w = engine()
        .worker()
        .expect("an OCR engine starts (is tesseract-ocr-eng installed?)");
    w.extract(name, bytes)
}

/// The last part of a path.
pub fn file_name(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

/// Every sample scan extracted once, in `set_files` order.
pub fn sample_records() -> &'static [Record] {
    static R: OnceLock<Vec<Record>> = OnceLock::new();
    R.get_or_init(|| set_records("samples"))
}

/// The worn-scanner samples (`samples/stress`) extracted once.
pub fn stress_records() -> &'static [Record] {
    static R: OnceLock<Vec<Record>> = OnceLock::new();
    R.get_or_init(|| set_records("samples/stress"))
}

/// Every scan of a set laid out like the shared ones, extracted.
fn set_records(rel: &str) -> Vec<Record> {
    {
        let files =
            formflow::eval::set_files(&repo(rel)).expect("the samples folder lists its scans");
        let engine = engine();
        let out = std::sync::Mutex::new(vec![Vec::new(); files.len()]);
        formflow::commands::extract_paths(&engine, &files, 2, &|i, rs| {
            out.lock().expect("not poisoned")[i] = rs
        })
        .expect("extraction runs");
        out.into_inner()
            .expect("not poisoned")
            .into_iter()
            .flatten()
            .collect()
    }
}

/// A field's value in a record, as JSON.
pub fn value(r: &Record, field: &str) -> serde_json::Value {
    r.field(field)
        .unwrap_or_else(|| panic!("{} has no field {field}", r.source))
        .value
        .clone()
}

/// Panics listing every wrong field that carries no flag.
pub fn assert_no_silent_errors(r: &formflow::eval::Report) {
    let silent: Vec<String> = r
        .wrong
        .iter()
        .filter(|w| w.flags.is_empty())
        .map(|w| w.to_string())
        .collect();
    assert!(silent.is_empty(), "wrong and unflagged: {silent:#?}");
}

/// Runs `python3 ARGS FILE`, FILE holding `input` as JSON, with the
/// packages scripts/fetch-openapi-validator.sh installs into `vendor/`
/// (openapi-spec-validator and jsonschema); what it did.
pub fn openapi_python(args: &[&str], input: &serde_json::Value) -> std::process::Output {
    let lib = repo("vendor/openapi-spec-validator");
    assert!(
        lib.is_dir(),
        "{} is missing: run scripts/fetch-openapi-validator.sh",
        lib.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.json");
    std::fs::write(&file, serde_json::to_vec(input).unwrap()).unwrap();
    std::process::Command::new("python3")
        .args(args)
        .arg(&file)
        .env("PYTHONPATH", &lib)
        .output()
        .expect("python3 runs")
}
