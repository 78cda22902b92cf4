//! Validation: the template's rules that involve several fields or the
//! whole form, applied after every field has been normalised on its own.
//!
//! This module owns `missing_required` (`required`, `required_if`,
//! `required_unless`) and the rule that no other date on a form comes
//! before the date of birth (a form cannot be signed before its signer was
//! born). It adds flags and never changes a value. Single-field rules
//! (formats, ranges, ages, dates in the future) belong to
//! [`crate::normalise`].

use crate::normalise::{Context, Date, Normalised};
use formflow_schemas::record::Flag;
use formflow_schemas::template::{Condition, FieldSpec, FieldType, Template};
use serde_json::Value;

/// Applies rules that involve several fields or the whole form: required,
/// required_if, required_unless, signing date not before date of birth;
/// adds flags (`missing_required`, `invalid`), never changes values.
///
/// Fields are matched to the template by name; a field the template does
/// not know is left alone, and a condition on a field missing from
/// `fields` reads it as blank. As in normalisation, one flag is enough:
/// a field made `invalid` here loses `low_confidence`.
pub fn apply_rules(template: &Template, fields: &mut [(String, Normalised)], ctx: &Context) {
    // Every rule here is about the form as filled in; `today` and the review
    // threshold were used by the single-field rules already.
    let _ = ctx;
    let value_of = |fields: &[(String, Normalised)], name: &str| -> Value {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Value::Null, |(_, f)| f.value.clone())
    };
    let holds =
        |fields: &[(String, Normalised)], c: &Condition| value_of(fields, &c.field) == c.equals;

    let mut add: Vec<(usize, Flag)> = Vec::new();
    for spec in &template.fields {
        let Some(i) = fields.iter().position(|(n, _)| *n == spec.name) else {
            continue;
        };
        let required = spec.required
            || spec.required_if.as_ref().is_some_and(|c| holds(fields, c))
            || spec
                .required_unless
                .as_ref()
                .is_some_and(|c| !holds(fields, c));
        let field = &fields[i].1;
        if required && is_blank(spec, &field.value) && !field.flags.contains(&Flag::Unreadable) {
            add.push((i, Flag::MissingRequired));
        }
    }

    let birth = template
        .fields
        .iter()
        .filter(|s| s.kind == FieldType::Date && crate::normalise::is_birth(s))
        .find_map(|s| good_date(fields, &s.name));
    if let Some(born) = birth {
        for spec in template
            .fields
            .iter()
            .filter(|s| s.kind == FieldType::Date && !crate::normalise::is_birth(s))
        {
            let Some(i) = fields.iter().position(|(n, _)| *n == spec.name) else {
                continue;
            };
            if Date::from_iso(fields[i].1.value.as_str().unwrap_or("")).is_some_and(|d| d < born) {
                add.push((i, Flag::Invalid));
            }
        }
    }

    for (i, flag) in add {
        if let Some((_, f)) = fields.get_mut(i) {
            f.flags.push(flag);
        }
    }
    for (_, f) in fields.iter_mut() {
        if f.flags.contains(&Flag::Invalid) {
            f.flags.retain(|x| *x != Flag::LowConfidence);
        }
        f.flags.sort();
        f.flags.dedup();
    }
}

/// Whether a value counts as not filled in: `null` or an empty string, and
/// for a tick box or signature, `false` too (an unsigned signature box is
/// a missing signature).
fn is_blank(spec: &FieldSpec, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Bool(b) => !b && matches!(spec.kind, FieldType::Checkbox | FieldType::Signature),
        _ => false,
    }
}

