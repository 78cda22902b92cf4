//! The recogniser for hand-printed capitals and digits, next to Tesseract,
//! which reads typed text well but hand-printed block capitals badly.
//!
//! This module owns:
//! - [`GlyphModel`]: the convolutional network of [`net`], trained on real
//!   people's hand-printed characters with augmentation that imitates paper
//!   and scanners (`formflow train-glyphs`), its weights built into the
//!   binary; it gives each glyph calibrated candidates among the characters
//!   a field's type allows there;
//! - [`segment_line`]: cutting a one-line crop into character glyphs and
//!   finding the word gaps, and [`GlyphModel::read_line`], which also cuts
//!   touching letters where the network reads the halves clearly better.
//!
//! The engine fuses the candidates with Tesseract's; nothing here reads or
//! writes files.

mod line;
pub mod net;
mod ops;
mod segment;
#[cfg(test)]
pub(crate) mod strokes;
#[cfg(test)]
mod tests;

pub use line::ReadGlyph;
pub use net::CLASSES;
pub(crate) use segment::{label, Comp};
pub use segment::{segment_line, Segment, MAX_LINE_PIXELS};

use std::sync::{Arc, OnceLock};

/// Why the recogniser could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GlyphError {
    /// The weights built into the binary could not be loaded.
    #[error("the handwriting recogniser's weights could not be loaded: {0}")]
    Weights(#[from] net::NetError),
}

/// Candidates below this probability are not reported.
const MIN_P: f32 = 0.002;

/// The handwriting recogniser: a convolutional network over one glyph.
///
/// Loaded once per process and shared by threads (it is `Send + Sync` and
/// cheap to clone: clones share the network).
#[derive(Clone, Debug)]
pub struct GlyphModel {
    net: Arc<net::Net>,
}

impl GlyphModel {
    /// The recogniser with the weights the binary ships with, loaded once.
    pub fn shipped() -> Result<GlyphModel, GlyphError> {
        static NET: OnceLock<Result<Arc<net::Net>, String>> = OnceLock::new();
        match NET.get_or_init(|| net::Net::shipped().map(Arc::new).map_err(|e| e.to_string())) {
            Ok(n) => Ok(GlyphModel { net: Arc::clone(n) }),
            Err(e) => Err(GlyphError::Weights(net::NetError(candle_core::Error::Msg(
                e.clone(),
            )))),
        }
    }

    /// The recogniser of a given network (for training and evaluation).
    pub fn with_net(net: net::Net) -> GlyphModel {
        GlyphModel { net: Arc::new(net) }
    }

    /// The characters the model knows.
    pub fn charset(&self) -> String {
        CLASSES.to_string()
    }

    /// Candidates for one glyph image (dark ink on light paper, any size,
    /// margins allowed), restricted to the characters of `allowed` that the
    /// model knows (all it knows when `allowed` is empty), best first.
    /// Probabilities are in 0..1 and sum to at most 1 over the allowed
    /// characters; they are calibrated on writers left out of training. A
    /// blank image, or an `allowed` with none of the model's characters,
    /// gives no candidates.
    pub fn classify(&self, glyph: &image::GrayImage, allowed: &str) -> Vec<(char, f32)> {
        self.classify_many(&[glyph], allowed)
            .pop()
            .unwrap_or_default()
    }

    /// [`GlyphModel::classify`] for several glyphs at once (one pass of the
    /// network), in the same order.
    pub fn classify_many(
        &self,
        glyphs: &[&image::GrayImage],
        allowed: &str,
    ) -> Vec<Vec<(char, f32)>> {
        let keep: Vec<bool> = CLASSES
            .chars()
            .map(|c| allowed.is_empty() || allowed.contains(c))
            .collect();
        let mut out = vec![Vec::new(); glyphs.len()];
        if !keep.iter().any(|&k| k) {
            return out;
        }
        let inputs: Vec<(usize, Vec<f32>)> = glyphs
            .iter()
            .enumerate()
            .filter_map(|(i, g)| net::glyph_input(g).map(|x| (i, x)))
            .collect();
        if inputs.is_empty() {
            return out;
        }
        let xs: Vec<Vec<f32>> = inputs.iter().map(|(_, x)| x.clone()).collect();
        let Ok(probs) = self.net.probabilities(&xs) else {
            return out;
        };
        for ((i, _), p) in inputs.iter().zip(probs) {
            let total: f32 = p
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| v)
                .sum();
            if total <= 0.0 || !total.is_finite() {
                continue;
            }
            let mut c: Vec<(char, f32)> = CLASSES
                .chars()
                .zip(p)
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|((ch, v), _)| (ch, v / total))
                .filter(|(_, v)| *v >= MIN_P)
                .collect();
            c.sort_by(|a, b| b.1.total_cmp(&a.1));
            out[*i] = c;
        }
        out
    }
}
