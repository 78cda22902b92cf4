//! Choosing characters by grammar: given the OCR candidates for each
//! position and the class of characters a field type allows there, pick the
//! most likely allowed character and say how sure we are.
//!
//! This module owns the confidence model used by every character field:
//!
//! - Each candidate's probability `p` is clamped to 0..1 (NaN counts as 0);
//!   what the candidates leave unclaimed, `1 - Σp`, is "some character the
//!   reader did not list", which could be an allowed one.
//! - A candidate that is allowed as read (or after upper/lower casing) gives
//!   its whole `p` to that character. One that is not allowed but is a known
//!   look-alike of an allowed character (`O`→`0`, `5`→`S`, ...) gives `p × w`,
//!   `w` being how reliably the two are confused.
//! - The chosen character's confidence is its share of the allowed mass
//!   (`s / (Σ s + unclaimed)`): the grammar rules the other readings out, so
//!   the belief moves to what is left. It is lowered by [`OVERRIDE`] when the
//!   grammar overrode the reader's first choice, and by `w` again when only a
//!   look-alike supports it.
//! - A value's confidence is the product over its characters: the chance
//!   that every character is right, which is what "the value is exactly
//!   right" means. The minimum would overstate long values (20 characters
//!   each 90% sure are all right only 12% of the time), and an overstated
//!   confidence is how wrong values slip through unflagged.

use super::note::Doubt;
use crate::raw::CharCandidates;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

/// Factor on a character's confidence when the grammar picked something
/// other than the reader's first choice. Lower values send more corrected
/// fields to review; higher ones trust the grammar more.
pub const OVERRIDE: f64 = 0.9;

/// Weight, in comparing a field's alternative formats, of a position filled
/// only by a look-alike mapping rather than by a listed candidate: the reader
/// would usually have listed the character if it saw that shape.
const LOOKALIKE_ONLY: f64 = 0.05;

/// Weight, in comparing alternative formats, of a position nothing fits.
const BROKEN: f64 = 1e-4;

/// A set of characters allowed at one position: ASCII characters as a bit
/// mask, or any character at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    mask: u128,
    any: bool,
}

impl Class {
    /// Every character.
    pub const ANY: Class = Class { mask: 0, any: true };

    /// No character.
    pub const NONE: Class = Class {
        mask: 0,
        any: false,
    };

    /// The ASCII characters from `a` to `b` inclusive (empty when either is
    /// not ASCII).
    pub fn range(a: char, b: char) -> Class {
        let mut mask = 0u128;
        if a.is_ascii() && b.is_ascii() {
            for c in (a as u32)..=(b as u32) {
                mask |= 1u128 << c;
            }
        }
        Class { mask, any: false }
    }

    /// The ASCII characters in `chars`.
    pub fn of(chars: &str) -> Class {
        let mut mask = 0u128;
        for c in chars.chars().filter(char::is_ascii) {
            mask |= 1u128 << (c as u32);
        }
        Class { mask, any: false }
    }

    /// One character (empty when it is not ASCII).
    pub fn lit(c: char) -> Class {
        Class::range(c, c)
    }

    /// `0`-`9`.
    pub fn digit() -> Class {
        Class::range('0', '9')
    }

    /// `A`-`Z`.
    pub fn upper() -> Class {
        Class::range('A', 'Z')
    }

    /// Either class.
    pub fn union(self, other: Class) -> Class {
        Class {
            mask: self.mask | other.mask,
            any: self.any || other.any,
        }
    }

    /// This class less the ASCII characters in `chars` (no effect on ANY).
    pub fn minus(self, chars: &str) -> Class {
        Class {
            mask: self.mask & !Class::of(chars).mask,
            any: self.any,
        }
    }

    /// The printable ASCII characters in the class, as a reader's
    /// whitelist (a class of any character gives every one).
    pub fn chars(self) -> String {
        (' '..='~').filter(|&c| self.contains(c)).collect()
    }

    /// Whether `c` is allowed.
    pub fn contains(self, c: char) -> bool {
        self.any || (c.is_ascii() && (self.mask >> (c as u32)) & 1 == 1)
    }

    /// The one character this class allows, if it allows exactly one.
    pub fn literal(self) -> Option<char> {
        if self.any || self.mask.count_ones() != 1 {
            return None;
        }
        char::from_u32(self.mask.trailing_zeros())
    }
}