/// The date a field holds, if it holds a good one (a date already found
/// `invalid` proves nothing about the others).
fn good_date(fields: &[(String, Normalised)], name: &str) -> Option<Date> {
    let (_, f) = fields.iter().find(|(n, _)| n == name)?;
    if f.flags.contains(&Flag::Invalid) {
        return None;
    }
    Date::from_iso(f.value.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::test_support::flags;
    use crate::normalise::{normalise, Normalised};
    use crate::raw::{CharCandidates, RawValue};
    use formflow_schemas::template::TemplateSet;
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            review_threshold: 0.7f64.powf(crate::normalise::CALIBRATION),
        }
    }

    fn voter() -> Template {
        TemplateSet::builtin()
            .get("voter-registration")
            .unwrap()
            .clone()
    }

    fn legal_aid() -> Template {
        TemplateSet::builtin().get("legal-aid-cw1").unwrap().clone()
    }

    fn ok(value: Value) -> Normalised {
        Normalised {
            value,
            confidence: 0.95,
            flags: vec![],
            note: None,
        }
    }

    /// Every field of the voter form filled in and good.
    fn filled_voter() -> Vec<(String, Normalised)> {
        let v = |name: &str| -> Value {
            match name {
                "surname" => json!("SMITH"),
                "first_names" => json!("JO"),
                "date_of_birth" => json!("1985-03-14"),
                "ni_number" => json!("AB123456C"),
                "no_ni_number" | "open_register_opt_out" | "postal_vote" => json!(false),
                "address_line_1" => json!("1 HIGH ST"),
                "town" => json!("LEEDS"),
                "postcode" => json!("LS1 1AA"),
                "nationality" => json!("british"),
                "moved_recently" => json!("no"),
                "signature" => json!(true),
                "signed_on" => json!("2025-06-01"),
                _ => Value::Null,
            }
        };
        voter()
            .fields
            .iter()
            .map(|f| (f.name.clone(), ok(v(&f.name))))
            .collect()
    }

    fn set(fields: &mut [(String, Normalised)], name: &str, value: Value) {
        if let Some((_, f)) = fields.iter_mut().find(|(n, _)| n == name) {
            f.value = value;
        }
    }

    fn flagged(fields: &[(String, Normalised)]) -> Vec<(String, Vec<Flag>)> {
        fields
            .iter()
            .filter(|(_, f)| !f.flags.is_empty())
            .map(|(n, f)| (n.clone(), f.flags.clone()))
            .collect()
    }

    #[test]
    fn a_complete_form_gets_no_flag() {
        let mut f = filled_voter();
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(flagged(&f), vec![]);
    }

    #[test]
    fn a_blank_required_field_is_missing() {
        let mut f = filled_voter();
        set(&mut f, "surname", Value::Null);
        set(&mut f, "town", json!(""));
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(
            flagged(&f),
            vec![
                ("surname".into(), vec![Flag::MissingRequired]),
                ("town".into(), vec![Flag::MissingRequired])
            ]
        );
    }

    #[test]
    fn an_unsigned_form_is_missing_its_signature() {
        let mut f = filled_voter();
        set(&mut f, "signature", json!(false));
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(
            flagged(&f),
            vec![("signature".into(), vec![Flag::MissingRequired])]
        );
    }

    #[test]
    fn required_if_depends_on_the_other_field() {
        let mut f = filled_voter();
        set(&mut f, "nationality", json!("other"));
        set(&mut f, "moved_recently", json!("yes"));
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(
            flagged(&f),
            vec![
                ("nationality_other".into(), vec![Flag::MissingRequired]),
                ("previous_address".into(), vec![Flag::MissingRequired]),
                ("previous_postcode".into(), vec![Flag::MissingRequired]),
            ]
        );
        let mut f = filled_voter();
        set(&mut f, "nationality", json!("other"));
        set(&mut f, "nationality_other", json!("FRENCH"));
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(flagged(&f), vec![]);
    }

    #[test]
    fn the_ni_number_is_required_unless_the_box_is_ticked() {
        let mut f = filled_voter();
        set(&mut f, "ni_number", Value::Null);
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(flags(&f, "ni_number"), vec![Flag::MissingRequired]);
        let mut f = filled_voter();
        set(&mut f, "ni_number", Value::Null);
        set(&mut f, "no_ni_number", json!(true));
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(flagged(&f), vec![]);
    }

    #[test]
    fn an_unreadable_field_is_not_also_missing() {
        let mut f = filled_voter();
        if let Some((_, x)) = f.iter_mut().find(|(n, _)| n == "surname") {
            *x = Normalised {
                value: Value::Null,
                confidence: 0.0,
                flags: vec![Flag::Unreadable],
                note: None,
            };
        }
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(
            flagged(&f),
            vec![("surname".into(), vec![Flag::Unreadable])]
        );
    }

    #[test]
    fn a_signing_date_before_the_birth_is_invalid() {
        let mut f = filled_voter();
        set(&mut f, "signed_on", json!("1980-01-01"));
        if let Some((_, x)) = f.iter_mut().find(|(n, _)| n == "signed_on") {
            x.flags = vec![Flag::LowConfidence];
        }
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(flagged(&f), vec![("signed_on".into(), vec![Flag::Invalid])]);
        // The same day is fine.
        let mut f = filled_voter();
        set(&mut f, "signed_on", json!("1985-03-14"));
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(flagged(&f), vec![]);
    }

    #[test]
    fn an_invalid_birth_date_does_not_condemn_the_signing_date() {
        let mut f = filled_voter();
        set(&mut f, "date_of_birth", json!("2031-03-17"));
        if let Some((_, x)) = f.iter_mut().find(|(n, _)| n == "date_of_birth") {
            x.flags = vec![Flag::Invalid];
        }
        apply_rules(&voter(), &mut f, &ctx());
        assert_eq!(
            flagged(&f),
            vec![("date_of_birth".into(), vec![Flag::Invalid])]
        );
    }

    #[test]
    fn values_are_never_changed_and_unknown_or_absent_fields_are_fine() {
        let mut f = filled_voter();
        f.retain(|(n, _)| n != "surname");
        f.push(("stray".into(), ok(Value::Null)));
        let before: Vec<Value> = f.iter().map(|(_, x)| x.value.clone()).collect();
        apply_rules(&voter(), &mut f, &ctx());
        let after: Vec<Value> = f.iter().map(|(_, x)| x.value.clone()).collect();
        assert_eq!(before, after);
        assert_eq!(flagged(&f), vec![]);
        apply_rules(&voter(), &mut [], &ctx());
    }

    proptest::proptest! {
        #[test]
        fn no_values_make_the_rules_panic_or_change_a_value(
            picks in proptest::collection::vec((0usize..5, 0usize..4), 0..30)
        ) {
            let choices = [
                json!(null),
                json!(true),
                json!(false),
                json!("2001-01-01"),
                json!("x"),
                json!(3),
            ];
            let flag_sets = [
                vec![],
                vec![Flag::Invalid],
                vec![Flag::LowConfidence],
                vec![Flag::Unreadable],
            ];
            for t in [voter(), legal_aid()] {
                let mut f: Vec<(String, Normalised)> = t
                    .fields
                    .iter()
                    .zip(picks.iter().cycle())
                    .map(|(s, &(v, fl))| {
                        (
                            s.name.clone(),
                            Normalised {
                                value: choices[v].clone(),
                                confidence: 0.9,
                                flags: flag_sets[fl].clone(),
                                note: None,
                            },
                        )
                    })
                    .collect();
                let before: Vec<Value> = f.iter().map(|(_, x)| x.value.clone()).collect();
                apply_rules(&t, &mut f, &ctx());
                let after: Vec<Value> = f.iter().map(|(_, x)| x.value.clone()).collect();
                proptest::prop_assert_eq!(before, after);
                for (_, x) in &f {
                    let mut sorted = x.flags.clone();
                    sorted.sort();
                    sorted.dedup();
                    proptest::prop_assert_eq!(&sorted, &x.flags);
                }
            }
        }
    }

    #[test]
    fn a_whole_form_read_from_candidates_is_checked() {
        let t = legal_aid();
        let sure = |s: &str| RawValue::Line {
            chars: s.chars().map(|c| CharCandidates::sure(c, 0.99)).collect(),
            ink: true,
        };
        let comb = |s: &str| {
            RawValue::Cells(
                s.chars()
                    .map(|c| (c != '_').then(|| CharCandidates::sure(c, 0.99)))
                    .collect(),
            )
        };
        let raw = |spec: &FieldSpec| -> RawValue {
            match spec.name.as_str() {
                "surname" => sure("dennis"),
                "forenames" => sure("carly"),
                "date_of_birth" => comb("02091958"),
                "ni_number" => comb("YR904193B"),
                "address_line_1" => sure("STUDIO 1 LYNN ISLE"),
                "town" => sure("SOUTH KELLY"),
                "postcode" => sure("HS5 9GJ"),
                "marital_status" => RawValue::Choice(vec![
                    ("single".into(), true, 0.97),
                    ("married".into(), false, 0.97),
                ]),
                "dependent_children" | "other_dependants" => comb("_0"),
                "disability" => {
                    RawValue::Choice(vec![("yes".into(), false, 0.97), ("no".into(), true, 0.97)])
                }
                "gross_monthly_income" => sure("505.82"),
                "monthly_housing_costs" => sure("1,396.72"),
                "savings_and_capital" => sure("£5202.82"),
                "category" => RawValue::Choice(vec![
                    ("family".into(), false, 0.97),
                    ("debt".into(), true, 0.97),
                ]),
                "provider_account" => comb("2B138L"),
                "unique_file_number" => sure("051025/030"),
                "signature" => RawValue::Mark {
                    present: true,
                    confidence: 0.96,
                },
                "signed_on" => comb("17022025"),
                n if n.starts_with("benefit_") => RawValue::Mark {
                    present: false,
                    confidence: 0.98,
                },
                _ => RawValue::Line {
                    chars: vec![],
                    ink: false,
                },
            }
        };
        let mut fields: Vec<(String, Normalised)> = t
            .fields
            .iter()
            .map(|s| (s.name.clone(), normalise(s, &raw(s), &ctx())))
            .collect();
        apply_rules(&t, &mut fields, &ctx());
        assert_eq!(flagged(&fields), vec![]);
        let values: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(n, f)| (n.clone(), f.value.clone()))
            .collect();
        assert_eq!(values["surname"], json!("DENNIS"));
        assert_eq!(values["date_of_birth"], json!("1958-09-02"));
        assert_eq!(values["monthly_housing_costs"], json!("1396.72"));
        assert_eq!(values["dependent_children"], json!(0));
        assert_eq!(values["phone"], Value::Null);
        assert_eq!(values["benefit_income_support"], json!(false));
    }
}
