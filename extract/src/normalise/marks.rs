//! Marks: a tick box or signature box is `true`/`false`; a choice is the
//! key of its one ticked option, blank when none is ticked, and
//! `ambiguous` when two or more are. Owns the notes on them: a faint tick,
//! faint marks in an empty box, which options are ticked.

use super::note::{self, words, UNCLEAR};
use super::Normalised;
use formflow_schemas::record::Flag;
use formflow_schemas::template::FieldType;
use serde_json::Value;

/// Normalises a tick box or a signature box (`kind` says which).
pub(super) fn mark(kind: FieldType, present: bool, confidence: f64) -> Normalised {
    let signature = kind == FieldType::Signature;
    let clear = confidence >= UNCLEAR;
    let note = match (signature, present, clear) {
        (false, true, true) => "the box is clearly ticked",
        (false, false, true) => "the box is clearly empty",
        (false, true, false) => "the tick is faint: the box may be empty",
        (false, false, false) => "the box looks empty but has faint marks",
        (true, true, true) => "the box clearly holds a signature",
        (true, false, true) => "the signature box is clearly empty",
        (true, true, false) => "the signature is faint or small: the box may be empty",
        (true, false, false) => "the signature box looks empty but has faint marks",
    };
    Normalised::new(Value::Bool(present), confidence).noted(Some(note.to_string()))
}

/// Normalises a choice from every option's key, tick and belief. The
/// confidence is the least belief over the options: the answer is right
/// only if every box was read right. With two or more ticked, the value is
/// the most strongly ticked key (the paper is not blank), flagged
/// `ambiguous`.
pub(super) fn choice(options: &[(String, bool, f64)]) -> Normalised {
    let confidence = options
        .iter()
        .map(|o| if o.2.is_nan() { 0.0 } else { o.2 })
        .fold(1.0, f64::min);
    let ticked: Vec<&(String, bool, f64)> = options.iter().filter(|o| o.1).collect();
    // The least believed option, when it is unclear.
    let unclear = options
        .iter()
        .filter(|o| o.2.is_nan() || o.2 < UNCLEAR)
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|o| {
            if o.1 {
                format!("the tick for {} is faint", words(&o.0))
            } else {
                format!(
                    "the box for {} looks empty but has faint marks",
                    words(&o.0)
                )
            }
        });
    match ticked.as_slice() {
        [] => Normalised::new(Value::Null, confidence)
            .noted(unclear.or_else(|| Some("no option is ticked".to_string()))),
        [one] => Normalised::new(Value::String(one.0.clone()), confidence)
            .noted(unclear.or_else(|| Some(format!("only {} is ticked, clearly", words(&one.0))))),
        many => {
            let strongest = many
                .iter()
                .fold(many[0], |a, b| if b.2 > a.2 { b } else { a });
            let keys: Vec<String> = many.iter().map(|o| words(&o.0)).collect();
            Normalised {
                value: Value::String(strongest.0.clone()),
                confidence,
                flags: vec![Flag::Ambiguous],
                note: Some(format!(
                    "{} options are ticked: {}",
                    many.len(),
                    note::listed(&keys, "and")
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalise as run;
    use super::super::test_support::*;
    use crate::raw::RawValue;
    use formflow_schemas::record::Flag;
    use formflow_schemas::template::FieldType;
    use proptest::prelude::*;
    use serde_json::json;

    fn options(ticks: &[(&str, bool, f64)]) -> RawValue {
        RawValue::Choice(
            ticks
                .iter()
                .map(|&(k, t, c)| (k.to_string(), t, c))
                .collect(),
        )
    }

    #[test]
    fn a_tick_box_and_a_signature_are_true_or_false() {
        let n = run(
            &spec("postal_vote", FieldType::Checkbox),
            &RawValue::Mark {
                present: true,
                confidence: 0.97,
            },
            &ctx(),
        );
        assert_eq!(
            (n.value, n.confidence, n.flags),
            (json!(true), calibrated(0.97), vec![])
        );
        let n = run(
            &spec("signature", FieldType::Signature),
            &RawValue::Mark {
                present: false,
                confidence: 0.95,
            },
            &ctx(),
        );
        assert_eq!(
            (n.value, n.confidence, n.flags),
            (json!(false), calibrated(0.95), vec![])
        );
        let n = run(
            &spec("signature", FieldType::Signature),
            &RawValue::Mark {
                present: true,
                confidence: 0.55,
            },
            &ctx(),
        );
        assert_eq!((n.value, n.flags), (json!(true), vec![Flag::LowConfidence]));
        let n = run(
            &spec("x", FieldType::Checkbox),
            &RawValue::Mark {
                present: true,
                confidence: f64::NAN,
            },
            &ctx(),
        );
        assert_eq!(
            (n.value, n.confidence, n.flags),
            (json!(true), calibrated(0.0), vec![Flag::LowConfidence])
        );
    }

    #[test]
    fn one_ticked_option_is_the_value() {
        let n = run(
            &spec("nationality", FieldType::Choice),
            &options(&[
                ("british", true, 0.98),
                ("irish", false, 0.95),
                ("other", false, 0.99),
            ]),
            &ctx(),
        );
        assert_eq!(
            (n.value, n.confidence, n.flags),
            (json!("british"), calibrated(0.95), vec![])
        );
    }

    #[test]
    fn no_ticked_option_is_blank() {
        let n = run(
            &spec("nationality", FieldType::Choice),
            &options(&[("british", false, 0.98), ("irish", false, 0.97)]),
            &ctx(),
        );
        assert_eq!(
            (n.value, n.confidence, n.flags),
            (json!(null), calibrated(0.97), vec![])
        );
    }

    #[test]
    fn two_ticked_options_give_the_strongest_and_ambiguous() {
        let n = run(
            &spec("moved_recently", FieldType::Choice),
            &options(&[
                ("yes", true, 0.8),
                ("no", true, 0.9),
                ("maybe", false, 0.99),
            ]),
            &ctx(),
        );
        assert_eq!(
            (n.value, n.confidence, n.flags),
            (json!("no"), calibrated(0.8), vec![Flag::Ambiguous])
        );
        let n = run(
            &spec("c", FieldType::Choice),
            &options(&[("a", true, 0.5), ("b", true, 0.5)]),
            &ctx(),
        );
        assert_eq!(
            (n.value, n.flags),
            (json!("a"), vec![Flag::LowConfidence, Flag::Ambiguous])
        );
    }

    proptest! {
        #[test]
        fn any_choice_is_sound(
            ticks in proptest::collection::vec((any::<bool>(), any::<f64>()), 0..6),
        ) {
            let raw = RawValue::Choice(
                ticks
                    .iter()
                    .enumerate()
                    .map(|(i, &(t, c))| (format!("k{i}"), t, c))
                    .collect(),
            );
            let n = run(&spec("c", FieldType::Choice), &raw, &ctx());
            prop_assert!((0.0..=1.0).contains(&n.confidence));
            let ticked = ticks.iter().filter(|t| t.0).count();
            prop_assert_eq!(n.flags.contains(&Flag::Ambiguous), ticked >= 2);
            prop_assert_eq!(n.value.is_null(), ticked == 0);
        }
    }
}
