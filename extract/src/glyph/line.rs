//! Reading a one-line crop with the model's help: [`segment_line`] cuts by
//! shape alone, so touching letters a little wider than one character stay
//! together, and a letter drawn in strokes that do not meet (the bar of a
//! 4 or a T set apart) comes out in pieces. Here two neighbouring glyphs
//! that would fit one character are tried joined, and joined when the
//! whole reads better than the pieces; then each wide glyph is tried cut in
//! two at its thinnest columns, and the cut is kept when the two halves
//! read as characters clearly better than the whole does.
//!
//! The network knows letters and digits only. In fields that hold no
//! letters (money, dates, numbers), marks much smaller than the digits are
//! read by where they sit on the line and their shape (a full stop or
//! comma at the foot, a hyphen in the middle, an apostrophe at the top),
//! and so they are in email addresses, whose `@` (which the network does
//! not know) is offered for round glyphs with ink in their middle;
//! elsewhere they are left to Tesseract. A thin straight stroke leaning well
//! forward may be a slash wherever one is allowed.

use super::segment::{join, segment_line, Segment};
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

/// Two neighbouring glyphs are tried joined when the gap between them is at
/// most this many letter heights (pieces of one letter nearly touch; at
/// 0.15 a 4 and a 1 written close were read as one 4)...
const JOIN_GAP: f32 = 0.05;
/// ... and together they are no wider than this many.
const JOIN_W: f32 = 0.95;
/// The joined glyph's top probability must be at least this (the pieces
/// of one letter joined read 0.95 and more on the shared real-hands set;
/// a typed L and J touching read as a 4 at 0.84)...
const JOIN_MIN_P: f32 = 0.9;
/// ... and this many times the product of the pieces' top probabilities.
const JOIN_MARGIN: f32 = 1.0;

