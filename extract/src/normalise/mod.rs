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
//! what a good value is. Each field also gets a note, one plain sentence
//! on what the reading leaves in doubt, by the place the least believed
//! character holds in its type's grammar (`note`).
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
mod note;
mod pattern;
mod phone;
mod postcode;
mod text;

pub use date::{date_rules_hold, is_birth, Date, DateError, DatePart, MAX_AGE, MIN_AGE};
pub use email::is_address;
pub use money::{Money, MoneyError};
pub use ni_number::{NiNumber, NiNumberError};
pub use note::Doubt;
pub use pattern::formats as pattern_formats;
pub use phone::is_phone;
pub use postcode::{Postcode, PostcodeError};

pub(crate) use date::{iso_order, written_digits};
pub(crate) use note::{listed, words};
pub(crate) use phone::as_typed as phone_as_typed;
pub(crate) use postcode::spaced;
pub(crate) use text::checks as text_checks;

use crate::raw::{CharCandidates, RawValue};
use formflow_schemas::record::{FieldResult, Flag};
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
    /// What the engine was unsure of in reading the field, in one plain
    /// sentence starting in lower case ("the NI number's last letter is
    /// unclear"), or how sure it is ("every character reads clearly"):
    /// given for every field read, kept in the record only for a flagged
    /// one. `None` for a value that was not read (a person's correction).
    pub note: Option<String>,
}

impl Normalised {
    /// A value with no flag yet.
    fn new(value: Value, confidence: f64) -> Normalised {
        Normalised {
            value,
            confidence,
            flags: Vec::new(),
            note: None,
        }
    }

    /// A value that breaks a rule: kept as read, flagged `invalid`.
    fn invalid(value: Value, confidence: f64) -> Normalised {
        Normalised {
            value,
            confidence,
            flags: vec![Flag::Invalid],
            note: None,
        }
    }

    /// The same with `note`.
    fn noted(self, note: Option<String>) -> Normalised {
        Normalised { note, ..self }
    }

