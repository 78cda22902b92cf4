//! UK postcodes: an outward code (`A9`, `A99`, `AA9`, `AA99`, `A9A` or
//! `AA9A`), one space, an inward code (a digit and two letters), as in
//! `SW1A 1AA`. Owns the choice between the outward formats, and of letters
//! and digits by position within them, and Royal Mail's rules of which
//! letters go where: the outward code starts with a postcode area, and
//! some letters are never used in some places. A reading that breaks them
//! is a misreading (or a postcode that does not exist), so a believed
//! alternative that keeps them is taken, and failing that it is flagged.

use super::chars::{fit_all, Case, Class, Fitted};
use super::note::{self, Doubt};
use super::{Normalised, Written};
use serde_json::Value;

/// The outward formats: `A` a letter, `9` a digit.
const OUTWARD: [&str; 6] = ["A9", "A99", "AA9", "AA99", "A9A", "AA9A"];

/// The postcode areas: the 121 of the UK, the Crown Dependencies (GY, IM,
/// JE) and the non-geographic BF and BX.
const AREAS: [&str; 126] = [
    "AB", "AL", "B", "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "BX", "CA", "CB",
    "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT",
    "DY", "E", "EC", "EH", "EN", "EX", "FK", "FY", "G", "GL", "GU", "GY", "HA", "HD", "HG", "HP",
    "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE", "KA", "KT", "KW", "KY", "L", "LA", "LD",
    "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "ML", "N", "NE", "NG", "NN", "NP", "NR", "NW",
    "OL", "OX", "PA", "PE", "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG", "SK",
    "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR",
    "TS", "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE",
];

/// Letters used third in an `A9A` outward code.
const THIRD_OF_A9A: &str = "ABCDEFGHJKPSTUW";

/// Letters used fourth in an `AA9A` outward code.
const FOURTH_OF_AA9A: &str = "ABEHMNPRVWXY";

/// Letters never used in an inward code.
const NOT_INWARD: &str = "CIKMOV";

/// How many readings the search for a valid postcode may try per format.
const SEARCH_LIMIT: usize = 2000;

/// A UK postcode in its written shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcode {
    outward: String,
    inward: String,
}

/// Why a string is not a UK postcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostcodeError {
    /// Not an outward code, a space and an inward code.
    #[error("a postcode is an outward code (such as SW1A), a space and a digit and two letters")]
    Shape,
    /// The outward code does not start with a postcode area.
    #[error("there is no postcode area {0}")]
    Area(String),
    /// A letter is never used where it stands.
    #[error("postcodes never have {0} there")]
    Letter(char),
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
        let v: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !v.is_ascii() || !(5..=7).contains(&v.len()) {
            return Err(PostcodeError::Shape);
        }
        let (outward, inward) = v.split_at(v.len() - 3);
        let Some(format) = OUTWARD.iter().find(|f| shaped(outward, f)) else {
            return Err(PostcodeError::Shape);
        };
        if !shaped(inward, "9AA") {
            return Err(PostcodeError::Shape);
        }
        let area: String = outward
            .chars()
            .take_while(char::is_ascii_uppercase)
            .collect();
        if !AREAS.contains(&area.as_str()) {
            return Err(PostcodeError::Area(area));
        }
        let last = outward.chars().last().unwrap_or(' ');
        let allowed = match *format {
            "A9A" => THIRD_OF_A9A,
            "AA9A" => FOURTH_OF_AA9A,
            _ => "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        };
        if !allowed.contains(last) {
            return Err(PostcodeError::Letter(last));
        }
        if let Some(c) = inward.chars().find(|c| NOT_INWARD.contains(*c)) {
            return Err(PostcodeError::Letter(c));
        }
        Ok(Postcode {
            outward: outward.to_string(),
            inward: inward.to_string(),
        })
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
                .map(|c| {
                    if c == 'A' {
                        Class::upper()
                    } else {
                        Class::digit()
                    }
                })
                .collect()
        })
        .collect()
}

/// A reading in the postcode's shape: upper case, one space before the last
/// three characters.
pub(crate) fn spaced(s: &str) -> String {
    let v: Vec<char> = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    if v.len() <= 3 {
        return v.into_iter().collect();
    }
    let (a, b) = v.split_at(v.len() - 3);
    format!(
        "{} {}",
        a.iter().collect::<String>(),
        b.iter().collect::<String>()
    )
}