/// How a field's characters are cased before they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Block capitals (NI numbers, postcodes, codes, words written all in
    /// capitals): a lower-case `l` the reader reports is a capital `I`, a
    /// bare stroke, not an `L`.
    Capitals,
    /// Upper-cased as it comes (a word the reader saw in lower case).
    Upper,
    /// Email addresses.
    Lower,
}

/// A candidate recased for the field.
pub fn fold(c: char, case: Case) -> char {
    match case {
        Case::Capitals if c == 'l' => 'I',
        Case::Capitals | Case::Upper => c.to_ascii_uppercase(),
        Case::Lower => c.to_ascii_lowercase(),
    }
}

/// Characters OCR confuses with `c`, and how reliably (0..1) a reading of
/// `c` stands for each when `c` itself is not allowed at the position.
/// Only shapes that are near-identical in print or block capitals are
/// listed; letter-for-letter swaps are left to the reader's own candidates.
pub fn look_alikes(c: char) -> &'static [(char, f64)] {
    match c {
        'O' | 'o' => &[('0', 0.9)],
        'Q' => &[('0', 0.7)],
        'D' => &[('0', 0.6)],
        'I' | 'l' => &[('1', 0.9), ('/', 0.6)],
        'i' | 'L' | '!' => &[('1', 0.5)],
        '|' => &[('1', 0.8), ('I', 0.8), ('/', 0.6)],
        'S' | 's' => &[('5', 0.7)],
        'Z' | 'z' => &[('2', 0.7)],
        'B' => &[('8', 0.7)],
        'G' | 'b' => &[('6', 0.6)],
        'T' => &[('7', 0.6)],
        'A' => &[('4', 0.5)],
        'g' | 'q' => &[('9', 0.5)],
        '0' => &[('O', 0.9), ('D', 0.5)],
        '1' => &[('I', 0.9), ('/', 0.6)],
        '5' => &[('S', 0.7)],
        '2' => &[('Z', 0.7)],
        '8' => &[('B', 0.7)],
        '6' => &[('G', 0.6)],
        '7' => &[('T', 0.6), ('/', 0.4)],
        '4' => &[('A', 0.5)],
        '_' => &[('-', 0.8)],
        '~' => &[('-', 0.6)],
        ',' => &[('.', 0.6)],
        '.' => &[(',', 0.6)],
        _ => &[],
    }
}

/// A probability made safe: NaN and out-of-range values cannot leak into
/// confidences.
pub fn clean(p: f32) -> f64 {
    let p = f64::from(p);
    if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// One allowed character at a position, with the belief in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// The character, as the value will hold it.
    pub ch: char,
    /// The probability mass the candidates give it (look-alikes weighted).
    pub score: f64,
    /// The belief that it is the written character (see the module doc).
    pub conf: f64,
    /// The part of `score` that listed candidates (not look-alikes) give.
    pub listed: f64,
}

/// What one position allows, from the reader's candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// The allowed characters, most believed first; empty when nothing the
    /// reader saw fits the class.
    pub picks: Vec<Pick>,
    /// The reader's first choice, recased: the value holds it "as read"
    /// when nothing fits.
    pub top: char,
    /// The reader's belief in its first choice.
    pub top_p: f64,
    /// Every candidate the reader listed, recased, with its belief (for
    /// saying what else a character could be).
    pub read: Vec<(char, f64)>,
}

