//! Cutting a one-line crop of hand-printed capitals into character glyphs:
//! connected components, merged when they share columns (broken strokes,
//! dots), split when far too wide for one character (touching letters), with
//! specks dropped and word gaps found.

use image::{GrayImage, Luma};

/// One character glyph cut from a line crop.
#[derive(Clone, Debug)]
pub struct Segment {
    /// First column of the glyph in the line crop.
    pub x0: u32,
    /// One past the last column of the glyph in the line crop.
    pub x1: u32,
    /// First row of the glyph's ink in the line crop.
    pub y0: u32,
    /// One past the last row of the glyph's ink in the line crop.
    pub y1: u32,
    /// Whether a word gap comes before this glyph (never for the first).
    pub space_before: bool,
    /// The glyph alone: dark ink on white, cropped to its ink with a small
    /// white margin, ink of neighbouring glyphs removed.
    pub image: GrayImage,
}

/// A connected piece of ink: bounding box (exclusive ends) and pixel count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Comp {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    pub area: usize,
}

impl Comp {
    fn w(&self) -> usize {
        self.x1 - self.x0
    }
    fn h(&self) -> usize {
        self.y1 - self.y0
    }
}

/// A label per pixel (0 = no ink, k = component k-1) and the components.
pub(crate) fn label(w: usize, h: usize, ink: impl Fn(usize) -> bool) -> (Vec<u32>, Vec<Comp>) {
    let mut labels = vec![0u32; w * h];
    let mut comps = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if labels[start] != 0 || !ink(start) {
            continue;
        }
        let id = comps.len() as u32 + 1;
        let mut c = Comp {
            x0: start % w,
            y0: start / w,
            x1: start % w + 1,
            y1: start / w + 1,
            area: 0,
        };
        labels[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            c.area += 1;
            c.x0 = c.x0.min(x);
            c.x1 = c.x1.max(x + 1);
            c.y0 = c.y0.min(y);
            c.y1 = c.y1.max(y + 1);
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if labels[j] == 0 && ink(j) {
                        labels[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        comps.push(c);
    }
    (labels, comps)
}

/// The largest line crop [`segment_line`] works on, in pixels.
pub const MAX_LINE_PIXELS: usize = 16_000_000;

/// Groups wider than this many letter heights may hold two letters joined
/// by a thin neck.
const SPLIT_SOFT: f32 = 1.1;
/// Groups wider than this many letter heights hold several letters.
const SPLIT_HARD: f32 = 1.45;
/// A typical letter's width in letter heights.
const TYPICAL: f32 = 0.8;
/// The narrowest piece a cut may leave, in letter heights.
const MIN_PIECE: f32 = 0.3;
/// A neck: a column with at most this much ink, in letter heights.
const NECK: f32 = 0.12;
/// Word gaps: at least this many letter heights...
const SPACE_H: f32 = 0.28;
/// ... and this many times the median gap.
const SPACE_MEDIAN: f32 = 3.0;

/// A glyph being assembled: its components and the column range it owns.
#[derive(Clone, Debug)]
struct Group {
    comps: Vec<usize>,
    x0: usize,
    x1: usize,
}

/// Splits a one-line crop of hand-printed capitals (dark on white; pixels
/// darker than `threshold` are ink) into character glyphs, left to right.
///
/// Connected pieces that mostly share columns are one glyph (broken strokes,
/// the parts of `£` or `&`); pieces far too wide for one character are cut
/// at their weakest column; specks are dropped. A glyph has `space_before`
/// when the gap before it is wide for the line's letter height and spacing.
/// A blank crop gives no segments, and so does one of more than
/// [`MAX_LINE_PIXELS`] pixels (no line crop is that large).
pub fn segment_line(img: &GrayImage, threshold: u8) -> Vec<Segment> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 || w.saturating_mul(h) > MAX_LINE_PIXELS {
        return Vec::new();
    }
    let raw = img.as_raw();
    let (labels, comps) = label(w, h, |i| raw[i] < threshold);
    if comps.is_empty() {
        return Vec::new();
    }
    let line_h = letter_height(&comps);
    // Crops are despeckled before they are read (`clean`), so what is left
    // this small is dust the cleaning kept, not a full stop (a pen's dot is
    // a few pixels across).
    let speck = ((line_h * line_h) / 1000.0).max(4.0);
    let mut order: Vec<usize> = (0..comps.len())
        .filter(|&i| {
            let c = &comps[i];
            let ruling = c.h() <= 3 && c.w() as f32 > 1.5 * line_h;
            (c.area as f32) >= speck && !ruling
        })
        .collect();
    order.sort_by_key(|&i| (comps[i].x0, comps[i].x1));

    let groups = merge_overlapping(&comps, &order, line_h);
    let mut pieces = Vec::new();
    for g in groups {
        split_wide(&g, &comps, &labels, w, line_h, &mut pieces);
    }
    pieces.retain(|p| p.x1 > p.x0);
    let gaps: Vec<f32> = pieces
        .windows(2)
        .map(|p| p[1].x0 as f32 - p[0].x1 as f32)
        .collect();
    let space = space_gap(&gaps, line_h);
    let mut out = Vec::with_capacity(pieces.len());
    for (k, p) in pieces.iter().enumerate() {
        let Some((image, y0, y1)) = cut(img, &labels, &comps, p) else {
            continue;
        };
        let space_before = k > 0 && gaps[k - 1] >= space;
        out.push(Segment {
            x0: p.x0 as u32,
            x1: p.x1 as u32,
            y0: y0 as u32,
            y1: y1 as u32,
            space_before,
            image,
        });
    }
    if let Some(first) = out.first_mut() {
        first.space_before = false;
    }
    out
}

/// Two glyphs of one line as one: the union of their columns and rows,
/// each one's ink where it lies on the line (the darker wins where they
/// meet). Its word gap is the left one's.
pub fn join(a: &Segment, b: &Segment) -> Segment {
    let (x0, x1) = (a.x0.min(b.x0), a.x1.max(b.x1));
    let (y0, y1) = (a.y0.min(b.y0), a.y1.max(b.y1));
    // Each image is its glyph's box with a margin of `m` on every side, as
    // `cut` makes it; the joined one keeps the same margin.
    let m = 3u32;
    let mut image = GrayImage::from_pixel(x1 - x0 + 2 * m, y1 - y0 + 2 * m, Luma([255]));
    for s in [a, b] {
        let (dx, dy) = (s.x0 - x0, s.y0 - y0);
        for (x, y, p) in s.image.enumerate_pixels() {
            if let Some(q) = image.get_pixel_mut_checked(x + dx, y + dy) {
                q.0[0] = q.0[0].min(p.0[0]);
            }
        }
    }
    let left = if a.x0 <= b.x0 { a } else { b };
    Segment {
        x0,
        x1,
        y0,
        y1,
        space_before: left.space_before,
        image,
    }
}

/// The line's capital height: the typical height of its taller pieces.
fn letter_height(comps: &[Comp]) -> f32 {
    let tallest = comps
        .iter()
        .filter(|c| c.area >= 6)
        .map(|c| c.h())
        .max()
        .unwrap_or(1);
    let mut tall: Vec<usize> = comps
        .iter()
        .filter(|c| c.area >= 6 && c.h() * 2 >= tallest)
        .map(|c| c.h())
        .collect();
    tall.sort_unstable();
    tall.get(tall.len() / 2).copied().unwrap_or(tallest).max(1) as f32
}

/// Groups the components (in `order`, sorted by left edge) that share most
/// of their columns, or where a small piece sits over or under a larger one.
fn merge_overlapping(comps: &[Comp], order: &[usize], line_h: f32) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for &i in order {
        let c = &comps[i];
        let mut best: Option<(usize, f32)> = None;
        for (gi, g) in groups.iter().enumerate().rev().take(3) {
            let ov = g.x1.min(c.x1) as f32 - g.x0.max(c.x0) as f32;
            if ov <= 0.0 {
                continue;
            }
            let narrow = c.w().min(g.x1 - g.x0).max(1) as f32;
            let small = (c.h() as f32) < 0.45 * line_h;
            let share = ov / narrow;
            if (share >= 0.6 || (small && share >= 0.3)) && best.is_none_or(|(_, s)| share > s) {
                best = Some((gi, share));
            }
        }
        match best {
            Some((gi, _)) => {
                let g = &mut groups[gi];
                g.comps.push(i);
                g.x0 = g.x0.min(c.x0);
                g.x1 = g.x1.max(c.x1);
            }
            None => groups.push(Group {
                comps: vec![i],
                x0: c.x0,
                x1: c.x1,
            }),
        }
    }
    groups.sort_by_key(|g| g.x0);
    groups
}

