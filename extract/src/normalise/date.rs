//! Dates: written DD MM YYYY in a comb of eight cells (or on a line with
//! separators), given as ISO `YYYY-MM-DD`. Owns the calendar check, the
//! search for a real date among the candidates when the first reading is
//! impossible, the date-of-birth and not-in-the-future rules, and the check
//! of a date written inside a text value (`DDMMYY/NNN`).

use super::chars::{Class, Fitted, Reading, Slot};
use super::note::{self, Doubt};
use super::{tidy, Context, Normalised, Written};
use chrono::{Datelike, NaiveDate};
use formflow_schemas::template::FieldSpec;
use serde_json::Value;

/// How likely, against the first reading, another reading must be for a
/// date rule to choose it.
const RIVAL_SHARE: f64 = 0.2;

/// How many readings the search for a real date may try.
const SEARCH_LIMIT: usize = 2000;

/// Youngest age, in whole years at the day of reading, a date of birth may
/// give.
pub const MIN_AGE: u32 = 14;

/// Oldest age a date of birth may give.
pub const MAX_AGE: u32 = 120;

/// A real calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(NaiveDate);

/// Why a string is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not day, month and year in digits (`DD MM YYYY`, `DD/MM/YYYY`,
    /// `DDMMYYYY`, ...).
    #[error("a date is written DD MM YYYY")]
    Shape,
    /// The digits name no day of the calendar (31 February, month 13).
    #[error("there is no such day in the calendar")]
    NoSuchDay,
}

impl Date {
    /// Parses a date as written on the forms: `DD MM YYYY` with spaces,
    /// `/`, `-` or `.` between the parts (a one-digit day or month is
    /// allowed then), or eight digits together.
    pub fn parse(s: &str) -> Result<Date, DateError> {
        Date::from_digits(&written_digits(s)?)
    }

    /// Parses eight digits `DDMMYYYY`.
    pub fn from_digits(ddmmyyyy: &str) -> Result<Date, DateError> {
        if ddmmyyyy.len() != 8 || !ddmmyyyy.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DateError::Shape);
        }
        let num = |r: std::ops::Range<usize>| ddmmyyyy.get(r).and_then(|s| s.parse::<u32>().ok());
        let (Some(d), Some(m), Some(y)) = (num(0..2), num(2..4), num(4..8)) else {
            return Err(DateError::Shape);
        };
        let y = i32::try_from(y).map_err(|_| DateError::Shape)?;
        NaiveDate::from_ymd_opt(y, m, d)
            .map(Date)
            .ok_or(DateError::NoSuchDay)
    }

    /// Parses an ISO `YYYY-MM-DD` value, as records hold it.
    pub fn from_iso(s: &str) -> Option<Date> {
        if s.len() != 10 {
            return None;
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(Date)
    }

    /// The `YYYY-MM-DD` form records hold.
    pub fn iso(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.0.year(),
            self.0.month(),
            self.0.day()
        )
    }

    /// The calendar day.
    pub fn naive(&self) -> NaiveDate {
        self.0
    }

    /// Whole years from this date to `today`; `None` when it is later.
    pub fn age_at(&self, today: NaiveDate) -> Option<u32> {
        today.years_since(self.0)
    }
}

/// The eight digits `DDMMYYYY` of a date as written on the forms (see
/// [`Date::parse`]), whether or not they name a real day.
pub(crate) fn written_digits(s: &str) -> Result<String, DateError> {
    let parts: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || "/-.".contains(c))
        .filter(|p| !p.is_empty())
        .collect();
    if !parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())) {
        return Err(DateError::Shape);
    }
    match parts.as_slice() {
        [all] if all.len() == 8 => Ok((*all).to_string()),
        [d, m, y] if (1..=2).contains(&d.len()) && (1..=2).contains(&m.len()) && y.len() == 4 => {
            Ok(format!("{d:0>2}{m:0>2}{y}"))
        }
        _ => Err(DateError::Shape),
    }
}