impl Slot {
    /// Weighs the candidates for one position against its class.
    pub fn new(cands: &CharCandidates, class: Class, case: Case) -> Slot {
        let list: Vec<(char, f64)> = cands.0.iter().map(|&(c, p)| (c, clean(p))).collect();
        let total: f64 = list.iter().map(|&(_, p)| p).sum();
        let unclaimed = (1.0 - total).max(0.0);
        let (top, top_p) = list
            .first()
            .map_or(('?', 0.0), |&(c, p)| (fold(c, case), p));
        // (char, mass, listed mass, strongest look-alike weight that supports it)
        let mut mass: Vec<(char, f64, f64, f64)> = Vec::new();
        let add = |mass: &mut Vec<(char, f64, f64, f64)>, m: char, s: f64, listed: f64, w: f64| {
            if let Some(e) = mass.iter_mut().find(|e| e.0 == m) {
                e.1 += s;
                e.2 += listed;
                e.3 = e.3.max(w);
            } else {
                mass.push((m, s, listed, w));
            }
        };
        for &(c, p) in &list {
            let f = fold(c, case);
            if class.contains(f) {
                add(&mut mass, f, p, p, 1.0);
            }
        }
        // A look-alike adds weight to a character the reader listed, or
        // stands in when it listed none that fits: a listed `L` beats a `1`
        // that could have been an unlisted `I`.
        let none_listed = mass.is_empty();
        for &(c, p) in &list {
            let f = fold(c, case);
            if class.contains(f) {
                continue;
            }
            if let Some(&(m, w)) = look_alikes(c)
                .iter()
                .chain(look_alikes(f))
                .find(|(m, _)| class.contains(fold(*m, case)))
            {
                let m = fold(m, case);
                if none_listed || mass.iter().any(|e| e.0 == m) {
                    add(&mut mass, m, p * w, 0.0, w);
                }
            }
        }
        let denom: f64 = mass.iter().map(|e| e.1).sum::<f64>() + unclaimed;
        let mut picks: Vec<Pick> = mass
            .into_iter()
            .map(|(ch, s, listed, w)| {
                let share = if denom > 0.0 {
                    (s / denom).min(1.0)
                } else {
                    0.0
                };
                let overridden = if ch == top { 1.0 } else { OVERRIDE };
                let weak = if listed > 0.0 { 1.0 } else { w };
                Pick {
                    ch,
                    score: s,
                    conf: share * overridden * weak,
                    listed,
                }
            })
            .collect();
        picks.sort_by(|a, b| b.conf.total_cmp(&a.conf).then(b.score.total_cmp(&a.score)));
        let read = list.iter().map(|&(c, p)| (fold(c, case), p)).collect();
        Slot {
            picks,
            top,
            top_p,
            read,
        }
    }

    /// A position the field supplies itself (a separator the writer left
    /// out), with the belief that it belongs there.
    pub fn supplied(c: char, conf: f64) -> Slot {
        Slot {
            picks: vec![Pick {
                ch: c,
                score: conf,
                conf,
                listed: conf,
            }],
            top: c,
            top_p: conf,
            read: vec![(c, conf)],
        }
    }

    /// What this position, read as `chosen`, leaves in doubt: the belief in
    /// `chosen` as the field's confidence counts it, and the strongest
    /// other reading: the reader's first choice when the grammar overrode
    /// it, else its next candidate.
    pub fn doubt(&self, at: usize, chosen: char) -> Doubt {
        let belief = self
            .picks
            .iter()
            .find(|p| p.ch == chosen)
            .map_or(self.top_p, |p| p.conf);
        let rival = if self.top != chosen && self.top != super::UNREAD {
            Some((self.top, self.top_p))
        } else {
            self.read
                .iter()
                .filter(|&&(c, p)| c != chosen && c != super::UNREAD && p > 0.0)
                .copied()
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        Doubt {
            at,
            chosen,
            belief,
            rival,
        }
    }

    /// The weight of this position's best pick in comparing formats.
    fn weight(&self) -> f64 {
        match self.picks.first() {
            Some(p) if p.listed > 0.0 => p.listed,
            Some(p) => p.score * LOOKALIKE_ONLY,
            None => self.top_p * BROKEN,
        }
    }
}

/// A field's characters as chosen, with the belief in them.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The characters.
    pub text: String,
    /// The belief that every character is right.
    pub confidence: f64,
    /// Some position had nothing that fits its class and holds the
    /// reader's first choice: the value breaks the grammar.
    pub broken: bool,
}

/// The positions of one field fitted to one format.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// One slot a position.
    pub slots: Vec<Slot>,
}

impl Fitted {
    /// Fits candidates to classes position by position (extra candidates or
    /// classes beyond the shorter list are ignored: callers match lengths).
    pub fn new(cands: &[&CharCandidates], classes: &[Class], case: Case) -> Fitted {
        Fitted {
            slots: cands
                .iter()
                .zip(classes)
                .map(|(c, &k)| Slot::new(c, k, case))
                .collect(),
        }
    }

    /// The most believed allowed character at every position.
    pub fn best(&self) -> Reading {
        let mut text = String::with_capacity(self.slots.len());
        let mut confidence = 1.0;
        let mut broken = false;
        for s in &self.slots {
            match s.picks.first() {
                Some(p) => {
                    text.push(p.ch);
                    confidence *= p.conf;
                }
                None => {
                    text.push(s.top);
                    confidence *= s.top_p;
                    broken = true;
                }
            }
        }
        Reading {
            text,
            confidence,
            broken,
        }
    }

