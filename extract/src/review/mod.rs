//! Review: a caseworker's corrections checked by the engine's own grammar
//! and rules, and every flag explained in plain words.
//!
//! Owns what a person may enter for each field type ([`Typed`]) and how it
//! becomes a contract value: exactly as [`crate::normalise`] would give it
//! had the characters been read with certainty, but never bent. Choosing
//! a look-alike (a date's `0` for an `O`) is how the engine picks between
//! readings OCR found comparably likely; a person types what they mean, so
//! a value whose characters, as typed, make no good value of its type is
//! kept (tidied) and flagged `invalid`. Whether the record as a whole
//! keeps the form's rules is [`check_record`]'s; why a field is flagged, in
//! words, is [`explain()`]'s.

mod explain;

pub use explain::{explain, explain_field};

use crate::normalise::{
    date_rules_hold, is_birth, iso_order, normalise, phone_as_typed, spaced, text_checks, tidy,
    written_digits, Context, Date, Money, MoneyError, Normalised, UNREAD,
};
use crate::raw::{CharCandidates, RawValue};
use crate::validate::apply_rules;
use formflow_schemas::template::{FieldSpec, FieldType, Template};
use formflow_schemas::Flag;
use serde_json::Value;

/// The most characters an entry may have: more than any box on the forms
/// holds (the widest, an address line, takes some 60 typed), and few
/// enough that checking one costs nothing. A longer entry is kept, tidied,
/// and flagged `invalid` without being read by the field's grammar.
pub const MAX_TYPED_CHARS: usize = 200;

/// What a person entered for a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// Characters, for the character fields: text, date, ni_number,
    /// postcode, email, phone, money and integer.
    Text(String),
    /// A tick, for a checkbox or a signature (is one present).
    Mark(bool),
    /// An option's key for a choice, or `None` for no option ticked.
    Choice(Option<String>),
}

/// Checks what a person entered for the field `spec` as extraction checks
/// what it reads: the field type's grammar and single-field rules (a date
/// of birth's age, a range, a pattern), giving the contract value.
///
/// A value accepted as entered has confidence 1.0 and no `low_confidence`
/// (a person typed it); it may still be `invalid` when it breaks a rule (a
/// signing date in the future). Blank or white-space text is `null`.
/// Characters that make no good value of the type as typed (a letter `O`
/// in a date, a National Insurance number of eight characters, 31 February)
/// are given back tidied, flagged `invalid`, never bent into a valid value;
/// so is an entry of the wrong kind for the field (text for a tick box, a
/// key that is not one of the choice's options). The rules across fields
/// are [`check_record`]'s. Any input gives a result, never a panic.
pub fn check_typed(spec: &FieldSpec, typed: &Typed, ctx: &Context) -> Normalised {
    match (spec.kind, typed) {
        (FieldType::Checkbox | FieldType::Signature, Typed::Mark(present)) => {
            let raw = RawValue::Mark {
                present: *present,
                confidence: 1.0,
            };
            accepted(normalise(spec, &raw, ctx))
        }
        (FieldType::Choice, Typed::Choice(key)) => choice(spec, key.as_deref(), ctx),
        (kind, Typed::Text(s)) if !kind.is_mark() => characters(spec, s, ctx),
        (_, Typed::Text(s)) if s.trim().is_empty() => rejected(Value::Null),
        (_, Typed::Text(s)) => rejected(Value::String(tidy(s))),
        (_, Typed::Mark(b)) => rejected(Value::Bool(*b)),
        (_, Typed::Choice(k)) => rejected(k.clone().map_or(Value::Null, Value::String)),
    }
}

/// A value as normalised, believed wholly: a person entered it.
fn accepted(n: Normalised) -> Normalised {
    Normalised {
        value: n.value,
        confidence: 1.0,
        flags: n
            .flags
            .into_iter()
            .filter(|f| *f != Flag::LowConfidence)
            .collect(),
        note: None,
    }
}

/// A value kept as entered and flagged `invalid`.
fn rejected(value: Value) -> Normalised {
    Normalised {
        value,
        confidence: 1.0,
        flags: vec![Flag::Invalid],
        note: None,
    }
}