    /// The field as a record gives it: the confidence rounded to three
    /// decimals, the note kept only when the field is flagged.
    pub fn into_field_result(self) -> FieldResult {
        let flagged = !self.flags.is_empty();
        FieldResult {
            value: self.value,
            confidence: (self.confidence * 1000.0).round() / 1000.0,
            flags: self.flags,
            note: if flagged { self.note } else { None },
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

impl From<FieldResult> for Normalised {
    /// A field as a record holds it (as stored, say), to be checked again
    /// with the rules of the whole form ([`crate::review::check_record`]).
    fn from(f: FieldResult) -> Normalised {
        Normalised {
            value: f.value,
            confidence: f.confidence,
            flags: f.flags,
            note: f.note,
        }
    }
}

/// Turns what the reader saw in one field into its contract value, a
/// confidence and flags (`invalid`, `low_confidence`, `ambiguous`,
/// `unreadable`; never `missing_required`, which needs the whole form),
/// with a note on how sure the reading is (see [`Normalised::note`]).
pub fn normalise(spec: &FieldSpec, raw: &RawValue, ctx: &Context) -> Normalised {
    let out = match (spec.kind, raw) {
        (_, RawValue::Unreadable) => unreadable(),
        (
            FieldType::Checkbox | FieldType::Signature,
            RawValue::Mark {
                present,
                confidence,
            },
        ) => marks::mark(spec.kind, *present, *confidence),
        (FieldType::Choice, RawValue::Choice(options)) => marks::choice(options),
        (FieldType::Checkbox | FieldType::Signature | FieldType::Choice, _) => unreadable(),
        (_, RawValue::Mark { .. } | RawValue::Choice(_)) => unreadable(),
        (kind, raw) => match written(raw) {
            Input::Blank { confidence, faint } => Normalised::new(Value::Null, confidence).noted(
                Some(if faint { note::FAINT } else { note::EMPTY }.to_string()),
            ),
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
                    n.note = Some(note::lost(w.lost));
                }
                n
            }
        },
    };
    let mut n = finish(out, ctx);
    if n.note.is_none() {
        let uncertain = n.flags.contains(&Flag::LowConfidence);
        n.note = Some(
            if uncertain {
                note::UNCERTAIN
            } else {
                note::CLEAR
            }
            .to_string(),
        );
    }
    n
}

/// Ink that gave nothing readable.
fn unreadable() -> Normalised {
    Normalised {
        value: Value::Null,
        confidence: 0.0,
        flags: vec![Flag::Unreadable],
        note: Some(note::UNREADABLE.to_string()),
    }
}

/// A field whose page is missing from the file: nothing was read.
pub(crate) fn page_missing() -> Normalised {
    Normalised {
        note: Some(note::MISSING_PAGE.to_string()),
        ..unreadable()
    }
}

/// The exponent that turns the engine's belief in a field into a
/// calibrated confidence: `belief ^ CALIBRATION`.
///
/// A field's belief multiplies its characters' beliefs, each of which
/// allows for doubt the field's rules then remove, so beliefs run low: on
/// the three shared sample sets (2,970 fields) the fields believed 0 to 0.5
/// were right 56% of the time. One exponent fitted over all three sets
/// makes the stated confidence honest: with it, the fields given 0.9 to
/// 0.95 were right 88% to 100% of the time per set, and the calibration
/// error (accuracy against confidence, by band) fell from 0.115, 0.095 and
/// 0.213 to 0.021, 0.023 and 0.019 when it was fitted (`formflow eval`
/// gave 0.015, 0.022 and 0.016 at the commit that closed issue 8). It is
/// monotone, so which fields are surer than which is unchanged; the review
/// threshold moved with it.
pub const CALIBRATION: f64 = 0.2;

/// Clamps the belief, calibrates it ([`CALIBRATION`]), adds
/// `low_confidence` where it is due and sorts the flags. One flag is
/// enough: `low_confidence` is not added to a field already `invalid` or
/// `unreadable`.
pub(crate) fn finish(mut n: Normalised, ctx: &Context) -> Normalised {
    n.confidence = if n.confidence.is_finite() {
        n.confidence.clamp(0.0, 1.0).powf(CALIBRATION)
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
    /// No writing: the value is blank, believed this much; `faint` when
    /// there was ink the reader made no character of.
    Blank { confidence: f64, faint: bool },
    /// Ink, but not one character could be read.
    Unreadable,
    /// Something to read.
    Chars(Written<'a>),
}

/// Sorts a Line or comb into blank, unreadable or characters.
fn written(raw: &RawValue) -> Input<'_> {
    let (items, inked): (Vec<Option<&CharCandidates>>, bool) = match raw {
        RawValue::Line { ink: false, .. } => {
            return Input::Blank {
                confidence: BLANK_CONFIDENCE,
                faint: false,
            }
        }
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
        let faint = inked && !w.chars.is_empty();
        return Input::Blank {
            confidence: if faint {
                INKED_BLANK_CONFIDENCE
            } else {
                BLANK_CONFIDENCE
            },
            faint,
        };
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

    /// A belief as [`finish`] states it.
    pub fn calibrated(belief: f64) -> f64 {
        belief.powf(CALIBRATION)
    }

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
            review_threshold: 0.7f64.powf(CALIBRATION),
        }
    }

    /// The flags of the field called `name` (which must be there).
    pub fn flags(fields: &[(String, Normalised)], name: &str) -> Vec<Flag> {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.flags.clone())
            .unwrap()
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
                confidence: calibrated(BLANK_CONFIDENCE),
                flags: vec![],
                note: Some("the box is empty".into()),
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
        assert_eq!(
            (n.value, n.confidence, n.flags, n.note.as_deref()),
            (
                Value::Null,
                calibrated(INKED_BLANK_CONFIDENCE),
                vec![],
                Some("the box looks empty but has faint marks")
            )
        );
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
                    flags: vec![Flag::Unreadable],
                    note: Some("there is writing here that could not be read".into()),
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
            note: None,
        };
        let n = finish(n, &ctx());
        assert_eq!(n.flags, vec![Flag::Invalid, Flag::Ambiguous]);
        assert_eq!(n.confidence, 0.0);
    }

    #[test]
    fn notes_name_the_unclear_character_by_its_place_in_the_grammar() {
        let note = |kind: FieldType, raw: RawValue| {
            let mut s = spec("date_of_birth", kind);
            if kind == FieldType::Text {
                s.pattern = Some("^[0-9][A-Z][0-9]{3}[A-Z]$".into());
            }
            normalise(&s, &raw, &ctx()).note.unwrap_or_default()
        };
        for (kind, raw, want) in [
            (
                FieldType::Date,
                doubtful_cells("140[38]1985"),
                "the second digit of the month could be 3 or 8",
            ),
            (
                FieldType::NiNumber,
                doubtful_cells("AB123456[CG]"),
                "the NI number's last letter could be C or G",
            ),
            (
                FieldType::Postcode,
                doubtful("SW1A 1[AR]A"),
                "the first letter of the inward code could be A or R",
            ),
            (
                FieldType::Postcode,
                doubtful("B[67] 5TD"),
                "the digit of the outward code could be 6 or 7",
            ),
            (
                FieldType::Money,
                doubtful("12.[53]0"),
                "the first digit of the pence could be 5 or 3",
            ),
            (
                FieldType::Money,
                doubtful("1[23],000"),
                "the second digit of the pounds could be 2 or 3",
            ),
            (
                FieldType::Integer,
                doubtful_cells("1[74]"),
                "the second digit could be 7 or 4",
            ),
            (
                FieldType::Phone,
                doubtful("0700[61] 516030"),
                "the fifth digit could be 6 or 1",
            ),
            (
                FieldType::Email,
                doubtful("a[bh]@c.com"),
                "the second character of the address could be b or h",
            ),
            (
                FieldType::Text,
                doubtful_cells("2B[13]38L"),
                "the third character could be 1 or 3",
            ),
            (
                FieldType::Date,
                doubtful_cells("[12][34]031985"),
                "the first digit of the day could be 1 or 2, and 1 other character is unclear",
            ),
            (
                FieldType::Date,
                cells("14031985"),
                "every character reads clearly",
            ),
            (
                FieldType::Checkbox,
                RawValue::Mark {
                    present: true,
                    confidence: 0.6,
                },
                "the tick is faint: the box may be empty",
            ),
            (
                FieldType::Signature,
                RawValue::Mark {
                    present: false,
                    confidence: 0.99,
                },
                "the signature box is clearly empty",
            ),
            (
                FieldType::Choice,
                RawValue::Choice(vec![
                    ("yes".into(), true, 0.9),
                    ("prefer_not_to_say".into(), true, 0.95),
                ]),
                "2 options are ticked: yes and prefer not to say",
            ),
            (
                FieldType::Choice,
                RawValue::Choice(vec![("yes".into(), false, 0.6), ("no".into(), true, 0.95)]),
                "the box for yes looks empty but has faint marks",
            ),
        ] {
            assert_eq!(note(kind, raw), want, "{kind:?}");
        }
        // Free text: the letter in its word; a rival the reader saw stands
        // out even where the grammar is sure.
        let n = normalise(
            &spec("surname", FieldType::Text),
            &doubtful("JOHN SM[I1]TH"),
            &ctx(),
        );
        assert_eq!(
            (n.value, n.note.as_deref()),
            (
                json!("JOHN SMITH"),
                Some("the third letter of the second word could be I or 1")
            )
        );
        let lost = RawValue::Line {
            chars: vec![
                CharCandidates::sure('A', 0.99),
                CharCandidates(vec![]),
                CharCandidates(vec![(UNREAD, 0.4)]),
            ],
            ink: true,
        };
        assert_eq!(
            note(FieldType::Postcode, lost),
            "2 characters could not be read"
        );
    }

    #[test]
    fn a_record_keeps_the_note_of_a_flagged_field_only() {
        let n = Normalised {
            value: json!("1985-03-14"),
            confidence: 0.61249,
            flags: vec![Flag::LowConfidence],
            note: Some("the second digit of the month is unclear".into()),
        };
        let f = n.clone().into_field_result();
        assert_eq!(
            f,
            FieldResult {
                value: json!("1985-03-14"),
                confidence: 0.612,
                flags: vec![Flag::LowConfidence],
                note: Some("the second digit of the month is unclear".into()),
            }
        );
        assert_eq!(Normalised::from(f.clone()).into_field_result(), f);
        let clear = Normalised { flags: vec![], ..n };
        assert_eq!(clear.into_field_result().note, None);
        assert_eq!(page_missing().note.as_deref(), Some(note::MISSING_PAGE));
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
        fn no_raw_value_makes_any_field_type_panic(
            raw in any_raw(),
            pattern in proptest::option::of("\\PC{0,10}"),
        ) {
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
                prop_assert!(
                    !(n.flags.contains(&Flag::Invalid) && n.flags.contains(&Flag::LowConfidence))
                );
                prop_assert!(!n.flags.contains(&Flag::MissingRequired));
            }
        }
    }
}