    /// What every position of `text` (a reading of these slots, one
    /// character a slot) leaves in doubt.
    pub fn doubts(&self, text: &str) -> Vec<Doubt> {
        self.slots
            .iter()
            .zip(text.chars())
            .enumerate()
            .map(|(at, (s, c))| s.doubt(at, c))
            .collect()
    }

    /// How well the candidates fit this format, for comparing formats.
    pub fn weight(&self) -> f64 {
        self.slots.iter().map(Slot::weight).product()
    }

    /// The most believed reading that `accept` takes, trying the next
    /// candidates of the least sure positions first (best-first over the
    /// product of confidences), giving up after `limit` readings. Only
    /// characters the reader gave some belief are tried (an alternative at
    /// zero is no reading, and swapping one in would only hide what the
    /// paper says); positions where nothing fits keep the first choice.
    pub fn search(&self, accept: impl Fn(&str) -> bool, limit: usize) -> Option<Reading> {
        let options: Vec<Vec<(char, f64)>> = self
            .slots
            .iter()
            .map(|s| {
                if s.picks.is_empty() {
                    vec![(s.top, s.top_p)]
                } else {
                    s.picks
                        .iter()
                        .enumerate()
                        .filter(|(i, p)| *i == 0 || p.conf > 0.0)
                        .map(|(_, p)| (p.ch, p.conf))
                        .collect()
                }
            })
            .collect();
        let broken = self.slots.iter().any(|s| s.picks.is_empty());
        let score =
            |ix: &[usize]| -> f64 { ix.iter().zip(&options).map(|(&i, o)| o[i].1).product() };
        let mut heap = BinaryHeap::new();
        let mut seen = HashSet::new();
        let start = vec![0usize; options.len()];
        heap.push(Node(score(&start), start.clone()));
        seen.insert(start);
        let mut popped = 0;
        while let Some(Node(conf, ix)) = heap.pop() {
            popped += 1;
            if popped > limit {
                break;
            }
            let text: String = ix.iter().zip(&options).map(|(&i, o)| o[i].0).collect();
            if accept(&text) {
                return Some(Reading {
                    text,
                    confidence: conf,
                    broken,
                });
            }
            for p in 0..ix.len() {
                if ix[p] + 1 < options[p].len() {
                    let mut next = ix.clone();
                    next[p] += 1;
                    if seen.insert(next.clone()) {
                        heap.push(Node(score(&next), next));
                    }
                }
            }
        }
        None
    }
}

/// A search state ordered by its score.
struct Node(f64, Vec<usize>);

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    fn cmp(&self, o: &Self) -> Ordering {
        // Ties go to the earlier candidates, so the search is deterministic.
        self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
    }
}

/// Fits the candidates to every format of the same length, best fitting
/// first. Each format comes with its share (0..1) of the weight of all the
/// formats that fit, and its reading's confidence is already multiplied by
/// it (two formats that both fit well halve the belief).
pub fn fit_all(
    cands: &[&CharCandidates],
    formats: &[Vec<Class>],
    case: Case,
) -> Vec<(Fitted, Reading, f64)> {
    let mut fits: Vec<(Fitted, Reading, f64)> = formats
        .iter()
        .filter(|f| f.len() == cands.len())
        .map(|f| {
            let fitted = Fitted::new(cands, f, case);
            let reading = fitted.best();
            let w = fitted.weight();
            (fitted, reading, w)
        })
        .collect();
    fits.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut texts = HashSet::new();
    let total: f64 = fits
        .iter()
        .filter(|f| texts.insert(f.1.text.clone()))
        .map(|f| f.2)
        .sum();
    for (_, reading, w) in &mut fits {
        *w = if total > 0.0 {
            (*w / total).min(1.0)
        } else {
            1.0
        };
        reading.confidence *= *w;
    }
    fits
}