/// A choice of `key` (none when blank) among the field's options.
fn choice(spec: &FieldSpec, key: Option<&str>, ctx: &Context) -> Normalised {
    let key = key.map(str::trim).filter(|k| !k.is_empty());
    let options = spec.options.as_deref().unwrap_or(&[]);
    if let Some(k) = key {
        if !options.iter().any(|(o, _)| o == k) {
            return rejected(Value::String(k.to_string()));
        }
    }
    let raw = RawValue::Choice(
        options
            .iter()
            .map(|(o, _)| (o.clone(), Some(o.as_str()) == key, 1.0))
            .collect(),
    );
    accepted(normalise(spec, &raw, ctx))
}

/// Characters typed into a character field.
fn characters(spec: &FieldSpec, s: &str, ctx: &Context) -> Normalised {
    if s.trim().is_empty() {
        return Normalised {
            value: Value::Null,
            confidence: 1.0,
            flags: Vec::new(),
            note: None,
        };
    }
    // Capitals as typed: a reader's lower-case `l` in a word of capitals
    // is taken for an `I`, a person's is an `L`.
    let typed = match spec.kind {
        FieldType::Email => s.trim().to_string(),
        _ => s.trim().to_uppercase(),
    };
    if typed.chars().count() > MAX_TYPED_CHARS {
        return rejected(Value::String(tidied(spec.kind, &typed)));
    }
    let typed = as_written(spec.kind, &typed);
    let n = normalise(spec, &sure(spec, &typed), ctx);
    if keeps(spec.kind, &typed, &n.value) {
        return accepted(n);
    }
    match spec.kind {
        // Free text has no grammar to break: what was typed stands, checked
        // against the template's pattern when it has one.
        FieldType::Text => {
            let value = tidy(&typed);
            let flags = if text_checks(spec)(&value) {
                Vec::new()
            } else {
                vec![Flag::Invalid]
            };
            Normalised {
                value: Value::String(value),
                confidence: 1.0,
                flags,
                note: None,
            }
        }
        kind => rejected(Value::String(tidied(kind, &typed))),
    }
}

/// A typed value in the shape the forms are written in: an ISO date
/// (`1985-03-14`) turned to `14 03 1985`; anything else as it is.
fn as_written(kind: FieldType, s: &str) -> String {
    if kind == FieldType::Date {
        let parts: Vec<&str> = s.split('-').collect();
        if let [y, m, d] = parts.as_slice() {
            let digits = |p: &str, n: std::ops::RangeInclusive<usize>| {
                n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
            };
            if digits(y, 4..=4) && digits(m, 1..=2) && digits(d, 1..=2) {
                return format!("{d} {m} {y}");
            }
        }
    }
    s.to_string()
}

/// The typed characters as a reader's reading of them, every character
/// sure: one a cell for a comb field (white space an empty cell), else a
/// line.
fn sure(spec: &FieldSpec, s: &str) -> RawValue {
    let sure = |c: char| CharCandidates::sure(c, 1.0);
    if spec.cells.is_some() {
        let mut cells: Vec<Option<CharCandidates>> = Vec::new();
        for c in s.chars() {
            if !c.is_whitespace() {
                cells.push(Some(sure(c)));
            } else if cells.last().is_some_and(Option::is_some) {
                cells.push(None);
            }
        }
        return RawValue::Cells(cells);
    }
    RawValue::Line {
        chars: s
            .chars()
            .map(|c| sure(if c.is_whitespace() { ' ' } else { c }))
            .collect(),
        ink: true,
    }
}

