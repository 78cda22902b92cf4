//! National Insurance numbers: two prefix letters, six digits, a suffix
//! A-D, given as nine characters without spaces. Owns the prefix rules of
//! `forms/README.md` and the choice of letters and digits by position.

use super::chars::{Case, Class, Fitted, Reading};
use super::note::{self, Doubt};
use super::{Normalised, Written};
use serde_json::Value;

/// Letters never used first in a prefix.
const NOT_FIRST: &str = "DFIQUV";

/// Letters never used second in a prefix.
const NOT_SECOND: &str = "DFIOQUV";

/// Prefixes never issued.
const NEVER_ISSUED: [&str; 7] = ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"];

/// How many readings the search for a valid number may try.
const SEARCH_LIMIT: usize = 2000;

/// A National Insurance number that keeps every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NiNumber(String);

/// Why a string is not a National Insurance number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NiNumberError {
    /// Not two letters, six digits and a letter.
    #[error(
        "a National Insurance number is two letters, six digits and a letter from A to D, like \
         AB123456C"
    )]
    Shape,
    /// The prefix uses a letter that is never used there, or is a prefix
    /// never issued.
    #[error("the prefix {0}{1} is never issued")]
    Prefix(char, char),
    /// The last letter is not A, B, C or D.
    #[error("the last letter must be A, B, C or D, not {0}")]
    Suffix(char),
}

impl NiNumber {
    /// Parses a number as written: spaces anywhere, either case.
    pub fn parse(s: &str) -> Result<NiNumber, NiNumberError> {
        let v: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let c: Vec<char> = v.chars().collect();
        let [a, b, digits @ .., suffix] = c.as_slice() else {
            return Err(NiNumberError::Shape);
        };
        if digits.len() != 6
            || !a.is_ascii_uppercase()
            || !b.is_ascii_uppercase()
            || !suffix.is_ascii_uppercase()
            || !digits.iter().all(char::is_ascii_digit)
        {
            return Err(NiNumberError::Shape);
        }
        let prefix: String = [*a, *b].iter().collect();
        if NOT_FIRST.contains(*a)
            || NOT_SECOND.contains(*b)
            || NEVER_ISSUED.contains(&prefix.as_str())
        {
            return Err(NiNumberError::Prefix(*a, *b));
        }
        if !"ABCD".contains(*suffix) {
            return Err(NiNumberError::Suffix(*suffix));
        }
        Ok(NiNumber(v))
    }