/// `DDMMYYYY` as records give a date: `YYYY-MM-DD` (whether or not it
/// names a real day); other text as it is.
pub(crate) fn iso_order(t: &str) -> String {
    match (t.get(4..8), t.get(2..4), t.get(0..2)) {
        (Some(y), Some(m), Some(d)) if t.len() == 8 => format!("{y}-{m}-{d}"),
        _ => t.to_string(),
    }
}

/// Where a digit of `DDMMYYYY` sits: "the second digit of the month".
fn place(d: &Doubt) -> String {
    let (n, part) = match d.at {
        0 | 1 => (d.at + 1, "day"),
        2 | 3 => (d.at - 1, "month"),
        4..=7 => (d.at - 3, "year"),
        _ => return note::position(d),
    };
    format!("the {} digit of the {part}", note::ordinal(n))
}

/// Whether a date field holds a date of birth: named so, or labelled so.
pub fn is_birth(spec: &FieldSpec) -> bool {
    spec.name == "date_of_birth"
        || spec
            .label
            .as_deref()
            .is_some_and(|l| l.to_lowercase().contains("birth"))
}

/// Normalises a date field.
pub(super) fn normalise(spec: &FieldSpec, w: &Written, ctx: &Context) -> Normalised {
    let as_read = || Value::String(tidy(&w.as_read()));
    let Some(slots) = digit_slots(w) else {
        let noted = note::about_characters(&note::as_read(w), note::position);
        return Normalised::invalid(as_read(), w.read_confidence()).noted(noted);
    };
    let fitted = Fitted { slots };
    let noted = |r: &Reading| note::about_characters(&fitted.doubts(&r.text), place);
    let first = fitted.best();
    if first.broken {
        return Normalised::invalid(as_read(), first.confidence).noted(noted(&first));
    }
    // A reading that breaks a rule (31 February, a birth in 1755) takes the
    // next candidates the reader believed in, if they make it keep every
    // rule; an impossible date settles for a real one. Otherwise it stays
    // as read.
    let keeps_rules = |t: &str| Date::from_digits(t).is_ok_and(|d| date_rules_hold(spec, d, ctx));
    let real = |t: &str| Date::from_digits(t).is_ok();
    let pick = |r: Reading| Date::from_digits(&r.text).ok().map(|d| (d, r));
    // A rule may only choose between readings the reader found comparably
    // likely: a sure 9 does not become an 8 because the age comes out
    // better; the paper may simply be wrong, and then the flag says so.
    let comparable = |r: &Reading| r.confidence >= RIVAL_SHARE * first.confidence;
    let found: Option<(Date, Reading)> = if keeps_rules(&first.text) {
        pick(first.clone())
    } else {
        fitted
            .search(keeps_rules, SEARCH_LIMIT)
            .filter(comparable)
            .or_else(|| {
                if real(&first.text) {
                    Some(first.clone())
                } else {
                    fitted.search(real, SEARCH_LIMIT).filter(comparable)
                }
            })
            .and_then(pick)
    };
    match found {
        Some((date, reading)) => Normalised::new(Value::String(date.iso()), reading.confidence)
            .check(date_rules_hold(spec, date, ctx))
            .noted(noted(&reading)),
        None => Normalised::invalid(Value::String(iso_order(&first.text)), first.confidence)
            .noted(noted(&first)),
    }
}

/// The single-field rules: a date of birth is not in the future and gives
/// an age from [`MIN_AGE`] to [`MAX_AGE`]; any other date (a signing date)
/// is not in the future.
pub fn date_rules_hold(spec: &FieldSpec, date: Date, ctx: &Context) -> bool {
    if is_birth(spec) {
        date.age_at(ctx.today)
            .is_some_and(|a| (MIN_AGE..=MAX_AGE).contains(&a))
    } else {
        date.naive() <= ctx.today
    }
}

