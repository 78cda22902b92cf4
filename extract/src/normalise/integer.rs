//! Whole numbers, given as JSON numbers: digits by position (an empty
//! leading comb cell or a leading zero is fine), and the template's
//! inclusive `range`.

use super::chars::{Case, Class, Fitted};
use super::note;
use super::{tidy, Normalised, Written};
use formflow_schemas::template::FieldSpec;
use serde_json::Value;

/// Normalises an integer field.
pub(super) fn normalise(spec: &FieldSpec, w: &Written) -> Normalised {
    let mut cands = w.solid();
    let negative = cands
        .first()
        .and_then(|c| c.best())
        .is_some_and(|(c, _)| c == '-');
    if negative {
        cands.remove(0);
    }
    let fitted = Fitted::new(&cands, &vec![Class::digit(); cands.len()], Case::Capitals);
    let reading = fitted.best();
    let noted = note::about_characters(&fitted.doubts(&reading.text), |d| {
        note::nth(d.at + 1, note::kind_of(d.chosen))
    });
    let number = if reading.broken || reading.text.is_empty() {
        None
    } else {
        format!("{}{}", if negative { "-" } else { "" }, reading.text)
            .parse::<i64>()
            .ok()
    };
    let n = match number {
        Some(n) => {
            let in_range = spec.range.is_none_or(|[lo, hi]| (lo..=hi).contains(&n));
            Normalised::new(Value::from(n), reading.confidence).check(in_range)
        }
        None => Normalised::invalid(Value::String(tidy(&w.as_read())), reading.confidence),
    };
    n.noted(noted)
}

#[cfg(test)]
mod tests {
    use super::super::normalise as run;
    use super::super::test_support::*;
    use super::*;
    use formflow_schemas::record::Flag;
    use formflow_schemas::template::FieldType;
    use proptest::prelude::*;
    use serde_json::json;

    fn children() -> FieldSpec {
        let mut s = spec("dependent_children", FieldType::Integer);
        s.range = Some([0, 20]);
        s
    }

    #[test]
    fn a_comb_number_may_start_empty_or_with_zero() {
        for (read, want) in [
            ("_3", 3),
            ("03", 3),
            ("12", 12),
            ("0_", 0),
            ("00", 0),
            ("20", 20),
        ] {
            let n = run(&children(), &cells(read), &ctx());
            assert_eq!((n.value, n.flags), (json!(want), vec![]), "{read}");
        }
    }

    #[test]
    fn a_number_out_of_range_is_kept_and_invalid() {
        let n = run(&children(), &cells("21"), &ctx());
        assert_eq!((n.value, n.flags), (json!(21), vec![Flag::Invalid]));
        let n = run(&children(), &line("-1"), &ctx());
        assert_eq!((n.value, n.flags), (json!(-1), vec![Flag::Invalid]));
        let n = run(&spec("n", FieldType::Integer), &line("-1"), &ctx());
        assert_eq!((n.value, n.flags), (json!(-1), vec![]));
    }

    #[test]
    fn look_alikes_in_a_number_are_digits() {
        let n = run(&children(), &cells("O3"), &ctx());
        assert_eq!(n.value, json!(3));
        let n = run(&children(), &doubtful_cells("1[I1]"), &ctx());
        assert_eq!(n.value, json!(11));
    }

    #[test]
    fn what_is_not_a_number_is_kept_and_invalid() {
        let n = run(&children(), &cells("2X"), &ctx());
        assert_eq!((n.value, n.flags), (json!("2X"), vec![Flag::Invalid]));
        let n = run(&children(), &line("99999999999999999999"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("99999999999999999999"), vec![Flag::Invalid])
        );
        let n = run(&children(), &line("-"), &ctx());
        assert_eq!((n.value, n.flags), (json!("-"), vec![Flag::Invalid]));
    }

    proptest! {
        #[test]
        fn any_number_in_range_round_trips(v in 0i64..=20, pad: bool) {
            let written = if pad { format!("{v:02}") } else { format!("_{v}") };
            let written = if written.len() > 2 { v.to_string() } else { written };
            let n = run(&children(), &cells(&written), &ctx());
            prop_assert_eq!(n.value, json!(v));
            prop_assert!(n.flags.is_empty());
        }

        #[test]
        fn no_string_makes_a_number_panic(s in "\\PC{0,24}") {
            let n = run(&children(), &line(&s), &ctx());
            prop_assert!((0.0..=1.0).contains(&n.confidence));
        }
    }
}
