//! The scorer behind `formflow eval`: reads a set's ground truth, matches
//! the records `formflow extract` printed to its documents and counts what
//! `shared/tools/score.py` counts, the same way to the last field (a unit
//! test runs the copy in `tests/reference/score.py` and compares), plus the
//! same numbers by form and by field and the list of wrong fields.
//!
//! Owns: truth loading ([`load_truth`], [`set_files`]), matching and
//! counting ([`score`]), the Python-exact value normalisation, and the
//! [`Report`] with its JSON and text forms.

mod norm;
mod reliability;
mod report;
mod truth;

pub use reliability::{Band, Point, Reliability};
pub use report::{Counts, Report, WrongField};
pub use truth::{load_truth, set_files, TruthDoc};

use formflow_schemas::{FieldResult, Record, Status, TemplateSet};
use norm::{norm, py_path_name};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Scores records (as `formflow extract` would print them) against the
/// truth exactly as score.py does.
///
/// A prediction matches a truth document when its `source`'s file name is the
/// truth's and its lowest page is the document's first (a prediction without
/// pages counts as page 1), or when it is the only prediction for that file
/// and the document starts on page 1; the first such prediction wins. A field
/// is right when its normalised value equals the truth's in a record of the
/// right form. A document is flagged when any field carries a flag or its
/// status is `needs_review`, `unclassified` or `failed`.
pub fn score(truth: &[TruthDoc], predictions: &[Record], templates: &TemplateSet) -> Report {
    let mut by_name: HashMap<&str, Vec<&Record>> = HashMap::new();
    for p in predictions {
        by_name.entry(py_path_name(&p.source)).or_default().push(p);
    }
    let mut counts = Counts::default();
    let mut by_tier: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_type: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_form: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_field: BTreeMap<String, Counts> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut unknown_forms: Vec<String> = Vec::new();
    // Each field's confidence (0 when nothing was read) and whether it is right.
    let mut confidence: Vec<(f64, bool)> = Vec::new();

    for t in truth {
        let cands = by_name
            .get(t.source.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let p = cands.iter().copied().find(|q| {
            let lowest = q.pages.iter().min().copied().unwrap_or(1);
            lowest == t.first_page || (cands.len() == 1 && t.first_page == 1)
        });
        let form_right = p.is_some_and(|p| p.form.as_deref() == Some(t.form.as_str()));
        let split_right = p.is_some_and(|p| {
            let mut got: Vec<u64> = if p.pages.is_empty() {
                vec![1]
            } else {
                p.pages.iter().map(|&x| x.into()).collect()
            };
            got.sort_unstable();
            let first = u64::from(t.first_page);
            got.into_iter().eq(first..first + u64::from(t.pages))
        });
        let mut doc = Counts {
            documents: 1,
            ..Counts::default()
        };
        doc.documents_missing = usize::from(p.is_none());
        doc.documents_classified = usize::from(form_right);
        doc.documents_split_right = usize::from(form_right && split_right);

        let (mut ok_doc, mut flagged_doc) = (true, false);
        let specs = match templates.get(&t.form) {
            Some(template) => template.fields.as_slice(),
            None => {
                if !unknown_forms.contains(&t.form) {
                    unknown_forms.push(t.form.clone());
                }
                &[]
            }
        };
        for spec in specs {
            let name = spec.name.as_str();
            let truth_v = norm(spec.kind, t.fields.get(name).unwrap_or(&Value::Null));
            // A JSON object keeps the last of repeated keys, so take the last.
            let f: Option<&FieldResult> = p
                .and_then(|p| p.fields.iter().rev().find(|(n, _)| n == name))
                .map(|(_, f)| f);
            let got = norm(spec.kind, f.map_or(&Value::Null, |f| &f.value));
            let flags = f.map_or(&[][..], |f| f.flags.as_slice());
            let flagged = !flags.is_empty();
            let right = got == truth_v && form_right;
            let invalid = t.invalid.iter().any(|i| i == name);
            confidence.push((f.map_or(0.0, |f| f.confidence), right));
            doc.add_field(right, flagged, invalid);
            by_tier
                .entry(t.tier.clone())
                .or_default()
                .add_field(right, flagged, invalid);
            by_type
                .entry(spec.kind.as_str().to_string())
                .or_default()
                .add_field(right, flagged, invalid);
            by_field
                .entry(format!("{}/{name}", t.form))
                .or_default()
                .add_field(right, flagged, invalid);
            flagged_doc |= flagged;
            if !right {
                ok_doc = false;
                wrong.push(WrongField {
                    source: t.source.clone(),
                    first_page: t.first_page,
                    form: t.form.clone(),
                    field: name.to_string(),
                    kind: spec.kind,
                    want: truth_v.repr(),
                    got: got.repr(),
                    flags: flags.to_vec(),
                });
            }
        }
        if p.is_some_and(|p| {
            matches!(
                p.status,
                Status::NeedsReview | Status::Unclassified | Status::Failed
            )
        }) {
            flagged_doc = true;
        }
        doc.documents_right = usize::from(ok_doc);
        doc.documents_auto = usize::from(!flagged_doc);
        doc.documents_auto_wrong = usize::from(!flagged_doc && !ok_doc);
        add(&mut counts, &doc);
        add(by_form.entry(t.form.clone()).or_default(), &doc);
    }
    Report::new(
        counts,
        by_tier,
        by_type,
        by_form,
        by_field,
        wrong,
        unknown_forms,
        Reliability::of(&confidence),
    )
}

/// Adds one document's counters to a total.
fn add(total: &mut Counts, d: &Counts) {
    total.documents += d.documents;
    total.documents_missing += d.documents_missing;
    total.documents_classified += d.documents_classified;
    total.documents_split_right += d.documents_split_right;
    total.documents_right += d.documents_right;
    total.documents_auto += d.documents_auto;
    total.documents_auto_wrong += d.documents_auto_wrong;
    total.fields += d.fields;
    total.fields_right += d.fields_right;
    total.fields_flagged += d.fields_flagged;
    total.fields_wrong_unflagged += d.fields_wrong_unflagged;
    total.invalid_fields += d.invalid_fields;
    total.invalid_flagged += d.invalid_flagged;
}

#[cfg(test)]
mod tests;
