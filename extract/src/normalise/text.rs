//! Free text: upper case as written, single spaces. Owns the reading of
//! text with a template `pattern` (positions chosen by the pattern's
//! classes, the whole value then checked with the regex), the check of a
//! date written inside the value (`DDMMYY/NNN`, found from the label), and
//! the small repair of a lone digit inside a word (`SM1TH`).

use super::chars::{fit_best, Case, Class, Fitted, Reading, Slot};
use super::date::DatePart;
use super::note::{self, Doubt};
use super::{is_space, pattern, tidy, Normalised, Written};
use crate::raw::CharCandidates;
use formflow_schemas::template::FieldSpec;
use regex::Regex;
use serde_json::Value;

/// The belief in a separator the pattern requires but the writer (or the
/// reader) left out, such as the `/` of `DDMMYY/NNN`.
const SUPPLIED_SEPARATOR: f64 = 0.9;

/// How many readings the search for one that passes the checks may try.
const SEARCH_LIMIT: usize = 2000;

/// Normalises a text field.
pub(super) fn normalise(spec: &FieldSpec, w: &Written) -> Normalised {
    let Some(p) = spec.pattern.as_deref() else {
        let (r, doubts) = plain(w, true);
        let noted = note::about_characters(&doubts, |d| note::in_words(&r.text, d));
        return Normalised::new(Value::String(tidy(&r.text)), r.confidence).noted(noted);
    };
    let passes = checks(spec);
    let fitted = pattern::formats(p).and_then(|formats| by_pattern(w, &formats));
    let (reading, noted) = match fitted {
        Some((fitted, first)) => {
            let r = if !passes(&first.text) && !first.broken {
                fitted.search(&passes, SEARCH_LIMIT).unwrap_or(first)
            } else {
                first
            };
            let noted = note::about_characters(&fitted.doubts(&r.text), note::position);
            (r, noted)
        }
        None => {
            let (r, doubts) = plain(w, false);
            let noted = note::about_characters(&doubts, |d| note::in_words(&r.text, d));
            (
                Reading {
                    text: tidy(&r.text),
                    ..r
                },
                noted,
            )
        }
    };
    let ok = passes(&reading.text);
    Normalised::new(Value::String(reading.text), reading.confidence)
        .check(ok)
        .noted(noted)
}

/// The checks a text value must pass beyond its characters: the
/// template's pattern as a whole (a pattern that is no regular expression
/// checks nothing) and a date its label says it holds (`DDMMYY/NNN`).
pub(crate) fn checks(spec: &FieldSpec) -> impl Fn(&str) -> bool {
    let regex = spec.pattern.as_deref().and_then(|p| Regex::new(p).ok());
    let part = spec.label.as_deref().and_then(DatePart::from_label);
    move |t: &str| regex.as_ref().is_none_or(|r| r.is_match(t)) && part.is_none_or(|d| d.holds(t))
}

/// Reads the characters position by position against a pattern's
/// formats. Spaces are dropped unless the pattern allows them; when the
/// value is short by exactly the pattern's separators, they are supplied.
fn by_pattern(w: &Written, formats: &[Vec<Class>]) -> Option<(Fitted, Reading)> {
    let spaces = formats.iter().flatten().any(|c| c.contains(' '));
    let cands: Vec<&CharCandidates> = w
        .chars
        .iter()
        .flatten()
        .copied()
        .filter(|c| spaces || !is_space(c))
        .collect();
    if let Some(found) = fit_best(&cands, formats, Case::Capitals) {
        return Some(found);
    }
    let mut best: Option<(Fitted, Reading)> = None;
    for f in formats {
        let seps: Vec<bool> = f
            .iter()
            .map(|c| c.literal().is_some_and(|l| !l.is_ascii_alphanumeric()))
            .collect();
        if f.len() != cands.len() + seps.iter().filter(|&&s| s).count() {
            continue;
        }
        let mut rest = cands.iter();
        let mut slots = Vec::with_capacity(f.len());
        for (class, sep) in f.iter().zip(&seps) {
            match (sep, class.literal()) {
                (true, Some(l)) => slots.push(Slot::supplied(l, SUPPLIED_SEPARATOR)),
                _ => slots.push(Slot::new(rest.next()?, *class, Case::Capitals)),
            }
        }
        let fitted = Fitted { slots };
        let reading = fitted.best();
        if best
            .as_ref()
            .is_none_or(|(_, b)| fitted.weight() > 0.0 && reading.confidence > b.confidence)
        {
            best = Some((fitted, reading));
        }
    }
    best
}

