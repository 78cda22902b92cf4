//! Reading fields off a registered page.
//!
//! Owns cropping (through the page's [`Pose`], so every crop comes out
//! upright and deskewed at one resolution), finding each box's own printed
//! lines inside its crop (a local registration that absorbs what the global
//! fit left over), removing those lines so they are never read as
//! characters, deciding whether a box holds ink at all, and asking
//! [`crate::ocr`] for characters with the character set the field's type
//! allows. Marks (tick boxes, choices, signatures) are measured, not read.
//! Turning what is read into values is [`crate::normalise`]'s job.

use crate::clean;
use crate::fuse::{fuse_line, merge, GlyphChar};
use crate::glyph::GlyphModel;
use crate::ocr::{Layout, Ocr};
use crate::raw::{CharCandidates, RawValue};
use crate::register::Pose;
use formflow_schemas::{BoxMm, FieldSpec, FieldType};
use image::GrayImage;

/// Crop resolution in pixels a millimetre (about 300 dpi): Tesseract reads
/// best with capitals 40-60 pixels tall, which an 8 mm box gives here.
pub const CROP_PPMM: f64 = 12.0;
const CROP_PPI: u32 = (CROP_PPMM * 25.4) as u32;
/// Margin cropped around a box so that its lines are inside the crop even
/// when the global fit is a little off.
const MARGIN_MM: f64 = 1.5;
/// Ink share of a row or column above which it is taken for a printed line.
const LINE_SHARE: f64 = 0.55;

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

/// A greyscale crop of the page for the template box `b`, upright, at
/// `ppmm` pixels a millimetre, sampled bilinearly.
pub fn crop(gray: &GrayImage, pose: &Pose, b: BoxMm, ppmm: f64) -> GrayImage {
    let w = (b.w * ppmm).round().max(1.0) as u32;
    let h = (b.h * ppmm).round().max(1.0) as u32;
    let p0 = pose.to_scan(b.x, b.y);
    let px = pose.to_scan(b.x + 1.0, b.y);
    let py = pose.to_scan(b.x, b.y + 1.0);
    let ex = ((px.0 - p0.0) / ppmm, (px.1 - p0.1) / ppmm);
    let ey = ((py.0 - p0.0) / ppmm, (py.1 - p0.1) / ppmm);
    let (gw, gh) = (gray.width() as i64, gray.height() as i64);
    let src = gray.as_raw();
    let mut buf = vec![255u8; (w as usize) * (h as usize)];
    // Fixed point, 16 fraction bits: this runs for every pixel of every
    // crop, and float rounding calls dominated it.
    const ONE: f64 = 65536.0;
    let (dxx, dxy) = ((ex.0 * ONE) as i64, (ex.1 * ONE) as i64);
    let g = gw as usize;
    for j in 0..h as usize {
        let mut x = ((p0.0 + (j as f64 + 0.5) * ey.0 + 0.5 * ex.0) * ONE) as i64;
        let mut y = ((p0.1 + (j as f64 + 0.5) * ey.1 + 0.5 * ex.1) * ONE) as i64;
        let row = &mut buf[j * w as usize..(j + 1) * w as usize];
        for px in row.iter_mut() {
            let (xi, yi) = (x >> 16, y >> 16);
            if xi >= 0 && yi >= 0 && xi + 1 < gw && yi + 1 < gh {
                let (fx, fy) = (x & 0xffff, y & 0xffff);
                let i = (yi as usize) * g + xi as usize;
                let a = src[i] as i64 * (0x10000 - fx) + src[i + 1] as i64 * fx;
                let b = src[i + g] as i64 * (0x10000 - fx) + src[i + g + 1] as i64 * fx;
                let v = (a >> 8) * (0x10000 - fy) + (b >> 8) * fy;
                *px = ((v + (1 << 23)) >> 24).clamp(0, 255) as u8;
            }
            x += dxx;
            y += dxy;
        }
    }
    GrayImage::from_raw(w, h, buf).unwrap_or_else(|| GrayImage::new(w, h))
}

