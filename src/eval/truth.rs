//! Reading a set's ground truth: `documents/*.json` (one scan, one document)
//! then `batches/*.json` (one scan, several documents), each folder sorted by
//! file name as score.py's `sorted(glob("*.json"))` does. The `scan` entry
//! (how each page was distorted) is never read.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One document of a set's ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthDoc {
    /// The scan's file name, as predictions name it in `source`.
    pub source: String,
    /// The page of the scan the document starts on, from 1.
    pub first_page: u32,
    /// The template key of the document's form.
    pub form: String,
    /// How many pages the document has.
    pub pages: u32,
    /// How it was filled in: `typed`, `typewriter` or `handwriting`.
    pub tier: String,
    /// Every field's true value, as written in the truth file.
    pub fields: Map<String, Value>,
    /// The fields whose written value breaks a rule of the form, so that a
    /// good engine flags them.
    pub invalid: Vec<String>,
}

/// The parts of a document truth that scoring uses; other keys are ignored.
#[derive(Deserialize)]
struct DocJson {
    form: String,
    pages: u32,
    tier: String,
    fields: Map<String, Value>,
    #[serde(default)]
    invalid: Vec<String>,
}

#[derive(Deserialize)]
struct DocumentFile {
    file: String,
    #[serde(flatten)]
    doc: DocJson,
}

#[derive(Deserialize)]
struct BatchDoc {
    first_page: u32,
    #[serde(flatten)]
    doc: DocJson,
}

#[derive(Deserialize)]
struct BatchFile {
    file: String,
    documents: Vec<BatchDoc>,
}

impl TruthDoc {
    fn new(source: &str, first_page: u32, d: DocJson) -> TruthDoc {
        TruthDoc {
            source: source.to_string(),
            first_page,
            form: d.form,
            pages: d.pages,
            tier: d.tier,
            fields: d.fields,
            invalid: d.invalid,
        }
    }
}

/// Reads `documents/*.json` then `batches/*.json` (sorted by name, like
/// score.py) — never reads the `scan` entry.
pub fn load_truth(set_dir: &Path) -> Result<Vec<TruthDoc>> {
    Ok(read_set(set_dir)?
        .into_iter()
        .flat_map(|(_, docs)| docs)
        .collect())
}

/// The scan files the set's truth names, in order, each once (documents
/// first, then batches), as paths.
pub fn set_files(set_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut seen = HashSet::new();
    Ok(read_set(set_dir)?
        .into_iter()
        .map(|(scan, _)| scan)
        .filter(|p| seen.insert(p.clone()))
        .collect())
}

/// Every truth file of the set: the scan it describes and its documents.
fn read_set(set_dir: &Path) -> Result<Vec<(PathBuf, Vec<TruthDoc>)>> {
    if !set_dir.is_dir() {
        bail!("the set {} is not a folder", set_dir.display());
    }
    let (documents, batches) = (set_dir.join("documents"), set_dir.join("batches"));
    if !documents.is_dir() && !batches.is_dir() {
        bail!(
            "the set {} has neither a documents/ nor a batches/ folder",
            set_dir.display()
        );
    }
    let mut out = Vec::new();
    for path in json_files(&documents)? {
        let d: DocumentFile = read_json(&path)?;
        let scan = scan_path(&documents, &d.file, &path)?;
        out.push((scan, vec![TruthDoc::new(&d.file, 1, d.doc)]));
    }
    for path in json_files(&batches)? {
        let b: BatchFile = read_json(&path)?;
        let scan = scan_path(&batches, &b.file, &path)?;
        let docs = b
            .documents
            .into_iter()
            .map(|d| TruthDoc::new(&b.file, d.first_page, d.doc))
            .collect();
        out.push((scan, docs));
    }
    Ok(out)
}

/// The `*.json` files directly in `dir` (hidden ones too, as pathlib's glob
/// has them), sorted by name; none when `dir` does not exist.
fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_name().to_string_lossy().ends_with(".json") {
            paths.push(entry.path());
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read truth file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("truth file {} is not of the expected shape", path.display()))
}

/// The scan a truth file names: a plain file name next to the truth file.
fn scan_path(dir: &Path, file: &str, truth: &Path) -> Result<PathBuf> {
    if file.is_empty() || file == "." || file == ".." || file.contains(['/', '\\']) {
        bail!(
            "truth file {} names its scan {file:?}, which is not a plain file name",
            truth.display()
        );
    }
    Ok(dir.join(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_set(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("formflow-truth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("documents")).unwrap();
        dir
    }

    #[test]
    fn a_broken_or_incomplete_truth_file_is_an_error_naming_it() {
        let dir = temp_set("broken");
        std::fs::write(dir.join("documents/a.json"), "{").unwrap();
        let e = format!("{:#}", load_truth(&dir).unwrap_err());
        assert!(
            e.contains("documents/a.json") && e.contains("expected shape"),
            "{e}"
        );
        std::fs::write(
            dir.join("documents/a.json"),
            r#"{"file": "a.pdf", "form": "x", "pages": 1, "fields": {}}"#,
        )
        .unwrap();
        let e = format!("{:#}", load_truth(&dir).unwrap_err());
        assert!(e.contains("documents/a.json") && e.contains("tier"), "{e}");
        std::fs::write(
            dir.join("documents/a.json"),
            r#"{"file": "../a.pdf", "form": "x", "pages": 1, "tier": "typed", "fields": {}}"#,
        )
        .unwrap();
        let e = format!("{:#}", set_files(&dir).unwrap_err());
        assert!(e.contains("not a plain file name"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(format!("{:#}", load_truth(&dir).unwrap_err()).contains("is not a folder"));
    }

    #[test]
    fn documents_come_sorted_before_batches_and_files_once() {
        let dir = temp_set("order");
        std::fs::create_dir_all(dir.join("batches")).unwrap();
        let doc = |file: &str| {
            format!(
                concat!(
                    r#"{{"file": "{file}", "form": "f", "pages": 1, "tier": "typed", "#,
                    r#""fields": {{"a": 1}}, "scan": "not read"}}"#
                ),
                file = file
            )
        };
        std::fs::write(dir.join("documents/b.json"), doc("b.jpg")).unwrap();
        std::fs::write(dir.join("documents/a.json"), doc("a.jpg")).unwrap();
        std::fs::write(dir.join("documents/notes.txt"), "ignored").unwrap();
        std::fs::write(
            dir.join("batches/m.json"),
            concat!(
                r#"{"file": "m.pdf", "documents": [
                {"first_page": 1, "form": "f", "pages": 2, "tier": "handwriting", "#,
                r#""fields": {}, "invalid": ["a"]},
                {"first_page": 3, "form": "g", "pages": 1, "tier": "typed", "fields": {}}]}"#
            ),
        )
        .unwrap();
        let truth = load_truth(&dir).unwrap();
        let keys: Vec<_> = truth
            .iter()
            .map(|t| (t.source.as_str(), t.first_page))
            .collect();
        assert_eq!(
            keys,
            [("a.jpg", 1), ("b.jpg", 1), ("m.pdf", 1), ("m.pdf", 3)]
        );
        assert_eq!(truth[2].invalid, ["a"]);
        assert_eq!(
            set_files(&dir).unwrap(),
            [
                dir.join("documents/a.jpg"),
                dir.join("documents/b.jpg"),
                dir.join("batches/m.pdf")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
