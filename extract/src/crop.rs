//! Pictures cut from a scan through a page's [`Pose`], for people: the
//! template page as a whole, or any rectangle of it (a field and its
//! margin), upright, deskewed and at a resolution the caller chooses.
//!
//! Owns the sampling from template millimetres to scan pixels for images
//! meant to be looked at, and the bounds that keep any input (an absurd
//! resolution, a rectangle of a kilometre, a pose read back from storage)
//! from asking for an image of unbounded size: the resolution is held
//! between [`MIN_DPI`] and [`MAX_DPI`], and an image that would still be
//! larger than [`MAX_SIDE`] pixels a side or [`MAX_PIXELS`] in all is given
//! at a lower resolution instead, its geometry unchanged. The crops the
//! reader hands to OCR are cut by [`crate::read::crop`], tuned for speed at
//! one resolution.

use crate::register::Pose;
use formflow_schemas::BoxMm;
use image::{GrayImage, Luma};

/// Lowest resolution given, in dots per inch: a lower (or a non-finite)
/// one is raised to this.
pub const MIN_DPI: f64 = 10.0;

/// Highest resolution given, in dots per inch (four times a good scan's):
/// a higher one is lowered to this.
pub const MAX_DPI: f64 = 1200.0;

/// Longest side of an image given, in pixels.
pub const MAX_SIDE: u32 = 20_000;

/// Most pixels in an image given: as many as the decoder admits in one page
/// (`Limits::max_page_pixels`' default), 40 MB of greyscale.
pub const MAX_PIXELS: u64 = 40_000_000;

/// White paper, what lies outside the scan.
const WHITE: Luma<u8> = Luma([255]);

/// The template page of `size_mm` (width, height) sampled from the scan
/// through `pose` at `dpi`, bilinear, white where the page lies off the
/// scan: what a caseworker should see, the template's boxes falling on the
/// fields. The size and resolution are bounded as the module says.
pub fn page_view(scan: &GrayImage, pose: &Pose, size_mm: [f64; 2], dpi: f64) -> GrayImage {
    let page = BoxMm {
        x: 0.0,
        y: 0.0,
        w: size_mm[0],
        h: size_mm[1],
    };
    field_crop(scan, pose, page, dpi)
}

/// The template rectangle `area` (millimetres from the page's top-left
/// corner; the caller adds its margin with [`BoxMm::grow`]) sampled from
/// the scan through `pose` at `dpi`: upright and deskewed, bilinear, white
/// where it lies off the scan. A rectangle that is empty or not finite
/// gives a single white pixel; the size and resolution are bounded as the
/// module says.
pub fn field_crop(scan: &GrayImage, pose: &Pose, area: BoxMm, dpi: f64) -> GrayImage {
    match fit(area, dpi) {
        Some((w, h, ppmm)) => sample(scan, pose, area, w, h, ppmm),
        None => GrayImage::from_pixel(1, 1, WHITE),
    }
}

/// The pixel size of `area` at `dpi` and the pixels a millimetre it is
/// sampled at, within the module's bounds; `None` when the rectangle is
/// empty or not finite.
fn fit(area: BoxMm, dpi: f64) -> Option<(u32, u32, f64)> {
    let finite = [area.x, area.y, area.w, area.h]
        .iter()
        .all(|v| v.is_finite());
    if !finite || area.w <= 0.0 || area.h <= 0.0 {
        return None;
    }
    let dpi = if dpi.is_finite() {
        dpi.clamp(MIN_DPI, MAX_DPI)
    } else {
        MIN_DPI
    };
    let side = f64::from(MAX_SIDE);
    let ppmm = (dpi / 25.4)
        .min(side / area.w)
        .min(side / area.h)
        .min((MAX_PIXELS as f64 / (area.w * area.h)).sqrt());
    if !(ppmm.is_finite() && ppmm > 0.0) {
        return None;
    }
    let px = |mm: f64| (mm * ppmm).round().clamp(1.0, side) as u32;
    Some((px(area.w), px(area.h), ppmm))
}

