//! What paper and scanners do to a pen-drawn glyph, imitated at random:
//! stroke width, slant, rotation, size and aspect, box-line fragments and a
//! neighbour's ink at the edges, blur, grey paper, pale ink, noise, specks
//! and bad thresholding. Seeded, so a training run can be repeated.

use super::data::Glyph;
use image::{GrayImage, Luma};

/// A small seeded random source (SplitMix64).
pub struct Rng(u64);

impl Rng {
    /// A source started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..1.
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in a..b.
    pub fn range(&mut self, a: f32, b: f32) -> f32 {
        a + (b - a) * self.unit()
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }
    /// Uniform index below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.unit().max(1e-7);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// An ink map: 0 paper, 1 full ink.
struct Ink {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

impl Ink {
    fn of(g: &Glyph) -> Ink {
        Ink {
            w: g.w,
            h: g.h,
            v: g.px.iter().map(|&p| (255 - p) as f32 / 255.0).collect(),
        }
    }
    fn get(&self, x: isize, y: isize) -> f32 {
        if x < 0 || y < 0 || x >= self.w as isize || y >= self.h as isize {
            0.0
        } else {
            self.v[y as usize * self.w + x as usize]
        }
    }
    fn bilinear(&self, x: f32, y: f32) -> f32 {
        let (fx, fy) = (x - 0.5, y - 0.5);
        let (ix, iy) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - ix, fy - iy);
        let (ix, iy) = (ix as isize, iy as isize);
        self.get(ix, iy) * (1.0 - ax) * (1.0 - ay)
            + self.get(ix + 1, iy) * ax * (1.0 - ay)
            + self.get(ix, iy + 1) * (1.0 - ax) * ay
            + self.get(ix + 1, iy + 1) * ax * ay
    }
    /// Grey-level dilation (`grow`) or erosion over a 3×3 neighbourhood.
    fn morph(&self, grow: bool) -> Ink {
        let mut v = vec![0f32; self.v.len()];
        for y in 0..self.h as isize {
            for x in 0..self.w as isize {
                let mut m = if grow { 0f32 } else { 1f32 };
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let s = self.get(x + dx, y + dy);
                        m = if grow { m.max(s) } else { m.min(s) };
                    }
                }
                v[y as usize * self.w + x as usize] = m;
            }
        }
        Ink {
            w: self.w,
            h: self.h,
            v,
        }
    }
    /// The ink's box (exclusive ends), `None` when blank.
    fn bbox(&self) -> Option<(usize, usize, usize, usize)> {
        let (mut x0, mut y0, mut x1, mut y1) = (self.w, self.h, 0, 0);
        for y in 0..self.h {
            for x in 0..self.w {
                if self.v[y * self.w + x] > 0.3 {
                    x0 = x0.min(x);
                    x1 = x1.max(x + 1);
                    y0 = y0.min(y);
                    y1 = y1.max(y + 1);
                }
            }
        }
        (x1 > x0 && y1 > y0).then_some((x0, y0, x1, y1))
    }
    /// Separable Gaussian blur.
    fn blur(&mut self, sigma: f32) {
        if sigma < 0.2 {
            return;
        }
        let r = (2.5 * sigma).ceil() as isize;
        let k: Vec<f32> = (-r..=r)
            .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
            .collect();
        let sum: f32 = k.iter().sum();
        let k: Vec<f32> = k.iter().map(|x| x / sum).collect();
        let (w, h) = (self.w as isize, self.h as isize);
        let mut tmp = vec![0f32; self.v.len()];
        for y in 0..h {
            for x in 0..w {
                tmp[(y * w + x) as usize] = (-r..=r)
                    .map(|i| k[(i + r) as usize] * self.get(x + i, y))
                    .sum();
            }
        }
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for i in -r..=r {
                    let yy = y + i;
                    if yy >= 0 && yy < h {
                        acc += k[(i + r) as usize] * tmp[(yy * w + x) as usize];
                    }
                }
                self.v[(y * w + x) as usize] = acc;
            }
        }
    }
}

