//! Why a field is flagged, in plain words for a caseworker: one sentence a
//! flag, as specific as the value shows ("13 is not a month: a date is
//! written DD MM YYYY", "the prefix QQ is never issued", "this field must
//! be filled in unless “I do not have a NI number” is ticked").
//!
//! Owns the sentences and the reasons behind them, found with the value
//! types' own parsers and errors ([`Date`], [`NiNumber`], [`Postcode`],
//! [`Money`]) and the template's rules. Every sentence starts in lower
//! case and ends without a full stop, so that the caller may put the
//! field's label in front ("Date of birth: 13 is not a month...") or
//! capitalise it.

use super::MAX_TYPED_CHARS;
use crate::normalise::{
    is_birth, listed, pattern_formats, words, Context, Date, DateError, DatePart, Money,
    MoneyError, NiNumber, NiNumberError, Normalised, Postcode, PostcodeError, MAX_AGE, MIN_AGE,
};
use chrono::Datelike;
use formflow_schemas::template::{Condition, FieldSpec, FieldType, Template};
use formflow_schemas::Flag;
use serde_json::Value;

/// One plain sentence for each of `flags`, in their order, saying why the
/// field `spec` holding `value` is flagged, as specifically as the value
/// shows ("13 is not a month: a date is written DD MM YYYY"). Without the
/// rest of the record some sentences are more general than
/// [`explain_field`]'s (which date of birth a signing date precedes).
pub fn explain(spec: &FieldSpec, value: &Value, flags: &[Flag], ctx: &Context) -> Vec<String> {
    let at = Field {
        spec,
        value,
        confidence: None,
        note: None,
    };
    flags.iter().map(|f| sentence(&at, *f, ctx, None)).collect()
}

/// Like [`explain`] for the field called `name` of a record of `template`,
/// using the rest of the record where a rule involves it (the date of
/// birth a signing date precedes, the field a requirement depends on) and
/// the field's confidence and note ("the reading may be wrong (confidence
/// 62%): the second digit of the month is unclear"). Empty when the
/// template or the record has no such field.
pub fn explain_field(
    template: &Template,
    fields: &[(String, Normalised)],
    name: &str,
    ctx: &Context,
) -> Vec<String> {
    let (Some(spec), Some((_, f))) = (template.field(name), fields.iter().find(|(n, _)| n == name))
    else {
        return Vec::new();
    };
    let at = Field {
        spec,
        value: &f.value,
        confidence: Some(f.confidence),
        note: f.note.as_deref(),
    };
    let record = Some((template, fields));
    f.flags
        .iter()
        .map(|x| sentence(&at, *x, ctx, record))
        .collect()
}

/// The field a sentence is about.
struct Field<'a> {
    spec: &'a FieldSpec,
    value: &'a Value,
    confidence: Option<f64>,
    note: Option<&'a str>,
}

/// The record a field belongs to, when known.
type Whole<'a> = Option<(&'a Template, &'a [(String, Normalised)])>;

/// The sentence for one flag.
fn sentence(f: &Field, flag: Flag, ctx: &Context, record: Whole) -> String {
    match flag {
        Flag::MissingRequired => missing(f.spec, record.map(|r| r.0)),
        Flag::Invalid => invalid(f.spec, f.value, ctx, record),
        Flag::Unreadable => f
            .note
            .unwrap_or("there is writing here that could not be read")
            .to_string(),
        Flag::Ambiguous => match (f.spec.kind, f.note) {
            (_, Some(note)) => note.to_string(),
            (FieldType::Choice, None) => {
                "more than one option is ticked, so it is not clear which was meant".to_string()
            }
            _ => "some of the writing could not be read as any character".to_string(),
        },
        Flag::LowConfidence => {
            let head = match f.confidence {
                Some(c) if c.is_finite() => format!(
                    "the reading may be wrong (confidence {}%)",
                    (c * 100.0).round().clamp(0.0, 100.0)
                ),
                _ => "the reading may be wrong: the engine is not sure of it".to_string(),
            };
            match f.note {
                Some(note) => format!("{head}: {note}"),
                None => head,
            }
        }
    }
}