/// One page being read: its greyscale image, pose and ink threshold.
pub struct PageReader<'a> {
    /// The page as decoded.
    pub gray: &'a GrayImage,
    /// Where the template page lies on it.
    pub pose: Pose,
    /// Grey level at or below which a pixel is ink.
    pub threshold: u8,
    /// The handwriting recogniser, when its weights loaded.
    pub glyphs: Option<&'a GlyphModel>,
}

/// Where a box's lines were found inside its crop, in crop pixels.
#[derive(Debug, Clone, Copy)]
struct Frame {
    left: u32,
    right: u32,
    top: u32,
    bottom: u32,
}

impl PageReader<'_> {
    fn ink_of(&self, img: &GrayImage) -> Vec<bool> {
        img.as_raw().iter().map(|&p| p <= self.threshold).collect()
    }

    /// Crops `b` with a margin and finds its printed frame inside the crop.
    fn framed(&self, b: BoxMm) -> (GrayImage, Frame) {
        let img = crop(self.gray, &self.pose, b.grow(MARGIN_MM), CROP_PPMM);
        let ink = self.ink_of(&img);
        let (w, h) = (img.width() as usize, img.height() as usize);
        let m = (MARGIN_MM * CROP_PPMM).round() as i64;
        let tol = (1.4 * CROP_PPMM) as i64;
        let rows: Vec<f64> = (0..h)
            .map(|y| ink[y * w..(y + 1) * w].iter().filter(|&&v| v).count() as f64 / w as f64)
            .collect();
        let cols: Vec<f64> = (0..w)
            .map(|x| (0..h).filter(|&y| ink[y * w + x]).count() as f64 / h as f64)
            .collect();
        // The line nearest where the template expects it, and how far inward its ink reaches.
        let find = |prof: &[f64], expect: i64, inward: i64, share: f64| -> Option<u32> {
            let lo = (expect - tol).max(0);
            let hi = (expect + tol).min(prof.len() as i64 - 1);
            let mut best: Option<i64> = None;
            for i in lo..=hi {
                if prof[i as usize] >= share
                    && best.is_none_or(|b| (i - expect).abs() < (b - expect).abs())
                {
                    best = Some(i);
                }
            }
            // Walk to the line's inner edge, but no further than a line is
            // thick: a tick or a letter touching the line is not the line.
            let mut i = best?;
            let limit = (0.8 * CROP_PPMM) as i64;
            let mut steps = 0;
            while steps < limit
                && i + inward >= 0
                && i + inward < prof.len() as i64
                && prof[(i + inward) as usize] >= share * 0.6
            {
                i += inward;
                steps += 1;
            }
            Some(i as u32)
        };
        let (bw, bh) = (
            (b.w * CROP_PPMM).round() as i64,
            (b.h * CROP_PPMM).round() as i64,
        );
        let vshare = LINE_SHARE * (bh as f64 / h as f64);
        let hshare = LINE_SHARE * (bw as f64 / w as f64);
        let frame = Frame {
            top: find(&rows, m, 1, hshare).unwrap_or(m as u32 + 2),
            bottom: find(&rows, m + bh, -1, hshare).unwrap_or((m + bh) as u32 - 2),
            left: find(&cols, m, 1, vshare).unwrap_or(m as u32 + 2),
            right: find(&cols, m + bw, -1, vshare).unwrap_or((m + bw) as u32 - 2),
        };
        (img, frame)
    }

    /// Reads one field.
    pub fn read(&self, spec: &FieldSpec, ocr: &mut Ocr) -> RawValue {
        match spec.kind {
            FieldType::Checkbox => self.tick(spec.box_mm),
            FieldType::Signature => self.signature(spec.box_mm),
            FieldType::Choice => RawValue::Choice(
                spec.options
                    .iter()
                    .flatten()
                    .map(|(k, b)| match self.tick(*b) {
                        RawValue::Mark {
                            present,
                            confidence,
                        } => (k.clone(), present, confidence),
                        _ => (k.clone(), false, 0.0),
                    })
                    .collect(),
            ),
            _ => match &spec.cells {
                Some(cells) => self.comb(spec, cells, ocr),
                None => self.line(spec, ocr),
            },
        }
    }

    /// Share of ink inside a box's frame, inset by `inset_mm`.
    fn inner_ink(&self, b: BoxMm, inset_mm: f64) -> (f64, GrayImage, Frame) {
        let (img, f) = self.framed(b);
        let inset = (inset_mm * CROP_PPMM).round() as u32;
        let (x0, x1) = (f.left + inset, f.right.saturating_sub(inset));
        let (y0, y1) = (f.top + inset, f.bottom.saturating_sub(inset));
        if x1 <= x0 || y1 <= y0 {
            return (0.0, img, f);
        }
        let mut n = 0usize;
        for y in y0..y1 {
            for x in x0..x1 {
                if img.get_pixel(x, y)[0] <= self.threshold {
                    n += 1;
                }
            }
        }
        (n as f64 / ((x1 - x0) * (y1 - y0)) as f64, img, f)
    }

    /// A tick box: ticked when enough of its inside is inked.
    fn tick(&self, b: BoxMm) -> RawValue {
        let (share, _, _) = self.inner_ink(b, 0.45);
        // A tick or cross inks 8-30% of the inside; specks and a stray
        // edge stay under 2%.
        let (lo, hi) = (0.02, 0.06);
        mark(share, lo, hi)
    }

    /// A signature box: signed when enough ink lies inside it.
    fn signature(&self, b: BoxMm) -> RawValue {
        let (share, _, _) = self.inner_ink(b, 0.8);
        mark(share, 0.003, 0.012)
    }

    fn line(&self, spec: &FieldSpec, ocr: &mut Ocr) -> RawValue {
        let (img, f) = self.framed(spec.box_mm);
        let inset = (0.45 * CROP_PPMM).round() as u32;
        let Some(inner) = inside(&img, f, inset) else {
            return RawValue::Line {
                chars: Vec::new(),
                ink: false,
            };
        };
        match self.prepare_text(inner) {
            None => RawValue::Line {
                chars: Vec::new(),
                ink: false,
            },
            Some(t) => {
                dump(&t, &spec.name);
                let whitelist = line_whitelist(spec);
                let text = ocr
                    .read(&t, CROP_PPI, Layout::Line, whitelist)
                    .unwrap_or_default();
                let chars = match self.glyphs {
                    Some(model) => {
                        let allowed: String = whitelist.chars().filter(|c| *c != ' ').collect();
                        let read = model.read_line(&t, 128, &allowed);
                        // A small mark the reader has no candidates for
                        // (punctuation the field does not allow) keeps
                        // Tesseract's reading; a blank cut is dropped.
                        let mut heights: Vec<u32> =
                            read.iter().map(|g| g.segment.y1 - g.segment.y0).collect();
                        heights.sort_unstable();
                        let median = heights.get(heights.len() / 2).copied().unwrap_or(0);
                        let glyphs: Vec<GlyphChar> = read
                            .into_iter()
                            .filter_map(|g| {
                                let small = 2 * (g.segment.y1 - g.segment.y0) < median;
                                (small || !g.candidates.is_empty()).then_some(GlyphChar {
                                    span: (g.segment.x0 as i32, g.segment.x1 as i32),
                                    space_before: g.segment.space_before,
                                    cands: g.candidates,
                                })
                            })
                            .collect();
                        fuse_line(&text.chars, &text.spans, &glyphs)
                    }
                    None => text.chars,
                };
                if chars.is_empty() {
                    RawValue::Unreadable
                } else {
                    RawValue::Line { chars, ink: true }
                }
            }
        }
    }

    /// A comb field. Tesseract's line model reads isolated characters
    /// badly, so the inked cells are set side by side, a small gap apart,
    /// into one line image, read once, and each character given back to
    /// the cell it lies in.
    fn comb(&self, spec: &FieldSpec, cells: &[BoxMm], ocr: &mut Ocr) -> RawValue {
        let classes = cell_classes(spec, cells.len());
        let inset = (0.5 * CROP_PPMM).round() as u32;
        let glyphs: Vec<Option<GrayImage>> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (img, f) = self.framed(*c);
                let g = inside(&img, f, inset).and_then(|inner| self.prepare_text(inner));
                if let Some(g) = &g {
                    dump(g, &format!("{}-{i}", spec.name));
                }
                g
            })
            .collect();
        if glyphs.iter().all(Option::is_none) {
            return RawValue::Cells(vec![None; cells.len()]);
        }
        let gap = (0.8 * CROP_PPMM) as u32;
        let pad = (1.0 * CROP_PPMM) as u32;
        let height = glyphs
            .iter()
            .flatten()
            .map(|g| g.height())
            .max()
            .unwrap_or(1)
            + 2 * pad;
        let width = glyphs
            .iter()
            .flatten()
            .map(|g| g.width() + gap)
            .sum::<u32>()
            + 2 * pad;
        let mut line = GrayImage::from_pixel(width, height, image::Luma([255]));
        let mut spans: Vec<Option<(i32, i32)>> = Vec::with_capacity(cells.len());
        let mut x = pad;
        for g in &glyphs {
            match g {
                Some(g) => {
                    image::imageops::replace(
                        &mut line,
                        g,
                        x as i64,
                        ((height - g.height()) / 2) as i64,
                    );
                    spans.push(Some((
                        x as i32 - gap as i32 / 2,
                        (x + g.width() + gap / 2) as i32,
                    )));
                    x += g.width() + gap;
                }
                None => spans.push(None),
            }
        }
        dump(&line, &spec.name);
        let mut allowed: Vec<char> = classes.iter().flat_map(|c| c.chars()).collect();
        allowed.sort_unstable();
        allowed.dedup();
        let whitelist: String = allowed.into_iter().collect();
        let text = ocr
            .read(&line, CROP_PPI, Layout::Line, &whitelist)
            .unwrap_or_default();
        let mut out: Vec<Option<CharCandidates>> = Vec::with_capacity(cells.len());
        for (i, span) in spans.iter().enumerate() {
            let Some((l, r)) = span else {
                out.push(None);
                continue;
            };
            // The characters whose centre lies in this cell's span.
            let mine: Vec<&CharCandidates> = text
                .chars
                .iter()
                .zip(&text.spans)
                .filter_map(|(c, s)| s.map(|(a, b)| (c, (a + b) / 2)))
                .filter(|(_, mid)| mid >= l && mid < r)
                .map(|(c, _)| c)
                .collect();
            let tess = match mine.as_slice() {
                [] => CharCandidates(vec![('?', 0.0)]),
                [one] => restrict(one, &classes[i]),
                // Two characters in one cell: keep the surer, and say so by
                // halving its belief.
                many => {
                    let best = many
                        .iter()
                        .max_by(|a, b| {
                            a.best()
                                .map(|x| x.1)
                                .unwrap_or(0.0)
                                .total_cmp(&b.best().map(|x| x.1).unwrap_or(0.0))
                        })
                        .copied();
                    let mut c = restrict(best.unwrap_or(many[0]), &classes[i]);
                    c.0.iter_mut().for_each(|(_, p)| *p *= 0.5);
                    c
                }
            };
            let cands = match (self.glyphs, &glyphs[i]) {
                (Some(model), Some(g)) => merge(Some(&tess), Some(&model.classify(g, &classes[i]))),
                _ => tess,
            };
            out.push(Some(cands));
        }
        RawValue::Cells(out)
    }

    /// Cleans a box's inside for OCR: `None` when it holds no writing.
    /// Whites out what is left of printed lines at its edges, trims to the
    /// ink with a white border, and stretches the contrast.
    fn prepare_text(&self, mut img: GrayImage) -> Option<GrayImage> {
        let (w, h) = img.dimensions();
        if w < 4 || h < 4 {
            return None;
        }
        let mut thr = self.threshold;
        // Rows or columns that are mostly ink at the crop's edges are
        // leftover frame lines. Only at the edges: in a narrow comb cell
        // the bar of a hand-written 7 or 4 is mostly ink too.
        let edge = (h / 10).max(3);
        for y in (0..h).filter(|&y| y < edge || y + edge >= h) {
            let n = (0..w).filter(|&x| img.get_pixel(x, y)[0] <= thr).count();
            if n as f64 > 0.6 * w as f64 {
                (0..w).for_each(|x| img.put_pixel(x, y, image::Luma([255])));
            }
        }
        for x in 0..w {
            let n = (0..h).filter(|&y| img.get_pixel(x, y)[0] <= thr).count();
            if n as f64 > 0.75 * h as f64 && (x < 3 || x + 3 >= w) {
                (0..h).for_each(|y| img.put_pixel(x, y, image::Luma([255])));
            }
        }
        // Writing too pale for the page's threshold is judged against the
        // box's own paper; then ink the writing does not explain goes.
        let mut cleaned = clean::despeckle(&mut img, thr, CROP_PPMM);
        if cleaned.letters == 0 {
            if let Some(t) = clean::faint_threshold(&img, thr, CROP_PPMM) {
                thr = t;
                cleaned = clean::despeckle(&mut img, thr, CROP_PPMM);
            }
        }
        if cleaned.letters == 0 {
            return None;
        }
        // Ink bounding box, ignoring specks (isolated tiny dots).
        let (mut x0, mut y0, mut x1, mut y1, mut n) = (w, h, 0, 0, 0usize);
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                if img.get_pixel(x, y)[0] <= thr {
                    let neighbours = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                        .iter()
                        .filter(|(a, b)| img.get_pixel(*a, *b)[0] <= thr)
                        .count();
                    if neighbours >= 2 {
                        n += 1;
                        x0 = x0.min(x);
                        x1 = x1.max(x);
                        y0 = y0.min(y);
                        y1 = y1.max(y);
                    }
                }
            }
        }
        let min_ink = (0.35 * CROP_PPMM * CROP_PPMM) as usize;
        if n < min_ink || x1 <= x0 || y1 <= y0 || (y1 - y0) < (1.2 * CROP_PPMM) as u32 {
            return None;
        }
        let pad = (1.0 * CROP_PPMM) as u32;
        let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
        // Level the writing and its own paper first, then set it on white:
        // levelled after padding, grey paper would stay grey.
        let mut glyphs = image::imageops::crop_imm(&img, x0, y0, cw, ch).to_image();
        crate::prepare::level(&mut glyphs);
        let mut out = GrayImage::from_pixel(cw + 2 * pad, ch + 2 * pad, image::Luma([255]));
        image::imageops::replace(&mut out, &glyphs, pad as i64, pad as i64);
        Some(out)
    }
}

