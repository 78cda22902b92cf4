//! Form templates: where every field sits on the paper, what kind of value
//! it holds and which rules it obeys, plus the printed marks (form code,
//! page number) that identify each page.
//!
//! Templates are data: one JSON file a form under `schemas/forms/`. The two
//! official forms are built into the binary; [`TemplateSet::load_dir`] reads
//! others, so a third form needs a new file and no new code.

use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::path::Path;

/// The templates built into the binary.
const BUILTIN: &[(&str, &str)] = &[
    (
        "voter-registration.json",
        include_str!("../forms/voter-registration.json"),
    ),
    (
        "legal-aid-cw1.json",
        include_str!("../forms/legal-aid-cw1.json"),
    ),
];

/// Why a template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template file could not be read from disk.
    #[error("cannot read template {path}: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a template in the expected JSON shape.
    #[error("template {name} is not valid JSON of the template shape: {source}")]
    Parse {
        /// The file's name.
        name: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The file parses but breaks a rule of templates.
    #[error("template {form}: {problem}")]
    Invalid {
        /// The form key.
        form: String,
        /// What is wrong, in plain words.
        problem: String,
    },
    /// Two templates claim the same form key.
    #[error("two templates are both called {0}")]
    Duplicate(String),
    /// A folder held no template at all.
    #[error("no template (*.json) found in {0}")]
    Empty(String),
}

/// A rectangle on the page, in millimetres from the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMm {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl BoxMm {
    /// The right edge.
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    /// The bottom edge.
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
    /// The box grown by `d` millimetres on every side (shrunk when negative).
    pub fn grow(&self, d: f64) -> BoxMm {
        BoxMm {
            x: self.x - d,
            y: self.y - d,
            w: self.w + 2.0 * d,
            h: self.h + 2.0 * d,
        }
    }
}

impl<'de> Deserialize<'de> for BoxMm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [x, y, w, h] = <[f64; 4]>::deserialize(d)?;
        Ok(BoxMm { x, y, w, h })
    }
}

/// The kinds of field, each with its own value format (`CONTRACT.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text, upper case as written.
    Text,
    /// A date written DD MM YYYY, given as ISO `YYYY-MM-DD`.
    Date,
    /// A UK National Insurance number.
    NiNumber,
    /// A UK postcode.
    Postcode,
    /// An email address.
    Email,
    /// A telephone number.
    Phone,
    /// Pounds and pence.
    Money,
    /// A whole number.
    Integer,
    /// One tick box.
    Checkbox,
    /// A signature box: is one present.
    Signature,
    /// One of several tick boxes.
    Choice,
}

impl FieldType {
    /// The name used in templates and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Date => "date",
            FieldType::NiNumber => "ni_number",
            FieldType::Postcode => "postcode",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Money => "money",
            FieldType::Integer => "integer",
            FieldType::Checkbox => "checkbox",
            FieldType::Signature => "signature",
            FieldType::Choice => "choice",
        }
    }

    /// Whether the field is read from marks rather than characters.
    pub fn is_mark(self) -> bool {
        matches!(
            self,
            FieldType::Checkbox | FieldType::Signature | FieldType::Choice
        )
    }
}

/// A condition on another field: `{"nationality": "other"}` or
/// `{"no_ni_number": true}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The other field's name.
    pub field: String,
    /// The value that makes the condition hold.
    pub equals: serde_json::Value,
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        if map.len() != 1 {
            return Err(serde::de::Error::custom(
                "a condition names exactly one field and its value",
            ));
        }
        let (field, equals) = map.into_iter().next().expect("one entry");
        Ok(Condition { field, equals })
    }
}

