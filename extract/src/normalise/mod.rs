//! Normalisation: one field's raw candidates in, its `CONTRACT.md` value,
//! confidence and flags out.
//!
//! This module owns each field type's grammar and the choice between the
//! readings the OCR offers: where only one class of character is allowed
//! (a digit in a date, a letter at the start of a postcode) the allowed
//! candidate or look-alike wins, with less confidence ([`chars`] explains
//! the confidence model). A value that still breaks its type's rules is
//! returned as read with the flag `invalid`. The small "parse, don't
//! validate" types ([`NiNumber`], [`Postcode`], [`Money`], [`Date`]) say
//! what a good value is.
//!
//! Rules that involve several fields (required, required_if,
//! required_unless, a signing date not before the date of birth) belong to
//! [`crate::validate`]; so does `missing_required`, which is never set here.

pub mod chars;
mod date;
mod email;
mod integer;
mod marks;
mod money;
mod ni_number;
mod pattern;
mod phone;
mod postcode;
mod text;

pub use date::{is_birth, Date, DateError, DatePart, MAX_AGE, MIN_AGE};
pub use money::{Money, MoneyError};
pub use ni_number::{NiNumber, NiNumberError};
pub use pattern::formats as pattern_formats;
pub use postcode::{Postcode, PostcodeError};

use crate::raw::{CharCandidates, RawValue};
use formflow_schemas::record::Flag;
use formflow_schemas::template::{FieldSpec, FieldType};
use serde_json::Value;

/// The confidence of a box with no writing at all: an empty box is the
/// easiest thing to read.
pub const BLANK_CONFIDENCE: f64 = 0.99;

/// The confidence of a box with ink the reader turned into no character
/// (a speck, a stray line): most likely blank, a little less sure.
const INKED_BLANK_CONFIDENCE: f64 = 0.95;

/// Factor on a field's confidence for each character the reader saw ink
/// for but could not read (the field is also flagged `ambiguous`).
const LOST_CHARACTER: f64 = 0.5;

/// What the reader puts for a character it saw ink for but could not read.
/// No field type allows it, so it is never a reading.
pub const UNREAD: char = '?';

/// Knobs and facts normalisation depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The day rules about the future and ages are judged on.
    pub today: chrono::NaiveDate,
    /// Fields whose confidence is below this get `low_confidence`. Higher
    /// sends more fields to review (fewer silent errors, more work); lower
    /// lets more through unchecked.
    pub review_threshold: f64,
}

/// One field after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    /// The value as `CONTRACT.md` gives it for the field's type.
    pub value: Value,
    /// The belief, 0..1, that `value` is exactly what the paper says.
    pub confidence: f64,
    /// Why the field needs review, sorted, without duplicates.
    pub flags: Vec<Flag>,
}

impl Normalised {
    /// A value with no flag yet.
    fn new(value: Value, confidence: f64) -> Normalised {
        Normalised {
            value,
            confidence,
            flags: Vec::new(),
        }
    }

    /// A value that breaks a rule: kept as read, flagged `invalid`.
    fn invalid(value: Value, confidence: f64) -> Normalised {
        Normalised {
            value,
            confidence,
            flags: vec![Flag::Invalid],
        }
    }

    /// Adds `invalid` unless `ok`.
    fn check(mut self, ok: bool) -> Normalised {
        if !ok {
            self.flags.push(Flag::Invalid);
        }
        self
    }
}

/// Turns what the reader saw in one field into its contract value, a
/// confidence and flags (`invalid`, `low_confidence`, `ambiguous`,
/// `unreadable`; never `missing_required`, which needs the whole form).
pub fn normalise(spec: &FieldSpec, raw: &RawValue, ctx: &Context) -> Normalised {
    let out = match (spec.kind, raw) {
        (_, RawValue::Unreadable) => unreadable(),
        (
            FieldType::Checkbox | FieldType::Signature,
            RawValue::Mark {
                present,
                confidence,
            },
        ) => marks::mark(*present, *confidence),
        (FieldType::Choice, RawValue::Choice(options)) => marks::choice(options),
        (FieldType::Checkbox | FieldType::Signature | FieldType::Choice, _) => unreadable(),
        (_, RawValue::Mark { .. } | RawValue::Choice(_)) => unreadable(),
        (kind, raw) => match written(raw) {
            Input::Blank(confidence) => Normalised::new(Value::Null, confidence),
            Input::Unreadable => unreadable(),
            Input::Chars(w) => {
                let mut n = match kind {
                    FieldType::Text => text::normalise(spec, &w),
                    FieldType::Date => date::normalise(spec, &w, ctx),
                    FieldType::NiNumber => ni_number::normalise(&w),
                    FieldType::Postcode => postcode::normalise(&w),
                    FieldType::Email => email::normalise(&w),
                    FieldType::Phone => phone::normalise(&w),
                    FieldType::Money => money::normalise(&w),
                    FieldType::Integer => integer::normalise(spec, &w),
                    FieldType::Checkbox | FieldType::Signature | FieldType::Choice => unreadable(),
                };
                if w.lost > 0 {
                    n.flags.push(Flag::Ambiguous);
                    n.confidence *= LOST_CHARACTER.powi(i32::try_from(w.lost).unwrap_or(i32::MAX));
                }
                n
            }
        },
    };
    finish(out, ctx)
}