/// The best fitting format of [`fit_all`], or `None` when no format has as
/// many positions as there are candidates.
pub fn fit_best(
    cands: &[&CharCandidates],
    formats: &[Vec<Class>],
    case: Case,
) -> Option<(Fitted, Reading)> {
    fit_all(cands, formats, case)
        .into_iter()
        .next()
        .map(|(f, r, _)| (f, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(list: &[(char, f32)]) -> CharCandidates {
        CharCandidates(list.to_vec())
    }

    #[test]
    fn classes_hold_what_they_say() {
        assert!(Class::digit().contains('7') && !Class::digit().contains('O'));
        assert!(Class::upper().minus("DFIQUV").contains('A'));
        assert!(!Class::upper().minus("DFIQUV").contains('Q'));
        assert_eq!(Class::lit('/').literal(), Some('/'));
        assert_eq!(Class::digit().literal(), None);
        assert!(Class::ANY.contains('é'));
        assert!(!Class::lit('é').contains('é'));
        assert!(!Class::NONE.contains('a'));
    }

    #[test]
    fn a_sure_candidate_keeps_its_probability() {
        let s = Slot::new(
            &CharCandidates::sure('7', 0.95),
            Class::digit(),
            Case::Capitals,
        );
        assert_eq!(s.picks[0].ch, '7');
        assert!((s.picks[0].conf - 0.95).abs() < 1e-6);
    }

    #[test]
    fn the_grammar_picks_the_second_candidate_with_less_belief() {
        let s = Slot::new(
            &c(&[('O', 0.6), ('0', 0.35)]),
            Class::digit(),
            Case::Capitals,
        );
        assert_eq!(s.picks[0].ch, '0');
        assert!(
            s.picks[0].conf < 0.9 && s.picks[0].conf > 0.7,
            "{}",
            s.picks[0].conf
        );
        let s = Slot::new(
            &c(&[('5', 0.7), ('S', 0.25)]),
            Class::upper(),
            Case::Capitals,
        );
        assert_eq!(s.picks[0].ch, 'S');
    }

    #[test]
    fn a_look_alike_alone_is_weaker_than_a_listed_candidate() {
        let alone = Slot::new(
            &CharCandidates::sure('O', 0.95),
            Class::digit(),
            Case::Capitals,
        );
        let listed = Slot::new(
            &c(&[('O', 0.6), ('0', 0.35)]),
            Class::digit(),
            Case::Capitals,
        );
        assert_eq!(alone.picks[0].ch, '0');
        assert!(alone.picks[0].conf < listed.picks[0].conf);
        let weak = Slot::new(
            &CharCandidates::sure('A', 0.95),
            Class::digit(),
            Case::Capitals,
        );
        assert!(weak.picks[0].conf < 0.5);
    }

    #[test]
    fn nothing_fitting_keeps_the_reading_and_breaks() {
        let f = Fitted::new(
            &[&CharCandidates::sure('X', 0.9)],
            &[Class::digit()],
            Case::Capitals,
        );
        let r = f.best();
        assert_eq!(r.text, "X");
        assert!(r.broken);
    }

    #[test]
    fn bad_probabilities_do_not_leak() {
        let s = Slot::new(
            &c(&[('1', f32::NAN), ('7', 2.0), ('2', -1.0)]),
            Class::digit(),
            Case::Capitals,
        );
        assert!(s.picks.iter().all(|p| (0.0..=1.0).contains(&p.conf)));
        let empty = Slot::new(&c(&[]), Class::digit(), Case::Capitals);
        assert!(empty.picks.is_empty());
    }

    #[test]
    fn search_finds_the_next_best_accepted_reading() {
        let a = c(&[('3', 0.6), ('2', 0.3)]);
        let b = CharCandidates::sure('1', 0.99);
        let f = Fitted::new(&[&a, &b], &[Class::digit(), Class::digit()], Case::Capitals);
        let r = f.search(|t| t != "31", 100).unwrap();
        assert_eq!(r.text, "21");
        assert!(r.confidence < 0.5);
        assert_eq!(f.search(|_| false, 100), None);
        let unbelieved = c(&[('3', 0.9), ('2', 0.0)]);
        let f = Fitted::new(
            &[&unbelieved, &b],
            &[Class::digit(), Class::digit()],
            Case::Capitals,
        );
        assert_eq!(f.search(|t| t != "31", 100), None);
    }

    #[test]
    fn the_better_format_wins_and_a_close_rival_lowers_belief() {
        let digit_or_letter = vec![vec![Class::digit()], vec![Class::upper()]];
        let sure = CharCandidates::sure('T', 0.99);
        let (_, r) = fit_best(&[&sure], &digit_or_letter, Case::Capitals).unwrap();
        assert_eq!(r.text, "T");
        assert!(r.confidence > 0.9);
        let torn = c(&[('T', 0.5), ('7', 0.45)]);
        let (_, r) = fit_best(&[&torn], &digit_or_letter, Case::Capitals).unwrap();
        assert_eq!(r.text, "T");
        assert!(r.confidence < 0.6);
        assert!(fit_best(&[&sure, &sure], &digit_or_letter, Case::Capitals).is_none());
    }
}
