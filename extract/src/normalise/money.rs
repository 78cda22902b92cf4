//! Money: pounds and pence, given as a string with two decimals and no
//! commas or `£` (`"1234.50"`). Owns the written forms people use
//! (`1,234.56`, `£1234.56`, `1234.5`, `1234`), the choice of digits and
//! separators by position, and the rule that an amount is not negative.

use super::chars::{Case, Class, Fitted, Slot};
use super::note::{self, Doubt};
use super::{Normalised, Written};
use crate::raw::CharCandidates;
use serde_json::Value;

/// Factor on the confidence when a leading `E` or `f` was taken for the
/// printed-style `£` and dropped.
const POUND_LOOK_ALIKE: f64 = 0.9;

/// A sum of money that is not negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money {
    pence: u64,
}

/// Why a string is not a sum of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not pounds with optional thousands commas and optional pence.
    #[error("an amount is written like 1,234.56")]
    Shape,
    /// More pounds than the form could mean.
    #[error("the amount is too large")]
    TooLarge,
    /// The amount is below zero; the amount without its sign is given.
    #[error("an amount may not be negative")]
    Negative(Money),
}

impl Money {
    /// Parses an amount as written: an optional `£`, pounds with optional
    /// commas between groups of three digits, and optionally a point and
    /// one or two digits of pence. Spaces are ignored.
    pub fn parse(s: &str) -> Result<Money, MoneyError> {
        let mut v: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let mut negative = false;
        loop {
            if let Some(rest) = v.strip_prefix('£') {
                v = rest.to_string();
            } else if let Some(rest) = v.strip_prefix('-').filter(|_| !negative) {
                negative = true;
                v = rest.to_string();
            } else {
                break;
            }
        }
        let (pounds, pence) = match v.split_once('.') {
            Some((p, f)) => (p, Some(f)),
            None => (v.as_str(), None),
        };
        let pence: u64 = match pence {
            None => 0,
            Some(f) if (1..=2).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
                let n: u64 = f.parse().map_err(|_| MoneyError::Shape)?;
                if f.len() == 1 {
                    n * 10
                } else {
                    n
                }
            }
            Some(_) => return Err(MoneyError::Shape),
        };
        let groups: Vec<&str> = pounds.split(',').collect();
        let grouped = groups.len() == 1
            || (groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
                && groups[1..].iter().all(|g| g.len() == 3));
        if !grouped || !groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit())) {
            return Err(MoneyError::Shape);
        }
        let digits: String = groups.concat();
        if digits.is_empty() && pounds.is_empty() && v.contains('.') && v.len() > 1 {
            // ".50": no pounds written.
        } else if digits.is_empty() {
            return Err(MoneyError::Shape);
        }
        let whole: u64 = if digits.is_empty() {
            0
        } else {
            let trimmed = digits.trim_start_matches('0');
            if trimmed.is_empty() {
                0
            } else {
                trimmed.parse().map_err(|_| MoneyError::TooLarge)?
            }
        };
        let pence = whole
            .checked_mul(100)
            .and_then(|p| p.checked_add(pence))
            .ok_or(MoneyError::TooLarge)?;
        let m = Money { pence };
        if negative && pence > 0 {
            return Err(MoneyError::Negative(m));
        }
        Ok(m)
    }

    /// The amount as records hold it: `1234.50`.
    pub fn as_string(&self) -> String {
        format!("{}.{:02}", self.pence / 100, self.pence % 100)
    }

    /// The amount in pence.
    pub fn pence(&self) -> u64 {
        self.pence
    }
}

