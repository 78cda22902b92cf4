//! Telephone numbers: digits and single spaces as written, a `+` allowed in
//! front. Owns the choice of digits by position, dropping punctuation the
//! reader saw as noise, and the rules: a UK number is written from its
//! leading `0` with 10 or 11 digits; an international one starts with `+`.

use super::chars::{Case, Class, Slot};
use super::note;
use super::{tidy, Normalised, Written};
use serde_json::Value;

/// Punctuation taken for noise (or for separators, which the contract
/// leaves out) and dropped.
const NOISE: &str = "-().,/_'`:;~*\"";

/// Whether `s` is a telephone number as records hold it.
pub fn is_phone(s: &str) -> bool {
    let (international, rest) = match s.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if !rest.chars().all(|c| c.is_ascii_digit() || c == ' ') || rest.starts_with(' ') {
        return false;
    }
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    if international {
        (7..=15).contains(&digits)
    } else {
        (10..=11).contains(&digits) && rest.starts_with('0')
    }
}

/// Normalises a telephone field.
pub(super) fn normalise(w: &Written) -> Normalised {
    let mut text = String::new();
    let mut confidence = 1.0;
    let mut broken = false;
    let mut doubts = Vec::new();
    for c in &w.chars {
        let Some(c) = c else {
            text.push(' ');
            continue;
        };
        let Some((top, _)) = c.best() else { continue };
        if top.is_whitespace() {
            text.push(' ');
            continue;
        }
        if top == '+' && text.trim().is_empty() {
            text = String::from("+");
            confidence *= super::chars::clean(c.best().map_or(0.0, |b| b.1));
            continue;
        }
        // A UK number's first digit is its trunk 0.
        let first_digit = !text.starts_with('+') && !text.chars().any(|c| c.is_ascii_digit());
        let class = if first_digit {
            Class::lit('0')
        } else {
            Class::digit()
        };
        let slot = Slot::new(c, class, Case::Capitals);
        match slot.picks.first() {
            Some(p) => {
                doubts.push(slot.doubt(doubts.len(), p.ch));
                text.push(p.ch);
                confidence *= p.conf;
            }
            None if NOISE.contains(top) => {}
            None => {
                doubts.push(slot.doubt(doubts.len(), top));
                text.push(top);
                confidence *= slot.top_p;
                broken = true;
            }
        }
    }
    let noted = note::about_characters(&doubts, |d| note::nth(d.at + 1, note::kind_of(d.chosen)));
    let text = tidy(&text).replace("+ ", "+");
    if !broken && is_phone(&text) {
        Normalised::new(Value::String(text), confidence).noted(noted)
    } else {
        Normalised::invalid(
            Value::String(if broken { tidy(&w.as_read()) } else { text }),
            confidence,
        )
        .noted(noted)
    }
}

/// The number as a person types it, in the shape records hold it: the
/// punctuation the reader would take for noise dropped, white space made
/// single spaces, nothing between a leading `+` and the digits.
pub(crate) fn as_typed(s: &str) -> String {
    let kept: String = s.chars().filter(|c| !NOISE.contains(*c)).collect();
    tidy(&kept).replace("+ ", "+")
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

    fn phone() -> formflow_schemas::template::FieldSpec {
        spec("phone", FieldType::Phone)
    }

    #[test]
    fn is_phone_counts_digits() {
        assert!(is_phone("07006 516030"));
        assert!(is_phone("0121 496 0000"));
        assert!(is_phone("+44 20 7946 0000"));
        assert!(!is_phone("0700 6516"));
        assert!(!is_phone("070065160301"));
        assert!(!is_phone("+44"));
        assert!(!is_phone("07006-516030"));
        assert!(!is_phone("97006 516030"));
        assert!(!is_phone(""));
    }

    #[test]
    fn numbers_keep_their_spaces() {
        let n = run(&phone(), &line("07006  516030"), &ctx());
        assert_eq!((n.value, n.flags), (json!("07006 516030"), vec![]));
        let n = run(&phone(), &line("+44 20 7946 0000"), &ctx());
        assert_eq!((n.value, n.flags), (json!("+44 20 7946 0000"), vec![]));
    }

    #[test]
    fn noise_is_dropped_and_look_alikes_are_digits() {
        let n = run(&phone(), &line("(0121) 496-0000"), &ctx());
        assert_eq!((n.value, n.flags), (json!("0121 4960000"), vec![]));
        let n = run(&phone(), &line("O7OO6 5I6O3O"), &ctx());
        assert_eq!(n.value, json!("07006 516030"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
    }

    #[test]
    fn a_uk_number_starts_with_its_zero() {
        let n = run(&phone(), &doubtful("[90]7892 848796"), &ctx());
        assert_eq!(n.value, json!("07892 848796"));
        let n = run(&phone(), &line("97892 848796"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("97892 848796"), vec![Flag::Invalid])
        );
    }

    #[test]
    fn a_number_of_the_wrong_length_or_with_letters_is_invalid() {
        let n = run(&phone(), &line("0700 6516"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("0700 6516"), vec![Flag::Invalid])
        );
        let n = run(&phone(), &line("07006 51603X"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("07006 51603X"), vec![Flag::Invalid])
        );
    }

    proptest! {
        #[test]
        fn any_uk_number_round_trips(a in "0[0-9]{4}", b in "[0-9]{5,6}") {
            let v = format!("{a} {b}");
            let n = run(&phone(), &line(&v), &ctx());
            prop_assert_eq!(n.value, json!(v));
            prop_assert!(n.flags.is_empty());
        }

        #[test]
        fn no_string_makes_a_phone_panic(s in "\\PC{0,24}") {
            let n = run(&phone(), &line(&s), &ctx());
            prop_assert!((0.0..=1.0).contains(&n.confidence));
        }
    }
}