/// Cuts a group wider than one character at its weakest columns, pushing
/// the resulting pieces (left to right) to `out`: a group far too wide is
/// cut into as many pieces as typical letter widths fit, a group a little
/// too wide only where a thin neck joins two parts.
fn split_wide(
    g: &Group,
    comps: &[Comp],
    labels: &[u32],
    w: usize,
    line_h: f32,
    out: &mut Vec<Group>,
) {
    let width = (g.x1 - g.x0) as f32;
    if width <= SPLIT_SOFT * line_h || g.x1 - g.x0 < 6 {
        out.push(g.clone());
        return;
    }
    let profile = column_profile(g, comps, labels, w);
    let min_piece = (MIN_PIECE * line_h) as usize;
    let cuts = if width > SPLIT_HARD * line_h {
        even_cuts(&profile, width, line_h, min_piece)
    } else {
        neck_cut(&profile, line_h, min_piece).into_iter().collect()
    };
    let mut start = g.x0;
    for c in cuts {
        out.push(Group {
            comps: g.comps.clone(),
            x0: start,
            x1: g.x0 + c,
        });
        start = g.x0 + c;
    }
    out.push(Group {
        comps: g.comps.clone(),
        x0: start,
        x1: g.x1,
    });
}

/// Ink pixels of the group in each of its columns.
fn column_profile(g: &Group, comps: &[Comp], labels: &[u32], w: usize) -> Vec<f32> {
    let ids: Vec<u32> = g.comps.iter().map(|&i| i as u32 + 1).collect();
    let (y0, y1) = g.comps.iter().fold((usize::MAX, 0), |(a, b), &i| {
        (a.min(comps[i].y0), b.max(comps[i].y1))
    });
    let mut profile = vec![0f32; g.x1 - g.x0];
    for y in y0..y1 {
        for x in g.x0..g.x1 {
            if ids.contains(&labels[y * w + x]) {
                profile[x - g.x0] += 1.0;
            }
        }
    }
    profile
}

