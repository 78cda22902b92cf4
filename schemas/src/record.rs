//! The record format of `CONTRACT.md`: one document's form, pages, status
//! and every field's value, confidence and flags.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::ToSchema;

/// Where a document stands. The first four come from extraction; the last
/// two from a caseworker's review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RecordStatus)]
pub enum Status {
    /// Every field passed: no flags.
    Extracted,
    /// Some field carries a flag.
    NeedsReview,
    /// No known form was recognised.
    Unclassified,
    /// The file could not be read; `error` says why.
    Failed,
    /// A caseworker approved the record.
    Approved,
    /// A caseworker rejected the record.
    Rejected,
}

impl Status {
    /// The wire name, as in `CONTRACT.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Extracted => "extracted",
            Status::NeedsReview => "needs_review",
            Status::Unclassified => "unclassified",
            Status::Failed => "failed",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }
}

/// Why a field needs a human eye.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The engine is not sure the value is exactly right.
    LowConfidence,
    /// The value breaks a rule of the template.
    Invalid,
    /// A required field is blank.
    MissingRequired,
    /// Two choices ticked, or a character that could be read two ways.
    Ambiguous,
    /// Ink is there but could not be read.
    Unreadable,
}

/// One field's reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Field)]
pub struct FieldResult {
    /// The normalised value (see `CONTRACT.md`, "Values by field type").
    #[schema(schema_with = field_value)]
    pub value: Value,
    /// The engine's belief, 0..1, that `value` is exactly right.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: f64,
    /// Why the field needs review; empty when it does not.
    pub flags: Vec<Flag>,
    /// For a flagged field, what the engine was unsure of, in one plain
    /// sentence starting in lower case ("the second digit of the month is
    /// unclear"); absent for a field with no flag, so that such a field's
    /// record is as `CONTRACT.md` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One document found in a source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = FormRecord)]
pub struct Record {
    /// The file the document came from (its name, not its path).
    pub source: String,
    /// The template key, or null when no known form was recognised.
    pub form: Option<String>,
    /// 1-based page numbers within `source`, in the form's page order.
    pub pages: Vec<u32>,
    /// Where the document stands.
    pub status: Status,
    /// Every field of the form, in the template's order, blank ones too.
    #[serde(with = "ordered_fields", default)]
    #[schema(value_type = std::collections::HashMap<String, FieldResult>)]
    pub fields: Vec<(String, FieldResult)>,
    /// Why the document failed, in plain words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Record {
    /// A record for a file that could not be read at all.
    pub fn failed(source: impl Into<String>, error: impl Into<String>) -> Record {
        Record {
            source: source.into(),
            form: None,
            pages: Vec::new(),
            status: Status::Failed,
            fields: Vec::new(),
            error: Some(error.into()),
        }
    }

    /// The field called `name`, if the record has it.
    pub fn field(&self, name: &str) -> Option<&FieldResult> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// The OpenAPI schema of a field's value, which is JSON of one of four
/// types according to the field's type.
pub(crate) fn field_value() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::String,
            Type::Number,
            Type::Boolean,
            Type::Null,
        ]))
        .description(Some(
            "A field's value, by field type: text, date (YYYY-MM-DD), ni_number, postcode, \
             email, phone, money (a string like \"1234.50\") and choice (the option's key) \
             are strings; integer is a number; checkbox and signature are booleans. Blank is \
             null, or false for checkbox and signature.",
        ))
        .into()
}

/// Serialises the fields as a JSON object that keeps the template's order.
mod ordered_fields {
    use super::FieldResult;
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        fields: &[(String, FieldResult)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, FieldResult)>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, FieldResult)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, FieldResult>()? {
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_serialises_as_the_contract_says() {
        let r = Record {
            source: "scan-0042.pdf".into(),
            form: Some("voter-registration".into()),
            pages: vec![1],
            status: Status::NeedsReview,
            fields: vec![
                (
                    "surname".into(),
                    FieldResult {
                        value: json!("SMITH"),
                        confidence: 0.98,
                        flags: vec![],
                        note: None,
                    },
                ),
                (
                    "ni_number".into(),
                    FieldResult {
                        value: json!("QQ123456C"),
                        confidence: 0.62,
                        flags: vec![Flag::LowConfidence],
                        note: None,
                    },
                ),
            ],
            error: None,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            concat!(
                r#"{"source":"scan-0042.pdf","form":"voter-registration","pages":[1],"#,
                r#""status":"needs_review","fields":{"#,
                r#""surname":{"value":"SMITH","confidence":0.98,"flags":[]},"#,
                r#""ni_number":{"value":"QQ123456C","confidence":0.62,"flags":["low_confidence"]}"#,
                r#"}}"#
            )
        );
        let back: Record = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_note_follows_the_flags_and_reads_back() {
        let f = FieldResult {
            value: json!("1985-03-14"),
            confidence: 0.41,
            flags: vec![Flag::LowConfidence],
            note: Some("the second digit of the month is unclear".into()),
        };
        let s = serde_json::to_string(&f).unwrap();
        assert_eq!(
            s,
            concat!(
                r#"{"value":"1985-03-14","confidence":0.41,"flags":["low_confidence"],"#,
                r#""note":"the second digit of the month is unclear"}"#
            )
        );
        assert_eq!(serde_json::from_str::<FieldResult>(&s).unwrap(), f);
        let old: FieldResult =
            serde_json::from_str(r#"{"value":null,"confidence":0.99,"flags":[]}"#).unwrap();
        assert_eq!(old.note, None);
    }

    #[test]
    fn failed_record_carries_its_error() {
        let r = Record::failed("x.pdf", "the file is empty");
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error"], "the file is empty");
        assert_eq!(v["form"], serde_json::Value::Null);
    }
}
