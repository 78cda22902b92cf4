//! The agreement test: builds a small set in a temporary folder laid out as
//! score.py expects (`documents/`, `batches/`, `forms/<form>/fields.json`,
//! `tools/score.py`), writes predictions that exercise every branch, runs the
//! reference copy of score.py on them and compares with [`score`]. Needs
//! `python3`, not `/work/shared`.

use super::norm::{norm, py_float_repr};
use super::*;
use formflow_schemas::{FieldType, Flag};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("formflow-eval-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn sample(rel: &str) -> Value {
    let p = Path::new(ROOT).join("samples").join(rel);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Runs python3 and returns its standard output; fails loudly without it.
fn python(args: &[&Path]) -> String {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 must be installed: the agreement test runs the reference score.py");
    assert!(
        out.status.success(),
        "python3 {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Lays out score.py, the forms' field lists, and the reference copy.
fn scorer_dir(dir: &Path) -> PathBuf {
    let script = dir.join("tools/score.py");
    write(
        &script,
        &std::fs::read_to_string(Path::new(ROOT).join("tests/reference/score.py")).unwrap(),
    );
    for entry in std::fs::read_dir(Path::new(ROOT).join("schemas/forms")).unwrap() {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        write(
            &dir.join("forms")
                .join(v["form"].as_str().unwrap())
                .join("fields.json"),
            &v.to_string(),
        );
    }
    script
}

/// A record that copies the truth: right form and pages, every value.
fn perfect(t: &TruthDoc, templates: &TemplateSet) -> Record {
    let fields = templates
        .get(&t.form)
        .unwrap()
        .fields
        .iter()
        .map(|f| {
            let value = t.fields.get(&f.name).cloned().unwrap_or(Value::Null);
            (
                f.name.clone(),
                FieldResult {
                    value,
                    confidence: 0.99,
                    flags: vec![],
                    note: None,
                },
            )
        })
        .collect();
    Record {
        source: t.source.clone(),
        form: Some(t.form.clone()),
        pages: (t.first_page..t.first_page + t.pages).collect(),
        status: Status::Extracted,
        fields,
        error: None,
    }
}

fn set(r: &mut Record, name: &str, value: Value) {
    let f = r
        .fields
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"));
    f.1.value = value;
}

fn flag(r: &mut Record, name: &str, flags: &[Flag]) {
    r.fields
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
        .flags = flags.to_vec();
}

fn remove(r: &mut Record, name: &str) {
    r.fields.retain(|(n, _)| n != name);
}

/// The truth docs and predictions of the agreement set.
fn build_set(dir: &Path, templates: &TemplateSet) -> Vec<Record> {
    for name in [
        "voter-registration-002",
        "voter-registration-025",
        "voter-registration-035",
        "voter-registration-037",
        "legal-aid-cw1-018",
        "legal-aid-cw1-028",
    ] {
        write(
            &dir.join(format!("documents/{name}.json")),
            &sample(&format!("documents/{name}.json")).to_string(),
        );
    }
    let mut la = sample("documents/legal-aid-cw1-003.json");
    la["fields"]["gross_monthly_income"] = json!("12.50");
    write(
        &dir.join("documents/legal-aid-cw1-003.json"),
        &la.to_string(),
    );
    let mut vr = sample("documents/voter-registration-012.json");
    vr["tier"] = json!("typewriter");
    vr["invalid"] = json!(["date_of_birth", "ni_number"]);
    write(
        &dir.join("documents/voter-registration-012.json"),
        &vr.to_string(),
    );
    write(
        &dir.join("batches/batch-mini.json"),
        &sample("batches/batch-mini.json").to_string(),
    );

    let truth = load_truth(dir).unwrap();
    let doc = |source: &str, first: u32| {
        truth
            .iter()
            .find(|t| t.source == source && t.first_page == first)
            .unwrap()
    };
    let mut preds = Vec::new();

    // Every field right through its normalisation; straight through.
    let mut r = perfect(doc("legal-aid-cw1-003.pdf", 1), templates);
    r.source = "/scans/in/legal-aid-cw1-003.pdf".into();
    r.pages = vec![2, 1];
    set(&mut r, "gross_monthly_income", json!("12.5"));
    set(&mut r, "monthly_housing_costs", json!(1396.72));
    set(&mut r, "savings_and_capital", json!("£5,202.82"));
    set(&mut r, "dependent_children", json!(0));
    set(&mut r, "other_dependants", json!(" 0 "));
    set(&mut r, "phone", Value::Null);
    set(&mut r, "surname", json!(" dennis "));
    set(&mut r, "postcode", json!("hs59gj"));
    set(&mut r, "ni_number", json!("yr 904 193 b"));
    set(&mut r, "benefit_universal_credit", json!("no"));
    set(&mut r, "signature", json!("yes"));
    remove(&mut r, "benefit_income_support");
    preds.push(r);

    // Wrong values flagged and unflagged, quirks of blanks, needs review.
    let mut r = perfect(doc("voter-registration-002.jpg", 1), templates);
    set(&mut r, "surname", json!("BAKR"));
    set(&mut r, "ni_number", json!("AR885917D"));
    flag(&mut r, "ni_number", &[Flag::LowConfidence, Flag::Invalid]);
    flag(&mut r, "first_names", &[Flag::Ambiguous]);
    set(&mut r, "town", json!(" south  deborah "));
    r.fields.insert(
        0,
        (
            "town".into(),
            FieldResult {
                value: json!("WRONG"),
                confidence: 0.1,
                flags: vec![],
                note: None,
            },
        ),
    );
    set(&mut r, "address_line_2", json!("  "));
    set(&mut r, "nationality", json!("British"));
    remove(&mut r, "signature");
    remove(&mut r, "open_register_opt_out");
    set(&mut r, "postal_vote", json!("false"));
    set(&mut r, "phone", json!("07337 304 833"));
    set(&mut r, "email", json!(0));
    set(&mut r, "no_ni_number", json!(0));
    set(&mut r, "date_of_birth", json!(" 1942-03-26 "));
    r.status = Status::NeedsReview;
    preds.push(r);

    // Wrong form: nothing right, one invalid field caught of two.
    let mut r = perfect(doc("voter-registration-012.tif", 1), templates);
    r.form = Some("legal-aid-cw1".into());
    flag(&mut r, "ni_number", &[Flag::Invalid]);
    preds.push(r);

    // legal-aid-cw1-018.tif has no prediction at all; these match nothing.
    let mut r = perfect(doc("legal-aid-cw1-018.tif", 1), templates);
    r.source = "legal-aid-cw1-018.tif.bak".into();
    preds.push(r);
    preds.push(Record::failed("unknown.pdf", "not in the set"));

    // Unclassified on page 2, matched as the file's only prediction.
    preds.push(Record {
        source: "voter-registration-025.jpg".into(),
        form: None,
        pages: vec![2],
        status: Status::Unclassified,
        fields: vec![],
        error: None,
    });
    preds.push(Record::failed(
        "voter-registration-035.png",
        "the file is truncated",
    ));

    // No pages (counts as [1]), approved, one silent error: straight through wrong.
    let mut r = perfect(doc("voter-registration-037.pdf", 1), templates);
    r.pages = vec![];
    r.status = Status::Approved;
    set(&mut r, "surname", json!("WALIS"));
    preds.push(r);

    // Two predictions for one file: the first starts on page 2 and loses.
    let mut r = perfect(doc("legal-aid-cw1-028.tif", 1), templates);
    r.pages = vec![2];
    preds.push(r);
    let mut r = perfect(doc("legal-aid-cw1-028.tif", 1), templates);
    set(&mut r, "dependent_children", json!("4"));
    set(&mut r, "other_dependants", json!(true));
    flag(&mut r, "other_dependants", &[Flag::MissingRequired]);
    preds.push(r);

    // The batch: reversed pages split right; the second document given one
    // page too many; an extra document that matches nothing.
    let mut r = perfect(doc("batch-mini.pdf", 1), templates);
    r.pages = vec![2, 1];
    set(&mut r, "dependent_children", json!(1.0));
    set(&mut r, "benefit_income_support", json!("No"));
    set(&mut r, "gross_monthly_income", json!(0));
    preds.push(r);
    let mut r = perfect(doc("batch-mini.pdf", 3), templates);
    r.pages = vec![4, 3];
    r.status = Status::NeedsReview;
    set(&mut r, "surname", json!(0));
    set(&mut r, "phone", json!("n/a"));
    preds.push(r);
    let mut r = perfect(doc("batch-mini.pdf", 3), templates);
    r.pages = vec![5];
    preds.push(r);
    preds
}

#[test]
fn rust_and_score_py_agree_on_every_number() {
    let dir = TempDir::new("agree");
    let templates = TemplateSet::builtin();
    let preds = build_set(&dir.0, &templates);
    let jsonl: String = preds
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    let preds_path = dir.0.join("preds.jsonl");
    write(&preds_path, &jsonl);
    let script = scorer_dir(&dir.0);

    let report = score(&load_truth(&dir.0).unwrap(), &preds, &templates);
    let ours = report.to_json();
    let theirs: Value = serde_json::from_str(&python(&[
        &script,
        &dir.0,
        &preds_path,
        Path::new("--json"),
    ]))
    .unwrap();
    let theirs = theirs.as_object().unwrap();
    assert_eq!(theirs.len(), 12, "score.py's keys changed: {theirs:?}");
    for (key, want) in theirs {
        let got = &ours[key];
        match want {
            Value::Object(m) => {
                let g = got
                    .as_object()
                    .unwrap_or_else(|| panic!("{key} is not an object: {got}"));
                assert_eq!(
                    g.keys().collect::<Vec<_>>(),
                    m.keys().collect::<Vec<_>>(),
                    "{key}"
                );
                for (k, w) in m {
                    let (w, g) = (w.as_f64().unwrap(), g[k].as_f64().unwrap());
                    assert!((w - g).abs() < 1e-9, "{key}.{k}: score.py {w}, ours {g}");
                }
            }
            Value::Number(n) if n.is_u64() => assert_eq!(got, want, "{key}"),
            _ => {
                let (w, g) = (want.as_f64().unwrap(), got.as_f64().unwrap());
                assert!((w - g).abs() < 1e-9, "{key}: score.py {w}, ours {g}");
            }
        }
    }

    // The wrong-field lines agree too, repr() and all.
    let text = python(&[&script, &dir.0, &preds_path]);
    let lines: Vec<_> = text
        .split_once("first wrong fields:\n")
        .unwrap()
        .1
        .lines()
        .map(|l| l.trim_start().to_string())
        .collect();
    let ours: Vec<_> = report
        .wrong
        .iter()
        .take(25)
        .map(|w| w.to_string())
        .collect();
    assert_eq!(lines, ours);

    // And the set is the one intended: every branch is taken.
    let c = report.counts;
    assert_eq!(
        (
            c.documents,
            c.documents_missing,
            c.documents_classified,
            c.documents_split_right
        ),
        (10, 1, 6, 5)
    );
    assert_eq!(
        (c.documents_auto, c.documents_auto_wrong, c.documents_right),
        (4, 3, 1),
        "{}",
        report.render_text(60)
    );
    assert!(
        c.fields_flagged > 0
            && c.fields_wrong_unflagged > 0
            && c.invalid_flagged == 1
            && c.invalid_fields == 2
    );
    assert_eq!(
        report.tier_counts.keys().collect::<Vec<_>>(),
        ["handwriting", "typed", "typewriter"]
    );
    let la = &report.by_field["legal-aid-cw1/gross_monthly_income"];
    assert_eq!(
        (la.fields, la.fields_right),
        (4, 2),
        "12.5 == 12.50; 0 is blank"
    );
}

#[test]
fn norm_agrees_with_python_on_tricky_values() {
    let dir = TempDir::new("norm");
    let script = scorer_dir(&dir.0);
    let mut values = vec![
        json!(null),
        json!(""),
        json!(false),
        json!(true),
        json!(0),
        json!(0.0),
        json!(-0.0),
        json!(1),
        json!(-1),
        json!(12.5),
        json!(1e16),
        json!(1e-5),
        json!(123456789.125),
        json!(u64::MAX),
        json!(i64::MIN),
        json!("0"),
        json!("00"),
        json!(" 007 "),
        json!("+7"),
        json!("-0"),
        json!("1_000"),
        json!("_1"),
        json!("1__0"),
        json!("\u{661}\u{662}"),
        json!("\u{ff11}\u{ff12}"),
        json!("12.5"),
        json!("12.50"),
        json!("£1,234.50"),
        json!("1234.5"),
        json!(" 12.5 "),
        json!("1e2"),
        json!("100"),
        json!("nan"),
        json!("NaN12"),
        json!("inf"),
        json!("-Infinity"),
        json!("abc"),
        json!("  "),
        json!("no"),
        json!("No"),
        json!("false"),
        json!("yes"),
        json!("07337 304833"),
        json!("(0)7337-304833"),
        json!("w12 1ns"),
        json!("W12\u{a0}1NS"),
        json!("a\u{1c}b"),
        json!("  Smith   jones "),
        json!("straße"),
        json!("MAIL@Example.COM"),
        json!([]),
        json!([1, "a", null]),
        json!({}),
        json!({"k": "v"}),
        json!("1 2"),
        json!("1."),
        json!(".5"),
        json!("1e999999999999999999"),
        json!("10e999999999999999999"),
        json!("0e5"),
        json!("1e-1999999999999999997"),
        json!("it's"),
        json!("\"q\""),
        json!("tab\there"),
        json!("1".repeat(4301)),
        json!("_"),
        json!("1_.5"),
        json!("-.5e+3"),
        json!("e5"),
    ];
    // Floats across magnitudes, to check str(float).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = if i % 2 == 0 {
            f64::from_bits(x)
        } else {
            (x % 1_000_000) as f64 / 10f64.powi((x % 23) as i32 - 8)
        };
        if f.is_finite() {
            assert_eq!(
                py_float_repr(f).parse::<f64>().unwrap().to_bits(),
                f.to_bits()
            );
            values.push(json!(f));
        }
    }
    let values_path = dir.0.join("values.json");
    write(&values_path, &Value::Array(values.clone()).to_string());
    let probe = dir.0.join("probe.py");
    write(
        &probe,
        "import importlib.util, json, sys\n\
         spec = importlib.util.spec_from_file_location('score', sys.argv[1])\n\
         m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n\
         vals = json.load(open(sys.argv[2]))\n\
         def eq(a, b):\n    try:\n        return a == b\n    except \
         Exception:\n        return False\n\
         out = {}\n\
         for k in sys.argv[3].split(','):\n    ns = [m.norm(k, v) for v in vals]\n    \
         out[k] = {'repr': [repr(n) for n in ns], 'eq': [[eq(a, b) for b in ns] for a in ns]}\n\
         print(json.dumps(out))\n",
    );
    use FieldType::*;
    let kinds = [
        Text, Date, NiNumber, Postcode, Email, Phone, Money, Integer, Checkbox, Signature, Choice,
    ];
    let names: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
    let out: Value = serde_json::from_str(&python(&[
        &probe,
        &script,
        &values_path,
        Path::new(&names.join(",")),
    ]))
    .unwrap();
    for kind in kinds {
        let ns: Vec<_> = values.iter().map(|v| norm(kind, v)).collect();
        let py = &out[kind.as_str()];
        for (i, n) in ns.iter().enumerate() {
            assert_eq!(
                py["repr"][i],
                json!(n.repr()),
                "repr of norm({}, {})",
                kind.as_str(),
                values[i]
            );
            for (j, m) in ns.iter().enumerate() {
                assert_eq!(
                    py["eq"][i][j],
                    json!(n == m),
                    "norm({0}, {1}) == norm({0}, {2})",
                    kind.as_str(),
                    values[i],
                    values[j]
                );
            }
        }
    }
}

#[test]
fn an_unknown_form_and_an_empty_set_score_without_panicking() {
    let t = TruthDoc {
        source: "x.pdf".into(),
        first_page: 1,
        form: "no-such-form".into(),
        pages: 1,
        tier: "typed".into(),
        fields: Default::default(),
        invalid: vec![],
    };
    let r = score(&[t], &[], &TemplateSet::builtin());
    assert_eq!(r.unknown_forms, ["no-such-form"]);
    assert_eq!(
        (r.documents, r.counts.documents_missing, r.counts.fields),
        (1, 1, 0)
    );
    assert!(r.render_text(5).contains("no template for form"));
    let r = score(&[], &[], &TemplateSet::builtin());
    assert_eq!(
        (r.documents, r.field_accuracy, r.straight_through_wrong),
        (0, 0.0, 0.0)
    );
    assert_eq!(r.to_json()["by_tier"], json!({}));
}

#[test]
fn the_text_report_has_every_section() {
    let dir = TempDir::new("text");
    let templates = TemplateSet::builtin();
    let preds = build_set(&dir.0, &templates);
    let text = score(&load_truth(&dir.0).unwrap(), &preds, &templates).render_text(3);
    for part in [
        "overall",
        "by tier",
        "by type",
        "by form",
        "by field",
        "voter-registration/surname",
        "first 3 of",
    ] {
        assert!(text.contains(part), "{part} missing from:\n{text}");
    }
    assert_eq!(text.lines().filter(|l| l.contains(": want ")).count(), 3);
}