/// Normalises a money field.
pub(super) fn normalise(w: &Written) -> Normalised {
    let mut cands: Vec<&CharCandidates> = w.solid();
    let top = |c: &CharCandidates| c.best().map_or('?', |(ch, _)| ch);
    let mut confidence = 1.0;
    let mut sign = String::new();
    // A written or misread pound sign and a minus sign in front.
    while let Some(&first) = cands.first() {
        let next_is_letter = cands.get(1).is_some_and(|c| top(c).is_alphabetic());
        match top(first) {
            '£' => confidence *= super::chars::clean(first.best().map_or(0.0, |b| b.1)),
            'E' | 'f' if !next_is_letter => confidence *= POUND_LOOK_ALIKE,
            '-' if sign.is_empty() => sign.push('-'),
            _ => break,
        }
        cands.remove(0);
    }
    let is_sep = |c: &CharCandidates| matches!(top(c), ',' | '.');
    let seps: Vec<usize> = (0..cands.len()).filter(|&i| is_sep(cands[i])).collect();
    let mut slots = Vec::with_capacity(cands.len());
    for (i, c) in cands.iter().enumerate() {
        let class = match seps.iter().position(|&s| s == i) {
            None => Class::digit(),
            Some(k) => {
                let end = seps.get(k + 1).copied().unwrap_or(cands.len());
                let after = end - i - 1;
                let last = k + 1 == seps.len();
                match (last, after) {
                    (true, 1..=2) => Class::lit('.'),
                    (_, 3) if !last || top(c) == ',' => Class::lit(','),
                    _ => Class::of(",."),
                }
            }
        };
        slots.push(Slot::new(c, class, Case::Capitals));
    }
    let fitted = Fitted { slots };
    let reading = fitted.best();
    let noted = note::about_characters(&fitted.doubts(&reading.text), |d| place(&reading.text, d));
    let text = format!("{sign}{}", reading.text);
    let confidence = confidence * reading.confidence;
    let n = match Money::parse(&text) {
        Ok(m) if !reading.broken => Normalised::new(Value::String(m.as_string()), confidence),
        Err(MoneyError::Negative(m)) if !reading.broken => {
            Normalised::invalid(Value::String(format!("-{}", m.as_string())), confidence)
        }
        _ => Normalised::invalid(Value::String(text), confidence),
    };
    n.noted(noted)
}

