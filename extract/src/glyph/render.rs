//! Rendering characters from font files and varying them the way real hands
//! vary: small rotations, slant, width and height changes, stroke thickness
//! and blur.

use super::features::Ink;
use ab_glyph::{Font, FontVec, PxScale};
use std::path::Path;

/// Pixel size characters are rendered at (em height); capitals come out
/// roughly 30-35 pixels tall.
pub(crate) const RENDER_PX: f32 = 36.0;

/// A font file's parsed font, `None` when the file cannot be read or parsed.
pub(crate) fn load(path: &Path) -> Option<FontVec> {
    let bytes = std::fs::read(path).ok()?;
    FontVec::try_from_vec(bytes).ok()
}

/// The coverage map of one character, cropped to its ink; `None` when the
/// font has no glyph for it (or an empty one).
pub(crate) fn render_char(font: &FontVec, c: char, px: f32) -> Option<Ink> {
    let id = font.glyph_id(c);
    if id.0 == 0 {
        return None;
    }
    let outlined = font.outline_glyph(id.with_scale(PxScale::from(px)))?;
    let b = outlined.px_bounds();
    let (w, h) = (
        (b.width().ceil() as usize).max(1),
        (b.height().ceil() as usize).max(1),
    );
    if w > 4096 || h > 4096 {
        return None;
    }
    let mut ink = Ink::new(w, h);
    outlined.draw(|x, y, cov| {
        let (x, y) = (x as usize, y as usize);
        if x < w && y < h {
            ink.data[y * w + x] = cov.clamp(0.0, 1.0);
        }
    });
    if ink.data.iter().all(|&v| v < 0.5) {
        return None;
    }
    Some(ink)
}

/// A text line rendered from a font: dark glyphs on white, with a margin.
/// Characters the font lacks are left out; `None` when nothing renders.
pub(crate) fn render_line(font: &FontVec, text: &str, px: f32) -> Option<image::GrayImage> {
    use ab_glyph::ScaleFont;
    let scaled = font.as_scaled(PxScale::from(px));
    let margin = (px * 0.5).ceil();
    let mut caret = margin;
    let baseline = margin + scaled.ascent();
    let mut glyphs = Vec::new();
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if id.0 == 0 && c != ' ' {
            continue;
        }
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        glyphs
            .push(id.with_scale_and_position(PxScale::from(px), ab_glyph::point(caret, baseline)));
        caret += scaled.h_advance(id);
        prev = Some(id);
    }
    let w = (caret + margin).ceil() as u32;
    let h = (baseline - scaled.descent() + margin).ceil() as u32;
    if w == 0 || h == 0 || w > 20_000 || h > 4_000 {
        return None;
    }
    let mut img = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    let mut any = false;
    for g in glyphs {
        if let Some(o) = font.outline_glyph(g) {
            let b = o.px_bounds();
            o.draw(|x, y, cov| {
                let (px_, py_) = (b.min.x as i64 + x as i64, b.min.y as i64 + y as i64);
                if px_ >= 0 && py_ >= 0 && (px_ as u32) < w && (py_ as u32) < h {
                    let p = img.get_pixel_mut(px_ as u32, py_ as u32);
                    let v = (255.0 * (1.0 - cov.clamp(0.0, 1.0))) as u8;
                    p.0[0] = p.0[0].min(v);
                    any = true;
                }
            });
        }
    }
    any.then_some(img)
}

/// A small deterministic random number generator (xorshift64*), so models
/// built from the same fonts are always the same.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in 0..1.
    pub fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A number in -1..1.
    pub fn sym(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }
}

/// One variation of a rendered glyph.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Variation {
    /// Rotation, radians.
    pub angle: f32,
    /// Horizontal shear (slant): x += shear * y.
    pub shear: f32,
    /// Horizontal scale.
    pub sx: f32,
    /// Vertical scale.
    pub sy: f32,
    /// Stroke thickness change in pixels: -1 thins, +1 thickens.
    pub thick: i8,
    /// Blur with a 3x3 binomial kernel.
    pub blur: bool,
}

impl Variation {
    /// The unchanged glyph.
    pub fn identity() -> Variation {
        Variation {
            sx: 1.0,
            sy: 1.0,
            ..Variation::default()
        }
    }

    /// A random variation for training: rotation up to 6 degrees, slant up
    /// to 0.22, width 85-115 %, height 92-108 %, thickness and blur at
    /// random.
    pub fn random(rng: &mut Rng) -> Variation {
        Variation::spread(rng, 6.0, 0.22, 0.15, 0.08, 0.3)
    }