/// One field of a form.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldSpec {
    /// The key in records.
    pub name: String,
    /// The page of the form it is on, from 1.
    pub page: u32,
    /// What kind of value it holds.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// The printed label, if any.
    #[serde(default)]
    pub label: Option<String>,
    /// The box the value is written in.
    pub box_mm: BoxMm,
    /// For comb fields, one box a character, left to right.
    #[serde(default)]
    pub cells: Option<Vec<BoxMm>>,
    /// For choices, each option's key and tick box, in printed order.
    #[serde(default, deserialize_with = "ordered_options")]
    pub options: Option<Vec<(String, BoxMm)>>,
    /// The case text is written in (`upper`).
    #[serde(default)]
    pub case: Option<String>,
    /// Must not be blank.
    #[serde(default)]
    pub required: bool,
    /// Must not be blank when the condition holds.
    #[serde(default)]
    pub required_if: Option<Condition>,
    /// Must not be blank unless the condition holds.
    #[serde(default)]
    pub required_unless: Option<Condition>,
    /// Inclusive bounds for an integer.
    #[serde(default)]
    pub range: Option<[i64; 2]>,
    /// A regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// For text, the only characters it may hold (names hold no digits):
    /// readers choose among these alone.
    #[serde(default)]
    pub charset: Option<String>,
}

fn ordered_options<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<(String, BoxMm)>>, D::Error> {
    // serde_json's Map is sorted by key, so read the entries in file order.
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Vec<(String, BoxMm)>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of option names to boxes")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, BoxMm>()? {
                out.push((k, v));
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(V)
}

/// Printed text that identifies a page of the form (its code, "Page N of M").
#[derive(Debug, Clone, Deserialize)]
pub struct PageMark {
    /// The page of the form it is printed on.
    pub page: u32,
    /// The text as printed.
    pub text: String,
    /// Where it is printed, with a small margin.
    pub box_mm: BoxMm,
}

/// One form: its pages, identifying marks and fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    /// The template key used in records (`voter-registration`).
    pub form: String,
    /// The form code printed on it (`RTV-E`).
    pub code: String,
    /// The form's title.
    pub title: String,
    /// How many pages it has.
    pub pages: u32,
    /// Width and height of a page in millimetres.
    pub page_size_mm: [f64; 2],
    /// Printed text that identifies each page.
    pub marks: Vec<PageMark>,
    /// Every field, in the order records list them.
    pub fields: Vec<FieldSpec>,
}

impl Template {
    /// Parses and checks one template.
    pub fn from_json(name: &str, json: &str) -> Result<Template, TemplateError> {
        let t: Template = serde_json::from_str(json).map_err(|source| TemplateError::Parse {
            name: name.to_string(),
            source,
        })?;
        t.check()?;
        Ok(t)
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields on page `page` of the form.
    pub fn fields_on(&self, page: u32) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().filter(move |f| f.page == page)
    }

    /// The identifying marks on page `page` of the form.
    pub fn marks_on(&self, page: u32) -> impl Iterator<Item = &PageMark> {
        self.marks.iter().filter(move |m| m.page == page)
    }

    fn invalid(&self, problem: String) -> TemplateError {
        TemplateError::Invalid {
            form: self.form.clone(),
            problem,
        }
    }

