//! Cleaning a field's crop before it is read, against what worn scanners
//! add: dust specks and noise read as characters, and writing so pale that
//! the page's ink threshold sees none.
//!
//! This module owns:
//! - [`despeckle`]: ink the writing does not explain is whited out. Letters
//!   are the components at least [`LETTER_MM`] tall; a smaller component
//!   stays only where punctuation can be (on the letters' band, beside a
//!   letter) and only when it is at least half a pen dot (the pen measured
//!   on the letters' own strokes), so a full stop inside a value stays and
//!   a speck beside it goes;
//! - [`faint_threshold`]: the crop's own split between paper and ink, from
//!   its paper level and noise, for a field the page's threshold finds
//!   blank: pale writing is read rather than called empty.

use crate::glyph::label;
use image::{GrayImage, Luma};

/// The least height of a letter (or digit), in millimetres.
pub const LETTER_MM: f64 = 0.9;

/// What [`despeckle`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cleaned {
    /// Components kept as letters.
    pub letters: usize,
    /// Small components kept as punctuation.
    pub marks: usize,
    /// Components whited out.
    pub removed: usize,
}

/// Whites out the ink of `img` (pixels at or below `thr`) that is not
/// writing, on a crop of `ppmm` pixels a millimetre. See the module doc.
pub fn despeckle(img: &mut GrayImage, thr: u8, ppmm: f64) -> Cleaned {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Cleaned::default();
    }
    let px = img.as_raw().clone();
    let (labels, comps) = label(w, h, |i| px[i] <= thr);
    let min_h = (LETTER_MM * ppmm).max(3.0) as usize;
    let tall: Vec<usize> = (0..comps.len())
        .filter(|&i| comps[i].y1 - comps[i].y0 >= min_h)
        .collect();
    let mut keep = vec![false; comps.len()];
    let mut out = Cleaned::default();
    if !tall.is_empty() {
        let mut heights: Vec<usize> = tall.iter().map(|&i| comps[i].y1 - comps[i].y0).collect();
        heights.sort_unstable();
        let line_h = heights[heights.len() / 2] as f64;
        let top = tall.iter().map(|&i| comps[i].y0).min().unwrap_or(0) as f64;
        let bottom = tall.iter().map(|&i| comps[i].y1).max().unwrap_or(h) as f64;
        let pen = pen_width(&labels, w, &tall, &comps);
        let min_area = (0.5 * pen * pen).max(2.0);
        for &i in &tall {
            keep[i] = true;
        }
        out.letters = tall.len();
        for (i, c) in comps.iter().enumerate() {
            if keep[i] {
                continue;
            }
            let (cx0, cx1) = (c.x0 as f64, c.x1 as f64);
            let on_band =
                (c.y0 as f64) >= top - 0.35 * line_h && (c.y1 as f64) <= bottom + 0.35 * line_h;
            let beside = tall.iter().any(|&t| {
                let l = &comps[t];
                cx1 >= l.x0 as f64 - 0.8 * line_h && cx0 <= l.x1 as f64 + 0.8 * line_h
            });
            if on_band && beside && c.area as f64 >= min_area {
                keep[i] = true;
                out.marks += 1;
            }
        }
    }
    out.removed = keep.iter().filter(|k| !**k).count();
    if out.removed > 0 {
        for (p, &l) in img.pixels_mut().zip(&labels) {
            if l > 0 && !keep[l as usize - 1] {
                *p = Luma([255]);
            }
        }
    }
    out
}

/// The median horizontal run of ink across the letters: the pen's width.
fn pen_width(labels: &[u32], w: usize, tall: &[usize], comps: &[crate::glyph::Comp]) -> f64 {
    let mut runs = Vec::new();
    for &t in tall {
        let c = &comps[t];
        let id = t as u32 + 1;
        for y in c.y0..c.y1 {
            let mut run = 0usize;
            for x in c.x0..=c.x1 {
                if x < c.x1 && labels[y * w + x] == id {
                    run += 1;
                } else if run > 0 {
                    runs.push(run);
                    run = 0;
                }
            }
        }
    }
    if runs.is_empty() {
        return 1.0;
    }
    runs.sort_unstable();
    runs[runs.len() / 2] as f64
}

