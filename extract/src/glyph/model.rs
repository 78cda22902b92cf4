//! The prototype store and the nearest-prototype classifier with calibrated
//! probabilities.

use super::features::{self, Ink, DIM};
use super::render::{self, Rng, Variation};
use ab_glyph::FontVec;

/// Renders per character and font: the plain glyph plus random variations.
pub(crate) const VARIATIONS: usize = 8;
fn variations() -> usize { super::render::knob("GD_VAR", VARIATIONS as f32) as usize }
/// Temperature turning squared feature distances into probabilities,
/// fitted on held-out fonts (see `examples/glyph_eval.rs`).
const TEMPERATURE: f32 = 0.02;
/// Squared distance of the "none of these" alternative: a glyph far from
/// every prototype keeps probability mass off all characters.
const REJECT_D2: f32 = 0.6;
/// Candidates below this probability are not reported.
const MIN_P: f32 = 0.002;

/// The learnt prototypes.
#[derive(Debug)]
pub(crate) struct Prototypes {
    /// Class index to character.
    pub chars: Vec<char>,
    /// Feature vectors, `DIM` each, one after another.
    pub data: Vec<f32>,
    /// Squared length of each prototype.
    pub norms: Vec<f32>,
    /// Class index of each prototype.
    pub labels: Vec<u16>,
    /// Fonts that contributed.
    pub fonts: usize,
}

impl Prototypes {
    /// An empty store for `charset`.
    pub fn new(charset: &str) -> Prototypes {
        let mut chars: Vec<char> = Vec::new();
        for c in charset.chars() {
            if !c.is_whitespace() && !chars.contains(&c) {
                chars.push(c);
            }
        }
        Prototypes { chars, data: Vec::new(), norms: Vec::new(), labels: Vec::new(), fonts: 0 }
    }

    /// Learns every character of the charset from one font. Returns how
    /// many characters the font had.
    pub fn learn_font(&mut self, font: &FontVec, seed: u64) -> usize {
        let mut learnt = 0;
        for (ci, &c) in self.chars.clone().iter().enumerate() {
            let Some(ink) = render::render_char(font, c, render::RENDER_PX) else { continue };
            let mut rng = Rng::new(seed ^ ((ci as u64 + 1) * 0x1000_0001));
            let mut any = false;
            for k in 0..variations() {
                let v = if k == 0 { Variation::identity() } else { Variation::random(&mut rng) };
                let varied = render::vary(&ink, &v);
                if let Some(f) = features::features(&varied, true) {
                    self.push(ci as u16, f);
                    any = true;
                }
            }
            learnt += usize::from(any);
        }
        if learnt > 0 {
            self.fonts += 1;
        }
        learnt
    }

    fn push(&mut self, label: u16, f: Vec<f32>) {
        debug_assert_eq!(f.len(), DIM);
        self.norms.push(f.iter().map(|v| v * v).sum());
        self.data.extend_from_slice(&f);
        self.labels.push(label);
    }

    /// Candidates for a glyph image, restricted to the characters of
    /// `allowed` (all when empty), best first.
    pub fn classify(&self, img: &image::GrayImage, allowed: &str) -> Vec<(char, f32)> {
        let Some(f) = image_features(img) else { return Vec::new() };
        let best = self.nearest(&f, allowed);
        probabilities(&self.chars, &best)
    }

    /// The smallest squared distance to each allowed class, nearest first.
    pub fn distances(&self, img: &image::GrayImage, allowed: &str) -> Vec<(char, f32)> {
        let Some(f) = image_features(img) else { return Vec::new() };
        let best = self.nearest(&f, allowed);
        let mut out: Vec<(char, f32)> = self.chars.iter().copied().zip(best).filter(|(_, d)| *d < f32::MAX).collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        out
    }

    /// The smallest squared distance from `f` to each class's prototypes,
    /// `f32::MAX` for classes not allowed.
    fn nearest(&self, f: &[f32], allowed: &str) -> Vec<f32> {
        let mut best = vec![f32::MAX; self.chars.len()];
        let allow: Vec<bool> = if allowed.is_empty() {
            vec![true; self.chars.len()]
        } else {
            self.chars.iter().map(|c| allowed.contains(*c)).collect()
        };
        if !allow.iter().any(|&a| a) || f.len() != DIM {
            return best;
        }
        let qn: f32 = f.iter().map(|v| v * v).sum();
        for (i, (p, &l)) in self.data.chunks_exact(DIM).zip(&self.labels).enumerate() {
            let l = l as usize;
            if !allow[l] {
                continue;
            }
            let dot = dot(p, f);
            let d2 = (qn + self.norms[i] - 2.0 * dot).max(0.0);
            if d2 < best[l] {
                best[l] = d2;
            }
        }
        best
    }
}

/// Dot product in eight independent lanes, so the compiler vectorises it.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// The feature vector of a glyph image, `None` when it holds no ink.
fn image_features(img: &image::GrayImage) -> Option<Vec<f32>> {
    features::features(&Ink::from_gray(img)?, false)
}

/// Softmax of negative squared distances with a "none of these" term.
fn probabilities(chars: &[char], best: &[f32]) -> Vec<(char, f32)> {
    let dmin = best.iter().copied().fold(REJECT_D2, f32::min);
    let mut z = ((dmin - REJECT_D2) / TEMPERATURE).exp();
    let mut out: Vec<(char, f32)> = Vec::new();
    for (&c, &d) in chars.iter().zip(best) {
        if d == f32::MAX {
            continue;
        }
        let e = ((dmin - d) / TEMPERATURE).exp();
        z += e;
        out.push((c, e));
    }
    if z <= 0.0 || !z.is_finite() {
        return Vec::new();
    }
    for o in out.iter_mut() {
        o.1 /= z;
    }
    out.retain(|o| o.1 >= MIN_P);
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}