    /// The nine characters, as records hold them.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The shape of every position: letters and digits only. The finer rules
/// (which letters) are left to [`NiNumber::parse`] and the search, so that
/// a letter that breaks them is kept as read rather than swapped for a
/// look-alike.
fn shape() -> Vec<Class> {
    let mut v = vec![Class::upper(), Class::upper()];
    v.extend([Class::digit(); 6]);
    v.push(Class::upper());
    v
}

/// Normalises a National Insurance number field.
pub(super) fn normalise(w: &Written) -> Normalised {
    let cands = w.solid();
    if cands.len() != 9 {
        let read: String = w.as_read().chars().filter(|c| !c.is_whitespace()).collect();
        let noted = note::about_characters(&note::as_read(w), note::position);
        return Normalised::invalid(Value::String(read.to_uppercase()), w.read_confidence())
            .noted(noted);
    }
    let fitted = Fitted::new(&cands, &shape(), Case::Capitals);
    let noted = |r: &Reading| note::about_characters(&fitted.doubts(&r.text), place);
    let first = fitted.best();
    if NiNumber::parse(&first.text).is_ok() {
        let noted = noted(&first);
        return Normalised::new(Value::String(first.text), first.confidence).noted(noted);
    }
    if !first.broken {
        if let Some(r) = fitted.search(|t| NiNumber::parse(t).is_ok(), SEARCH_LIMIT) {
            let noted = noted(&r);
            return Normalised::new(Value::String(r.text), r.confidence).noted(noted);
        }
    }
    let noted = noted(&first);
    Normalised::invalid(Value::String(first.text), first.confidence).noted(noted)
}

/// Where a character of the nine sits: "the NI number's last letter".
fn place(d: &Doubt) -> String {
    match d.at {
        0 => "the NI number's first letter".to_string(),
        1 => "the NI number's second letter".to_string(),
        2..=7 => format!("the NI number's {} digit", note::ordinal(d.at - 1)),
        _ => "the NI number's last letter".to_string(),
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

    fn ni() -> formflow_schemas::template::FieldSpec {
        spec("ni_number", FieldType::NiNumber)
    }

    #[test]
    fn parse_keeps_the_rules() {
        assert_eq!(
            NiNumber::parse("ab 12 34 56 c").map(|n| n.as_str().to_string()),
            Ok("AB123456C".into())
        );
        assert_eq!(
            NiNumber::parse("QQ123456C"),
            Err(NiNumberError::Prefix('Q', 'Q'))
        );
        assert_eq!(
            NiNumber::parse("AO123456C"),
            Err(NiNumberError::Prefix('A', 'O'))
        );
        assert!(NiNumber::parse("OA123456C").is_ok());
        for p in [
            "BG", "GB", "KN", "NK", "NT", "TN", "ZZ", "DA", "FA", "IA", "UA", "VA", "AD", "AF",
            "AI", "AU", "AV",
        ] {
            assert!(
                matches!(
                    NiNumber::parse(&format!("{p}123456A")),
                    Err(NiNumberError::Prefix(..))
                ),
                "{p}"
            );
        }
        assert_eq!(
            NiNumber::parse("ST218562Y"),
            Err(NiNumberError::Suffix('Y'))
        );
        for s in [
            "",
            "AB12345C",
            "AB1234567C",
            "A1123456C",
            "AB12345XC",
            "AB123456",
            "ÄB123456C",
        ] {
            assert_eq!(NiNumber::parse(s), Err(NiNumberError::Shape), "{s}");
        }
    }

    #[test]
    fn a_comb_number_is_read() {
        let n = run(&ni(), &cells("AB123456C"), &ctx());
        assert_eq!((n.value, n.flags), (json!("AB123456C"), vec![]));
    }

    #[test]
    fn a_line_number_drops_its_spaces() {
        let n = run(&ni(), &line("ab 12 34 56 c"), &ctx());
        assert_eq!((n.value, n.flags), (json!("AB123456C"), vec![]));
    }

    #[test]
    fn look_alikes_take_the_class_of_their_position() {
        let n = run(&ni(), &cells("A8I2345GC"), &ctx());
        assert_eq!(n.value, json!("AB123456C"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        let n = run(&ni(), &doubtful_cells("[0O]A[I1]23456[8B]"), &ctx());
        assert_eq!(n.value, json!("OA123456B"));
        // O may not come second, and nothing else was read there.
        let n = run(&ni(), &doubtful_cells("J[0O][I1]23456[8B]"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("JO123456B"), vec![Flag::Invalid])
        );
    }

    #[test]
    fn a_bad_prefix_or_suffix_is_kept_and_invalid() {
        let n = run(&ni(), &cells("QQ123456C"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("QQ123456C"), vec![Flag::Invalid])
        );
        let n = run(&ni(), &cells("ST218562Y"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("ST218562Y"), vec![Flag::Invalid])
        );
        let n = run(&ni(), &cells("GB123456A"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("GB123456A"), vec![Flag::Invalid])
        );
    }

    #[test]
    fn a_bad_prefix_takes_a_listed_candidate_that_keeps_the_rules() {
        let n = run(&ni(), &doubtful_cells("[DO]A123456C"), &ctx());
        assert_eq!(n.value, json!("OA123456C"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
    }

    #[test]
    fn a_number_of_the_wrong_length_is_kept_and_invalid() {
        let n = run(&ni(), &cells("AB12345_C"), &ctx());
        assert_eq!((n.value, n.flags), (json!("AB12345C"), vec![Flag::Invalid]));
        let n = run(&ni(), &line("AB 12 34 56 C D"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("AB123456CD"), vec![Flag::Invalid])
        );
    }

    fn valid_ni() -> impl Strategy<Value = String> {
        ("[A-Z]", "[A-Z]", "[0-9]{6}", "[A-D]")
            .prop_map(|(a, b, d, s)| format!("{a}{b}{d}{s}"))
            .prop_filter("keeps the prefix rules", |v| NiNumber::parse(v).is_ok())
    }

    proptest! {
        #[test]
        fn any_valid_number_round_trips(v in valid_ni()) {
            let n = run(&ni(), &cells(&v), &ctx());
            prop_assert_eq!(n.value, json!(v.clone()));
            prop_assert!(n.flags.is_empty());
            let spaced =
                format!("{} {} {} {} {}", &v[0..2], &v[2..4], &v[4..6], &v[6..8], &v[8..9]);
            prop_assert_eq!(NiNumber::parse(&spaced), NiNumber::parse(&v));
        }

        #[test]
        fn no_string_makes_a_number_panic(s in "\\PC{0,14}") {
            let _ = NiNumber::parse(&s);
            let _ = run(&ni(), &line(&s), &ctx());
            let raw = RawValue::Cells(
                s.chars()
                    .map(|c| Some(CharCandidates(vec![(c, 0.6), ('0', 0.3)])))
                    .collect(),
            );
            let _ = run(&ni(), &raw, &ctx());
        }
    }
}
