//! The numbers `formflow eval` reports: score.py's, plus the same counts by
//! form and by field and every wrong field, as JSON or as a readable table.

use formflow_schemas::{FieldType, Flag};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// The raw counters of score.py (its `c[...]`), for the whole set or one
/// slice of it. Per-field, per-tier and per-type slices leave the document
/// counters at zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Documents in the truth.
    pub documents: usize,
    /// Documents no prediction matched.
    pub documents_missing: usize,
    /// Documents given the right form.
    pub documents_classified: usize,
    /// Documents given the right form and exactly the right pages.
    pub documents_split_right: usize,
    /// Documents with every field right.
    pub documents_right: usize,
    /// Documents with no flag and no status that asks for review.
    pub documents_auto: usize,
    /// Of those, documents with some field wrong.
    pub documents_auto_wrong: usize,
    /// Fields in the truth.
    pub fields: usize,
    /// Fields whose value equals the truth, in a record of the right form.
    pub fields_right: usize,
    /// Fields that carry a flag.
    pub fields_flagged: usize,
    /// Fields that are wrong and carry no flag: silent errors.
    pub fields_wrong_unflagged: usize,
    /// Fields the truth marks invalid.
    pub invalid_fields: usize,
    /// Of those, fields that carry a flag.
    pub invalid_flagged: usize,
}

/// `a / max(b, 1)`, score.py's guard.
fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b.max(1) as f64
}

impl Counts {
    /// Share of documents given the right form.
    pub fn classified(&self) -> f64 {
        ratio(self.documents_classified, self.documents)
    }
    /// Share of documents given the right form and pages.
    pub fn split_right(&self) -> f64 {
        ratio(self.documents_split_right, self.documents)
    }
    /// Share of fields right.
    pub fn field_accuracy(&self) -> f64 {
        ratio(self.fields_right, self.fields)
    }
    /// Share of fields wrong and unflagged.
    pub fn silent_error_rate(&self) -> f64 {
        ratio(self.fields_wrong_unflagged, self.fields)
    }
    /// Share of fields flagged (for one field: how often it is flagged).
    pub fn review_load(&self) -> f64 {
        ratio(self.fields_flagged, self.fields)
    }
    /// Share of invalid fields that were flagged.
    pub fn invalid_caught(&self) -> f64 {
        ratio(self.invalid_flagged, self.invalid_fields)
    }
    /// Share of documents that would pass without review.
    pub fn straight_through(&self) -> f64 {
        ratio(self.documents_auto, self.documents)
    }
    /// Of the documents passed without review, the share with a wrong field.
    pub fn straight_through_wrong(&self) -> f64 {
        ratio(self.documents_auto_wrong, self.documents_auto)
    }
    /// Share of documents with every field right.
    pub fn documents_all_right(&self) -> f64 {
        ratio(self.documents_right, self.documents)
    }

    /// Counts one field.
    pub(crate) fn add_field(&mut self, right: bool, flagged: bool, invalid: bool) {
        self.fields += 1;
        self.fields_right += usize::from(right);
        self.fields_flagged += usize::from(flagged);
        self.fields_wrong_unflagged += usize::from(!right && !flagged);
        self.invalid_fields += usize::from(invalid);
        self.invalid_flagged += usize::from(invalid && flagged);
    }

    fn field_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("fields".into(), self.fields.into());
        m.insert("field_accuracy".into(), self.field_accuracy().into());
        m.insert("silent_error_rate".into(), self.silent_error_rate().into());
        m.insert("review_load".into(), self.review_load().into());
        if self.invalid_fields > 0 {
            m.insert("invalid_fields".into(), self.invalid_fields.into());
            m.insert("invalid_caught".into(), self.invalid_caught().into());
        }
        m
    }

    fn json(&self) -> Value {
        let mut m = self.field_json();
        for (k, v) in [
            ("classified", self.classified()),
            ("split_right", self.split_right()),
            ("invalid_caught", self.invalid_caught()),
            ("straight_through", self.straight_through()),
            ("straight_through_wrong", self.straight_through_wrong()),
            ("documents_all_right", self.documents_all_right()),
        ] {
            m.insert(k.into(), v.into());
        }
        m.insert("documents".into(), self.documents.into());
        m.insert("documents_missing".into(), self.documents_missing.into());
        Value::Object(m)
    }

    fn raw_json(&self) -> Value {
        json!({
            "documents": self.documents, "documents_missing": self.documents_missing,
            "documents_classified": self.documents_classified,
            "documents_split_right": self.documents_split_right,
            "documents_right": self.documents_right, "documents_auto": self.documents_auto,
            "documents_auto_wrong": self.documents_auto_wrong, "fields": self.fields,
            "fields_right": self.fields_right, "fields_flagged": self.fields_flagged,
            "fields_wrong_unflagged": self.fields_wrong_unflagged,
            "invalid_fields": self.invalid_fields,
            "invalid_flagged": self.invalid_flagged,
        })
    }
}