/// Cuts near each expected boundary when the group holds `width / typical
/// letter width` characters, at the thinnest column nearby.
fn even_cuts(profile: &[f32], width: f32, line_h: f32, min_piece: usize) -> Vec<usize> {
    let n = ((width / (TYPICAL * line_h)).round() as usize).clamp(2, 40);
    let mut cuts = Vec::new();
    let step = width / n as f32;
    let mut last = 0usize;
    for k in 1..n {
        let centre = k as f32 * step;
        let lo = ((centre - 0.4 * step).max((last + min_piece) as f32)) as usize;
        let hi = ((centre + 0.4 * step) as usize).min(profile.len().saturating_sub(min_piece));
        if lo >= hi {
            continue;
        }
        let mut best = (f32::MAX, lo);
        for (x, &p) in profile.iter().enumerate().take(hi).skip(lo) {
            // Prefer thin columns, then those near the expected boundary.
            let cost = p + 0.5 * ((x as f32 - centre).abs() / step);
            if cost < best.0 {
                best = (cost, x);
            }
        }
        cuts.push(best.1);
        last = best.1;
    }
    cuts
}

/// One cut at a thin neck in the middle part of the group, if there is one.
fn neck_cut(profile: &[f32], line_h: f32, min_piece: usize) -> Option<usize> {
    let lo = min_piece.max(profile.len() / 4);
    let hi = profile
        .len()
        .saturating_sub(min_piece)
        .min(profile.len() * 3 / 4);
    let (x, &p) = profile
        .iter()
        .enumerate()
        .take(hi)
        .skip(lo)
        .min_by(|a, b| a.1.total_cmp(b.1))?;
    (p <= NECK * line_h).then_some(x)
}

/// The smallest gap that counts as a word space: wide for the letter
/// height and for the line's usual letter spacing.
fn space_gap(gaps: &[f32], line_h: f32) -> f32 {
    let mut sorted: Vec<f32> = gaps.iter().map(|g| g.max(0.0)).collect();
    sorted.sort_by(f32::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    (SPACE_H * line_h)
        .max(SPACE_MEDIAN * median)
        .min(0.9 * line_h)
        .max(3.0)
}

/// The glyph image of a piece: its own ink (other pieces' ink whitened)
/// inside its columns, cropped with a white margin; with the rows of that
/// ink in the line (first, one past last).
fn cut(
    img: &GrayImage,
    labels: &[u32],
    comps: &[Comp],
    p: &Group,
) -> Option<(GrayImage, usize, usize)> {
    let w = img.width() as usize;
    let ids: Vec<u32> = p.comps.iter().map(|&i| i as u32 + 1).collect();
    let (y_lo, y_hi) = p.comps.iter().fold((usize::MAX, 0), |(a, b), &i| {
        (a.min(comps[i].y0), b.max(comps[i].y1))
    });
    // Rows that really hold this piece's ink within its columns.
    let (mut y0, mut y1) = (usize::MAX, 0);
    for y in y_lo..y_hi {
        if (p.x0..p.x1).any(|x| ids.contains(&labels[y * w + x])) {
            y0 = y0.min(y);
            y1 = y1.max(y + 1);
        }
    }
    if y0 >= y1 {
        return None;
    }
    // The margin `join` expects.
    let m = 3usize;
    let (ow, oh) = (p.x1 - p.x0 + 2 * m, y1 - y0 + 2 * m);
    let mut out = GrayImage::from_pixel(ow as u32, oh as u32, Luma([255]));
    for y in y0..y1 {
        for x in p.x0..p.x1 {
            let l = labels[y * w + x];
            // Keep own ink and the soft edge around it; drop other pieces.
            if l == 0 || ids.contains(&l) {
                let v = img.as_raw()[y * w + x];
                out.put_pixel((x - p.x0 + m) as u32, (y - y0 + m) as u32, Luma([v]));
            }
        }
    }
    Some((out, y0, y1))
}