/// Normalises a postcode field: the best fitting format's reading if it
/// keeps the rules, else the most believed reading that does in any format
/// (trying only alternatives the reader believed in), else the best
/// reading as read, flagged.
pub(super) fn normalise(w: &Written) -> Normalised {
    let cands = w.solid();
    let fits = fit_all(&cands, &formats(cands.len()), Case::Capitals);
    let Some((first_fit, first, _)) = fits.first() else {
        let noted = note::about_characters(&note::as_read(w), note::position);
        return Normalised::invalid(Value::String(spaced(&w.as_read())), w.read_confidence())
            .noted(noted);
    };
    let noted = |fitted: &Fitted, text: &str| {
        note::about_characters(&fitted.doubts(text), |d| place(text, d))
    };
    let valid = |t: &str| Postcode::parse(t).is_ok();
    if !first.broken && valid(&first.text) {
        return Normalised::new(Value::String(spaced(&first.text)), first.confidence)
            .noted(noted(first_fit, &first.text));
    }
    let found = fits
        .iter()
        .filter_map(|(fitted, _, share)| {
            fitted
                .search(valid, SEARCH_LIMIT)
                .map(|r| (r.text, r.confidence * share, fitted))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match found {
        Some((text, confidence, fitted)) => {
            Normalised::new(Value::String(spaced(&text)), confidence).noted(noted(fitted, &text))
        }
        None => Normalised::invalid(Value::String(spaced(&first.text)), first.confidence)
            .noted(noted(first_fit, &first.text)),
    }
}

/// Where a character of a postcode (`text`, without its space) sits: "the
/// first letter of the inward code", "the digit of the outward code".
fn place(text: &str, d: &Doubt) -> String {
    let chars: Vec<char> = text.chars().collect();
    let split = chars.len().saturating_sub(3);
    let (part, range) = if d.at < split {
        ("outward code", 0..split)
    } else {
        ("inward code", split..chars.len())
    };
    let kind = note::kind_of(d.chosen);
    let same: Vec<usize> = range.filter(|&i| note::kind_of(chars[i]) == kind).collect();
    match same.iter().position(|&i| i == d.at) {
        Some(_) if same.len() == 1 => format!("the {kind} of the {part}"),
        Some(k) => format!("{} of the {part}", note::nth(k + 1, kind)),
        None => note::position(d),
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
        for s in [
            "B6 5TD",
            "B76 1XD",
            "HS5 9GJ",
            "LL34 5ZD",
            "B2T 7LD",
            "DH0H 9FE",
            "sw1a1aa",
            " SW1A  1AA ",
        ] {
            assert!(Postcode::parse(s).is_ok(), "{s}");
        }
        assert_eq!(Postcode::parse("sw1a1aa").unwrap().as_string(), "SW1A 1AA");
        for s in [
            "",
            "SW1A",
            "1W1A 1AA",
            "SW1A 1A1",
            "SW1A AAA",
            "SWAA 1AA",
            "SW1A1 1AA",
            "ŚW1A 1AA",
        ] {
            assert_eq!(Postcode::parse(s), Err(PostcodeError::Shape), "{s}");
        }
    }

    #[test]
    fn parse_keeps_royal_mails_letter_rules() {
        assert_eq!(
            Postcode::parse("KP4V 2GS"),
            Err(PostcodeError::Area("KP".into()))
        );
        assert_eq!(
            Postcode::parse("Q1 1AA"),
            Err(PostcodeError::Area("Q".into()))
        );
        assert_eq!(Postcode::parse("L7S 5QK"), Err(PostcodeError::Letter('K')));
        assert_eq!(Postcode::parse("W1I 1AA"), Err(PostcodeError::Letter('I')));
        assert_eq!(Postcode::parse("EC1C 1AA"), Err(PostcodeError::Letter('C')));
        assert!(Postcode::parse("EC1A 1BB").is_ok());
        assert!(Postcode::parse("W1P 1AA").is_ok());
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
    fn a_believed_alternative_that_keeps_the_rules_is_taken() {
        // KP is no postcode area; the reader also saw an H.
        let raw = RawValue::Line {
            chars: vec![
                CharCandidates(vec![('K', 0.84), ('H', 0.75)]),
                CharCandidates::sure('P', 0.94),
                CharCandidates::sure('4', 0.95),
                CharCandidates::sure('V', 0.95),
                CharCandidates::sure(' ', 1.0),
                CharCandidates::sure('2', 0.99),
                CharCandidates::sure('B', 0.95),
                CharCandidates::sure('S', 0.95),
            ],
            ink: true,
        };
        let n = run(&pc(), &raw, &ctx());
        assert_eq!(n.value, json!("HP4V 2BS"));
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        // With nothing else believed, it is kept and flagged.
        let n = run(&pc(), &line("KP4V 2BS"), &ctx());
        assert_eq!((n.value, n.flags), (json!("KP4V 2BS"), vec![Flag::Invalid]));
        let n = run(&pc(), &line("L7S 5QK"), &ctx());
        assert_eq!((n.value, n.flags), (json!("L7S 5QK"), vec![Flag::Invalid]));
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
        assert_eq!(
            (n.value, n.flags),
            (json!("ABCDEF GHI"), vec![Flag::Invalid])
        );
    }

    fn valid_postcode() -> impl Strategy<Value = String> {
        let area = proptest::sample::select(AREAS.to_vec());
        let inward = "[0-9][ABD-HJLNP-UW-Z]{2}";
        (
            area,
            "[0-9]{2}",
            proptest::sample::select(THIRD_OF_A9A.chars().collect::<Vec<_>>()),
            proptest::sample::select(FOURTH_OF_AA9A.chars().collect::<Vec<_>>()),
            0..3usize,
            inward,
        )
            .prop_map(|(area, digits, third, fourth, shape, inward)| {
                let d: Vec<char> = digits.chars().collect();
                let outward = match (area.len(), shape) {
                    (1, 0) => format!("{area}{}", d[0]),
                    (1, 1) => format!("{area}{}{}", d[0], d[1]),
                    (1, _) => format!("{area}{}{third}", d[0]),
                    (_, 0) => format!("{area}{}", d[0]),
                    (_, 1) => format!("{area}{}{}", d[0], d[1]),
                    (_, _) => format!("{area}{}{fourth}", d[0]),
                };
                format!("{outward} {inward}")
            })
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
