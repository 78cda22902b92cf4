//! Reading a one-line crop with the model's help: [`segment_line`] cuts by
//! shape alone, so touching letters a little wider than one character stay
//! together; here each wide glyph is also tried cut in two at its thinnest
//! columns, and the cut is kept when the two halves read as characters
//! clearly better than the whole does.

use super::segment::{segment_line, Segment};
use super::GlyphModel;
use image::GrayImage;

/// A glyph narrower than this many letter heights is never tried split.
const TRY_SPLIT_W: f32 = 0.9;
/// The narrowest half a split may leave, in letter heights.
const MIN_HALF: f32 = 0.22;
/// Cut columns tried per glyph.
const CANDIDATES: usize = 6;
/// How much likelier (as a probability ratio) two halves must read than
/// the whole glyph for the cut to be kept...
const SPLIT_MARGIN: f32 = 2.0;
/// ... and how likely at least (the product of the halves' top
/// probabilities).
const SPLIT_MIN_P: f32 = 0.7;

/// One glyph of a line and its candidates, best first.
#[derive(Clone, Debug)]
pub struct ReadGlyph {
    /// The glyph as cut from the line.
    pub segment: Segment,
    /// Candidates as [`GlyphModel::classify`] gives them.
    pub candidates: Vec<(char, f32)>,
}

impl GlyphModel {
    /// Reads a one-line crop of hand-printed capitals (dark on white, ink
    /// darker than `threshold`): [`segment_line`], then each glyph that may
    /// hold two touching letters is cut in two where that reads clearly
    /// better, and every glyph is classified, restricted to `allowed` (all
    /// when empty). Left to right; a blank crop gives nothing.
    pub fn read_line(&self, img: &GrayImage, threshold: u8, allowed: &str) -> Vec<ReadGlyph> {
        let segs = segment_line(img, threshold);
        let mut heights: Vec<u32> = segs
            .iter()
            .map(|s| s.image.height().saturating_sub(6))
            .collect();
        heights.sort_unstable();
        let line_h = heights.get(heights.len() / 2).copied().unwrap_or(0) as f32;
        let mut out = Vec::with_capacity(segs.len());
        for s in segs {
            let whole = self.classify(&s.image, allowed);
            self.split_or_keep(s, whole, line_h, allowed, 2, &mut out);
        }
        out
    }

    /// Pushes the glyph, or its two halves (each possibly split again, up
    /// to `depth` levels) when they read clearly better.
    fn split_or_keep(
        &self,
        s: Segment,
        whole: Vec<(char, f32)>,
        line_h: f32,
        allowed: &str,
        depth: usize,
        out: &mut Vec<ReadGlyph>,
    ) {
        let w = s.x1 - s.x0;
        if depth == 0 || line_h <= 0.0 || (w as f32) < TRY_SPLIT_W * line_h {
            out.push(ReadGlyph {
                segment: s,
                candidates: whole,
            });
            return;
        }
        let p_whole = whole.first().map_or(0.0, |c| c.1);
        // (probability of both halves, cut column, left and right reads)
        type Split = (f32, u32, Vec<(char, f32)>, Vec<(char, f32)>);
        let mut best: Option<Split> = None;
        for cut in cut_candidates(&s, line_h) {
            let (l, r) = halves(&s, cut);
            let (cl, cr) = (
                self.classify(&l.image, allowed),
                self.classify(&r.image, allowed),
            );
            let p = cl.first().map_or(0.0, |c| c.1) * cr.first().map_or(0.0, |c| c.1);
            if best.as_ref().is_none_or(|b| p > b.0) {
                best = Some((p, cut, cl, cr));
            }
        }
        match best {
            Some((p, cut, cl, cr)) if p > SPLIT_MARGIN * p_whole && p >= SPLIT_MIN_P => {
                let (l, r) = halves(&s, cut);
                self.split_or_keep(l, cl, line_h, allowed, depth - 1, out);
                self.split_or_keep(r, cr, line_h, allowed, depth - 1, out);
            }
            _ => out.push(ReadGlyph {
                segment: s,
                candidates: whole,
            }),
        }
    }
}

/// Columns (in the segment image) worth cutting at: the thinnest columns
/// of ink, not too near either edge, at most [`CANDIDATES`] of them.
fn cut_candidates(s: &Segment, line_h: f32) -> Vec<u32> {
    let img = &s.image;
    let (w, h) = (img.width(), img.height());
    let margin = ((MIN_HALF * line_h) as u32).max(3) + 3;
    if w <= 2 * margin {
        return Vec::new();
    }
    let ink = |x: u32| (0..h).filter(|&y| img.get_pixel(x, y).0[0] < 128).count();
    let mut cols: Vec<(usize, u32)> = (margin..w - margin).map(|x| (ink(x), x)).collect();
    cols.sort_unstable();
    let mut picked: Vec<u32> = Vec::new();
    for (_, x) in cols {
        if picked.iter().all(|&p| p.abs_diff(x) >= 3) {
            picked.push(x);
            if picked.len() == CANDIDATES {
                break;
            }
        }
    }
    picked
}

/// The segment cut at image column `cut` into a left and a right part.
fn halves(s: &Segment, cut: u32) -> (Segment, Segment) {
    let img = &s.image;
    let (w, h) = (img.width(), img.height());
    let cut = cut.clamp(1, w.saturating_sub(1).max(1));
    let left = image::imageops::crop_imm(img, 0, 0, cut, h).to_image();
    let right = image::imageops::crop_imm(img, cut, 0, w - cut, h).to_image();
    // The segment image has a 3-pixel margin before its first column.
    let at = (s.x0 + cut)
        .saturating_sub(3)
        .clamp(s.x0 + 1, s.x1.saturating_sub(1).max(s.x0 + 1));
    (
        Segment {
            x0: s.x0,
            x1: at,
            space_before: s.space_before,
            image: left,
        },
        Segment {
            x0: at,
            x1: s.x1,
            space_before: false,
            image: right,
        },
    )
}