/// Where a character of an amount (`text`, as read without `£` or sign)
/// sits: "the second digit of the pounds", "the first digit of the pence",
/// "the decimal point".
fn place(text: &str, d: &Doubt) -> String {
    let chars: Vec<char> = text.chars().collect();
    let point = chars.iter().rposition(|&c| c == '.');
    match d.chosen {
        '.' => "the decimal point".to_string(),
        ',' => note::position(d),
        _ => match point {
            Some(p) if d.at > p => note::nth(d.at - p, "digit of the pence"),
            _ => {
                let n = chars
                    .iter()
                    .take(d.at + 1)
                    .filter(|c| !matches!(c, ',' | '.'))
                    .count();
                note::nth(n, "digit of the pounds")
            }
        },
    }
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

    fn income() -> formflow_schemas::template::FieldSpec {
        spec("gross_monthly_income", FieldType::Money)
    }

    fn parsed(s: &str) -> Result<String, MoneyError> {
        Money::parse(s).map(|m| m.as_string())
    }

    #[test]
    fn parse_takes_the_written_forms() {
        assert_eq!(parsed("1,234.56"), Ok("1234.56".into()));
        assert_eq!(parsed("£1234.56"), Ok("1234.56".into()));
        assert_eq!(parsed("1234.5"), Ok("1234.50".into()));
        assert_eq!(parsed("1234"), Ok("1234.00".into()));
        assert_eq!(parsed("1,234.5"), Ok("1234.50".into()));
        assert_eq!(parsed("0.05"), Ok("0.05".into()));
        assert_eq!(parsed(".5"), Ok("0.50".into()));
        assert_eq!(parsed("007"), Ok("7.00".into()));
        assert_eq!(parsed("1,000,000"), Ok("1000000.00".into()));
        assert_eq!(parsed("£ 12 .30"), Ok("12.30".into()));
        assert_eq!(parsed("-0"), Ok("0.00".into()));
    }

    #[test]
    fn parse_refuses_what_is_not_money() {
        for s in [
            "", "£", ".", "12.345", "1,23", "12,3456", "1.2.3", "12a", "1234.", "--5", ",123", "£-",
        ] {
            assert_eq!(parsed(s), Err(MoneyError::Shape), "{s}");
        }
        assert_eq!(parsed("99999999999999999999"), Err(MoneyError::TooLarge));
        assert_eq!(
            parsed("-12.5"),
            Err(MoneyError::Negative(Money { pence: 1250 }))
        );
        assert_eq!(
            parsed("£-12.5"),
            Err(MoneyError::Negative(Money { pence: 1250 }))
        );
    }

    #[test]
    fn amounts_come_back_with_two_decimals() {
        for (read, value) in [
            ("1,234.5", "1234.50"),
            ("£1234.56", "1234.56"),
            ("1234", "1234.00"),
            ("505.82", "505.82"),
            ("£ 1 396.72", "1396.72"),
        ] {
            let n = run(&income(), &line(read), &ctx());
            assert_eq!((n.value, n.flags), (json!(value), vec![]), "{read}");
        }
    }

    #[test]
    fn look_alikes_in_an_amount_are_digits() {
        let n = run(&income(), &line("12O4.5O"), &ctx());
        assert_eq!(n.value, json!("1204.50"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        let n = run(&income(), &doubtful("1[S5]0.00"), &ctx());
        assert_eq!(n.value, json!("150.00"));
        let n = run(&income(), &line("E250"), &ctx());
        assert_eq!((n.value, n.flags), (json!("250.00"), vec![]));
    }

    #[test]
    fn separators_take_their_place_in_the_grammar() {
        let n = run(&income(), &line("1.234,56"), &ctx());
        assert_eq!(n.value, json!("1234.56"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        let n = run(&income(), &line("12,50"), &ctx());
        assert_eq!(n.value, json!("12.50"));
    }

    #[test]
    fn a_negative_or_broken_amount_is_kept_and_invalid() {
        let n = run(&income(), &line("-12.50"), &ctx());
        assert_eq!((n.value, n.flags), (json!("-12.50"), vec![Flag::Invalid]));
        let n = run(&income(), &line("12.345"), &ctx());
        assert_eq!((n.value, n.flags), (json!("12.345"), vec![Flag::Invalid]));
        let n = run(&income(), &line("12X.50"), &ctx());
        assert_eq!((n.value, n.flags), (json!("12X.50"), vec![Flag::Invalid]));
        let n = run(&income(), &line("ELEVEN"), &ctx());
        assert_eq!(n.flags, vec![Flag::Invalid]);
    }

    proptest! {
        #[test]
        fn any_amount_round_trips(pence in 0u64..10_000_000_000, commas: bool, pound: bool) {
            let whole = (pence / 100).to_string();
            let pounds = if commas {
                let b = whole.as_bytes();
                let mut out = String::new();
                for (i, c) in b.iter().enumerate() {
                    if i > 0 && (b.len() - i) % 3 == 0 {
                        out.push(',');
                    }
                    out.push(char::from(*c));
                }
                out
            } else {
                whole
            };
            let written = format!("{}{pounds}.{:02}", if pound { "£" } else { "" }, pence % 100);
            let want = format!("{}.{:02}", pence / 100, pence % 100);
            prop_assert_eq!(parsed(&written), Ok(want.clone()));
            let n = run(&income(), &line(&written), &ctx());
            prop_assert_eq!(n.value, json!(want));
            prop_assert!(n.flags.is_empty());
        }

        #[test]
        fn no_string_makes_money_panic(s in "\\PC{0,16}") {
            let _ = Money::parse(&s);
            let n = run(&income(), &line(&s), &ctx());
            prop_assert!((0.0..=1.0).contains(&n.confidence));
        }
    }
}
