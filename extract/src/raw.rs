//! What the readers hand to the normalisers: the raw candidates for one
//! field, before any rule of its type has been applied.
//!
//! It serialises, so that a page read by one worker can be joined with its
//! file's other pages by another (JSON keeps every belief exactly: the
//! workspace builds `serde_json` with `float_roundtrip`).

/// The candidates for one written character, most likely first.
///
/// Probabilities are 0..1 and need not sum to 1. A space between words in a
/// free-text field is given as a single candidate `(' ', p)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CharCandidates(pub Vec<(char, f32)>);

impl CharCandidates {
    /// A character read with no alternative.
    pub fn sure(c: char, p: f32) -> CharCandidates {
        CharCandidates(vec![(c, p)])
    }

    /// The most likely character.
    pub fn best(&self) -> Option<(char, f32)> {
        self.0.first().copied()
    }
}

/// What a reader saw in one field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawValue {
    /// A one-line text box: the characters left to right, spaces included.
    /// `ink` is false when the box held no writing at all.
    Line {
        /// The characters read, left to right.
        chars: Vec<CharCandidates>,
        /// Whether there was writing in the box.
        ink: bool,
    },
    /// A comb field: one entry a cell, `None` for an empty cell.
    Cells(Vec<Option<CharCandidates>>),
    /// A tick box or a signature box: whether a mark is there, and the
    /// belief (0..1) in that answer.
    Mark {
        /// Whether the box holds a mark.
        present: bool,
        /// The belief in `present`.
        confidence: f64,
    },
    /// A choice: for every option in template order, its key, whether it is
    /// ticked and the belief in that answer.
    Choice(Vec<(String, bool, f64)>),
    /// Ink was there but nothing could be read from it.
    Unreadable,
}