/// `w` × `h` pixels from the template point (`area.x`, `area.y`) on, at
/// `ppmm`, each pixel's centre sampled bilinearly from the scan.
fn sample(scan: &GrayImage, pose: &Pose, area: BoxMm, w: u32, h: u32, ppmm: f64) -> GrayImage {
    if scan.width() == 0 || scan.height() == 0 {
        return GrayImage::from_pixel(w, h, WHITE);
    }
    let (sw, sh) = (f64::from(scan.width()), f64::from(scan.height()));
    GrayImage::from_fn(w, h, |x, y| {
        let (sx, sy) = pose.to_scan(
            area.x + (f64::from(x) + 0.5) / ppmm,
            area.y + (f64::from(y) + 0.5) / ppmm,
        );
        // Written so that a NaN (from a pose read back damaged) is white too.
        let on_scan = sx >= 0.0 && sy >= 0.0 && sx <= sw - 1.0 && sy <= sh - 1.0;
        if !on_scan {
            return WHITE;
        }
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as u32, y0 as u32);
        let (x1, y1) = (
            (x0 + 1).min(scan.width() - 1),
            (y0 + 1).min(scan.height() - 1),
        );
        let p = |x, y| f64::from(scan.get_pixel(x, y).0[0]);
        let v = p(x0, y0) * (1.0 - fx) * (1.0 - fy)
            + p(x1, y0) * fx * (1.0 - fy)
            + p(x0, y1) * (1.0 - fx) * fy
            + p(x1, y1) * fx * fy;
        Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a scan pixel lies on the template, in millimetres: the
    /// inverse of `pose.to_scan`, which is affine.
    fn to_template(pose: &Pose, px: f64, py: f64) -> (f64, f64) {
        let o = pose.to_scan(0.0, 0.0);
        let ex = pose.to_scan(1.0, 0.0);
        let ey = pose.to_scan(0.0, 1.0);
        let (a, b) = (ex.0 - o.0, ey.0 - o.0);
        let (c, d) = (ex.1 - o.1, ey.1 - o.1);
        let det = a * d - b * c;
        let (dx, dy) = (px - o.0, py - o.1);
        ((d * dx - b * dy) / det, (a * dy - c * dx) / det)
    }

    /// A grey scan (128) of `w` × `h` pixels through `pose`, with a black
    /// square on the template from (50, 80) to (60, 90) millimetres.
    fn scan_with_square(pose: &Pose) -> GrayImage {
        GrayImage::from_fn(pose.scan_w, pose.scan_h, |x, y| {
            let (mx, my) = to_template(pose, f64::from(x) + 0.5, f64::from(y) + 0.5);
            if (50.0..60.0).contains(&mx) && (80.0..90.0).contains(&my) {
                Luma([0])
            } else {
                Luma([128])
            }
        })
    }

    fn turned() -> Pose {
        Pose {
            orientation: 90,
            angle: 2f64.to_radians(),
            sx: 4.1,
            sy: 3.9,
            tx: 30.0,
            ty: -20.0,
            scan_w: 1300,
            scan_h: 900,
        }
    }

    /// Asserts that the pixels darker than 64 fill the box from `from` to
    /// `to` (inclusive), give or take `tolerance` pixels on each side.
    fn assert_dark_box(img: &GrayImage, from: (u32, u32), to: (u32, u32), tolerance: u32) {
        let mut b = (u32::MAX, u32::MAX, 0, 0);
        for (x, y, p) in img.enumerate_pixels() {
            if p.0[0] < 64 {
                b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
            }
        }
        for (got, want) in [(b.0, from.0), (b.1, from.1), (b.2, to.0), (b.3, to.1)] {
            assert!(got.abs_diff(want) <= tolerance, "{b:?}");
        }
    }

    #[test]
    fn a_square_lands_where_the_template_has_it() {
        let pose = turned();
        let scan = scan_with_square(&pose);
        // The square with 5 mm all round, at 254 dpi: 10 pixels a millimetre.
        let area = BoxMm {
            x: 50.0,
            y: 80.0,
            w: 10.0,
            h: 10.0,
        }
        .grow(5.0);
        let c = field_crop(&scan, &pose, area, 254.0);
        assert_eq!(c.dimensions(), (200, 200));
        assert_eq!(c.get_pixel(100, 100).0[0], 0);
        assert_eq!(c.get_pixel(10, 10).0[0], 128);
        assert_eq!(c.get_pixel(190, 190).0[0], 128);
        assert_dark_box(&c, (50, 50), (149, 149), 3);
    }

    #[test]
    fn the_page_view_puts_the_square_at_its_millimetres() {
        let pose = turned();
        let scan = scan_with_square(&pose);
        let v = page_view(&scan, &pose, [210.0, 297.0], 25.4);
        assert_eq!(v.dimensions(), (210, 297));
        assert_eq!(v.get_pixel(55, 85).0[0], 0);
        assert_eq!(v.get_pixel(45, 85).0[0], 128);
        assert_dark_box(&v, (50, 80), (59, 89), 1);
    }

    #[test]
    fn what_lies_off_the_scan_is_white() {
        // Upright, 4 pixels a millimetre, moved so that the template's
        // first 25 millimetres across lie left of the scan.
        let pose = Pose {
            orientation: 0,
            angle: 0.0,
            sx: 4.0,
            sy: 4.0,
            tx: -100.0,
            ty: 0.0,
            scan_w: 400,
            scan_h: 400,
        };
        let scan = GrayImage::from_pixel(400, 400, Luma([128]));
        let area = BoxMm {
            x: 5.0,
            y: 10.0,
            w: 40.0,
            h: 20.0,
        };
        let c = field_crop(&scan, &pose, area, 25.4);
        assert_eq!(c.dimensions(), (40, 20));
        for y in 0..20 {
            for x in 0..40 {
                let want = if x < 19 {
                    255
                } else if x > 20 {
                    128
                } else {
                    continue;
                };
                assert_eq!(c.get_pixel(x, y).0[0], want, "({x}, {y})");
            }
        }
    }

    #[test]
    fn no_input_asks_for_an_unbounded_image() {
        let pose = turned();
        let scan = GrayImage::from_pixel(50, 50, Luma([128]));
        let a4 = BoxMm {
            x: 0.0,
            y: 0.0,
            w: 210.0,
            h: 297.0,
        };
        // A resolution of a billion dots per inch gives at most MAX_PIXELS.
        let big = field_crop(&scan, &pose, a4, 1e9);
        let (w, h) = big.dimensions();
        assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS + u64::from(w + h));
        assert_eq!((w, h), (5318, 7521));
        // Absurd resolutions are held to the bounds.
        assert_eq!(
            field_crop(&scan, &pose, a4, f64::NAN).dimensions(),
            (83, 117)
        );
        assert_eq!(field_crop(&scan, &pose, a4, -3.0).dimensions(), (83, 117));
        assert_eq!(field_crop(&scan, &pose, a4, 0.0).dimensions(), (83, 117));
        // A kilometre by a millimetre keeps its shape within MAX_SIDE.
        let long = BoxMm {
            x: 0.0,
            y: 0.0,
            w: 1e6,
            h: 1.0,
        };
        assert_eq!(
            field_crop(&scan, &pose, long, 300.0).dimensions(),
            (20_000, 1)
        );
        // Empty, inverted or non-finite rectangles give one white pixel.
        for area in [
            BoxMm { w: 0.0, ..a4 },
            BoxMm { h: -5.0, ..a4 },
            BoxMm { x: f64::NAN, ..a4 },
            BoxMm {
                w: f64::INFINITY,
                ..a4
            },
        ] {
            let c = field_crop(&scan, &pose, area, 300.0);
            assert_eq!((c.dimensions(), c.get_pixel(0, 0).0[0]), ((1, 1), 255));
        }
        // An empty scan or a damaged pose gives white, not a panic.
        let c = field_crop(&GrayImage::new(0, 0), &pose, a4, 25.4);
        assert!(c.pixels().all(|p| p.0[0] == 255));
        let damaged = Pose {
            sx: f64::NAN,
            ..pose
        };
        let c = field_crop(&scan, &damaged, a4, 25.4);
        assert!(c.pixels().all(|p| p.0[0] == 255));
    }
}