/// Ink that gave nothing readable.
fn unreadable() -> Normalised {
    Normalised {
        value: Value::Null,
        confidence: 0.0,
        flags: vec![Flag::Unreadable],
    }
}

/// Clamps the confidence, adds `low_confidence` where it is due and sorts
/// the flags. One flag is enough: `low_confidence` is not added to a field
/// already `invalid` or `unreadable`.
pub(crate) fn finish(mut n: Normalised, ctx: &Context) -> Normalised {
    n.confidence = if n.confidence.is_finite() {
        n.confidence.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let flagged = n
        .flags
        .iter()
        .any(|f| matches!(f, Flag::Invalid | Flag::Unreadable));
    if flagged {
        n.flags.retain(|f| *f != Flag::LowConfidence);
    } else if n.confidence < ctx.review_threshold {
        n.flags.push(Flag::LowConfidence);
    }
    n.flags.sort();
    n.flags.dedup();
    n
}

/// The characters written in a text box or comb.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written<'a> {
    /// Left to right; `None` for an empty comb cell.
    pub chars: Vec<Option<&'a CharCandidates>>,
    /// Characters with ink but no candidate at all, left out of `chars`.
    pub lost: usize,
}

impl<'a> Written<'a> {
    /// The characters that are neither empty cells nor spaces.
    pub fn solid(&self) -> Vec<&'a CharCandidates> {
        self.chars
            .iter()
            .flatten()
            .copied()
            .filter(|c| !is_space(c))
            .collect()
    }

    /// The product of the reader's beliefs in its first choices: the
    /// confidence of a value kept exactly as read.
    pub fn read_confidence(&self) -> f64 {
        self.chars
            .iter()
            .flatten()
            .filter_map(|c| c.best())
            .map(|(_, p)| chars::clean(p))
            .product()
    }

    /// The reader's first choices, empty cells and all, as one string
    /// (empty cells become spaces).
    pub fn as_read(&self) -> String {
        self.chars
            .iter()
            .map(|c| c.and_then(CharCandidates::best).map_or(' ', |(ch, _)| ch))
            .collect()
    }
}

/// Whether the reader's first choice is a space.
pub(crate) fn is_space(c: &CharCandidates) -> bool {
    c.best().is_some_and(|(ch, _)| ch.is_whitespace())
}

/// What a character field's raw value amounts to.
enum Input<'a> {
    /// No writing: the value is blank.
    Blank(f64),
    /// Ink, but not one character could be read.
    Unreadable,
    /// Something to read.
    Chars(Written<'a>),
}

/// Sorts a Line or comb into blank, unreadable or characters.
fn written(raw: &RawValue) -> Input<'_> {
    let (items, inked): (Vec<Option<&CharCandidates>>, bool) = match raw {
        RawValue::Line { ink: false, .. } => return Input::Blank(BLANK_CONFIDENCE),
        RawValue::Line { chars, .. } => (chars.iter().map(Some).collect(), true),
        RawValue::Cells(cells) => (cells.iter().map(Option::as_ref).collect(), false),
        _ => return Input::Unreadable,
    };
    // A character with no candidate, or only the reader's `?` (ink it could
    // not read), is lost: it leaves a comb cell empty and a line shorter.
    let is_lost = |c: &CharCandidates| c.0.iter().all(|(ch, _)| *ch == UNREAD);
    let lost = items.iter().flatten().filter(|c| is_lost(c)).count();
    let chars: Vec<Option<&CharCandidates>> = items
        .into_iter()
        .map(|c| c.filter(|c| !is_lost(c)))
        .filter(|c| !inked || c.is_some())
        .collect();
    let w = Written { chars, lost };
    if w.solid().is_empty() {
        if lost > 0 {
            return Input::Unreadable;
        }
        return Input::Blank(if inked && !w.chars.is_empty() {
            INKED_BLANK_CONFIDENCE
        } else {
            BLANK_CONFIDENCE
        });
    }
    Input::Chars(w)
}