    /// Checks the rules every template must keep, so that a bad template is
    /// refused at start rather than misreading scans later.
    fn check(&self) -> Result<(), TemplateError> {
        if self.form.is_empty()
            || !self
                .form
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.invalid(format!(
                "form key {:?} must be letters, digits, - or _",
                self.form
            )));
        }
        if self.pages == 0 || self.pages > 50 {
            return Err(self.invalid(format!("pages must be 1 to 50, not {}", self.pages)));
        }
        let [pw, ph] = self.page_size_mm;
        if !(pw > 10.0 && ph > 10.0 && pw < 2000.0 && ph < 2000.0) {
            return Err(self.invalid(format!("page size {pw} x {ph} mm is not a paper size")));
        }
        let inside = |b: &BoxMm| {
            b.x >= 0.0
                && b.y >= 0.0
                && b.w > 0.0
                && b.h > 0.0
                && b.right() <= pw
                && b.bottom() <= ph
        };
        for page in 1..=self.pages {
            if self.marks_on(page).next().is_none() {
                return Err(self.invalid(format!("page {page} has no identifying mark")));
            }
        }
        for m in &self.marks {
            if m.page == 0 || m.page > self.pages {
                return Err(self.invalid(format!(
                    "mark {:?} is on page {}, which the form does not have",
                    m.text, m.page
                )));
            }
            if !inside(&m.box_mm) || m.text.trim().is_empty() {
                return Err(self.invalid(format!(
                    "mark {:?} must have text and lie on the page",
                    m.text
                )));
            }
        }
        let mut names = HashSet::new();
        for f in &self.fields {
            let say = |p: String| self.invalid(format!("field {}: {p}", f.name));
            if !names.insert(f.name.as_str()) {
                return Err(say("the name is used twice".into()));
            }
            if f.page == 0 || f.page > self.pages {
                return Err(say(format!("page {} is not a page of the form", f.page)));
            }
            if !inside(&f.box_mm) {
                return Err(say("box_mm must lie on the page".into()));
            }
            if let Some(cells) = &f.cells {
                if cells.is_empty() || cells.iter().any(|c| !inside(c)) {
                    return Err(say("cells must be boxes on the page".into()));
                }
            }
            match (f.kind, &f.options) {
                (FieldType::Choice, Some(o))
                    if o.len() >= 2 && o.iter().any(|(_, b)| !inside(b)) =>
                {
                    return Err(say("every option's box must lie on the page".into()));
                }
                (FieldType::Choice, Some(o)) if o.len() >= 2 => {}
                (FieldType::Choice, _) => {
                    return Err(say("a choice needs two or more options".into()))
                }
                (_, Some(_)) => return Err(say("only a choice has options".into())),
                _ => {}
            }
            if let Some(p) = &f.pattern {
                regex::Regex::new(p).map_err(|e| say(format!("pattern does not compile: {e}")))?;
            }
            if let Some(cs) = &f.charset {
                if cs.trim().is_empty() || f.kind != FieldType::Text {
                    return Err(say(
                        "a charset must list characters, and only a text field has one".into(),
                    ));
                }
            }
            if let Some([lo, hi]) = f.range {
                if lo > hi {
                    return Err(say(format!("range {lo}..{hi} is empty")));
                }
            }
        }
        for f in &self.fields {
            for c in [&f.required_if, &f.required_unless].into_iter().flatten() {
                if self.field(&c.field).is_none() {
                    return Err(self.invalid(format!(
                        "field {} depends on {}, which the form does not have",
                        f.name, c.field
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The templates a process knows.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    templates: Vec<Template>,
}

impl TemplateSet {
    /// The two official forms, built into the binary.
    pub fn builtin() -> TemplateSet {
        let templates = BUILTIN
            .iter()
            .map(|(name, json)| Template::from_json(name, json))
            .collect::<Result<Vec<_>, _>>()
            .expect("built-in templates are checked by the tests");
        TemplateSet { templates }
    }

    /// Builds a set from templates, refusing two with the same key.
    pub fn new(templates: Vec<Template>) -> Result<TemplateSet, TemplateError> {
        let mut seen = HashSet::new();
        for t in &templates {
            if !seen.insert(t.form.clone()) {
                return Err(TemplateError::Duplicate(t.form.clone()));
            }
        }
        Ok(TemplateSet { templates })
    }

    /// Reads every `*.json` in a folder as a template.
    pub fn load_dir(dir: &Path) -> Result<TemplateSet, TemplateError> {
        let io = |source| TemplateError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(TemplateError::Empty(dir.display().to_string()));
        }
        let mut templates = Vec::new();
        for p in paths {
            let json = std::fs::read_to_string(&p).map_err(|source| TemplateError::Io {
                path: p.display().to_string(),
                source,
            })?;
            templates.push(Template::from_json(&p.display().to_string(), &json)?);
        }
        TemplateSet::new(templates)
    }

    /// Every template.
    pub fn all(&self) -> &[Template] {
        &self.templates
    }

    /// The template called `form`.
    pub fn get(&self, form: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.form == form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_load_with_every_field() {
        let set = TemplateSet::builtin();
        let voter = set.get("voter-registration").unwrap();
        assert_eq!(voter.fields.len(), 20);
        assert_eq!(voter.pages, 1);
        let la = set.get("legal-aid-cw1").unwrap();
        assert_eq!(la.fields.len(), 26);
        assert_eq!(la.fields_on(2).count(), 13);
        let nat = voter.field("nationality").unwrap();
        let keys: Vec<_> = nat
            .options
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["british", "irish", "eu", "commonwealth", "other"]);
        let ni = voter.field("ni_number").unwrap();
        assert_eq!(ni.cells.as_ref().unwrap().len(), 9);
        assert_eq!(ni.required_unless.as_ref().unwrap().field, "no_ni_number");
        assert_eq!(
            ni.required_unless.as_ref().unwrap().equals,
            serde_json::json!(true)
        );
    }

    fn voter_json() -> serde_json::Value {
        serde_json::from_str(BUILTIN[0].1).unwrap()
    }

    fn problem(v: serde_json::Value) -> String {
        Template::from_json("t.json", &v.to_string())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_field_off_the_page_is_refused() {
        let mut v = voter_json();
        v["fields"][0]["box_mm"] = serde_json::json!([200, 45, 143, 8]);
        assert_eq!(
            problem(v),
            "template voter-registration: field surname: box_mm must lie on the page"
        );
    }

    #[test]
    fn a_bad_pattern_is_refused() {
        let mut v = voter_json();
        v["fields"][0]["pattern"] = serde_json::json!("([A-Z]");
        assert!(problem(v)
            .starts_with("template voter-registration: field surname: pattern does not compile"));
    }

    #[test]
    fn a_condition_on_a_missing_field_is_refused() {
        let mut v = voter_json();
        v["fields"][3]["required_unless"] = serde_json::json!({"no_such_box": true});
        assert_eq!(
            problem(v),
            "template voter-registration: field ni_number depends on no_such_box, \
             which the form does not have"
        );
    }

    #[test]
    fn a_choice_without_options_and_a_duplicate_name_are_refused() {
        let mut v = voter_json();
        v["fields"][9]["options"] = serde_json::Value::Null;
        assert_eq!(
            problem(v),
            "template voter-registration: field nationality: a choice needs two or more options"
        );
        let mut v = voter_json();
        v["fields"][1]["name"] = serde_json::json!("surname");
        assert_eq!(
            problem(v),
            "template voter-registration: field surname: the name is used twice"
        );
    }

    #[test]
    fn a_charset_belongs_to_text_only() {
        let v = voter_json();
        let t = Template::from_json("t.json", &v.to_string()).unwrap();
        assert_eq!(
            t.field("surname").unwrap().charset.as_deref(),
            Some("ABCDEFGHIJKLMNOPQRSTUVWXYZ -'")
        );
        let mut v = voter_json();
        v["fields"][2]["charset"] = serde_json::json!("0123456789");
        assert_eq!(
            problem(v),
            "template voter-registration: field date_of_birth: \
             a charset must list characters, and only a text field has one"
        );
    }

    #[test]
    fn a_page_without_marks_is_refused_and_broken_json_says_so() {
        let mut v = voter_json();
        v["marks"] = serde_json::json!([]);
        assert_eq!(
            problem(v),
            "template voter-registration: page 1 has no identifying mark"
        );
        let e = Template::from_json("t.json", "{").unwrap_err().to_string();
        assert!(e.starts_with("template t.json is not valid JSON"), "{e}");
    }

    #[test]
    fn a_folder_of_templates_loads_and_duplicates_are_refused() {
        let dir = std::env::temp_dir().join(format!("ff-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.json"), BUILTIN[0].1).unwrap();
        let set = TemplateSet::load_dir(&dir).unwrap();
        assert_eq!(set.all().len(), 1);
        std::fs::write(dir.join("b.json"), BUILTIN[0].1).unwrap();
        let e = TemplateSet::load_dir(&dir).unwrap_err().to_string();
        assert_eq!(e, "two templates are both called voter-registration");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