/// The glyph as a scan might show it, dark on light, with margins; `other`
/// lends ink for a touching neighbour.
pub fn paper(g: &Glyph, other: &Glyph, rng: &mut Rng) -> GrayImage {
    let mut ink = Ink::of(g);
    // Pen width: the recordings use one round pen of about 8% of the height.
    let r = rng.unit();
    if r < 0.25 {
        ink = ink.morph(true);
    } else if r < 0.35 {
        ink = ink.morph(true).morph(true);
    } else if r < 0.55 {
        ink = ink.morph(false);
    }
    let Some((x0, y0, x1, y1)) = ink.bbox() else {
        return GrayImage::from_pixel(8, 8, Luma([255]));
    };
    // Size (glyph height in the scan), aspect, slant and rotation.
    let height = rng.range(14.0, 64.0);
    let s = height / (y1 - y0) as f32;
    let sx = s * rng.range(0.75, 1.25);
    let sy = s;
    let shear = rng.range(-0.35, 0.35);
    let rot = rng.range(-9.0f32, 9.0).to_radians();
    let (c, sn) = (rot.cos(), rot.sin());
    // Forward map of a source point relative to the ink centre.
    let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
    let fwd = |x: f32, y: f32| {
        let (u, v) = ((x - cx) * sx, (y - cy) * sy);
        let u = u + shear * v;
        (c * u - sn * v, sn * u + c * v)
    };
    let corners = [
        fwd(x0 as f32, y0 as f32),
        fwd(x1 as f32, y0 as f32),
        fwd(x0 as f32, y1 as f32),
        fwd(x1 as f32, y1 as f32),
    ];
    let (minx, maxx) = corners
        .iter()
        .fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (miny, maxy) = corners
        .iter()
        .fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let margin = rng.range(2.0, 2.0 + 0.35 * height);
    let ow = ((maxx - minx) + 2.0 * margin).ceil().clamp(4.0, 400.0) as usize;
    let oh = ((maxy - miny) + 2.0 * margin).ceil().clamp(4.0, 400.0) as usize;
    // Inverse map: rotate back, unshear, unscale.
    let sub = if s < 0.6 { 3 } else { 1 };
    let mut out = Ink {
        w: ow,
        h: oh,
        v: vec![0.0; ow * oh],
    };
    for oy in 0..oh {
        for ox in 0..ow {
            let mut acc = 0.0;
            for j in 0..sub {
                for i in 0..sub {
                    let px = ox as f32 + (i as f32 + 0.5) / sub as f32 + minx - margin;
                    let py = oy as f32 + (j as f32 + 0.5) / sub as f32 + miny - margin;
                    let (u, v) = (c * px + sn * py, -sn * px + c * py);
                    let u = u - shear * v;
                    acc += ink.bilinear(u / sx + cx, v / sy + cy);
                }
            }
            out.v[oy * ow + ox] = acc / (sub * sub) as f32;
        }
    }
    let pen = (height * 0.08).max(1.0);
    // A sliver of a neighbour's ink touching one side (the line cutter
    // separates neighbours that do not touch).
    if rng.chance(0.06) {
        let o = Ink::of(other);
        let os = height / o.h as f32 * 0.9;
        let part = rng.range(0.05, 0.18) * o.w as f32;
        let left = rng.chance(0.5);
        let gap = rng.range(-0.06, 0.0) * height;
        for oy in 0..oh {
            for ox in 0..ow {
                let dx = if left {
                    (margin + gap - ox as f32) / os
                } else {
                    (ox as f32 - (ow as f32 - margin - gap)) / os
                };
                if dx < 0.0 || dx > part {
                    continue;
                }
                let sxp = if left { o.w as f32 - dx } else { dx };
                let syp = (oy as f32 - margin) / os + o.h as f32 * 0.05;
                let val = o.bilinear(sxp, syp);
                let k = oy * ow + ox;
                out.v[k] = out.v[k].max(val);
            }
        }
    }
    // Fragments of the box's printed lines near the edges.
    if rng.chance(0.2) {
        let thick = rng.range(1.0, 1.0 + 0.5 * pen).round() as usize;
        let horizontal = rng.chance(0.6);
        let (len, across) = if horizontal { (ow, oh) } else { (oh, ow) };
        let near_start = rng.chance(0.5);
        let offset = rng.range(0.0, margin + 1.0) as usize;
        let at = if near_start {
            offset.min(across.saturating_sub(thick))
        } else {
            across.saturating_sub(offset + thick)
        };
        let a = rng.range(0.0, 0.5) * len as f32;
        let b = rng.range(0.5, 1.0) * len as f32;
        for t in at..(at + thick).min(across) {
            for l in a as usize..(b as usize).min(len) {
                let k = if horizontal { t * ow + l } else { l * ow + t };
                out.v[k] = 1.0;
            }
        }
    }
    // Blur, then the scanner's rendering of paper and ink.
    if rng.chance(0.7) {
        out.blur(rng.range(0.3, 0.6 + height / 60.0));
    }
    // Paper and ink at least 70 levels apart: fainter writing is the
    // cleaning step's to find, not the recogniser's.
    let paper = rng.range(170.0, 255.0);
    let dark = rng.range(0.0, paper - 100.0);
    let strength = rng.range(0.7, 1.0);
    let noise = if rng.chance(0.5) {
        rng.range(0.0, 12.0)
    } else {
        0.0
    };
    let mut img = GrayImage::new(ow as u32, oh as u32);
    for (k, p) in img.pixels_mut().enumerate() {
        let v = paper - out.v[k].clamp(0.0, 1.0) * strength * (paper - dark) + noise * rng.normal();
        p.0[0] = v.round().clamp(0.0, 255.0) as u8;
    }
    if rng.chance(0.1) {
        for _ in 0..rng.below(3) + 1 {
            let (x, y) = (rng.below(ow) as u32, rng.below(oh) as u32);
            img.put_pixel(x, y, Luma([dark as u8]));
        }
    }
    if rng.chance(0.15) {
        let t = rng.range(dark + 0.3 * (paper - dark), dark + 0.8 * (paper - dark)) as u8;
        img.pixels_mut()
            .for_each(|p| p.0[0] = if p.0[0] < t { 0 } else { 255 });
    }
    img
}