    /// A modest random variation for test material: rotation up to 3
    /// degrees, slant up to 0.1, size changes up to 8 %, thickness and blur
    /// at random; independent of how the model is trained.
    pub fn test(rng: &mut Rng) -> Variation {
        Variation::spread(rng, 3.0, 0.1, 0.08, 0.08, 0.25)
    }

    /// A random variation within the given bounds; strokes are thinned or
    /// thickened each with chance `thick_p`.
    fn spread(
        rng: &mut Rng,
        degrees: f32,
        shear: f32,
        width: f32,
        height: f32,
        thick_p: f32,
    ) -> Variation {
        let thick = match rng.unit() {
            u if u < thick_p => -1,
            u if u < 2.0 * thick_p => 1,
            _ => 0,
        };
        Variation {
            angle: rng.sym() * degrees.to_radians(),
            shear: rng.sym() * shear,
            sx: 1.0 + rng.sym() * width,
            sy: 1.0 + rng.sym() * height,
            thick,
            blur: rng.unit() < 0.5,
        }
    }

    /// The forward linear map: scale, then shear, then rotate.
    fn matrix(&self) -> [f32; 4] {
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let (a, b, e) = (self.sx, self.shear * self.sy, self.sy);
        [c * a, c * b - s * e, s * a, s * b + c * e]
    }
}

/// The glyph varied: warped, thickened or thinned, and blurred, then
/// stretched so the darkest ink is full ink again.
pub(crate) fn vary(src: &Ink, v: &Variation) -> Ink {
    let warped = warp(src, v);
    finish(warped, v)
}

/// Thickness, blur and contrast stretch of a warped map.
fn finish(warped: Ink, v: &Variation) -> Ink {
    let morphed = match v.thick {
        t if t > 0 => morph(&warped, true),
        t if t < 0 => morph(&warped, false),
        _ => warped,
    };
    let mut out = if v.blur { blur(&morphed) } else { morphed };
    let max = out.data.iter().copied().fold(0.0, f32::max);
    if max > 0.05 && max < 1.0 {
        out.data.iter_mut().for_each(|x| *x = (*x / max).min(1.0));
    }
    out
}

/// The centres of a map's inked pixels (coverage at least one half).
pub(crate) fn inked_centres(src: &Ink) -> Vec<(f32, f32)> {
    let mut out = Vec::new();
    for y in 0..src.h {
        for x in 0..src.w {
            if src.data[y * src.w + x] >= 0.5 {
                out.push((x as f32 + 0.5, y as f32 + 0.5));
            }
        }
    }
    out
}

/// The feature vector of a varied render, warping straight into the
/// normalised box (one resampling, and thickness and blur applied at the
/// normalised size): the fast path for training. `padded` is the render
/// with a blank border and `inked` its inked pixel centres. `None` without
/// ink.
pub(crate) fn varied_features(
    padded: &super::features::Padded,
    inked: &[(f32, f32)],
    v: &Variation,
) -> Option<Vec<f32>> {
    let m = v.matrix();
    let det = m[0] * m[3] - m[1] * m[2];
    if det.abs() < 1e-6 {
        return None;
    }
    let inv = [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det];
    // Box of the warped ink: the warped centres of the inked pixels,
    // widened by half a pixel.
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(px, py) in inked {
        let (wx, wy) = (m[0] * px + m[1] * py, m[2] * px + m[3] * py);
        x0 = x0.min(wx);
        x1 = x1.max(wx);
        y0 = y0.min(wy);
        y1 = y1.max(wy);
    }
    if x0 > x1 {
        return None;
    }
    let (x0, y0, x1, y1) = (x0 - 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5);
    let (w, h) = (x1 - x0, y1 - y0);
    let (sx, sy, ox, oy) = super::features::layout(w, h);
    let n = super::features::N;
    let mut norm = Ink::new(n, n);
    for vy in 0..n {
        let wy = y0 + (vy as f32 + 0.5 - oy) / sy;
        for ux in 0..n {
            let wx = x0 + (ux as f32 + 0.5 - ox) / sx;
            let (px, py) = (
                inv[0] * wx + inv[1] * wy - 0.5,
                inv[2] * wx + inv[3] * wy - 0.5,
            );
            norm.data[vy * n + ux] = padded.sample(px, py);
        }
    }
    let norm = finish(
        norm,
        &Variation {
            thick: v.thick,
            blur: v.blur,
            ..Variation::identity()
        },
    );
    if norm.w != n {
        // Dilation grew the map by a pixel each side: take the middle.
        let mut mid = Ink::new(n, n);
        for y in 0..n {
            mid.data[y * n..(y + 1) * n]
                .copy_from_slice(&norm.data[(y + 1) * norm.w + 1..(y + 1) * norm.w + 1 + n]);
        }
        return super::features::describe(&mid, w, h);
    }
    super::features::describe(&norm, w, h)
}

