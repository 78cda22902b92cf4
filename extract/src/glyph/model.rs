//! The prototype store and the nearest-prototype classifier with calibrated
//! probabilities.

use super::features::{self, Ink, DIM, USED};
use super::lda::{self, Projection};
use super::render::{self, Rng, Variation};
use ab_glyph::FontVec;

/// Renders per character and font: the plain glyph plus random variations.
const VARIATIONS: usize = 8;
/// Shrinkage of the within-class scatter towards the identity (0..1),
/// chosen on held-out fonts.
const SHRINK: f64 = 0.25;
/// Temperature turning squared distances in the discriminant space into
/// probabilities, fitted on held-out fonts (leave-one-family-out, see
/// `examples/glyph_eval.rs`, which prints the fit).
const TEMPERATURE: f32 = 8.5;
/// Squared distance of the "none of these" alternative: a glyph far from
/// every prototype keeps probability mass off all characters. Fitted with
/// the temperature.
const REJECT_D2: f32 = 385.0;
/// Temperature and reject distance in the raw feature space, used only if
/// the discriminant projection cannot be fitted (a single character).
const RAW_TEMPERATURE: f32 = 0.02;
const RAW_REJECT_D2: f32 = 0.6;
/// Candidates below this probability are not reported.
const MIN_P: f32 = 0.002;

/// The learnt prototypes.
#[derive(Debug)]
pub(crate) struct Prototypes {
    /// Class index to character.
    pub chars: Vec<char>,
    /// The discriminant projection, once fitted.
    proj: Option<Projection>,
    /// Length of each stored vector (a multiple of 8).
    stride: usize,
    /// Prototype vectors, `stride` each, one after another.
    data: Vec<f32>,
    /// Squared length of each prototype.
    norms: Vec<f32>,
    /// Class index of each prototype.
    pub labels: Vec<u16>,
    /// Fonts that contributed.
    pub fonts: usize,
    /// Temperature and reject distance for this space.
    temperature: f32,
    reject_d2: f32,
}

impl Prototypes {
    /// An empty store for `charset`.
    pub fn new(charset: &str) -> Prototypes {
        let mut chars: Vec<char> = Vec::new();
        for c in charset.chars() {
            if !c.is_whitespace() && !chars.contains(&c) && chars.len() < u16::MAX as usize {
                chars.push(c);
            }
        }
        Prototypes {
            chars,
            proj: None,
            stride: DIM,
            data: Vec::new(),
            norms: Vec::new(),
            labels: Vec::new(),
            fonts: 0,
            temperature: RAW_TEMPERATURE,
            reject_d2: RAW_REJECT_D2,
        }
    }