/// Writes a crop as handed to OCR into the folder named by the
/// `FORMFLOW_DUMP_CROPS` environment variable, when it is set: a diagnostic
/// for tuning, off by default.
fn dump(img: &GrayImage, name: &str) {
    if let Some(dir) = std::env::var_os("FORMFLOW_DUMP_CROPS") {
        let _ = img.save(std::path::Path::new(&dir).join(format!("{name}.png")));
    }
}

/// A character's candidates narrowed to those its cell allows; the
/// allowed ones keep their order. When none is allowed, the reading is kept
/// as it is with no belief, for the normaliser to judge.
fn restrict(c: &CharCandidates, allowed: &str) -> CharCandidates {
    let kept: Vec<(char, f32)> =
        c.0.iter()
            .copied()
            .filter(|(ch, _)| allowed.contains(*ch))
            .collect();
    if kept.is_empty() {
        CharCandidates(c.0.iter().map(|&(ch, p)| (ch, p * 0.2)).collect())
    } else {
        CharCandidates(kept)
    }
}

/// The inside of a frame, inset from its lines.
fn inside(img: &GrayImage, f: Frame, inset: u32) -> Option<GrayImage> {
    let (x0, x1) = (f.left + inset, f.right.saturating_sub(inset));
    let (y0, y1) = (f.top + inset, f.bottom.saturating_sub(inset));
    if x1 <= x0 + 2 || y1 <= y0 + 2 || x1 > img.width() || y1 > img.height() {
        return None;
    }
    Some(image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image())
}

