//! UK postcodes: an outward code (`A9`, `A99`, `AA9`, `AA99`, `A9A` or
//! `AA9A`), one space, an inward code (a digit and two letters), as in
//! `SW1A 1AA`. Owns the choice between the outward formats, and of letters
//! and digits by position within them.

use super::chars::{fit_best, Case, Class};
use super::{Normalised, Written};
use serde_json::Value;

/// The outward formats: `A` a letter, `9` a digit.
const OUTWARD: [&str; 6] = ["A9", "A99", "AA9", "AA99", "A9A", "AA9A"];

/// A UK postcode in its written shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcode {
    outward: String,
    inward: String,
}

/// Why a string is not a UK postcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PostcodeError {
    /// Not an outward code, a space and an inward code.
    #[error("a postcode is an outward code (such as SW1A), a space and a digit and two letters")]
    Shape,
}

/// Whether `s` has the shape `format` gives (`A` letter, `9` digit).
fn shaped(s: &str, format: &str) -> bool {
    s.len() == format.len()
        && s.chars().zip(format.chars()).all(|(c, f)| match f {
            'A' => c.is_ascii_uppercase(),
            _ => c.is_ascii_digit(),
        })
}

impl Postcode {
    /// Parses a postcode as written: either case, with or without the
    /// space (the inward code is always the last three characters).
    pub fn parse(s: &str) -> Result<Postcode, PostcodeError> {
        let v: String = s.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        if !v.is_ascii() || !(5..=7).contains(&v.len()) {
            return Err(PostcodeError::Shape);
        }
        let (outward, inward) = v.split_at(v.len() - 3);
        if !OUTWARD.iter().any(|f| shaped(outward, f)) || !shaped(inward, "9AA") {
            return Err(PostcodeError::Shape);
        }
        Ok(Postcode { outward: outward.to_string(), inward: inward.to_string() })
    }

    /// The postcode as records hold it: `SW1A 1AA`.
    pub fn as_string(&self) -> String {
        format!("{} {}", self.outward, self.inward)
    }
}

/// The classes of every format of `len` characters (spaces left out).
fn formats(len: usize) -> Vec<Vec<Class>> {
    OUTWARD
        .iter()
        .filter(|f| f.len() + 3 == len)
        .map(|f| {
            format!("{f}9AA")
                .chars()
                .map(|c| if c == 'A' { Class::upper() } else { Class::digit() })
                .collect()
        })
        .collect()
}

/// A reading in the postcode's shape: upper case, one space before the last
/// three characters.
fn spaced(s: &str) -> String {
    let v: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_uppercase).collect();
    if v.len() <= 3 {
        return v.into_iter().collect();
    }
    let (a, b) = v.split_at(v.len() - 3);
    format!("{} {}", a.iter().collect::<String>(), b.iter().collect::<String>())
}