/// Why a blank field must be filled in.
fn missing(spec: &FieldSpec, template: Option<&Template>) -> String {
    let what = match spec.kind {
        FieldType::Signature => "the form must be signed",
        FieldType::Checkbox => "this box must be ticked",
        FieldType::Choice => "one of the options must be ticked",
        _ => "this field must be filled in",
    };
    let named = |c: &Condition| -> String {
        let label = template
            .and_then(|t| t.field(&c.field))
            .and_then(|o| o.label.clone())
            .unwrap_or_else(|| words(&c.field));
        match &c.equals {
            Value::Bool(true) => format!("“{label}” is ticked"),
            Value::Bool(false) => format!("“{label}” is not ticked"),
            Value::String(s) => format!("“{label}” is {}", words(s)),
            other => format!("“{label}” is {other}"),
        }
    };
    match (&spec.required_if, &spec.required_unless) {
        (Some(c), _) if !spec.required => format!("{what} when {}", named(c)),
        (None, Some(c)) if !spec.required => format!("{what} unless {}", named(c)),
        _ => what.to_string(),
    }
}

/// Why a value breaks a rule, by the field's type.
fn invalid(spec: &FieldSpec, value: &Value, ctx: &Context, record: Whole) -> String {
    let text = value.as_str();
    let length = text.map_or(0, |t| t.chars().count());
    if length > MAX_TYPED_CHARS {
        return format!(
            "the entry has {length} characters, more than the {MAX_TYPED_CHARS} any box on the \
             form could hold"
        );
    }
    match spec.kind {
        FieldType::Date => date(spec, text, ctx, record),
        FieldType::NiNumber => match text.map(NiNumber::parse) {
            Some(Err(e)) => e.to_string(),
            _ => NiNumberError::Shape.to_string(),
        },
        FieldType::Postcode => postcode(text.unwrap_or("")),
        FieldType::Money => match text.map(Money::parse) {
            Some(Err(MoneyError::TooLarge)) => MoneyError::TooLarge.to_string(),
            Some(Err(MoneyError::Negative(m))) => MoneyError::Negative(m).to_string(),
            _ => format!("{}, in pounds and pence", MoneyError::Shape),
        },
        FieldType::Integer => match spec.range {
            Some([lo, hi]) => format!("must be a whole number from {lo} to {hi}"),
            None => "must be a whole number".to_string(),
        },
        FieldType::Email => {
            "an email address is written like name@example.com, with no spaces".to_string()
        }
        FieldType::Phone => phone(text.unwrap_or("")),
        FieldType::Text => pattern(spec, text.unwrap_or("")),
        FieldType::Checkbox => "a tick box is either ticked or not".to_string(),
        FieldType::Signature => "a signature box either holds a signature or not".to_string(),
        FieldType::Choice => {
            let keys: Vec<String> = spec
                .options
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            let shown = text.map_or_else(|| value.to_string(), str::to_string);
            format!(
                "“{shown}” is not one of the options ({})",
                listed(&keys, "or")
            )
        }
    }
}

/// Why a date is invalid: not a date, no such day, or a rule of its own or
/// of the form's.
fn date(spec: &FieldSpec, text: Option<&str>, ctx: &Context, record: Whole) -> String {
    let shape = || format!("{}, like 14 03 1985", DateError::Shape);
    let Some(s) = text else {
        return shape();
    };
    if let Some(d) = Date::from_iso(s) {
        return date_rule(spec, d, ctx, record);
    }
    // YYYY-MM-DD of no real day, as extraction and check_typed give it.
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let p = s.get(r)?;
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let iso = s.len() == 10 && s.get(4..5) == Some("-") && s.get(7..8) == Some("-");
    let (Some(y), Some(m), Some(d), true) = (num(0..4), num(5..7), num(8..10), iso) else {
        return shape();
    };
    if !(1..=12).contains(&m) {
        return format!("{m:02} is not a month: {}", DateError::Shape);
    }
    let days = days_in(y, m);
    if d == 0 || d > days {
        return format!(
            "{d:02} is not a day of {} {y}, which has {days} days",
            MONTHS[(m - 1) as usize]
        );
    }
    shape()
}