/// A mark measured as an ink share: present above `hi`, absent below `lo`,
/// unsure between.
fn mark(share: f64, lo: f64, hi: f64) -> RawValue {
    let mid = (lo + hi) / 2.0;
    let present = share >= mid;
    // Belief grows with the distance from the middle of the unsure band.
    let d = if present {
        (share - mid) / (hi - mid)
    } else {
        (mid - share) / (mid - lo)
    };
    let confidence = (0.5 + 0.5 * d.clamp(0.0, 1.0) * 0.99).clamp(0.5, 0.995);
    RawValue::Mark {
        present,
        confidence,
    }
}

/// The characters Tesseract may return for a one-line box of this type:
/// the template's own character set when it gives one.
fn line_whitelist(spec: &FieldSpec) -> &str {
    if let Some(cs) = spec.charset.as_deref() {
        return cs;
    }
    match spec.kind {
        FieldType::Email => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-+",
        FieldType::Phone => "0123456789+ ",
        FieldType::Money => "0123456789,.£",
        FieldType::Integer => "0123456789",
        FieldType::Date => "0123456789/.-",
        FieldType::Postcode | FieldType::NiNumber => "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ",
        _ if spec
            .pattern
            .as_deref()
            .is_some_and(|p| p.contains('/') && !p.contains("A-Z")) =>
        {
            "0123456789/"
        }
        _ => "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'.,/&() ",
    }
}

