//! Notes: what the engine was unsure of in a field, in one plain sentence
//! for the caseworker who checks it ("the second digit of the month is
//! unclear", "the fourth character could be 0 or O", "2 characters could
//! not be read", "the box looks empty but has faint marks").
//!
//! Owns the wording and the choice of what to say. For a field of
//! characters that is the least believed character of the reading, named
//! by the place it holds in its type's grammar (each type says how: the
//! NI number's last letter, the first letter of the inward code, the third
//! letter of the second word), with the strongest other reading of it when
//! the reader offered one, and how many other characters are unclear too.
//! Sentences start in lower case and end without a full stop, so that a
//! caller may put the field's label in front.
//!
//! Normalisation gives a note for every field it reads, clear or not; the
//! record keeps it only for a field that ends up flagged (see
//! [`super::Normalised::into_field_result`]), since a rule of the whole
//! form may flag a field read with no doubt at all.

use super::{is_space, Written};

/// A character believed less than this is unclear.
pub const UNCLEAR: f64 = 0.9;

/// When no character is unclear, a rival reading the reader believed at
/// least this much is still worth naming: the grammar may have been sure
/// of each position only within one of two competing shapes (the `T` or
/// `7` of `B2T 7LD`).
const RIVAL: f64 = 0.25;

/// A field of characters all read clearly.
pub const CLEAR: &str = "every character reads clearly";

/// A field of characters none of which is unclear alone.
pub const UNCERTAIN: &str = "no one character is unclear, but the reading as a whole is uncertain";

/// A box with no writing.
pub const EMPTY: &str = "the box is empty";

/// A box with ink the reader turned into no character.
pub const FAINT: &str = "the box looks empty but has faint marks";

/// Ink from which nothing could be read.
pub const UNREADABLE: &str = "there is writing here that could not be read";

/// A field whose page is not in the file.
pub const MISSING_PAGE: &str = "the page holding this field is missing from the file";

/// What one position of a reading leaves in doubt.
#[derive(Debug, Clone, PartialEq)]
pub struct Doubt {
    /// The position in the reading, from 0.
    pub at: usize,
    /// The character chosen there.
    pub chosen: char,
    /// The belief (0..1) in it, as the field's confidence counts it.
    pub belief: f64,
    /// The strongest other reading of the position, and the reader's belief
    /// in it.
    pub rival: Option<(char, f64)>,
}

/// The note for a field of characters from its doubts, each position named
/// by `role`; `None` when no character is unclear and no rival stands out.
pub fn about_characters(doubts: &[Doubt], role: impl Fn(&Doubt) -> String) -> Option<String> {
    let mut weak: Vec<&Doubt> = doubts.iter().filter(|d| d.belief < UNCLEAR).collect();
    weak.sort_by(|a, b| a.belief.total_cmp(&b.belief).then(a.at.cmp(&b.at)));
    let rival_p = |d: &Doubt| d.rival.map_or(0.0, |r| r.1);
    let (first, others) = match weak.first() {
        Some(d) => (*d, weak.len() - 1),
        None => (
            doubts
                .iter()
                .filter(|d| rival_p(d) >= RIVAL)
                .max_by(|a, b| rival_p(a).total_cmp(&rival_p(b)))?,
            0,
        ),
    };
    let head = match (first.rival, shown(first.chosen)) {
        (Some((r, _)), Some(chosen)) if r != first.chosen => match shown(r) {
            Some(r) => format!("{} could be {chosen} or {r}", role(first)),
            None => format!("{} is unclear", role(first)),
        },
        _ => format!("{} is unclear", role(first)),
    };
    Some(match others {
        0 => head,
        1 => format!("{head}, and 1 other character is unclear"),
        n => format!("{head}, and {n} other characters are unclear"),
    })
}

/// A character as a sentence shows it: letters and digits as they are,
/// common punctuation by name ("a slash"); `None` for white space and
/// control characters.
fn shown(c: char) -> Option<String> {
    let name = match c {
        ',' => "a comma",
        '.' => "a point",
        '/' => "a slash",
        '-' => "a dash",
        '\'' => "an apostrophe",
        c if c.is_whitespace() || c.is_control() => return None,
        c => return Some(c.to_string()),
    };
    Some(name.to_string())
}

/// The note for characters the reader saw ink for but could not read.
pub fn lost(n: usize) -> String {
    if n == 1 {
        "1 character could not be read".to_string()
    } else {
        format!("{n} characters could not be read")
    }
}

/// The doubts of the characters as the reader gave them (spaces and empty
/// comb cells left out), for a value that has no shape to fit: each its
/// first choice, believed as much as the reader believed it.
pub fn as_read(w: &Written) -> Vec<Doubt> {
    w.chars
        .iter()
        .flatten()
        .filter(|c| !is_space(c))
        .enumerate()
        .filter_map(|(at, c)| {
            let (chosen, p) = c.best()?;
            let rival = c.0.get(1).map(|&(r, q)| (r, super::chars::clean(q)));
            Some(Doubt {
                at,
                chosen,
                belief: super::chars::clean(p),
                rival,
            })
        })
        .collect()
}