/// Whether `value` is what the typed characters say as they stand, in the
/// type's contract shape: no look-alike was put in for a character typed.
fn keeps(kind: FieldType, typed: &str, value: &Value) -> bool {
    let squeezed = || -> String { typed.chars().filter(|c| !c.is_whitespace()).collect() };
    let want: Option<Value> = match kind {
        FieldType::Date => written_digits(typed)
            .ok()
            .map(|d| Value::String(iso_order(&d))),
        FieldType::NiNumber => Some(Value::String(squeezed().to_uppercase())),
        FieldType::Postcode => Some(Value::String(spaced(typed))),
        FieldType::Email => Some(Value::String(squeezed().to_lowercase())),
        FieldType::Phone => Some(Value::String(phone_as_typed(typed))),
        FieldType::Money => match Money::parse(typed) {
            Ok(m) => Some(Value::String(m.as_string())),
            Err(MoneyError::Negative(m)) => Some(Value::String(format!("-{}", m.as_string()))),
            Err(_) => None,
        },
        FieldType::Integer => squeezed().parse::<i64>().ok().map(Value::from),
        FieldType::Text => {
            let letters = |s: &str| -> String {
                s.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_uppercase)
                    .collect()
            };
            return !typed.contains(UNREAD)
                && value.as_str().is_some_and(|v| letters(v) == letters(typed));
        }
        FieldType::Checkbox | FieldType::Signature | FieldType::Choice => None,
    };
    // An entry the grammar makes nothing of (a phone number of dashes) is
    // not blank: it is kept as typed.
    want.is_some_and(|w| w == *value && w.as_str() != Some(""))
}

/// A typed value that makes no good value of its type, tidied as the type
/// shows values: spaces out of NI numbers and email addresses (lower case),
/// a postcode's one space, else upper case and single spaces.
fn tidied(kind: FieldType, typed: &str) -> String {
    let squeezed = || -> String { typed.chars().filter(|c| !c.is_whitespace()).collect() };
    match kind {
        FieldType::NiNumber => squeezed().to_uppercase(),
        FieldType::Email => squeezed().to_lowercase(),
        FieldType::Postcode => spaced(typed),
        _ => tidy(typed),
    }
}