    /// Learns every character of the charset from one font. Returns how
    /// many characters the font had.
    pub fn learn_font(&mut self, font: &FontVec, seed: u64) -> usize {
        let mut learnt = 0;
        for (ci, &c) in self.chars.clone().iter().enumerate() {
            let Some(ink) = render::render_char(font, c, render::RENDER_PX) else {
                continue;
            };
            let mut rng = Rng::new(seed ^ ((ci as u64 + 1) * 0x1000_0001));
            let mut any = false;
            let padded = features::Padded::new(&ink);
            let inked = render::inked_centres(&ink);
            for k in 0..VARIATIONS {
                let v = if k == 0 {
                    Variation::identity()
                } else {
                    Variation::random(&mut rng)
                };
                if let Some(f) = render::varied_features(&padded, &inked, &v) {
                    self.data.extend_from_slice(&f);
                    self.labels.push(ci as u16);
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

    /// Fits the discriminant projection (when it can be fitted) and stores
    /// the prototypes in the projected space.
    pub fn finish(&mut self) {
        if let Some(p) = lda::fit(
            &self.data,
            DIM,
            USED,
            &self.labels,
            self.chars.len(),
            SHRINK,
        ) {
            let stride = p.k.div_ceil(8) * 8;
            let mut out = vec![0f32; self.labels.len() * stride];
            for (x, o) in self
                .data
                .chunks_exact(DIM)
                .zip(out.chunks_exact_mut(stride))
            {
                p.apply(x, o);
            }
            self.data = out;
            self.stride = stride;
            self.proj = Some(p);
            self.temperature = TEMPERATURE;
            self.reject_d2 = REJECT_D2;
        }
        self.norms = self
            .data
            .chunks_exact(self.stride)
            .map(|p| dot(p, p))
            .collect();
    }

    /// The vector a feature vector is compared in.
    fn embed(&self, f: &[f32]) -> Vec<f32> {
        match &self.proj {
            Some(p) => {
                let mut out = vec![0f32; self.stride];
                p.apply(f, &mut out);
                out
            }
            None => f.to_vec(),
        }
    }

    /// Candidates for a glyph image, restricted to the characters of
    /// `allowed` (all when empty), best first.
    pub fn classify(&self, img: &image::GrayImage, allowed: &str) -> Vec<(char, f32)> {
        let Some(f) = image_features(img) else {
            return Vec::new();
        };
        let best = self.nearest(&self.embed(&f), allowed);
        probabilities(&self.chars, &best, self.temperature, self.reject_d2)
    }

    /// The smallest squared distance to each allowed class, nearest first.
    pub fn distances(&self, img: &image::GrayImage, allowed: &str) -> Vec<(char, f32)> {
        let Some(f) = image_features(img) else {
            return Vec::new();
        };
        let best = self.nearest(&self.embed(&f), allowed);
        let mut out: Vec<(char, f32)> = self
            .chars
            .iter()
            .copied()
            .zip(best)
            .filter(|(_, d)| *d < f32::MAX)
            .collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        out
    }

    /// The smallest squared distance from `q` to each class's prototypes,
    /// `f32::MAX` for classes not allowed.
    fn nearest(&self, q: &[f32], allowed: &str) -> Vec<f32> {
        let mut best = vec![f32::MAX; self.chars.len()];
        let allow: Vec<bool> = if allowed.is_empty() {
            vec![true; self.chars.len()]
        } else {
            self.chars.iter().map(|c| allowed.contains(*c)).collect()
        };
        if !allow.iter().any(|&a| a) || q.len() != self.stride {
            return best;
        }
        let qn = dot(q, q);
        for (i, (p, &l)) in self
            .data
            .chunks_exact(self.stride)
            .zip(&self.labels)
            .enumerate()
        {
            let l = l as usize;
            if !allow[l] {
                continue;
            }
            let d2 = (qn + self.norms[i] - 2.0 * dot(p, q)).max(0.0);
            if d2 < best[l] {
                best[l] = d2;
            }
        }
        best
    }
}

/// Dot product in eight independent lanes, so the compiler vectorises it.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// Glyph images larger than this (either side) are shrunk first: the
/// features are taken at 24 pixels anyway.
const MAX_SIDE: u32 = 160;

/// The feature vector of a glyph image, `None` when it holds no ink.
fn image_features(img: &image::GrayImage) -> Option<Vec<f32>> {
    let (w, h) = img.dimensions();
    if w > MAX_SIDE || h > MAX_SIDE {
        let s = MAX_SIDE as f32 / w.max(h) as f32;
        let (nw, nh) = (
            ((w as f32 * s).round() as u32).max(1),
            ((h as f32 * s).round() as u32).max(1),
        );
        let small = image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle);
        return features::features(&Ink::from_gray(&small)?, false);
    }
    features::features(&Ink::from_gray(img)?, false)
}

/// Softmax of negative squared distances with a "none of these" term.
fn probabilities(
    chars: &[char],
    best: &[f32],
    temperature: f32,
    reject_d2: f32,
) -> Vec<(char, f32)> {
    let dmin = best.iter().copied().fold(reject_d2, f32::min);
    let mut z = ((dmin - reject_d2) / temperature).exp();
    let mut out: Vec<(char, f32)> = Vec::new();
    for (&c, &d) in chars.iter().zip(best) {
        if d == f32::MAX {
            continue;
        }
        let e = ((dmin - d) / temperature).exp();
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