/// "letter", "digit" or "character", for what `c` is.
pub fn kind_of(c: char) -> &'static str {
    if c.is_alphabetic() {
        "letter"
    } else if c.is_ascii_digit() {
        "digit"
    } else {
        "character"
    }
}

/// "the third character", "the 12th digit": the `n`th (from 1) `what`.
pub fn nth(n: usize, what: &str) -> String {
    format!("the {} {what}", ordinal(n))
}

/// The `n`th position (from 1) of a value read as a whole: "the fourth
/// character".
pub fn position(d: &Doubt) -> String {
    nth(d.at + 1, "character")
}

/// A key or a field's name as words: `prefer_not_to_say` is "prefer not
/// to say".
pub fn words(key: &str) -> String {
    key.replace('_', " ")
}

/// "a", "a and b", "a, b and c" (or another word than "and").
pub fn listed(items: &[String], and: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
    }
}

/// "first" to "tenth", then "11th", "21st", "22nd", "23rd"...
pub fn ordinal(n: usize) -> String {
    const WORDS: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    if let Some(w) = n.checked_sub(1).and_then(|i| WORDS.get(i)) {
        return (*w).to_string();
    }
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The place of a character in free text, whose words are separated by
/// white space: "the third letter", or "the second digit of the fourth
/// word" when the text has more than one word. `text` is the reading, one
/// character a position.
pub fn in_words(text: &str, d: &Doubt) -> String {
    let chars: Vec<char> = text.chars().collect();
    let Some(&c) = chars.get(d.at) else {
        return position(d);
    };
    if c.is_whitespace() {
        let k = chars[..=d.at].iter().filter(|c| c.is_whitespace()).count();
        return nth(k, "space");
    }
    let words = text.split_whitespace().count();
    let start = chars[..d.at]
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let word = text_words_before(&chars[..start]) + 1;
    let place = nth(d.at - start + 1, kind_of(d.chosen));
    if words > 1 {
        format!("{place} of the {} word", ordinal(word))
    } else {
        place
    }
}

/// How many words lie in `chars`.
fn text_words_before(chars: &[char]) -> usize {
    let s: String = chars.iter().collect();
    s.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(at: usize, chosen: char, belief: f64, rival: Option<(char, f64)>) -> Doubt {
        Doubt {
            at,
            chosen,
            belief,
            rival,
        }
    }

    #[test]
    fn ordinals_are_words_to_ten_then_numbers() {
        let got: Vec<String> = [1, 2, 3, 10, 11, 12, 13, 21, 22, 23, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "first", "second", "third", "tenth", "11th", "12th", "13th", "21st", "22nd",
                "23rd", "101st", "111th"
            ]
        );
        assert_eq!(ordinal(0), "0th");
    }

    #[test]
    fn the_least_believed_character_is_named_with_its_rival() {
        let doubts = [
            d(0, 'A', 0.99, None),
            d(1, '0', 0.62, Some(('O', 0.95))),
            d(2, '7', 0.85, None),
        ];
        assert_eq!(
            about_characters(&doubts, position).as_deref(),
            Some("the second character could be 0 or O, and 1 other character is unclear")
        );
        let doubts = [
            d(0, 'A', 0.8, None),
            d(1, 'B', 0.7, None),
            d(2, 'C', 0.75, None),
        ];
        assert_eq!(
            about_characters(&doubts, position).as_deref(),
            Some("the second character is unclear, and 2 other characters are unclear")
        );
        assert_eq!(
            about_characters(&[d(0, 'A', 0.99, Some(('4', 0.01)))], position),
            None
        );
        // Sure within its shape, but the reader also saw another.
        assert_eq!(
            about_characters(&[d(2, 'T', 0.94, Some(('7', 0.45)))], position).as_deref(),
            Some("the third character could be T or 7")
        );
        assert_eq!(
            about_characters(&[d(0, 'A', 0.5, Some((' ', 0.4)))], position).as_deref(),
            Some("the first character is unclear")
        );
        assert_eq!(
            about_characters(&[d(6, '/', 0.6, Some(('1', 0.9)))], position).as_deref(),
            Some("the seventh character could be a slash or 1")
        );
    }

    #[test]
    fn a_character_of_free_text_is_placed_in_its_word() {
        let text = "17 FLEMING 1NAYS";
        let at = |i: usize, c: char| d(i, c, 0.5, None);
        assert_eq!(
            in_words(text, &at(3, 'F')),
            "the first letter of the second word"
        );
        assert_eq!(
            in_words(text, &at(11, '1')),
            "the first digit of the third word"
        );
        assert_eq!(
            in_words(text, &at(15, 'S')),
            "the fifth letter of the third word"
        );
        assert_eq!(in_words(text, &at(2, ' ')), "the first space");
        assert_eq!(in_words("SMITH", &at(2, 'I')), "the third letter");
        assert_eq!(in_words("O'NEIL", &at(1, '\'')), "the second character");
        assert_eq!(in_words("AB", &at(7, 'X')), "the eighth character");
    }

    #[test]
    fn lost_characters_are_counted() {
        assert_eq!(lost(1), "1 character could not be read");
        assert_eq!(lost(2), "2 characters could not be read");
    }
}
