//! Page preparation: from a decoded greyscale page to the ink map the
//! geometry works on, and clean greyscale crops for the readers.
//!
//! Owns thresholding (Otsu on the page's histogram, which copes with grey
//! paper and faint scans because it finds the split between paper and ink
//! whatever their levels), the bilevel [`Ink`] map, and contrast levelling
//! of crops. Orientation and deskew belong to [`crate::register`], which
//! measures them on the printed box lines.

use image::GrayImage;

/// A bilevel map of the page: `true` where there is ink.
#[derive(Debug, Clone)]
pub struct Ink {
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
    /// Row-major, one byte a pixel, 1 for ink.
    pub data: Vec<u8>,
}

impl Ink {
    /// Whether (x, y) is ink; false outside the page.
    #[inline]
    pub fn get(&self, x: i64, y: i64) -> bool {
        if x < 0 || y < 0 || x >= self.w as i64 || y >= self.h as i64 {
            return false;
        }
        self.data[(y as usize) * (self.w as usize) + x as usize] != 0
    }

    /// The share of the page that is ink.
    pub fn coverage(&self) -> f64 {
        let n = self.data.iter().filter(|&&v| v != 0).count();
        n as f64 / self.data.len().max(1) as f64
    }
}

/// The grey levels at which the shares `qs` (each 0..1) of the image's
/// pixels are reached, darkest first: the level of the pixel at rank
/// `n * q`. 255 for an empty image.
pub fn grey_quantiles<const N: usize>(img: &GrayImage, qs: [f64; N]) -> [u8; N] {
    let mut hist = [0usize; 256];
    img.as_raw().iter().for_each(|&v| hist[v as usize] += 1);
    let n = img.as_raw().len();
    qs.map(|q| {
        let want = (n as f64 * q) as usize;
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc > want {
                return v as u8;
            }
        }
        255
    })
}

/// The histogram split between paper and ink (Otsu's method), kept within
/// sensible bounds so a blank page does not turn its noise into ink.
pub fn ink_threshold(img: &GrayImage) -> u8 {
    let mut hist = [0u64; 256];
    for &p in img.as_raw() {
        hist[p as usize] += 1;
    }
    otsu(&hist).clamp(60, 200)
}

/// Otsu's threshold of a histogram: values at or below it are the dark class.
pub fn otsu(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 128;
    }
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0) = (0f64, 0f64);
    let (mut best, mut best_t) = (-1f64, 128u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        sum0 += t as f64 * c as f64;
        let w1 = total as f64 - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// The ink map of a page at `threshold`.
pub fn binarise(img: &GrayImage, threshold: u8) -> Ink {
    let data = img
        .as_raw()
        .iter()
        .map(|&p| u8::from(p <= threshold))
        .collect();
    Ink {
        w: img.width(),
        h: img.height(),
        data,
    }
}

/// Stretches a crop so its paper is white and its ink black. Paper and ink
/// are told apart by Otsu's split of the crop's own histogram; the paper
/// level is the median of the light side, the ink level a low percentile
/// of the dark side. Returns the crop's paper and ink levels before
/// stretching.
pub fn level(img: &mut GrayImage) -> (u8, u8) {
    let mut hist = [0u64; 256];
    for &p in img.as_raw() {
        hist[p as usize] += 1;
    }
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return (255, 0);
    }
    let split = otsu(&hist) as usize;
    let quantile = |lo: usize, hi: usize, q: f64| -> u8 {
        let total: u64 = hist[lo..=hi].iter().sum();
        let target = (total as f64 * q) as u64;
        let mut acc = 0;
        for (i, &c) in hist.iter().enumerate().take(hi + 1).skip(lo) {
            acc += c;
            if acc > target {
                return i as u8;
            }
        }
        hi as u8
    };
    let paper = quantile((split + 1).min(255), 255, 0.5);
    let ink = quantile(0, split, 0.05).min(paper.saturating_sub(40));
    let span = (paper as f32 - ink as f32).max(1.0);
    for p in img.iter_mut() {
        let v = ((*p as f32 - ink as f32) / span * 255.0).clamp(0.0, 255.0);
        *p = v as u8;
    }
    (paper, ink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_splits_grey_paper_from_ink() {
        let mut hist = [0u64; 256];
        hist[215] = 9000; // grey paper
        hist[200] = 500; // a grey heading bar
        hist[40] = 700; // ink
        let t = otsu(&hist);
        assert!((40..200).contains(&t), "threshold {t}");
    }

    #[test]
    fn binarise_marks_dark_pixels() {
        let img = GrayImage::from_raw(3, 1, vec![10, 128, 250]).unwrap();
        let ink = binarise(&img, 100);
        assert_eq!(ink.data, vec![1, 0, 0]);
        assert!(ink.get(0, 0) && !ink.get(2, 0) && !ink.get(-1, 0) && !ink.get(0, 5));
    }

    #[test]
    fn level_makes_paper_white_and_ink_black() {
        let mut px = vec![180u8; 1000];
        px[..50].iter_mut().for_each(|p| *p = 60);
        let mut img = GrayImage::from_raw(100, 10, px).unwrap();
        let (paper, ink) = level(&mut img);
        assert_eq!((paper, ink), (180, 60));
        assert_eq!(img.as_raw()[0], 0);
        assert_eq!(img.as_raw()[999], 255);
    }
}