/// Reads free text by words. In a word of letters (apostrophes and
/// hyphens allowed) every character is a letter, so digit readings are set
/// aside; in a word of digits every character is a digit. In a mixed word,
/// with `repair`, a lone digit between letters (`SM1TH`, `J0NES`) becomes
/// the letter it looks like and a lone letter between digits (`1O5`) the
/// digit; other characters are the reader's first choices. Empty comb
/// cells are spaces. A word the reader saw partly in lower case keeps its
/// `l` an `L`; in a word of capitals it is an `I`.
/// With the reading, what each of its characters leaves in doubt (at its
/// place in the reading, spaces and empty cells counted).
fn plain(w: &Written, repair: bool) -> (Reading, Vec<Doubt>) {
    let tops: Vec<Option<char>> = w
        .chars
        .iter()
        .map(|c| c.and_then(CharCandidates::best).map(|(ch, _)| ch))
        .collect();
    let top = |i: Option<usize>| i.and_then(|i| tops.get(i).copied().flatten());
    let letter = |i: Option<usize>| top(i).is_some_and(char::is_alphabetic);
    let digit = |i: Option<usize>| top(i).is_some_and(|c| c.is_ascii_digit());
    let not_digit = Class::range(' ', '~').minus("0123456789");
    let mut text = String::new();
    let mut confidence = 1.0;
    let mut doubts = Vec::new();
    let mut word_start = 0;
    for (i, c) in w.chars.iter().enumerate() {
        let Some(c) = c else {
            text.push(' ');
            continue;
        };
        if i == 0 || top(Some(i - 1)).is_none_or(char::is_whitespace) {
            word_start = i;
        }
        let word_end = (i..tops.len())
            .find(|&j| top(Some(j)).is_none_or(char::is_whitespace))
            .unwrap_or(tops.len());
        let word: Vec<char> = tops[word_start..word_end]
            .iter()
            .flatten()
            .copied()
            .collect();
        let lower = word.iter().any(|&ch| ch.is_lowercase() && ch != 'l');
        let case = if lower { Case::Upper } else { Case::Capitals };
        let letters = word.iter().any(|c| c.is_alphabetic())
            && word
                .iter()
                .all(|&c| c.is_ascii_alphabetic() || c == '\'' || c == '-');
        let digits = word.iter().all(char::is_ascii_digit);
        let (before, after) = (i.checked_sub(1), Some(i + 1));
        let class = match top(Some(i)) {
            _ if repair && letters => not_digit,
            _ if repair && digits => Class::digit(),
            Some(t) if repair && t.is_ascii_digit() && letter(before) && letter(after) => {
                Class::upper()
            }
            Some(t) if repair && t.is_alphabetic() && digit(before) && digit(after) => {
                Class::digit()
            }
            _ => Class::ANY,
        };
        let mut slot = Slot::new(c, class, case);
        if slot.picks.is_empty() {
            slot = Slot::new(c, Class::ANY, case);
        }
        let chosen = slot.picks.first().map_or(slot.top, |p| p.ch);
        if let Some(p) = slot.picks.first() {
            confidence *= p.conf;
        }
        doubts.push(slot.doubt(i, chosen));
        text.push(chosen);
    }
    let reading = Reading {
        text,
        confidence,
        broken: false,
    };
    (reading, doubts)
}

#[cfg(test)]
mod tests {
    use super::super::normalise as run;
    use super::super::test_support::*;
    use super::*;
    use crate::raw::RawValue;
    use formflow_schemas::record::Flag;
    use formflow_schemas::template::FieldType;
    use proptest::prelude::*;
    use serde_json::json;

    fn account() -> FieldSpec {
        let mut s = spec("provider_account", FieldType::Text);
        s.pattern = Some("^[0-9][A-Z][0-9]{3}[A-Z]$".into());
        s
    }

    fn file_number() -> FieldSpec {
        let mut s = spec("unique_file_number", FieldType::Text);
        s.pattern = Some("^[0-9]{6}/[0-9]{3}$".into());
        s.label = Some("Unique file number (DDMMYY/NNN)".into());
        s
    }

    #[test]
    fn text_is_upper_case_with_single_spaces() {
        let n = run(
            &spec("surname", FieldType::Text),
            &line("  o'neil   smith-jones "),
            &ctx(),
        );
        assert_eq!(n.value, json!("O'NEIL SMITH-JONES"));
        assert!(n.flags.is_empty());
        let n = run(
            &spec("address", FieldType::Text),
            &line("Flat 12a, 3 High St"),
            &ctx(),
        );
        assert_eq!(n.value, json!("FLAT 12A, 3 HIGH ST"));
        // In a word of capitals a lower-case l is a capital I.
        let n = run(
            &spec("town", FieldType::Text),
            &line("MlLTON KEYNES"),
            &ctx(),
        );
        assert_eq!(n.value, json!("MILTON KEYNES"));
    }