/// Normalises a postcode field.
pub(super) fn normalise(w: &Written) -> Normalised {
    let cands = w.solid();
    match fit_best(&cands, &formats(cands.len()), Case::Capitals) {
        Some((_, r)) => match Postcode::parse(&r.text) {
            Ok(p) if !r.broken => Normalised::new(Value::String(p.as_string()), r.confidence),
            _ => Normalised::invalid(Value::String(spaced(&r.text)), r.confidence),
        },
        None => Normalised::invalid(Value::String(spaced(&w.as_read())), w.read_confidence()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalise as run;
    use super::super::test_support::*;
    use super::*;
    use crate::raw::{CharCandidates, RawValue};
    use formflow_schemas::record::Flag;
    use formflow_schemas::template::FieldType;
    use proptest::prelude::*;
    use serde_json::json;

    fn pc() -> formflow_schemas::template::FieldSpec {
        spec("postcode", FieldType::Postcode)
    }

    #[test]
    fn parse_takes_every_outward_format() {
        for s in ["B6 5TD", "B76 1XD", "HS5 9GJ", "LL34 5ZD", "B2T 7LD", "DH0H 9FE", "sw1a1aa", " SW1A  1AA "] {
            assert!(Postcode::parse(s).is_ok(), "{s}");
        }
        assert_eq!(Postcode::parse("sw1a1aa").unwrap().as_string(), "SW1A 1AA");
        for s in ["", "SW1A", "1W1A 1AA", "SW1A 1A1", "SW1A AAA", "SWAA 1AA", "SW1A1 1AA", "ŚW1A 1AA"] {
            assert_eq!(Postcode::parse(s), Err(PostcodeError::Shape), "{s}");
        }
    }

    #[test]
    fn a_postcode_gets_one_space() {
        let n = run(&pc(), &line("SW1A1AA"), &ctx());
        assert_eq!((n.value, n.flags), (json!("SW1A 1AA"), vec![]));
        let n = run(&pc(), &line("b6  5td"), &ctx());
        assert_eq!((n.value, n.flags), (json!("B6 5TD"), vec![]));
    }

    #[test]
    fn look_alikes_are_read_by_position() {
        let n = run(&pc(), &doubtful("[5S]W1A [I1]AA"), &ctx());
        assert_eq!(n.value, json!("SW1A 1AA"));
        let sure = run(&pc(), &line("SW1A 1AA"), &ctx());
        assert!(n.confidence < sure.confidence);
        assert!(n.confidence > 0.5, "{}", n.confidence);
        let n = run(&pc(), &line("5W1A IAA"), &ctx());
        assert_eq!(n.value, json!("SW1A 1AA"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        let n = run(&pc(), &line("LS8Y 8UH"), &ctx());
        assert_eq!((n.value, n.flags), (json!("LS8Y 8UH"), vec![]));
        let n = run(&pc(), &line("HX3 OLN"), &ctx());
        assert_eq!(n.value, json!("HX3 0LN"));
    }

    #[test]
    fn a_letter_that_could_be_a_digit_makes_two_formats_and_less_belief() {
        let raw = RawValue::Line {
            chars: vec![
                CharCandidates::sure('B', 0.99),
                CharCandidates::sure('2', 0.99),
                CharCandidates(vec![('T', 0.5), ('7', 0.45)]),
                CharCandidates::sure('7', 0.99),
                CharCandidates::sure('L', 0.99),
                CharCandidates::sure('D', 0.99),
            ],
            ink: true,
        };
        let n = run(&pc(), &raw, &ctx());
        assert_eq!(n.value, json!("B2T 7LD"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
    }

    #[test]
    fn a_broken_postcode_is_kept_and_invalid() {
        // One character short: whatever it is read as, it is not let through.
        let n = run(&pc(), &line("SW1A 1A"), &ctx());
        assert!(!n.flags.is_empty());
        let n = run(&pc(), &line("SW1A 1A#"), &ctx());
        assert_eq!((n.value, n.flags), (json!("SW1A 1A#"), vec![Flag::Invalid]));
        let n = run(&pc(), &line("ABCDEFGHI"), &ctx());
        assert_eq!((n.value, n.flags), (json!("ABCDEF GHI"), vec![Flag::Invalid]));
    }

    fn valid_postcode() -> impl Strategy<Value = String> {
        (proptest::sample::select(OUTWARD.to_vec()), "[0-9][A-Z]{2}", "[A-Z]{2}", "[0-9]{2}", "[A-Z]").prop_map(
            |(f, inward, letters, digits, last)| {
                let (mut l, mut d) = (letters.chars(), digits.chars());
                let outward: String = f
                    .chars()
                    .enumerate()
                    .map(|(i, c)| match c {
                        'A' if i == 3 || (i == 2 && f.len() == 3) => last.chars().next().unwrap_or('A'),
                        'A' => l.next().unwrap_or('A'),
                        _ => d.next().unwrap_or('0'),
                    })
                    .collect();
                format!("{outward} {inward}")
            },
        )
    }

    proptest! {
        #[test]
        fn any_valid_postcode_round_trips(v in valid_postcode()) {
            prop_assert!(Postcode::parse(&v).is_ok(), "{}", v);
            let n = run(&pc(), &line(&v), &ctx());
            prop_assert_eq!(n.value, json!(v.clone()));
            prop_assert!(n.flags.is_empty());
            let n = run(&pc(), &line(&v.replace(' ', "")), &ctx());
            prop_assert_eq!(n.value, json!(v.clone()));
        }

        #[test]
        fn no_string_makes_a_postcode_panic(s in "\\PC{0,12}") {
            let _ = Postcode::parse(&s);
            let n = run(&pc(), &line(&s), &ctx());
            prop_assert!((0.0..=1.0).contains(&n.confidence));
        }
    }
}