/// The affine warp: scale, then shear, then rotate, about the centre.
fn warp(src: &Ink, v: &Variation) -> Ink {
    let m = v.matrix();
    let det = m[0] * m[3] - m[1] * m[2];
    if det.abs() < 1e-6 || (m == [1.0, 0.0, 0.0, 1.0]) {
        return src.clone();
    }
    let inv = [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det];
    let (cx, cy) = (src.w as f32 / 2.0, src.h as f32 / 2.0);
    let mut hw: f32 = 0.0;
    let mut hh: f32 = 0.0;
    for (x, y) in [(-cx, -cy), (cx, -cy), (-cx, cy), (cx, cy)] {
        hw = hw.max((m[0] * x + m[1] * y).abs());
        hh = hh.max((m[2] * x + m[3] * y).abs());
    }
    let (w, h) = (
        (2.0 * hw).ceil() as usize + 2,
        (2.0 * hh).ceil() as usize + 2,
    );
    let (ocx, ocy) = (w as f32 / 2.0, h as f32 / 2.0);
    let mut out = Ink::new(w, h);
    for y in 0..h {
        let dy = y as f32 + 0.5 - ocy;
        for x in 0..w {
            let dx = x as f32 + 0.5 - ocx;
            let sx = inv[0] * dx + inv[1] * dy + cx - 0.5;
            let sy = inv[2] * dx + inv[3] * dy + cy - 0.5;
            if sx < -1.0 || sy < -1.0 || sx > src.w as f32 || sy > src.h as f32 {
                continue;
            }
            out.data[y * w + x] = super::features::bilinear(src, sx, sy);
        }
    }
    out
}

/// The map with a border of `b` blank pixels, as a flat buffer.
fn padded(src: &Ink, b: usize) -> (Vec<f32>, usize) {
    let pw = src.w + 2 * b;
    let mut buf = vec![0f32; pw * (src.h + 2 * b)];
    for y in 0..src.h {
        buf[(y + b) * pw + b..(y + b) * pw + b + src.w]
            .copy_from_slice(&src.data[y * src.w..(y + 1) * src.w]);
    }
    (buf, pw)
}

/// Grey dilation (`grow`) or erosion with a plus-shaped 3x3 element; the
/// map grows by one pixel each side when dilating so nothing is cut off.
fn morph(src: &Ink, grow: bool) -> Ink {
    // Two blank pixels of border: the output keeps one of them.
    let (buf, pw) = padded(src, 2);
    let pad = usize::from(grow);
    let (w, h) = (src.w + 2 * pad, src.h + 2 * pad);
    let mut out = Ink::new(w, h);
    let off = 2 - pad;
    for y in 0..h {
        for x in 0..w {
            let i = (y + off) * pw + x + off;
            let vals = [buf[i], buf[i - 1], buf[i + 1], buf[i - pw], buf[i + pw]];
            out.data[y * w + x] = if grow {
                vals.iter().cloned().fold(0.0, f32::max)
            } else {
                vals.iter().cloned().fold(1.0, f32::min)
            };
        }
    }
    // Erosion can wipe out hairlines; keep the original when it takes
    // more than half the ink.
    if !grow {
        let area = |m: &Ink| m.data.iter().filter(|&&v| v >= 0.5).count();
        if area(&out) * 2 < area(src) {
            return src.clone();
        }
    }
    out
}

/// A 3x3 binomial blur.
fn blur(src: &Ink) -> Ink {
    let (buf, pw) = padded(src, 1);
    let mut out = Ink::new(src.w, src.h);
    for y in 0..src.h {
        for x in 0..src.w {
            let i = (y + 1) * pw + x + 1;
            let s = buf[i - pw - 1]
                + 2.0 * buf[i - pw]
                + buf[i - pw + 1]
                + 2.0 * (buf[i - 1] + 2.0 * buf[i] + buf[i + 1])
                + buf[i + pw - 1]
                + 2.0 * buf[i + pw]
                + buf[i + pw + 1];
            out.data[y * src.w + x] = s / 16.0;
        }
    }
    out
}