/// The eight digit positions of a date, or `None` when the writing does not
/// have the shape of one. Separators (spaces, `/`, `-`, `.` and empty comb
/// cells) split the parts; a one-digit day or month is padded with a `0`.
fn digit_slots(w: &Written) -> Option<Vec<Slot>> {
    let mut groups: Vec<Vec<&crate::raw::CharCandidates>> = vec![Vec::new()];
    for c in &w.chars {
        let sep = match c {
            None => true,
            Some(c) => c
                .best()
                .is_some_and(|(ch, _)| ch.is_whitespace() || "/-.,".contains(ch)),
        };
        match (sep, c) {
            (true, _) => {
                if groups.last().is_some_and(|g| !g.is_empty()) {
                    groups.push(Vec::new());
                }
            }
            (false, Some(c)) => {
                if let Some(g) = groups.last_mut() {
                    g.push(c);
                }
            }
            (false, None) => {}
        }
    }
    groups.retain(|g| !g.is_empty());
    let lens: Vec<usize> = groups.iter().map(Vec::len).collect();
    let pads: [usize; 3] = match lens.as_slice() {
        [8] => [0, 0, 0],
        [2, 6] => [0, 0, 0],
        [4, 4] => [0, 0, 0],
        [d, m, 4] if (1..=2).contains(d) && (1..=2).contains(m) => [2 - d, 2 - m, 0],
        _ => return None,
    };
    let mut slots = Vec::with_capacity(8);
    for (i, g) in groups.iter().enumerate() {
        for _ in 0..pads.get(i).copied().unwrap_or(0) {
            slots.push(Slot::supplied('0', 1.0));
        }
        slots.extend(
            g.iter()
                .map(|c| Slot::new(c, Class::digit(), super::chars::Case::Capitals)),
        );
    }
    (slots.len() == 8).then_some(slots)
}

/// A date written inside a text value, such as the `DDMMYY` of a unique
/// file number `DDMMYY/NNN`, found from the format the label prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatePart {
    /// Where the day's first digit sits in the value.
    pub at: usize,
    /// Whether the year has four digits (`DDMMYYYY`) rather than two.
    pub long_year: bool,
}

impl DatePart {
    /// Reads the format from a label such as `Unique file number
    /// (DDMMYY/NNN)`: the offset of `DDMMYY` within its printed format
    /// (the word or bracket holding it) is its offset in the value.
    pub fn from_label(label: &str) -> Option<DatePart> {
        let up = label.to_uppercase();
        let (idx, long_year) = match up.find("DDMMYYYY") {
            Some(i) => (i, true),
            None => (up.find("DDMMYY")?, false),
        };
        let head = up.get(..idx)?;
        let start = head
            .rfind(|c: char| c.is_whitespace() || "([{".contains(c))
            .map_or(0, |i| i + 1);
        Some(DatePart {
            at: head.get(start..)?.chars().count(),
            long_year,
        })
    }