/// A glyph's candidates, best first; `None` for a mark too small to read.
type Reading = Option<Vec<(char, f32)>>;

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
    /// darker than `threshold`): [`segment_line`], then neighbouring pieces
    /// of one character joined where they read better together, then each
    /// glyph that may hold two touching letters is cut in two where that
    /// reads clearly better, and every glyph is classified, restricted to
    /// `allowed` (all when empty). Left to right; a blank crop gives nothing.
    pub fn read_line(&self, img: &GrayImage, threshold: u8, allowed: &str) -> Vec<ReadGlyph> {
        let segs = segment_line(img, threshold);
        let Some(band) = Band::of(&segs) else {
            return Vec::new();
        };
        let line_h = band.height();
        let slash = allows(allowed, '/');
        // In words, a letter's stroke drawn apart (the bar of a T, the foot
        // of an L) is as small as a full stop: marks are read only where no
        // letter may stand.
        let numeric = !allowed.is_empty() && !allowed.chars().any(|c| c.is_ascii_alphabetic());
        // An email address is the exception: its points are as small, and
        // mean more. Its `@` the network does not know: a round glyph with
        // ink in its middle is offered as one, for the address's grammar
        // to take where no `@` was read.
        let email = allowed.contains('@');
        // Every glyph of the line in one pass of the network.
        let images: Vec<&GrayImage> = segs
            .iter()
            .filter(|s| !band.is_small(s))
            .map(|s| &s.image)
            .collect();
        let mut reads = self.classify_many(&images, allowed).into_iter();
        let read: Vec<Reading> = segs
            .iter()
            .map(|s| (!band.is_small(s)).then(|| reads.next().unwrap_or_default()))
            .collect();
        let (segs, read) = self.join_pieces(segs, read, line_h, allowed);
        let mut out = Vec::with_capacity(segs.len());
        for (s, whole) in segs.into_iter().zip(read) {
            let Some(mut whole) = whole else {
                let candidates = if numeric || email {
                    band.punctuation(&s, allowed)
                } else {
                    Vec::new()
                };
                out.push(ReadGlyph {
                    segment: s,
                    candidates,
                });
                continue;
            };
            if slash {
                with_slash(&mut whole, slash_belief(&s.image));
            }
            if email {
                with_at(&mut whole, &s.image);
            }
            self.split_or_keep(s, whole, line_h, allowed, 2, &mut out);
        }
        out
    }

    /// Joins neighbouring glyphs (both read, close, together no wider than
    /// a character) whose union reads better than the two apart, the
    /// likeliest joins first, each glyph joined at most once.
    fn join_pieces(
        &self,
        segs: Vec<Segment>,
        read: Vec<Reading>,
        line_h: f32,
        allowed: &str,
    ) -> (Vec<Segment>, Vec<Reading>) {
        let top = |r: &Reading| r.as_ref().and_then(|c| c.first()).map(|c| c.1);
        let pairs: Vec<usize> = (1..segs.len())
            .filter(|&i| {
                let (a, b) = (&segs[i - 1], &segs[i]);
                read[i - 1].is_some()
                    && read[i].is_some()
                    && !b.space_before
                    && (b.x0 as f32 - a.x1 as f32) <= JOIN_GAP * line_h
                    && (b.x1.max(a.x1) - a.x0) as f32 <= JOIN_W * line_h
            })
            .collect();
        if pairs.is_empty() {
            return (segs, read);
        }
        let joined: Vec<Segment> = pairs
            .iter()
            .map(|&i| join(&segs[i - 1], &segs[i]))
            .collect();
        let images: Vec<&GrayImage> = joined.iter().map(|s| &s.image).collect();
        let reads = self.classify_many(&images, allowed);
        // (gain, pair index) for the joins worth making.
        let mut gains: Vec<(f32, usize)> = pairs
            .iter()
            .zip(&reads)
            .enumerate()
            .filter_map(|(k, (&i, r))| {
                let p = r.first()?.1;
                let apart = top(&read[i - 1])? * top(&read[i])?;
                (p >= JOIN_MIN_P && p > JOIN_MARGIN * apart).then_some((p / apart.max(1e-6), k))
            })
            .collect();
        if gains.is_empty() {
            return (segs, read);
        }
        gains.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut used = vec![false; segs.len()];
        let mut join_at: Vec<Option<usize>> = vec![None; segs.len()];
        for (_, k) in gains {
            let i = pairs[k];
            if !used[i - 1] && !used[i] {
                used[i - 1] = true;
                used[i] = true;
                join_at[i - 1] = Some(k);
            }
        }
        let mut joined: Vec<Option<Segment>> = joined.into_iter().map(Some).collect();
        let mut reads: Vec<Reading> = reads.into_iter().map(Some).collect();
        let (mut out_s, mut out_r) = (
            Vec::with_capacity(segs.len()),
            Vec::with_capacity(segs.len()),
        );
        let mut skip = false;
        for (i, (s, r)) in segs.into_iter().zip(read).enumerate() {
            if skip {
                skip = false;
                continue;
            }
            match join_at[i] {
                Some(k) => {
                    out_s.extend(joined[k].take());
                    out_r.push(reads[k].take());
                    skip = true;
                }
                None => {
                    out_s.push(s);
                    out_r.push(r);
                }
            }
        }
        (out_s, out_r)
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
        // Every cut's halves in one pass of the network.
        let cuts = cut_candidates(&s, line_h);
        let halves_of: Vec<(Segment, Segment)> = cuts.iter().map(|&c| halves(&s, c)).collect();
        let images: Vec<&GrayImage> = halves_of
            .iter()
            .flat_map(|(l, r)| [&l.image, &r.image])
            .collect();
        let mut reads = self.classify_many(&images, allowed).into_iter();
        for &cut in &cuts {
            let (Some(cl), Some(cr)) = (reads.next(), reads.next()) else {
                break;
            };
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

fn allows(allowed: &str, c: char) -> bool {
    allowed.is_empty() || allowed.contains(c)
}

/// Where the line's letters stand: the typical top and foot of the glyphs
/// at least half as tall as the tallest.
#[derive(Clone, Copy, Debug)]
struct Band {
    top: f32,
    foot: f32,
}

impl Band {
    fn of(segs: &[Segment]) -> Option<Band> {
        let tallest = segs.iter().map(|s| s.y1 - s.y0).max()?;
        let tall: Vec<&Segment> = segs
            .iter()
            .filter(|s| 2 * (s.y1 - s.y0) >= tallest)
            .collect();
        let median = |mut v: Vec<u32>| {
            v.sort_unstable();
            v[v.len() / 2] as f32
        };
        let top = median(tall.iter().map(|s| s.y0).collect());
        let foot = median(tall.iter().map(|s| s.y1).collect());
        (foot > top).then_some(Band { top, foot })
    }

    fn height(&self) -> f32 {
        self.foot - self.top
    }

    /// Less than half the letters' height and no wider than a letter.
    fn is_small(&self, s: &Segment) -> bool {
        let h = self.height();
        ((s.y1 - s.y0) as f32) < 0.5 * h && ((s.x1 - s.x0) as f32) < 0.9 * h
    }

    /// Candidates for a small mark, restricted to `allowed`: none when it is
    /// no punctuation `allowed` holds (the caller then keeps Tesseract's
    /// reading).
    fn punctuation(&self, s: &Segment, allowed: &str) -> Vec<(char, f32)> {
        let h = self.height();
        let (mw, mh) = ((s.x1 - s.x0) as f32, (s.y1 - s.y0) as f32);
        let centre = ((s.y0 + s.y1) as f32 / 2.0 - self.top) / h;
        let cands: &[(char, f32)] = if centre > 0.7 {
            // At the foot: a comma is taller than wide and reaches below.
            if mh > 1.4 * mw && s.y1 as f32 > self.foot + 0.12 * h {
                &[(',', 0.7), ('.', 0.25)]
            } else {
                &[('.', 0.85), (',', 0.1)]
            }
        } else if centre > 0.3 {
            if mw >= 1.5 * mh {
                &[('-', 0.85)]
            } else {
                &[('-', 0.3), ('.', 0.2)]
            }
        } else {
            &[('\'', 0.8)]
        };
        cands
            .iter()
            .copied()
            .filter(|(c, _)| allows(allowed, *c))
            .collect()
    }
}

/// How much a glyph looks like a slash (0..1): a thin, straight stroke
/// leaning forward by more than a hand-written one usually does.
fn slash_belief(img: &GrayImage) -> f32 {
    let (w, h) = (img.width(), img.height());
    // Each ink row's middle and width.
    let mut rows: Vec<(f32, f32, f32)> = Vec::new();
    for y in 0..h {
        let xs: Vec<u32> = (0..w).filter(|&x| img.get_pixel(x, y).0[0] < 128).collect();
        if let (Some(&a), Some(&b)) = (xs.first(), xs.last()) {
            rows.push((y as f32, (a + b) as f32 / 2.0, xs.len() as f32));
        }
    }
    if rows.len() < 8 {
        return 0.0;
    }
    let n = rows.len() as f32;
    let span = rows.last().map_or(0.0, |r| r.0) - rows[0].0 + 1.0;
    let (my, mx) = (
        rows.iter().map(|r| r.0).sum::<f32>() / n,
        rows.iter().map(|r| r.1).sum::<f32>() / n,
    );
    let (mut sxy, mut syy) = (0.0, 0.0);
    for &(y, x, _) in &rows {
        sxy += (y - my) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if syy <= 0.0 {
        return 0.0;
    }
    // Image rows go down, so a forward lean is a negative slope.
    let lean = -sxy / syy;
    let wobble = (rows
        .iter()
        .map(|&(y, x, _)| (x - (mx - lean * (y - my))).powi(2))
        .sum::<f32>()
        / n)
        .sqrt();
    let width = rows.iter().map(|r| r.2).sum::<f32>() / n;
    if width > 0.22 * span || wobble > 0.08 * span {
        return 0.0;
    }
    ((lean - 0.3) / 0.3).clamp(0.0, 0.9)
}

/// Makes room for a slash of belief `p` among a glyph's candidates.
fn with_slash(cands: &mut Vec<(char, f32)>, p: f32) {
    if p <= 0.0 {
        return;
    }
    cands.iter_mut().for_each(|c| c.1 *= 1.0 - p);
    cands.push(('/', p));
    cands.sort_by(|a, b| b.1.total_cmp(&a.1));
}

/// Offers `@` for a glyph read as a round letter or digit whose middle
/// holds ink (an `a` inside the ring), with a belief that grows with that
/// ink but stays under the reading's own: an `@` is never read outright,
/// only taken where an address needs one.
pub(super) fn with_at(cands: &mut Vec<(char, f32)>, img: &GrayImage) {
    let Some(&(top, p)) = cands.first() else {
        return;
    };
    if !"OQ0CGDU".contains(top) {
        return;
    }
    let (w, h) = (img.width(), img.height());
    // The middle third each way.
    let (x0, x1, y0, y1) = (w / 3, w - w / 3, h / 3, h - h / 3);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let inked = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
        .count();
    let share = inked as f32 / ((x1 - x0) * (y1 - y0)) as f32;
    let belief = ((share - 0.08) / 0.25).clamp(0.0, 1.0) * 0.5 * p;
    if belief > 0.0 {
        cands.push(('@', belief));
        cands.sort_by(|a, b| b.1.total_cmp(&a.1));
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
            y0: s.y0,
            y1: s.y1,
            space_before: s.space_before,
            image: left,
        },
        Segment {
            x0: at,
            x1: s.x1,
            y0: s.y0,
            y1: s.y1,
            space_before: false,
            image: right,
        },
    )
}