    #[test]
    fn a_word_of_letters_sets_digit_readings_aside() {
        let raw = RawValue::Line {
            chars: vec![
                CharCandidates::sure('T', 0.99),
                CharCandidates(vec![('O', 0.87), ('0', 0.12)]),
                CharCandidates::sure('M', 0.99),
                CharCandidates::sure(' ', 1.0),
                CharCandidates(vec![('1', 0.8), ('I', 0.19)]),
                CharCandidates::sure('2', 0.99),
            ],
            ink: true,
        };
        let n = run(&spec("address", FieldType::Text), &raw, &ctx());
        assert_eq!(n.value, json!("TOM 12"));
        assert!(n.confidence > 0.9, "{}", n.confidence);
    }

    #[test]
    fn a_comb_of_text_reads_empty_cells_as_spaces() {
        let n = run(&spec("name", FieldType::Text), &cells("ANN_LEE__"), &ctx());
        assert_eq!(n.value, json!("ANN LEE"));
    }

    #[test]
    fn a_lone_digit_inside_a_word_is_the_letter_it_looks_like() {
        let n = run(&spec("surname", FieldType::Text), &line("SM1TH"), &ctx());
        assert_eq!(n.value, json!("SMITH"));
        assert!(n.confidence < calibrated(0.9));
        let n = run(
            &spec("surname", FieldType::Text),
            &doubtful("J[0O]NES"),
            &ctx(),
        );
        assert_eq!(n.value, json!("JONES"));
        let n = run(
            &spec("address", FieldType::Text),
            &line("1ST FLOOR 1O5 HIGH ST"),
            &ctx(),
        );
        assert_eq!(n.value, json!("1ST FLOOR 105 HIGH ST"));
    }

    #[test]
    fn a_pattern_chooses_the_class_of_each_position() {
        let n = run(&account(), &cells("2B138L"), &ctx());
        assert_eq!((n.value, n.flags), (json!("2B138L"), vec![]));
        let n = run(&account(), &doubtful_cells("[Z2]B[I1]38[1L]"), &ctx());
        assert_eq!(n.value, json!("2B138L"));
        assert!(n.confidence < calibrated(0.7), "{}", n.confidence);
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
    }

    #[test]
    fn a_value_that_breaks_the_pattern_is_kept_and_invalid() {
        let n = run(&account(), &cells("2B13"), &ctx());
        assert_eq!((n.value, n.flags), (json!("2B13"), vec![Flag::Invalid]));
        let n = run(&account(), &cells("2B13XX"), &ctx());
        assert_eq!((n.value, n.flags), (json!("2B13XX"), vec![Flag::Invalid]));
        let n = run(&account(), &cells("2B13_8L"), &ctx());
        assert_eq!((n.value, n.flags), (json!("2B138L"), vec![]));
    }

    #[test]
    fn a_file_number_needs_a_real_date_in_front() {
        let n = run(&file_number(), &line("051025/030"), &ctx());
        assert_eq!((n.value, n.flags), (json!("051025/030"), vec![]));
        let n = run(&file_number(), &line("321025/030"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("321025/030"), vec![Flag::Invalid])
        );
        let n = run(&file_number(), &doubtful("[32]21025/030"), &ctx());
        assert_eq!(n.value, json!("221025/030"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
    }

    #[test]
    fn a_missing_or_misread_separator_is_supplied() {
        let n = run(&file_number(), &line("051025 030"), &ctx());
        assert_eq!((n.value, n.flags), (json!("051025/030"), vec![]));
        let n = run(&file_number(), &line("051025I030"), &ctx());
        assert_eq!(n.value, json!("051025/030"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
    }

    #[test]
    fn a_pattern_beyond_the_converter_is_still_checked() {
        let mut s = spec("code", FieldType::Text);
        s.pattern = Some("^(AB|CD)[0-9]+$".into());
        assert_eq!(run(&s, &line("ab12"), &ctx()).flags, vec![]);
        let n = run(&s, &line("xy12"), &ctx());
        assert_eq!((n.value, n.flags), (json!("XY12"), vec![Flag::Invalid]));
    }

    proptest! {
        #[test]
        fn any_valid_account_number_round_trips(v in "[0-9][A-Z][0-9]{3}[A-Z]") {
            let n = run(&account(), &cells(&v), &ctx());
            prop_assert_eq!(n.value, json!(v));
            prop_assert!(n.flags.is_empty());
        }

        #[test]
        fn no_text_panics(s in "\\PC{0,30}", p in "\\PC{0,12}") {
            let mut sp = file_number();
            let _ = run(&sp, &line(&s), &ctx());
            sp.pattern = Some(p);
            sp.label = Some(s.clone());
            let _ = run(&sp, &line(&s), &ctx());
            let _ = run(
                &sp,
                &RawValue::Cells(vec![None, Some(CharCandidates(vec![('x', f32::NAN)]))]),
                &ctx(),
            );
        }
    }
}