/// One field of one document whose value does not match the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct WrongField {
    /// The truth's file name.
    pub source: String,
    /// The page of `source` the document starts on.
    pub first_page: u32,
    /// The document's true form.
    pub form: String,
    /// The field's name.
    pub field: String,
    /// The field's type.
    pub kind: FieldType,
    /// The normalised true value, as Python's `repr()` shows it.
    pub want: String,
    /// The normalised predicted value, as Python's `repr()` shows it.
    pub got: String,
    /// The prediction's flags on the field.
    pub flags: Vec<Flag>,
}

/// The wire name of a flag.
fn flag_name(f: &Flag) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl fmt::Display for WrongField {
    /// score.py's line: `source@first field: want X got Y flags=[...]`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let flags: Vec<_> = self
            .flags
            .iter()
            .map(|x| format!("'{}'", flag_name(x)))
            .collect();
        write!(
            f,
            "{}@{} {}: want {} got {} flags=[{}]",
            self.source,
            self.first_page,
            self.field,
            self.want,
            self.got,
            flags.join(", ")
        )
    }
}

/// Everything `formflow eval` reports about one set.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Documents in the truth.
    pub documents: usize,
    /// Share of documents given the right form.
    pub classified: f64,
    /// Share of documents given the right form and exactly the right pages.
    pub split_right: f64,
    /// Share of fields right.
    pub field_accuracy: f64,
    /// Share of fields wrong and unflagged: errors that reach services unseen.
    pub silent_error_rate: f64,
    /// Share of fields flagged: the work left to caseworkers.
    pub review_load: f64,
    /// Share of the fields the truth marks invalid that carry a flag.
    pub invalid_caught: f64,
    /// Share of documents with no flag and no status asking for review.
    pub straight_through: f64,
    /// Of those, the share with some field wrong.
    pub straight_through_wrong: f64,
    /// Share of documents with every field right.
    pub documents_all_right: f64,
    /// Field accuracy by tier, rounded to 4 places as score.py does.
    pub by_tier: BTreeMap<String, f64>,
    /// Field accuracy by field type, rounded to 4 places as score.py does.
    pub by_type: BTreeMap<String, f64>,
    /// The raw counters behind the numbers above.
    pub counts: Counts,
    /// Field counters by tier.
    pub tier_counts: BTreeMap<String, Counts>,
    /// Field counters by field type.
    pub type_counts: BTreeMap<String, Counts>,
    /// Every counter by the document's true form.
    pub by_form: BTreeMap<String, Counts>,
    /// Field counters keyed `form/field`.
    pub by_field: BTreeMap<String, Counts>,
    /// Every wrong field, in truth order.
    pub wrong: Vec<WrongField>,
    /// Forms the truth names that no template describes (score.py would
    /// stop with a `KeyError`); their documents were scored with no fields.
    pub unknown_forms: Vec<String>,
    /// Accuracy by confidence band and the review curve.
    pub reliability: super::Reliability,
}

/// Python's `round(x, 4)`: correctly rounded, ties to even, back to a float.
fn round4(x: f64) -> f64 {
    format!("{x:.4}").parse().unwrap_or(x)
}