/// The names of the months.
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// How many days month `m` (1..=12) of year `y` has.
fn days_in(y: u32, m: u32) -> u32 {
    let y = i32::try_from(y).unwrap_or(0);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    match (
        chrono::NaiveDate::from_ymd_opt(y, m, 1),
        chrono::NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => u32::try_from((b - a).num_days()).unwrap_or(31),
        _ => 31,
    }
}

/// "14 March 1985".
fn in_words(d: chrono::NaiveDate) -> String {
    format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// Which rule a real date breaks.
fn date_rule(spec: &FieldSpec, d: Date, ctx: &Context, record: Whole) -> String {
    if is_birth(spec) {
        return match d.age_at(ctx.today) {
            None => "a date of birth cannot be in the future".to_string(),
            Some(a) if a < MIN_AGE => format!(
                "a date of birth must make the person at least {MIN_AGE} years old; this one \
                 makes them {a}"
            ),
            Some(a) if a > MAX_AGE => format!(
                "a date of birth cannot be more than {MAX_AGE} years ago; this one is {a} years \
                 ago"
            ),
            Some(_) => format!(
                "a date of birth must make the person {MIN_AGE} to {MAX_AGE} years old on {}",
                in_words(ctx.today)
            ),
        };
    }
    if d.naive() > ctx.today {
        return "the date cannot be in the future".to_string();
    }
    let born = record.and_then(|(t, fields)| {
        t.fields
            .iter()
            .filter(|s| s.kind == FieldType::Date && is_birth(s))
            .find_map(|s| {
                let (_, f) = fields.iter().find(|(n, _)| *n == s.name)?;
                Date::from_iso(f.value.as_str()?)
            })
    });
    match born {
        Some(b) => format!(
            "the date is before the date of birth ({}): the form cannot have been signed \
             before its signer was born",
            in_words(b.naive())
        ),
        None => "the date is before the date of birth on the form".to_string(),
    }
}

/// Why a postcode is invalid.
fn postcode(s: &str) -> String {
    let squeezed: Vec<char> = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    match Postcode::parse(s) {
        Err(PostcodeError::Shape) => {
            let n = squeezed.len();
            let inward = squeezed.get(n.saturating_sub(3)..).unwrap_or(&[]);
            let inward_ok = matches!(inward, [d, a, b]
                if d.is_ascii_digit() && a.is_ascii_uppercase() && b.is_ascii_uppercase());
            if !(5..=7).contains(&n) {
                format!("a postcode has 5 to 7 letters and digits, like SW1A 1AA, not {n}")
            } else if !inward_ok {
                "a postcode ends with a digit and two letters, like SW1A 1AA".to_string()
            } else {
                "a postcode starts with one or two letters and a digit, like SW1A or B6".to_string()
            }
        }
        Err(PostcodeError::Letter(c)) => {
            let inward = squeezed.get(squeezed.len().saturating_sub(3)..);
            if inward.is_some_and(|i| i.contains(&c)) {
                format!("postcodes never have {c} in their last three characters")
            } else {
                format!("postcodes never have {c} at the end of their first part")
            }
        }
        Err(e) => e.to_string(),
        Ok(_) => "a postcode is written like SW1A 1AA".to_string(),
    }
}

/// Why a telephone number is invalid.
fn phone(s: &str) -> String {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let others = s
        .chars()
        .any(|c| !(c.is_ascii_digit() || c == ' ' || c == '+'));
    if others {
        "a telephone number holds only digits and spaces, and a + in front".to_string()
    } else if s.starts_with('+') {
        format!("an international number is + and 7 to 15 digits, not {digits}")
    } else if !s.starts_with('0') {
        "a UK telephone number starts with 0, like 07700 900123".to_string()
    } else {
        format!("a UK telephone number has 10 or 11 digits, not {digits}")
    }
}

/// Why a text value breaks its template's pattern (or the date inside it).
fn pattern(spec: &FieldSpec, s: &str) -> String {
    let Some(p) = spec.pattern.as_deref() else {
        return "the value breaks a rule of the form".to_string();
    };
    let part = spec.label.as_deref().and_then(DatePart::from_label);
    let shaped = regex::Regex::new(p).is_ok_and(|r| r.is_match(s));
    if let (Some(part), true) = (part, shaped) {
        if !part.holds(s) {
            let (len, shape) = if part.long_year {
                ("eight", "DDMMYYYY")
            } else {
                ("six", "DDMMYY")
            };
            return format!("its {len} digits {shape} must be a real date");
        }
    }
    match pattern_formats(p).as_deref() {
        Some([one]) => format!("must be {}", described(one)),
        Some(many) if !many.is_empty() => {
            let each: Vec<String> = many.iter().map(|f| described(f)).collect();
            format!("must be {}", each.join(", or "))
        }
        _ => format!("must match the pattern {p}"),
    }
}

/// A format's positions in words: "a digit, a letter, 3 digits and a
/// letter".
fn described(format: &[crate::normalise::chars::Class]) -> String {
    use crate::normalise::chars::Class;
    let name = |c: &Class| -> (String, String) {
        if *c == Class::digit() {
            ("a digit".into(), "digits".into())
        } else if *c == Class::upper() {
            ("a letter".into(), "letters".into())
        } else if let Some(l) = c.literal() {
            (format!("“{l}”"), format!("“{l}”s"))
        } else {
            ("a character".into(), "characters".into())
        }
    };
    let mut runs: Vec<(usize, &Class)> = Vec::new();
    for c in format {
        match runs.last_mut() {
            Some((n, last)) if *last == c => *n += 1,
            _ => runs.push((1, c)),
        }
    }
    let parts: Vec<String> = runs
        .into_iter()
        .map(|(n, c)| {
            let (one, many) = name(c);
            if n == 1 {
                one
            } else {
                format!("{n} {many}")
            }
        })
        .collect();
    listed(&parts, "and")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{template, voter};
    use super::*;
    use crate::normalise::chars::Class;
    use crate::normalise::test_support::ctx;
    use serde_json::json;

    #[test]
    fn every_flag_has_its_sentence() {
        let c = ctx();
        let choice = voter("nationality");
        let surname = voter("surname");
        assert_eq!(
            explain(
                &surname,
                &Value::Null,
                &[Flag::LowConfidence, Flag::Ambiguous, Flag::Unreadable],
                &c
            ),
            [
                "the reading may be wrong: the engine is not sure of it",
                "some of the writing could not be read as any character",
                "there is writing here that could not be read",
            ]
        );
        assert_eq!(
            explain(
                &choice,
                &json!("irish"),
                &[Flag::Ambiguous, Flag::MissingRequired],
                &c
            ),
            [
                "more than one option is ticked, so it is not clear which was meant",
                "one of the options must be ticked",
            ]
        );
        let t = template("voter-registration");
        let fields = vec![(
            "nationality".to_string(),
            Normalised {
                value: json!("irish"),
                confidence: 0.62,
                flags: vec![Flag::LowConfidence, Flag::Ambiguous],
                note: Some("2 options are ticked: british and irish".into()),
            },
        )];
        assert_eq!(
            explain_field(&t, &fields, "nationality", &c),
            [
                "the reading may be wrong (confidence 62%): 2 options are ticked: british and \
                 irish",
                "2 options are ticked: british and irish",
            ]
        );
    }

    #[test]
    fn formats_are_described_in_words() {
        let d = Class::digit();
        let u = Class::upper();
        assert_eq!(
            described(&[d, u, d, d, d, u]),
            "a digit, a letter, 3 digits and a letter"
        );
        assert_eq!(
            described(&[Class::ANY, Class::lit('-')]),
            "a character and “-”"
        );
        assert_eq!(days_in(2024, 2), 29);
        assert_eq!(days_in(2023, 12), 31);
    }
}