/// Upper case, runs of white space made single spaces, trimmed.
pub(crate) fn tidy(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for raw values and specs shared by the type tests.

    use super::*;
    use formflow_schemas::template::BoxMm;

    /// A spec of `kind` called `name` with no rules.
    pub fn spec(name: &str, kind: FieldType) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            page: 1,
            kind,
            label: None,
            box_mm: BoxMm {
                x: 10.0,
                y: 10.0,
                w: 50.0,
                h: 8.0,
            },
            cells: None,
            options: None,
            case: Some("upper".into()),
            required: false,
            required_if: None,
            required_unless: None,
            range: None,
            pattern: None,
            charset: None,
        }
    }

    /// The context of the tests: 22 November 2026, review below 0.7.
    pub fn ctx() -> Context {
        Context {
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            review_threshold: 0.7,
        }
    }

    /// A text line read with no doubt.
    pub fn line(s: &str) -> RawValue {
        RawValue::Line {
            chars: s.chars().map(|c| CharCandidates::sure(c, 0.99)).collect(),
            ink: true,
        }
    }

    /// A comb read with no doubt; `_` is an empty cell.
    pub fn cells(s: &str) -> RawValue {
        RawValue::Cells(
            s.chars()
                .map(|c| (c != '_').then(|| CharCandidates::sure(c, 0.99)))
                .collect(),
        )
    }

    /// A text line whose characters have alternatives: `[5S]` is a `5`
    /// at 0.7 with an `S` at 0.25; other characters are sure.
    pub fn doubtful(s: &str) -> RawValue {
        let mut chars = Vec::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '[' {
                let a = it.next().unwrap();
                let b = it.next().unwrap();
                assert_eq!(it.next(), Some(']'));
                chars.push(CharCandidates(vec![(a, 0.7), (b, 0.25)]));
            } else {
                chars.push(CharCandidates::sure(c, 0.99));
            }
        }
        RawValue::Line { chars, ink: true }
    }

    /// Like [`doubtful`], as a comb.
    pub fn doubtful_cells(s: &str) -> RawValue {
        match doubtful(s) {
            RawValue::Line { chars, .. } => RawValue::Cells(chars.into_iter().map(Some).collect()),
            _ => unreachable!(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn blank_boxes_are_null_and_sure() {
        let s = spec("surname", FieldType::Text);
        let n = normalise(
            &s,
            &RawValue::Line {
                chars: vec![],
                ink: false,
            },
            &ctx(),
        );
        assert_eq!(
            n,
            Normalised {
                value: Value::Null,
                confidence: BLANK_CONFIDENCE,
                flags: vec![]
            }
        );
        let n = normalise(
            &s,
            &RawValue::Line {
                chars: vec![CharCandidates::sure('A', 0.9)],
                ink: false,
            },
            &ctx(),
        );
        assert_eq!(n.value, Value::Null);
        let n = normalise(
            &s,
            &RawValue::Line {
                chars: vec![],
                ink: true,
            },
            &ctx(),
        );
        assert_eq!((n.value, n.flags), (Value::Null, vec![]));
        let n = normalise(&spec("d", FieldType::Date), &cells("________"), &ctx());
        assert_eq!((n.value, n.flags), (Value::Null, vec![]));
        let n = normalise(&s, &line("   "), &ctx());
        assert_eq!((n.value, n.flags), (Value::Null, vec![]));
    }

    #[test]
    fn unreadable_ink_is_null_and_flagged() {
        for kind in [
            FieldType::Text,
            FieldType::Checkbox,
            FieldType::Choice,
            FieldType::Money,
        ] {
            let n = normalise(&spec("x", kind), &RawValue::Unreadable, &ctx());
            assert_eq!(
                n,
                Normalised {
                    value: Value::Null,
                    confidence: 0.0,
                    flags: vec![Flag::Unreadable]
                }
            );
        }
        let only_lost = RawValue::Line {
            chars: vec![CharCandidates(vec![])],
            ink: true,
        };
        let n = normalise(&spec("x", FieldType::Text), &only_lost, &ctx());
        assert_eq!(n.flags, vec![Flag::Unreadable]);
    }

    #[test]
    fn a_raw_value_of_the_wrong_kind_is_unreadable() {
        let n = normalise(
            &spec("x", FieldType::Text),
            &RawValue::Mark {
                present: true,
                confidence: 0.9,
            },
            &ctx(),
        );
        assert_eq!(n.flags, vec![Flag::Unreadable]);
        let n = normalise(&spec("x", FieldType::Checkbox), &line("X"), &ctx());
        assert_eq!(n.flags, vec![Flag::Unreadable]);
    }

    #[test]
    fn an_unreadable_character_makes_the_field_ambiguous() {
        let raw = RawValue::Line {
            chars: vec![
                CharCandidates::sure('A', 0.99),
                CharCandidates(vec![]),
                CharCandidates::sure('B', 0.99),
            ],
            ink: true,
        };
        let n = normalise(&spec("x", FieldType::Text), &raw, &ctx());
        assert_eq!(n.value, json!("AB"));
        assert_eq!(n.flags, vec![Flag::LowConfidence, Flag::Ambiguous]);
    }

    #[test]
    fn the_readers_question_mark_is_a_lost_character() {
        let n = normalise(
            &spec("n", FieldType::Integer),
            &doubtful_cells("?0"),
            &ctx(),
        );
        assert_eq!(
            (n.value, n.flags),
            (json!(0), vec![Flag::LowConfidence, Flag::Ambiguous])
        );
        let n = normalise(&spec("n", FieldType::Integer), &cells("??"), &ctx());
        assert_eq!((n.value, n.flags), (Value::Null, vec![Flag::Unreadable]));
        let n = normalise(&spec("n", FieldType::NiNumber), &cells("?B123456C"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("B123456C"), vec![Flag::Invalid, Flag::Ambiguous])
        );
    }

    #[test]
    fn low_confidence_is_added_below_the_threshold_but_not_on_invalid() {
        let raw = RawValue::Line {
            chars: vec![CharCandidates::sure('A', 0.5)],
            ink: true,
        };
        let n = normalise(&spec("x", FieldType::Text), &raw, &ctx());
        assert_eq!(n.flags, vec![Flag::LowConfidence]);
        let raw = RawValue::Line {
            chars: vec![CharCandidates::sure('A', 0.5)],
            ink: true,
        };
        let n = normalise(&spec("x", FieldType::Postcode), &raw, &ctx());
        assert_eq!(n.flags, vec![Flag::Invalid]);
        let strict = Context {
            review_threshold: 0.0,
            ..ctx()
        };
        let n = normalise(&spec("x", FieldType::Text), &line("A"), &strict);
        assert!(n.flags.is_empty());
    }

    #[test]
    fn finish_sorts_dedups_and_clamps() {
        let n = Normalised {
            value: Value::Null,
            confidence: f64::NAN,
            flags: vec![
                Flag::Ambiguous,
                Flag::Invalid,
                Flag::Ambiguous,
                Flag::LowConfidence,
            ],
        };
        let n = finish(n, &ctx());
        assert_eq!(n.flags, vec![Flag::Invalid, Flag::Ambiguous]);
        assert_eq!(n.confidence, 0.0);
    }

    #[test]
    fn tidy_upper_cases_and_single_spaces() {
        assert_eq!(tidy("  o'neil   smith-jones "), "O'NEIL SMITH-JONES");
    }

    const KINDS: [FieldType; 11] = [
        FieldType::Text,
        FieldType::Date,
        FieldType::NiNumber,
        FieldType::Postcode,
        FieldType::Email,
        FieldType::Phone,
        FieldType::Money,
        FieldType::Integer,
        FieldType::Checkbox,
        FieldType::Signature,
        FieldType::Choice,
    ];

    fn any_candidates() -> impl Strategy<Value = CharCandidates> {
        proptest::collection::vec((any::<char>(), any::<f32>()), 0..4).prop_map(CharCandidates)
    }

    fn any_raw() -> impl Strategy<Value = RawValue> {
        prop_oneof![
            (
                proptest::collection::vec(any_candidates(), 0..14),
                any::<bool>()
            )
                .prop_map(|(chars, ink)| RawValue::Line { chars, ink }),
            proptest::collection::vec(proptest::option::of(any_candidates()), 0..12)
                .prop_map(RawValue::Cells),
            (any::<bool>(), any::<f64>()).prop_map(|(present, confidence)| RawValue::Mark {
                present,
                confidence
            }),
            proptest::collection::vec(("[a-z]{1,6}", any::<bool>(), any::<f64>()), 0..5)
                .prop_map(RawValue::Choice),
            Just(RawValue::Unreadable),
        ]
    }

    proptest! {
        #[test]
        fn no_raw_value_makes_any_field_type_panic(raw in any_raw(), pattern in proptest::option::of("\\PC{0,10}")) {
            for kind in KINDS {
                let mut s = spec("date_of_birth", kind);
                s.pattern = pattern.clone();
                s.range = Some([0, 20]);
                let n = normalise(&s, &raw, &ctx());
                prop_assert!((0.0..=1.0).contains(&n.confidence));
                let mut sorted = n.flags.clone();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(&sorted, &n.flags);
                prop_assert!(!(n.flags.contains(&Flag::Invalid) && n.flags.contains(&Flag::LowConfidence)));
                prop_assert!(!n.flags.contains(&Flag::MissingRequired));
            }
        }
    }
}