    /// Whether the value holds a real date at this place (years of two
    /// digits are read as 20YY).
    pub fn holds(&self, value: &str) -> bool {
        let chars: Vec<char> = value.chars().collect();
        let len = if self.long_year { 8 } else { 6 };
        let Some(part) = chars.get(self.at..self.at + len) else {
            return false;
        };
        let digits: String = part.iter().collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let full = if self.long_year {
            digits
        } else {
            format!("{}20{}", &digits[..4], &digits[4..])
        };
        Date::from_digits(&full).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{normalise as run, Normalised};
    use super::*;
    use crate::raw::{CharCandidates, RawValue};
    use formflow_schemas::record::Flag;
    use formflow_schemas::template::FieldType;
    use proptest::prelude::*;
    use serde_json::json;

    fn dob() -> FieldSpec {
        spec("date_of_birth", FieldType::Date)
    }

    fn signed() -> FieldSpec {
        spec("signed_on", FieldType::Date)
    }

    fn value_flags(n: Normalised) -> (Value, Vec<Flag>) {
        (n.value, n.flags)
    }

    #[test]
    fn parse_accepts_the_written_shapes() {
        for s in [
            "14 03 1985",
            "14031985",
            "14/03/1985",
            "14-3-1985",
            "4.3.1985",
            " 14  03 1985 ",
        ] {
            let d = Date::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(d.naive().year(), 1985, "{s}");
        }
        assert_eq!(Date::parse("14 03 1985").unwrap().iso(), "1985-03-14");
        assert_eq!(Date::parse("31 02 1990"), Err(DateError::NoSuchDay));
        assert_eq!(Date::parse("29 02 2023"), Err(DateError::NoSuchDay));
        assert!(Date::parse("29 02 2024").is_ok());
        for s in [
            "",
            "14 03 85",
            "1403198",
            "14 O3 1985",
            "140 3 1985",
            "14 03 1985 1",
        ] {
            assert_eq!(Date::parse(s), Err(DateError::Shape), "{s}");
        }
        assert_eq!(Date::from_iso("1985-03-14"), Date::parse("14031985").ok());
        assert_eq!(Date::from_iso("1985-3-14"), None);
    }

    #[test]
    fn a_comb_date_becomes_iso() {
        let n = run(&dob(), &cells("14031985"), &ctx());
        assert_eq!(n.value, json!("1985-03-14"));
        assert!(n.flags.is_empty());
        assert!(n.confidence > 0.9);
    }

    #[test]
    fn a_line_date_may_have_separators() {
        assert_eq!(
            value_flags(run(&signed(), &line("1/3/2025"), &ctx())),
            (json!("2025-03-01"), vec![])
        );
        assert_eq!(
            value_flags(run(&signed(), &line("01 03 2025"), &ctx())),
            (json!("2025-03-01"), vec![])
        );
        assert_eq!(
            value_flags(run(&signed(), &line("01-03-2025"), &ctx())),
            (json!("2025-03-01"), vec![])
        );
    }

    #[test]
    fn look_alike_letters_in_a_date_are_digits() {
        let n = run(&signed(), &cells("O1O3ZO25"), &ctx());
        assert_eq!(n.value, json!("2025-03-01"));
        assert!(n.confidence < calibrated(0.7));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        let n = run(&signed(), &doubtful_cells("[O0]1032025"), &ctx());
        assert_eq!(n.value, json!("2025-03-01"));
    }

    #[test]
    fn an_impossible_date_is_kept_as_read_and_invalid() {
        assert_eq!(
            value_flags(run(&dob(), &cells("31021990"), &ctx())),
            (json!("1990-02-31"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &line("31 02 1990"), &ctx())),
            (json!("1990-02-31"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("01131990"), &ctx())),
            (json!("1990-13-01"), vec![Flag::Invalid])
        );
    }

    #[test]
    fn an_impossible_date_takes_the_next_candidate_that_makes_it_real() {
        // The 3 of "31" could be a 2: 21 February is real, 31 is not.
        let n = run(&dob(), &doubtful_cells("[32]1021990"), &ctx());
        assert_eq!(n.value, json!("1990-02-21"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
    }

    #[test]
    fn a_date_that_breaks_a_rule_takes_a_believed_candidate_that_keeps_it() {
        // A birth in 1755 is out of range; the 7 was perhaps a 9.
        let n = run(&dob(), &doubtful_cells("17051[79]55"), &ctx());
        assert_eq!(n.value, json!("1955-05-17"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        // With no believed alternative the date stays as read.
        let raw = RawValue::Cells(
            "17032031"
                .chars()
                .map(|c| Some(CharCandidates(vec![(c, 0.99), ('0', 0.0), ('1', 0.0)])))
                .collect(),
        );
        assert_eq!(
            value_flags(run(&dob(), &raw, &ctx())),
            (json!("2031-03-17"), vec![Flag::Invalid])
        );
        // A signing date in the future likewise.
        let n = run(&signed(), &doubtful_cells("01022[70]25"), &ctx());
        assert_eq!(n.value, json!("2025-02-01"));
    }

    #[test]
    fn a_date_of_birth_gives_an_age_from_14_to_120() {
        // Today is 22 November 2026.
        assert_eq!(
            value_flags(run(&dob(), &cells("22112012"), &ctx())),
            (json!("2012-11-22"), vec![])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("23112012"), &ctx())),
            (json!("2012-11-23"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("01012013"), &ctx())),
            (json!("2013-01-01"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("22111906"), &ctx())),
            (json!("1906-11-22"), vec![])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("22111905"), &ctx())),
            (json!("1905-11-22"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("17032031"), &ctx())),
            (json!("2031-03-17"), vec![Flag::Invalid])
        );
    }

    #[test]
    fn a_label_saying_birth_makes_a_date_of_birth() {
        let mut s = spec("born", FieldType::Date);
        s.label = Some("Date of Birth (DD MM YYYY)".into());
        assert!(is_birth(&s));
        assert_eq!(
            run(&s, &cells("01012020"), &ctx()).flags,
            vec![Flag::Invalid]
        );
        assert!(!is_birth(&signed()));
    }

    #[test]
    fn a_signing_date_is_not_in_the_future() {
        assert_eq!(
            value_flags(run(&signed(), &cells("22112026"), &ctx())),
            (json!("2026-11-22"), vec![])
        );
        assert_eq!(
            value_flags(run(&signed(), &cells("23112026"), &ctx())),
            (json!("2026-11-23"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&signed(), &cells("01011900"), &ctx())),
            (json!("1900-01-01"), vec![])
        );
    }

    #[test]
    fn a_partial_or_misshapen_date_is_the_raw_string_and_invalid() {
        assert_eq!(
            value_flags(run(&dob(), &cells("1403198_"), &ctx())),
            (json!("1403198"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("14_31985"), &ctx())),
            (json!("14 31985"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &line("14 march 85"), &ctx())),
            (json!("14 MARCH 85"), vec![Flag::Invalid])
        );
        assert_eq!(
            value_flags(run(&dob(), &cells("1403X985"), &ctx())),
            (json!("1403X985"), vec![Flag::Invalid])
        );
    }

    #[test]
    fn date_parts_are_found_from_the_label() {
        let p = DatePart::from_label("Unique file number (DDMMYY/NNN)").unwrap();
        assert_eq!(
            p,
            DatePart {
                at: 0,
                long_year: false
            }
        );
        assert!(p.holds("051025/030"));
        assert!(!p.holds("311125/030"));
        assert!(!p.holds("0510"));
        assert!(p.holds("290224/001"));
        assert!(!p.holds("290223/001"));
        let p = DatePart::from_label("Ref (AB-DDMMYYYY)").unwrap();
        assert_eq!(
            p,
            DatePart {
                at: 3,
                long_year: true
            }
        );
        assert!(p.holds("AB-01022024"));
        assert_eq!(DatePart::from_label("Provider account number"), None);
    }

    proptest! {
        #[test]
        fn any_real_date_round_trips_as_sure_cells(days in 0i64..60000) {
            let d = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            let written = format!("{:02}{:02}{:04}", d.day(), d.month(), d.year());
            let mut ctx = ctx();
            ctx.today = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap();
            let n = run(&signed(), &cells(&written), &ctx);
            prop_assert_eq!(n.value, json!(d.format("%Y-%m-%d").to_string()));
            prop_assert!(n.flags.is_empty());
            prop_assert_eq!(
                Date::parse(&format!("{} {} {}", d.day(), d.month(), d.year())).map(|x| x.naive()),
                Ok(d)
            );
        }

        #[test]
        fn no_string_makes_a_date_panic(s in "\\PC{0,14}") {
            let _ = Date::parse(&s);
            let _ = Date::from_digits(&s);
            let _ = Date::from_iso(&s);
            let _ = DatePart { at: 2, long_year: false }.holds(&s);
            let _ = DatePart::from_label(&s);
            let _ = run(&dob(), &line(&s), &ctx());
        }

        #[test]
        fn no_candidates_make_a_date_panic(
            cells in proptest::collection::vec(
                proptest::option::of(proptest::collection::vec(
                    (any::<char>(), any::<f32>()),
                    0..4,
                )),
                0..10,
            )
        ) {
            let raw = RawValue::Cells(cells.into_iter().map(|c| c.map(CharCandidates)).collect());
            let n = run(&dob(), &raw, &ctx());
            prop_assert!((0.0..=1.0).contains(&n.confidence));
        }
    }
}