impl Report {
    /// Builds the report from the counters `score` gathered.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        counts: Counts,
        tier_counts: BTreeMap<String, Counts>,
        type_counts: BTreeMap<String, Counts>,
        by_form: BTreeMap<String, Counts>,
        by_field: BTreeMap<String, Counts>,
        wrong: Vec<WrongField>,
        unknown_forms: Vec<String>,
        reliability: super::Reliability,
    ) -> Report {
        let acc = |m: &BTreeMap<String, Counts>| {
            m.iter()
                .map(|(k, c)| (k.clone(), round4(c.field_accuracy())))
                .collect()
        };
        Report {
            documents: counts.documents,
            classified: counts.classified(),
            split_right: counts.split_right(),
            field_accuracy: counts.field_accuracy(),
            silent_error_rate: counts.silent_error_rate(),
            review_load: counts.review_load(),
            invalid_caught: counts.invalid_caught(),
            straight_through: counts.straight_through(),
            straight_through_wrong: counts.straight_through_wrong(),
            documents_all_right: counts.documents_all_right(),
            by_tier: acc(&tier_counts),
            by_type: acc(&type_counts),
            counts,
            tier_counts,
            type_counts,
            by_form,
            by_field,
            wrong,
            unknown_forms,
            reliability,
        }
    }

    /// The same keys and values as `score.py --json`, plus `counts`,
    /// `by_form`, `by_field` (keyed `form/field`), `wrong_fields`,
    /// `unknown_forms` and `reliability` (accuracy by confidence band and
    /// the review curve).
    pub fn to_json(&self) -> Value {
        let rounded = |m: &BTreeMap<String, f64>| {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        };
        json!({
            "documents": self.documents,
            "classified": self.classified,
            "split_right": self.split_right,
            "field_accuracy": self.field_accuracy,
            "silent_error_rate": self.silent_error_rate,
            "review_load": self.review_load,
            "invalid_caught": self.invalid_caught,
            "straight_through": self.straight_through,
            "straight_through_wrong": self.straight_through_wrong,
            "documents_all_right": self.documents_all_right,
            "by_tier": rounded(&self.by_tier),
            "by_type": rounded(&self.by_type),
            "counts": self.counts.raw_json(),
            "by_form": self
                .by_form
                .iter()
                .map(|(k, c)| (k.clone(), c.json()))
                .collect::<Map<_, _>>(),
            "by_field": self
                .by_field
                .iter()
                .map(|(k, c)| (k.clone(), Value::Object(c.field_json())))
                .collect::<Map<_, _>>(),
            "wrong_fields": self.wrong.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "unknown_forms": self.unknown_forms,
            "reliability": self.reliability.to_json(),
        })
    }

    /// A readable table: overall, by tier, by type, by form, by field, then
    /// the first `wrong_examples` wrong fields.
    pub fn render_text(&self, wrong_examples: usize) -> String {
        let mut s = String::new();
        let c = &self.counts;
        let _ = writeln!(s, "{} documents, {} fields", c.documents, c.fields);
        for form in &self.unknown_forms {
            let _ = writeln!(
                s,
                "warning: no template for form {form:?}; its documents were scored without fields"
            );
        }
        let _ = writeln!(s, "\noverall");
        for (k, v, of) in [
            (
                "classified",
                self.classified,
                format!("{} of {} documents", c.documents_classified, c.documents),
            ),
            (
                "split_right",
                self.split_right,
                format!("{} of {} documents", c.documents_split_right, c.documents),
            ),
            (
                "field_accuracy",
                self.field_accuracy,
                format!("{} of {} fields", c.fields_right, c.fields),
            ),
            (
                "silent_error_rate",
                self.silent_error_rate,
                format!("{} of {} fields", c.fields_wrong_unflagged, c.fields),
            ),
            (
                "review_load",
                self.review_load,
                format!("{} of {} fields", c.fields_flagged, c.fields),
            ),
            (
                "invalid_caught",
                self.invalid_caught,
                format!(
                    "{} of {} invalid fields",
                    c.invalid_flagged, c.invalid_fields
                ),
            ),
            (
                "straight_through",
                self.straight_through,
                format!("{} of {} documents", c.documents_auto, c.documents),
            ),
            (
                "straight_through_wrong",
                self.straight_through_wrong,
                format!(
                    "{} of {} straight through",
                    c.documents_auto_wrong, c.documents_auto
                ),
            ),
            (
                "documents_all_right",
                self.documents_all_right,
                format!("{} of {} documents", c.documents_right, c.documents),
            ),
        ] {
            let _ = writeln!(s, "  {k:24} {v:>7.4}   {of}");
        }
        let field_table = |s: &mut String, title: &str, rows: &BTreeMap<String, Counts>| {
            let w = rows
                .keys()
                .map(|k| k.chars().count())
                .max()
                .unwrap_or(0)
                .max(title.len());
            let _ = writeln!(s, "\n{title:w$}  fields  accuracy  silent  flagged");
            for (k, c) in rows {
                let _ = writeln!(
                    s,
                    "{k:w$}  {:>6}  {:>8.4}  {:>6.4}  {:>7.4}",
                    c.fields,
                    c.field_accuracy(),
                    c.silent_error_rate(),
                    c.review_load()
                );
            }
        };
        field_table(&mut s, "by tier", &self.tier_counts);
        field_table(&mut s, "by type", &self.type_counts);
        let w = self
            .by_form
            .keys()
            .map(|k| k.len())
            .max()
            .unwrap_or(0)
            .max(7);
        let _ = writeln!(
            s,
            "\n{:w$}  docs  missing  classified  split  accuracy  silent  review  \
             straight  st_wrong  all_right",
            "by form"
        );
        for (k, c) in &self.by_form {
            let _ = writeln!(
                s,
                "{k:w$}  {:>4}  {:>7}  {:>10.4}  {:>5.4}  {:>8.4}  {:>6.4}  {:>6.4}  \
                 {:>8.4}  {:>8.4}  {:>9.4}",
                c.documents,
                c.documents_missing,
                c.classified(),
                c.split_right(),
                c.field_accuracy(),
                c.silent_error_rate(),
                c.review_load(),
                c.straight_through(),
                c.straight_through_wrong(),
                c.documents_all_right()
            );
        }
        field_table(&mut s, "by field", &self.by_field);
        s.push_str(&self.reliability.render_text());
        let shown = wrong_examples.min(self.wrong.len());
        let _ = writeln!(s, "\nfirst {shown} of {} wrong fields:", self.wrong.len());
        for w in &self.wrong[..shown] {
            let _ = writeln!(s, "  {w}");
        }
        s
    }
}