/// Checks a corrected record as a whole with the template's rules across
/// fields: `required`, `required_if`, `required_unless`, and no date before
/// the date of birth.
///
/// The flags those rules gave before (when the record was read, or at an
/// earlier correction) are taken off first, so that a correction elsewhere
/// can clear them: every `missing_required`, and the `invalid` of a date
/// that keeps its own rules (it can only have come from the date of birth).
/// A field then neither `invalid` nor `unreadable` is `low_confidence`
/// again when its confidence is below the review threshold, as in
/// extraction. So a record as extraction gave it comes out unchanged.
/// Values are never changed; fields the template does not know are left
/// alone.
pub fn check_record(template: &Template, fields: &mut [(String, Normalised)], ctx: &Context) {
    for (name, f) in fields.iter_mut() {
        f.flags.retain(|x| *x != Flag::MissingRequired);
        let Some(spec) = template.field(name) else {
            continue;
        };
        let keeps_own_rules = spec.kind == FieldType::Date
            && !is_birth(spec)
            && f.value
                .as_str()
                .and_then(Date::from_iso)
                .is_some_and(|d| date_rules_hold(spec, d, ctx));
        if keeps_own_rules {
            f.flags.retain(|x| *x != Flag::Invalid);
        }
        let settled = f
            .flags
            .iter()
            .any(|x| matches!(x, Flag::Invalid | Flag::Unreadable));
        // Confidences out of range count as in normalisation.
        let confidence = if f.confidence.is_finite() {
            f.confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if !settled && confidence < ctx.review_threshold {
            f.flags.push(Flag::LowConfidence);
        }
    }
    apply_rules(template, fields, ctx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::test_support::{ctx, flags};
    use formflow_schemas::TemplateSet;
    use proptest::prelude::*;
    use serde_json::json;

    pub(super) fn template(form: &str) -> Template {
        TemplateSet::builtin().get(form).unwrap().clone()
    }

    pub(super) fn voter(name: &str) -> FieldSpec {
        template("voter-registration").field(name).unwrap().clone()
    }

    pub(super) fn legal(name: &str) -> FieldSpec {
        template("legal-aid-cw1").field(name).unwrap().clone()
    }

    pub(super) fn text(s: &str) -> Typed {
        Typed::Text(s.to_string())
    }

    pub(super) fn key(s: &str) -> Typed {
        Typed::Choice(Some(s.to_string()))
    }

    /// A good entry for every field of both forms, and its contract value.
    fn good(form: &str, name: &str) -> (Typed, Value) {
        match (form, name) {
            (_, "surname") => (text("  o'Neil-Smith "), json!("O'NEIL-SMITH")),
            (_, "first_names" | "forenames") => (text("Bethan   Mary"), json!("BETHAN MARY")),
            ("voter-registration", "date_of_birth") => (text("14 03 1985"), json!("1985-03-14")),
            (_, "date_of_birth") => (text("1958-09-02"), json!("1958-09-02")),
            ("voter-registration", "ni_number") => (text("gn 43 38 32 a"), json!("GN433832A")),
            (_, "ni_number") => (text("YR904193B"), json!("YR904193B")),
            (_, "no_ni_number" | "open_register_opt_out") => (Typed::Mark(false), json!(false)),
            (_, "postal_vote") => (Typed::Mark(true), json!(true)),
            (_, "address_line_1") => (text("Flat 12a, 3 High St"), json!("FLAT 12A, 3 HIGH ST")),
            (_, "address_line_2" | "previous_address") => (text("   "), Value::Null),
            (_, "town") => (text("West Jennafort"), json!("WEST JENNAFORT")),
            (_, "postcode") => (text("ll345zd"), json!("LL34 5ZD")),
            (_, "previous_postcode") => (text("SW1A 1AA"), json!("SW1A 1AA")),
            (_, "nationality") => (key("british"), json!("british")),
            (_, "nationality_other") => (text("French"), json!("FRENCH")),
            (_, "moved_recently") => (key("no"), json!("no")),
            (_, "email") => (
                text("Kelly.Jones@Example.co.uk"),
                json!("kelly.jones@example.co.uk"),
            ),
            ("voter-registration", "phone") => (text("07680 644142"), json!("07680 644142")),
            (_, "phone") => (text("(0121) 496-0000"), json!("0121 4960000")),
            (_, "marital_status") => (key("single"), json!("single")),
            (_, "dependent_children") => (text("3"), json!(3)),
            (_, "other_dependants") => (text("0"), json!(0)),
            (_, "disability") => (key("prefer_not_to_say"), json!("prefer_not_to_say")),
            (_, "benefit_universal_credit") => (Typed::Mark(true), json!(true)),
            (_, n) if n.starts_with("benefit_") => (Typed::Mark(false), json!(false)),
            (_, "gross_monthly_income") => (text("£1,234.50"), json!("1234.50")),
            (_, "monthly_housing_costs") => (text("1396.72"), json!("1396.72")),
            (_, "savings_and_capital") => (text("5202.8"), json!("5202.80")),
            (_, "category") => (key("debt"), json!("debt")),
            (_, "provider_account") => (text("2b138l"), json!("2B138L")),
            (_, "unique_file_number") => (text("051025/030"), json!("051025/030")),
            (_, "signature") => (Typed::Mark(true), json!(true)),
            ("voter-registration", "signed_on") => (text("01/01/2025"), json!("2025-01-01")),
            (_, "signed_on") => (text("17-02-2025"), json!("2025-02-17")),
            (form, name) => panic!("no good entry for {form} {name}"),
        }
    }

    #[test]
    fn a_good_entry_for_every_field_of_both_forms_is_its_contract_value() {
        for form in ["voter-registration", "legal-aid-cw1"] {
            for spec in &template(form).fields {
                let (typed, want) = good(form, &spec.name);
                let n = check_typed(spec, &typed, &ctx());
                assert_eq!(
                    n,
                    Normalised {
                        value: want,
                        confidence: 1.0,
                        flags: vec![],
                        note: None
                    },
                    "{form} {}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn dates_are_taken_as_people_write_them() {
        for s in [
            "14 03 1985",
            "14/03/1985",
            "14-03-1985",
            "14031985",
            "1985-03-14",
            "14.3.1985",
            " 14 3 1985 ",
        ] {
            for spec in [voter("date_of_birth"), legal("date_of_birth")] {
                let n = check_typed(&spec, &text(s), &ctx());
                assert_eq!((n.value, n.flags), (json!("1985-03-14"), vec![]), "{s}");
            }
        }
    }

    /// The value and flags a typed entry gives, and its explanation.
    fn checked(spec: &FieldSpec, typed: &str) -> (Value, Vec<Flag>, Vec<String>) {
        let n = check_typed(spec, &text(typed), &ctx());
        let why = explain(spec, &n.value, &n.flags, &ctx());
        assert_eq!(n.confidence, 1.0);
        (n.value, n.flags, why)
    }

    /// Checks that each entry is kept as the value given, flagged
    /// `invalid` with the sentence given (none: accepted, no flag).
    fn kept(cases: &[(FieldSpec, &str, Value, Option<&str>)]) {
        for (spec, typed, value, why) in cases {
            let want = match why {
                Some(why) => (value.clone(), vec![Flag::Invalid], vec![why.to_string()]),
                None => (value.clone(), vec![], vec![]),
            };
            assert_eq!(checked(spec, typed), want, "{} {typed}", spec.name);
        }
    }

    #[test]
    fn a_bad_date_is_kept_as_typed_and_explained() {
        let dob = voter("date_of_birth");
        let signed = voter("signed_on");
        let shape = Some("a date is written DD MM YYYY, like 14 03 1985");
        kept(&[
            // A letter O is not taken for a nought.
            (dob.clone(), "14 O3 1985", json!("14 O3 1985"), shape),
            (dob.clone(), "14 march 85", json!("14 MARCH 85"), shape),
            (
                dob.clone(),
                "31/02/1990",
                json!("1990-02-31"),
                Some("31 is not a day of February 1990, which has 28 days"),
            ),
            (
                dob.clone(),
                "01 13 1990",
                json!("1990-13-01"),
                Some("13 is not a month: a date is written DD MM YYYY"),
            ),
            (
                dob.clone(),
                "01 01 2030",
                json!("2030-01-01"),
                Some("a date of birth cannot be in the future"),
            ),
            (
                dob.clone(),
                "01 01 2020",
                json!("2020-01-01"),
                Some(
                    "a date of birth must make the person at least 14 years old; this one makes \
                     them 6",
                ),
            ),
            (
                dob,
                "01 01 1880",
                json!("1880-01-01"),
                Some(
                    "a date of birth cannot be more than 120 years ago; this one is 146 years ago",
                ),
            ),
            (
                signed,
                "23 11 2026",
                json!("2026-11-23"),
                Some("the date cannot be in the future"),
            ),
        ]);
    }

    #[test]
    fn bad_numbers_codes_and_amounts_are_kept_as_typed_and_explained() {
        let ni = voter("ni_number");
        let ni_shape = Some(
            "a National Insurance number is two letters, six digits and a letter from A to D, \
             like AB123456C",
        );
        let pc = voter("postcode");
        let money = legal("gross_monthly_income");
        let amount = Some("an amount is written like 1,234.56, in pounds and pence");
        let children = legal("dependent_children");
        let range = Some("must be a whole number from 0 to 20");
        let phone = voter("phone");
        kept(&[
            (
                ni.clone(),
                "qq 12 34 56 c",
                json!("QQ123456C"),
                Some("the prefix QQ is never issued"),
            ),
            (
                ni.clone(),
                "ST218562Y",
                json!("ST218562Y"),
                Some("the last letter must be A, B, C or D, not Y"),
            ),
            (ni.clone(), "AB12345C", json!("AB12345C"), ni_shape),
            // A letter I is not taken for a one.
            (ni, "AB I23456 C", json!("ABI23456C"), ni_shape),
            (
                pc.clone(),
                "SW1A 1A",
                json!("SW1 A1A"),
                Some("a postcode ends with a digit and two letters, like SW1A 1AA"),
            ),
            (
                pc.clone(),
                "5W1A 1AA",
                json!("5W1A 1AA"),
                Some("a postcode starts with one or two letters and a digit, like SW1A or B6"),
            ),
            (
                pc.clone(),
                "kp4v 2bs",
                json!("KP4V 2BS"),
                Some("there is no postcode area KP"),
            ),
            (
                pc,
                "W1A 1AI",
                json!("W1A 1AI"),
                Some("postcodes never have I in their last three characters"),
            ),
            (money.clone(), "12.345", json!("12.345"), amount),
            (money.clone(), "12O.50", json!("12O.50"), amount),
            (money.clone(), "E250", json!("E250"), amount),
            (
                money,
                "-12.5",
                json!("-12.50"),
                Some("an amount may not be negative"),
            ),
            (children.clone(), "21", json!(21), range),
            (children.clone(), "O3", json!("O3"), range),
            (children, "three", json!("THREE"), range),
            (
                voter("email"),
                "kelly.jones",
                json!("kelly.jones"),
                Some("an email address is written like name@example.com, with no spaces"),
            ),
            (
                phone.clone(),
                "0700 6516",
                json!("0700 6516"),
                Some("a UK telephone number has 10 or 11 digits, not 8"),
            ),
            (
                phone,
                "O7006 516030",
                json!("O7006 516030"),
                Some("a telephone number holds only digits and spaces, and a + in front"),
            ),
        ]);
    }

    #[test]
    fn text_stands_as_typed_and_a_pattern_is_checked() {
        let surname = voter("surname");
        let account = legal("provider_account");
        let file = legal("unique_file_number");
        kept(&[
            (surname.clone(), "Sm1th", json!("SM1TH"), None),
            (surname, "O?Neil", json!("O?NEIL"), None),
            (
                account,
                "2B13BL",
                json!("2B13BL"),
                Some("must be a digit, a letter, 3 digits and a letter"),
            ),
            (file.clone(), "051025030", json!("051025/030"), None),
            (
                file.clone(),
                "321025/030",
                json!("321025/030"),
                Some("its six digits DDMMYY must be a real date"),
            ),
            (
                file,
                "05-10-25",
                json!("05-10-25"),
                Some("must be 6 digits, “/” and 3 digits"),
            ),
        ]);
        let long = "a".repeat(100_000);
        let (value, flags, why) = checked(&voter("address_line_1"), &long);
        assert_eq!(
            (value, flags, why),
            (
                json!("A".repeat(100_000)),
                vec![Flag::Invalid],
                vec![
                    "the entry has 100000 characters, more than the 200 any box on the form \
                     could hold"
                        .to_string()
                ]
            )
        );
    }

    #[test]
    fn marks_and_choices_of_the_wrong_kind_are_invalid() {
        let c = ctx();
        let nationality = voter("nationality");
        let n = check_typed(&nationality, &key("martian"), &c);
        assert_eq!(
            (&n.value, &n.flags),
            (&json!("martian"), &vec![Flag::Invalid])
        );
        assert_eq!(
            explain(&nationality, &n.value, &n.flags, &c),
            ["“martian” is not one of the options (british, irish, eu, commonwealth or other)"]
        );
        for none in [Typed::Choice(None), key("  ")] {
            let n = check_typed(&nationality, &none, &c);
            assert_eq!((n.value, n.confidence, n.flags), (Value::Null, 1.0, vec![]));
        }
        let tick = voter("postal_vote");
        let n = check_typed(&tick, &text("yes"), &c);
        assert_eq!((&n.value, &n.flags), (&json!("YES"), &vec![Flag::Invalid]));
        assert_eq!(
            explain(&tick, &n.value, &n.flags, &c),
            ["a tick box is either ticked or not"]
        );
        let dob = voter("date_of_birth");
        let n = check_typed(&dob, &Typed::Mark(true), &c);
        assert_eq!((&n.value, &n.flags), (&json!(true), &vec![Flag::Invalid]));
        let n = check_typed(&dob, &key("british"), &c);
        assert_eq!((n.value, n.flags), (json!("british"), vec![Flag::Invalid]));
        let n = check_typed(&voter("signature"), &Typed::Choice(None), &c);
        assert_eq!((n.value, n.flags), (Value::Null, vec![Flag::Invalid]));
    }

    /// Every field of the voter form filled in well, as a person would.
    fn corrected_voter() -> Vec<(String, Normalised)> {
        template("voter-registration")
            .fields
            .iter()
            .map(|s| {
                let (typed, _) = good("voter-registration", &s.name);
                (s.name.clone(), check_typed(s, &typed, &ctx()))
            })
            .collect()
    }

    fn set(fields: &mut [(String, Normalised)], name: &str, typed: Typed) {
        let spec = voter(name);
        if let Some((_, f)) = fields.iter_mut().find(|(n, _)| n == name) {
            *f = check_typed(&spec, &typed, &ctx());
        }
    }

    #[test]
    fn a_corrected_record_is_checked_as_a_whole() {
        let t = template("voter-registration");
        let mut f = corrected_voter();
        check_record(&t, &mut f, &ctx());
        assert!(f.iter().all(|(_, x)| x.flags.is_empty()), "{f:?}");
        // Signed before the date of birth (14 March 1985).
        set(&mut f, "signed_on", text("01 01 1980"));
        check_record(&t, &mut f, &ctx());
        assert_eq!(flags(&f, "signed_on"), [Flag::Invalid]);
        assert_eq!(
            explain_field(&t, &f, "signed_on", &ctx()),
            [
                "the date is before the date of birth (14 March 1985): the form cannot have \
                 been signed before its signer was born"
            ]
        );
        assert_eq!(
            explain(
                &voter("signed_on"),
                &json!("1980-01-01"),
                &[Flag::Invalid],
                &ctx()
            ),
            ["the date is before the date of birth on the form"]
        );
        // Correcting the date of birth clears it.
        set(&mut f, "date_of_birth", text("02 02 1970"));
        check_record(&t, &mut f, &ctx());
        assert_eq!(flags(&f, "signed_on"), []);
        // Requirements, and what they depend on, in words.
        set(&mut f, "ni_number", text(""));
        set(&mut f, "nationality", key("other"));
        set(&mut f, "nationality_other", text(" "));
        set(&mut f, "signature", Typed::Mark(false));
        check_record(&t, &mut f, &ctx());
        for (name, why) in [
            (
                "ni_number",
                "this field must be filled in unless “I do not have a NI number” is ticked",
            ),
            (
                "nationality_other",
                "this field must be filled in when “Nationality” is other",
            ),
            ("signature", "the form must be signed"),
        ] {
            assert_eq!(flags(&f, name), [Flag::MissingRequired], "{name}");
            assert_eq!(explain_field(&t, &f, name, &ctx()), [why], "{name}");
        }
        set(&mut f, "no_ni_number", Typed::Mark(true));
        check_record(&t, &mut f, &ctx());
        assert_eq!(flags(&f, "ni_number"), []);
        assert_eq!(
            explain_field(&t, &f, "no_such_field", &ctx()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_record_as_extraction_gave_it_comes_out_unchanged() {
        let t = template("voter-registration");
        let read = |conf: f64, flags: Vec<Flag>, value: Value| Normalised {
            value,
            confidence: conf,
            flags,
            note: Some("the second digit of the month is unclear".into()),
        };
        for birth in [
            read(0.98, vec![], json!("1985-03-14")),
            read(0.6, vec![Flag::Invalid], json!("2030-01-01")),
        ] {
            let mut f = corrected_voter();
            f[1].1 = read(0.4, vec![Flag::LowConfidence], json!("BETHAN"));
            f[2].1 = birth;
            set(&mut f, "signed_on", text("01 01 1980"));
            set(&mut f, "surname", text(""));
            check_record(&t, &mut f, &ctx());
            let before = f.clone();
            check_record(&t, &mut f, &ctx());
            assert_eq!(f, before);
            assert_eq!(flags(&f, "surname"), [Flag::MissingRequired]);
            assert_eq!(flags(&f, "first_names"), [Flag::LowConfidence]);
            // The signing date precedes only a date of birth that is good.
            let precedes = f[2].1.flags.is_empty();
            assert_eq!(flags(&f, "signed_on").is_empty(), !precedes);
        }
        // A cross-field invalid on a doubtful reading turns back into low
        // confidence once the date of birth is put right.
        let mut f = corrected_voter();
        f.iter_mut().find(|(n, _)| n == "signed_on").unwrap().1 =
            read(0.5, vec![Flag::Invalid], json!("1980-01-01"));
        check_record(&t, &mut f, &ctx());
        assert_eq!(flags(&f, "signed_on"), [Flag::Invalid]);
        set(&mut f, "date_of_birth", text("01 01 1970"));
        check_record(&t, &mut f, &ctx());
        assert_eq!(flags(&f, "signed_on"), [Flag::LowConfidence]);
        assert_eq!(
            explain_field(&t, &f, "signed_on", &ctx()),
            ["the reading may be wrong (confidence 50%): the second digit of the month is unclear"]
        );
    }

    fn any_typed() -> impl Strategy<Value = Typed> {
        prop_oneof![
            "\\PC{0,20}".prop_map(Typed::Text),
            "[ 0-9a-zA-Z/£.,@+-]{0,16}".prop_map(Typed::Text),
            any::<bool>().prop_map(Typed::Mark),
            proptest::option::of("[a-z_]{0,10}").prop_map(Typed::Choice),
        ]
    }

    proptest! {
        #[test]
        fn no_entry_makes_any_field_panic_and_every_flag_is_explained(
            typed in any_typed(),
            flag_picks in proptest::collection::vec(0usize..5, 0..4),
        ) {
            let all = [
                Flag::LowConfidence,
                Flag::Invalid,
                Flag::MissingRequired,
                Flag::Ambiguous,
                Flag::Unreadable,
            ];
            for form in ["voter-registration", "legal-aid-cw1"] {
                let t = template(form);
                let mut fields = Vec::new();
                for spec in &t.fields {
                    let n = check_typed(spec, &typed, &ctx());
                    prop_assert_eq!(n.confidence, 1.0);
                    prop_assert!(!n.flags.contains(&Flag::LowConfidence));
                    prop_assert!(n.flags.iter().all(|f| *f == Flag::Invalid), "{:?}", n.flags);
                    let why = explain(spec, &n.value, &n.flags, &ctx());
                    prop_assert_eq!(why.len(), n.flags.len());
                    prop_assert!(why.iter().all(|s| !s.is_empty()));
                    let flags: Vec<Flag> = flag_picks.iter().map(|&i| all[i]).collect();
                    let why = explain(spec, &n.value, &flags, &ctx());
                    prop_assert!(why.iter().all(|s| !s.is_empty()
                        && s.chars().next().is_some_and(|c| !c.is_uppercase())));
                    fields.push((spec.name.clone(), n));
                }
                check_record(&t, &mut fields, &ctx());
                for (name, f) in &fields {
                    let why = explain_field(&t, &fields, name, &ctx());
                    prop_assert_eq!(why.len(), f.flags.len());
                    prop_assert!(why.iter().all(|s| !s.is_empty()));
                }
            }
        }

        #[test]
        fn a_checked_value_checks_the_same_again(typed in "[ 0-9a-zA-Z/£.,@+'-]{0,16}|\\PC{0,12}") {
            // A value is stored, then entered again as text: it must stand.
            for form in ["voter-registration", "legal-aid-cw1"] {
                for spec in template(form).fields.iter().filter(|s| !s.kind.is_mark()) {
                    let first = check_typed(spec, &text(&typed), &ctx());
                    let again = match &first.value {
                        Value::String(v) => v.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => continue,
                    };
                    let second = check_typed(spec, &text(&again), &ctx());
                    prop_assert_eq!(&second, &first, "{} {:?}", spec.name, typed);
                }
            }
        }

        #[test]
        fn any_real_date_typed_any_way_is_accepted(days in 0i64..40000, sep in 0usize..5) {
            let d = chrono::NaiveDate::from_ymd_opt(1910, 1, 1).unwrap()
                + chrono::Duration::days(days);
            let typed = match sep {
                0 => d.format("%d %m %Y").to_string(),
                1 => d.format("%d/%m/%Y").to_string(),
                2 => d.format("%d-%m-%Y").to_string(),
                3 => d.format("%d%m%Y").to_string(),
                _ => d.format("%Y-%m-%d").to_string(),
            };
            let n = check_typed(&voter("signed_on"), &text(&typed), &ctx());
            prop_assert_eq!(n.value, json!(d.format("%Y-%m-%d").to_string()));
            prop_assert_eq!(n.flags, vec![]);
        }
    }
}