/// The characters each cell of a comb may hold, from the field's type or,
/// for text, its pattern.
pub fn cell_classes(spec: &FieldSpec, n: usize) -> Vec<String> {
    let alnum = format!("{UPPER}{DIGITS}");
    match spec.kind {
        FieldType::Date | FieldType::Integer | FieldType::Money | FieldType::Phone => {
            vec![DIGITS.to_string(); n]
        }
        // Letters where letters go, digits where digits go; the suffix may
        // be any letter so that a wrong one (the rules allow A-D) is read
        // as written and flagged, not bent into a valid one.
        FieldType::NiNumber => (0..n)
            .map(|i| {
                if matches!(i, 0 | 1 | 8) {
                    UPPER.to_string()
                } else {
                    DIGITS.to_string()
                }
            })
            .collect(),
        _ => spec
            .pattern
            .as_deref()
            .and_then(crate::normalise::pattern_formats)
            .and_then(|formats| formats.into_iter().find(|f| f.len() == n))
            .map(|f| f.into_iter().map(|class| class.chars()).collect())
            .unwrap_or_else(|| vec![alnum.clone(); n]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comb_cells_take_their_class_from_the_pattern() {
        let set = formflow_schemas::TemplateSet::builtin();
        let account = set
            .get("legal-aid-cw1")
            .unwrap()
            .field("provider_account")
            .unwrap();
        let c = cell_classes(account, 6);
        assert_eq!(c.len(), 6);
        assert_eq!(c[0], DIGITS);
        assert_eq!(c[1], UPPER);
        assert_eq!(c[5], UPPER);
        let ni = set
            .get("voter-registration")
            .unwrap()
            .field("ni_number")
            .unwrap();
        let c = cell_classes(ni, 9);
        assert_eq!(
            (c[0].as_str(), c[2].as_str(), c[8].as_str()),
            (UPPER, DIGITS, UPPER)
        );
    }

    #[test]
    fn marks_are_present_above_the_band_and_unsure_inside_it() {
        assert_eq!(
            mark(0.2, 0.02, 0.06),
            RawValue::Mark {
                present: true,
                confidence: 0.995
            }
        );
        let RawValue::Mark {
            present,
            confidence,
        } = mark(0.0, 0.02, 0.06)
        else {
            panic!()
        };
        assert!(!present && confidence > 0.98);
        let RawValue::Mark { confidence, .. } = mark(0.041, 0.02, 0.06) else {
            panic!()
        };
        assert!(confidence < 0.6);
    }

    #[test]
    fn a_cells_frame_remnant_goes_but_the_bar_of_a_seven_stays() {
        // A comb cell's inside: a remnant of the frame along the top row,
        // and a hand-written 7 whose bar spans three quarters of the width.
        let mut cell = GrayImage::from_pixel(80, 90, image::Luma([255]));
        let mut ink = |x: u32, y: u32| cell.put_pixel(x, y, image::Luma([20]));
        (0..80).for_each(|x| ink(x, 0));
        for y in 20..26 {
            (10..70).for_each(|x| ink(x, y));
        }
        for y in 26..80 {
            let x = 70 - (y - 26) * 35 / 54;
            (x - 3..x + 3).for_each(|x| ink(x, y));
        }
        let page = GrayImage::new(1, 1);
        let reader = PageReader {
            gray: &page,
            pose: Pose {
                orientation: 0,
                angle: 0.0,
                sx: 1.0,
                sy: 1.0,
                tx: 0.0,
                ty: 0.0,
                scan_w: 1,
                scan_h: 1,
            },
            threshold: 128,
            glyphs: None,
        };
        let out = reader.prepare_text(cell).expect("the 7 is writing");
        let wide_rows = (0..out.height())
            .filter(|&y| {
                (0..out.width())
                    .filter(|&x| out.get_pixel(x, y)[0] < 128)
                    .count()
                    >= 55
            })
            .count();
        assert_eq!(wide_rows, 6, "the bar's six rows are all there");
        // Trimmed to the 7 alone (rows 20 to 79, and a 1 mm border): the
        // remnant 20 rows above it is gone.
        assert_eq!(out.height(), 60 + 2 * CROP_PPMM as u32);
    }

    #[test]
    fn crop_with_identity_pose_copies_pixels() {
        let mut g = GrayImage::from_pixel(100, 100, image::Luma([255]));
        for (x, y) in [(20, 30), (21, 30), (20, 31), (21, 31)] {
            g.put_pixel(x, y, image::Luma([0]));
        }
        let pose = Pose {
            orientation: 0,
            angle: 0.0,
            sx: 2.0,
            sy: 2.0,
            tx: 0.0,
            ty: 0.0,
            scan_w: 100,
            scan_h: 100,
        };
        let c = crop(
            &g,
            &pose,
            BoxMm {
                x: 5.0,
                y: 10.0,
                w: 10.0,
                h: 10.0,
            },
            2.0,
        );
        assert_eq!(c.dimensions(), (20, 20));
        // The dark block at (20..22, 30..32) lands at (10, 10) of the crop.
        assert!(c.get_pixel(10, 10)[0] < 64, "{}", c.get_pixel(10, 10)[0]);
        let upside = Pose {
            orientation: 180,
            ..pose
        };
        let c2 = crop(
            &g,
            &upside,
            BoxMm {
                x: 5.0,
                y: 10.0,
                w: 10.0,
                h: 10.0,
            },
            2.0,
        );
        assert!(c2.as_raw().iter().all(|&p| p == 255));
    }
}