/// The crop's own ink threshold when the page's (`page_thr`) finds nothing
/// letter-sized in it but its darker pixels, judged against its paper
/// level and noise, form letters: pale writing. `None` when the crop is
/// blank by both measures.
pub fn faint_threshold(img: &GrayImage, page_thr: u8, ppmm: f64) -> Option<u8> {
    if img.as_raw().is_empty() {
        return None;
    }
    let [quarter, median] = crate::prepare::grey_quantiles(img, [0.25, 0.5]);
    let paper = f64::from(median);
    // The paper's noise: how far its darker half spreads below the median.
    let noise = (paper - f64::from(quarter)).max(1.0);
    let thr = paper - (6.0 * noise).max(28.0);
    if thr <= f64::from(page_thr) || thr <= 0.0 {
        return None;
    }
    let thr = thr as u8;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = img.as_raw();
    let (_, comps) = label(w, h, |i| px[i] <= thr);
    let min_h = (LETTER_MM * ppmm).max(3.0) as usize;
    // Letters, not a shadow or a stain spreading across the box.
    let letters = comps
        .iter()
        .filter(|c| {
            let (cw, ch) = (c.x1 - c.x0, c.y1 - c.y0);
            ch >= min_h && c.area >= min_h && 5 * ch < 4 * h && 2 * cw < w
        })
        .count();
    (letters > 0).then_some(thr)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PPMM: f64 = 12.0;

    /// A 3 mm tall bar letter at x, 6 px wide, with its foot at row 40.
    fn letter(img: &mut GrayImage, x: u32) {
        for y in 4..40 {
            for dx in 0..6 {
                img.put_pixel(x + dx, y, Luma([0]));
            }
        }
    }

    fn dot(img: &mut GrayImage, x: u32, y: u32, r: u32, v: u8) {
        for yy in y..y + r {
            for xx in x..x + r {
                img.put_pixel(xx, yy, Luma([v]));
            }
        }
    }

    #[test]
    fn a_speck_goes_and_a_full_stop_beside_a_letter_stays() {
        let mut img = GrayImage::from_pixel(400, 48, Luma([255]));
        letter(&mut img, 20);
        letter(&mut img, 40);
        // A full stop (pen-sized) on the baseline right after the letters.
        dot(&mut img, 52, 34, 6, 0);
        // A speck (one pixel) just beside them, and specks far along the line.
        dot(&mut img, 60, 20, 1, 0);
        dot(&mut img, 200, 10, 2, 0);
        dot(&mut img, 350, 30, 3, 0);
        let c = despeckle(&mut img, 128, PPMM);
        assert_eq!((c.letters, c.marks, c.removed), (2, 1, 3));
        assert_eq!(img.get_pixel(54, 36)[0], 0, "the full stop stays");
        assert_eq!(img.get_pixel(60, 20)[0], 255);
        assert_eq!(img.get_pixel(201, 11)[0], 255);
        assert_eq!(img.get_pixel(351, 31)[0], 255);
        assert_eq!(img.get_pixel(22, 20)[0], 0, "letters stay");
    }

    #[test]
    fn specks_alone_leave_nothing() {
        let mut img = GrayImage::from_pixel(300, 48, Luma([255]));
        for k in 0..30 {
            dot(&mut img, 5 + 9 * k, 5 + (k * 7) % 35, 2, 20);
        }
        let c = despeckle(&mut img, 128, PPMM);
        assert_eq!((c.letters, c.removed), (0, 30));
        assert!(img.pixels().all(|p| p[0] == 255));
    }

    #[test]
    fn pale_writing_gets_its_own_threshold_and_plain_paper_none() {
        // Grey paper (200) with a little noise, writing at 150: darker than
        // the paper by far more than its noise, lighter than a page
        // threshold of 110.
        let mut img = GrayImage::from_fn(300, 48, |x, y| Luma([198 + ((x * 7 + y * 3) % 5) as u8]));
        let plain = img.clone();
        letter(&mut img, 30);
        for y in 4..40 {
            for dx in 0..6 {
                img.put_pixel(30 + dx, y, Luma([150]));
            }
        }
        let t = faint_threshold(&img, 110, PPMM).expect("pale writing is found");
        assert!(t > 150 && t < 198, "threshold {t}");
        assert_eq!(faint_threshold(&plain, 110, PPMM), None);
        // Specks on plain paper are not writing either.
        let mut specked = plain.clone();
        dot(&mut specked, 100, 20, 2, 150);
        assert_eq!(faint_threshold(&specked, 110, PPMM), None);
    }
}
