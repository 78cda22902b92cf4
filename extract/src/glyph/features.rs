//! From a glyph picture to a feature vector: find the ink, size-normalise it
//! into a fixed box (keeping a softened aspect ratio), and describe it by
//! gradient-direction histograms pooled over a coarse grid, plus the aspect
//! ratio itself.
//!
//! Training renders and real crops go through exactly the same code, so what
//! the model learnt is what it is shown.

use image::GrayImage;

/// Side of the normalised glyph box, in pixels.
pub(crate) const N: usize = 24;
/// White margin inside the box.
const MARGIN: f32 = 2.0;
/// Spatial pooling grids (g x g cells each), coarse and fine.
const GRIDS: [usize; 2] = [GA, GB];
const GA: usize = 2;
const GB: usize = 4;
/// Histogram values over all grids.
const HIST: usize = (GA * GA + GB * GB) * DIRS;
/// Gradient directions.
const DIRS: usize = 8;
/// Meaningful values in a feature vector: the histograms and the aspect.
pub(crate) const USED: usize = HIST + 1;
/// Length of a feature vector: the histograms, the aspect ratio, and zero
/// padding to a multiple of eight (for vectorised distances).
pub(crate) const DIM: usize = (HIST + 1).div_ceil(8) * 8;
/// Weight of the aspect-ratio feature against the unit-length gradient part.
const ASPECT_WEIGHT: f32 = 0.25;

/// An ink map: `w * h` ink coverages in 0..1, row by row (1 = full ink).
#[derive(Clone, Debug)]
pub(crate) struct Ink {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Ink {
    /// A blank map.
    pub fn new(w: usize, h: usize) -> Ink {
        Ink {
            w,
            h,
            data: vec![0.0; w * h],
        }
    }

    /// Coverage at (x, y), 0 outside.
    #[inline]
    pub fn at(&self, x: isize, y: isize) -> f32 {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            0.0
        } else {
            self.data[y as usize * self.w + x as usize]
        }
    }

    /// Ink map of a dark-on-white picture: the background level is the
    /// typical light value and the ink level the typical dark one, so grey
    /// paper, white margins and faded ink all map to 0..1. `None` when the
    /// picture holds no ink.
    pub fn from_gray(img: &GrayImage) -> Option<Ink> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w == 0 || h == 0 {
            return None;
        }
        let mut hist = [0u32; 256];
        for p in img.as_raw() {
            hist[*p as usize] += 1;
        }
        let t = otsu(&hist)?;
        let (mut dark_n, mut dark_s, mut light_n, mut light_s) = (0u64, 0u64, 0u64, 0u64);
        for (v, &n) in hist.iter().enumerate() {
            if v <= t as usize {
                dark_n += n as u64;
                dark_s += n as u64 * v as u64;
            } else {
                light_n += n as u64;
                light_s += n as u64 * v as u64;
            }
        }
        if dark_n == 0 || light_n == 0 {
            return None;
        }
        let ink = dark_s as f32 / dark_n as f32;
        let bg = light_s as f32 / light_n as f32;
        // Too little contrast: a blank (or uniformly grey) picture.
        if bg - ink < 60.0 || ink > 170.0 {
            return None;
        }
        // Map the ink level to 1 and a level a little darker than the
        // paper to 0, so paper texture does not count as ink.
        let hi = ink + 0.85 * (bg - ink);
        let span = (hi - ink).max(1.0);
        let data = img
            .as_raw()
            .iter()
            .map(|&v| ((hi - v as f32) / span).clamp(0.0, 1.0))
            .collect();
        Some(Ink { w, h, data })
    }
}

/// Otsu's threshold of a histogram, `None` for a flat picture.
pub(crate) fn otsu(hist: &[u32; 256]) -> Option<u8> {
    let total: u64 = hist.iter().map(|&n| n as u64).sum();
    let sum: f64 = hist
        .iter()
        .enumerate()
        .map(|(v, &n)| v as f64 * n as f64)
        .sum();
    let (mut w0, mut s0) = (0u64, 0f64);
    let (mut best, mut best_t) = (-1f64, None);
    for (t, &n) in hist.iter().enumerate().take(255) {
        w0 += n as u64;
        s0 += t as f64 * n as f64;
        let w1 = total - w0;
        if w0 == 0 || w1 == 0 {
            continue;
        }
        let m0 = s0 / w0 as f64;
        let m1 = (sum - s0) / w1 as f64;
        let between = w0 as f64 * w1 as f64 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = Some(t as u8);
        }
    }
    best_t
}

/// The bounding box (x0, y0, x1, y1; exclusive ends) of the glyph's ink:
/// pixels of at least half coverage, leaving out specks far smaller than
/// the largest connected piece (unless `clean`: a render has no specks).
/// `None` when there is no ink at all.
pub(crate) fn ink_box(ink: &Ink, clean: bool) -> Option<(usize, usize, usize, usize)> {
    if clean {
        let mut bb: Option<(usize, usize, usize, usize)> = None;
        for y in 0..ink.h {
            let row = &ink.data[y * ink.w..(y + 1) * ink.w];
            let Some(first) = row.iter().position(|&v| v >= 0.5) else {
                continue;
            };
            let last = row.iter().rposition(|&v| v >= 0.5).unwrap_or(first);
            bb = Some(match bb {
                None => (first, y, last + 1, y + 1),
                Some((a, b, c, _)) => (a.min(first), b, c.max(last + 1), y + 1),
            });
        }
        return bb;
    }
    let comps = super::segment::components(ink.w, ink.h, |i| ink.data[i] >= 0.5);
    let biggest = comps.iter().map(|c| c.area).max()?;
    let keep = (biggest as f32 * 0.04).max(2.0) as usize;
    let mut bb: Option<(usize, usize, usize, usize)> = None;
    for c in comps.iter().filter(|c| c.area >= keep) {
        bb = Some(match bb {
            None => (c.x0, c.y0, c.x1, c.y1),
            Some((a, b, d, e)) => (a.min(c.x0), b.min(c.y0), d.max(c.x1), e.max(c.y1)),
        });
    }
    bb
}

/// The feature vector of an ink map, `None` when it holds no ink. `clean`
/// says the map has no specks to leave out (a render).
pub(crate) fn features(ink: &Ink, clean: bool) -> Option<Vec<f32>> {
    let (x0, y0, x1, y1) = ink_box(ink, clean)?;
    let norm = normalise(ink, x0, y0, x1, y1);
    describe(&norm, (x1 - x0) as f32, (y1 - y0) as f32)
}

/// Where a `w x h` ink box goes in the normalised box: the longer side
/// fills it, the shorter keeps a softened share (aspect ratio adaptive
/// normalisation), both centred. Returns (scale x, scale y, offset x,
/// offset y).
pub(crate) fn layout(w: f32, h: f32) -> (f32, f32, f32, f32) {
    let inner = N as f32 - 2.0 * MARGIN;
    let r = w.min(h) / w.max(h);
    let r2 = (std::f32::consts::FRAC_PI_2 * r).sin().sqrt();
    let (ow, oh) = if w >= h {
        (inner, inner * r2)
    } else {
        (inner * r2, inner)
    };
    (ow / w, oh / h, (N as f32 - ow) / 2.0, (N as f32 - oh) / 2.0)
}

/// The feature vector of a normalised `N x N` map whose ink box was
/// `w x h` before normalising.
pub(crate) fn describe(norm: &Ink, w: f32, h: f32) -> Option<Vec<f32>> {
    if norm.w != N || norm.h != N || w <= 0.0 || h <= 0.0 {
        return None;
    }
    let mut f = gradient_histogram(norm);
    // Power transform then unit length: the usual variance stabilising.
    let mut len = 0.0f32;
    for v in f.iter_mut() {
        *v = v.sqrt();
        len += *v * *v;
    }
    if len <= 1e-12 {
        return None;
    }
    let inv = 1.0 / len.sqrt();
    f.iter_mut().for_each(|v| *v *= inv);
    f.push(ASPECT_WEIGHT * (w / h).ln().clamp(-3.0, 3.0) / 3.0);
    f.resize(DIM, 0.0);
    Some(f)
}

/// The ink inside the box, scaled into an `N x N` map (see [`layout`]).
pub(crate) fn normalise(ink: &Ink, x0: usize, y0: usize, x1: usize, y1: usize) -> Ink {
    let (sx, sy, ox, oy) = layout((x1 - x0) as f32, (y1 - y0) as f32);
    let mut out = Ink::new(N, N);
    if sx >= 1.0 && sy >= 1.0 {
        // Enlarging: sample the source bilinearly at each output pixel.
        let src = Padded::new(ink);
        for v in 0..N {
            let sy_src = (v as f32 + 0.5 - oy) / sy - 0.5 + y0 as f32;
            for u in 0..N {
                let sx_src = (u as f32 + 0.5 - ox) / sx - 0.5 + x0 as f32;
                out.data[v * N + u] = src.sample(sx_src, sy_src);
            }
        }
    } else {
        // Shrinking (in at least one direction): spread each source pixel
        // over the output pixels it lands on, weighted by area.
        let a = sx.min(1.0) * sy.min(1.0);
        for y in y0..y1 {
            let fy = (y - y0) as f32 * sy + oy + 0.5 * sy - 0.5;
            for x in x0..x1 {
                let c = ink.data[y * ink.w + x];
                if c <= 0.0 {
                    continue;
                }
                let fx = (x - x0) as f32 * sx + ox + 0.5 * sx - 0.5;
                splat(&mut out, fx, fy, c * a);
            }
        }
        for v in out.data.iter_mut() {
            *v = v.min(1.0);
        }
    }
    out
}

/// An ink map with a blank border, for fast bilinear sampling.
#[derive(Clone, Debug)]
pub(crate) struct Padded {
    w: usize,
    h: usize,
    data: Vec<f32>,
}

impl Padded {
    const B: usize = 2;

    /// The map with its border.
    pub fn new(ink: &Ink) -> Padded {
        let pw = ink.w + 2 * Self::B;
        let mut data = vec![0f32; pw * (ink.h + 2 * Self::B)];
        for y in 0..ink.h {
            let o = (y + Self::B) * pw + Self::B;
            data[o..o + ink.w].copy_from_slice(&ink.data[y * ink.w..(y + 1) * ink.w]);
        }
        Padded {
            w: ink.w,
            h: ink.h,
            data,
        }
    }

    /// Bilinear sample at (x, y) in the original map's pixel coordinates
    /// (pixel centres at integers); 0 outside.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let b = Self::B as f32;
        let x = x.clamp(-1.5, self.w as f32 + 0.5) + b;
        let y = y.clamp(-1.5, self.h as f32 + 0.5) + b;
        let (ix, iy) = (x as usize, y as usize);
        let (ax, ay) = (x - ix as f32, y - iy as f32);
        let pw = self.w + 2 * Self::B;
        let i = iy * pw + ix;
        let d = &self.data;
        if i + pw + 1 >= d.len() {
            return 0.0;
        }
        let top = d[i] + (d[i + 1] - d[i]) * ax;
        let bot = d[i + pw] + (d[i + pw + 1] - d[i + pw]) * ax;
        top + (bot - top) * ay
    }
}

/// `x.floor()` for `x > -1e6`, without a library call.
#[inline]
pub(crate) fn floor(x: f32) -> f32 {
    let t = (x + 1e6) as i64 - 1_000_000;
    t as f32
}

#[inline]
pub(crate) fn bilinear(ink: &Ink, x: f32, y: f32) -> f32 {
    let (fx, fy) = (floor(x), floor(y));
    let (ax, ay) = (x - fx, y - fy);
    let (ix, iy) = (fx as isize, fy as isize);
    let a = ink.at(ix, iy) * (1.0 - ax) + ink.at(ix + 1, iy) * ax;
    let b = ink.at(ix, iy + 1) * (1.0 - ax) + ink.at(ix + 1, iy + 1) * ax;
    a * (1.0 - ay) + b * ay
}

#[inline]
fn splat(out: &mut Ink, x: f32, y: f32, c: f32) {
    let (fx, fy) = (floor(x), floor(y));
    let (ax, ay) = (x - fx, y - fy);
    let (ix, iy) = (fx as isize, fy as isize);
    for (dx, dy, wgt) in [
        (0, 0, (1.0 - ax) * (1.0 - ay)),
        (1, 0, ax * (1.0 - ay)),
        (0, 1, (1.0 - ax) * ay),
        (1, 1, ax * ay),
    ] {
        let (px, py) = (ix + dx, iy + dy);
        if px >= 0 && py >= 0 && (px as usize) < out.w && (py as usize) < out.h {
            out.data[py as usize * out.w + px as usize] += c * wgt;
        }
    }
}

/// Dense pooling weights for a `grid`-cell grid along one axis: row `c`
/// holds each pixel's weight for cell `c` (bilinear between cell centres).
fn pooling_matrix(grid: usize) -> Vec<f32> {
    let cell = N as f32 / grid as f32;
    let mut m = vec![0f32; grid * N];
    for x in 0..N {
        let c = (x as f32 + 0.5) / cell - 0.5;
        let b = (c + 1.0) as isize - 1;
        let a = c - b as f32;
        if b >= 0 {
            m[b as usize * N + x] = 1.0 - a;
        }
        if b + 1 < grid as isize {
            m[(b as usize + 1) * N + x] = a;
        }
    }
    m
}

/// Sobel gradients of the normalised map, each split between its two
/// nearest of eight directions (parallelogram rule: the axis direction
/// takes the larger component minus the smaller, the diagonal the smaller
/// times the square root of two), pooled into each grid with bilinear
/// weights.
pub(crate) fn gradient_histogram(img: &Ink) -> Vec<f32> {
    const P: usize = N + 2;
    const NN: usize = N * N;
    let mut pad = vec![0f32; P * P];
    for y in 0..N {
        pad[(y + 1) * P + 1..(y + 1) * P + 1 + N].copy_from_slice(&img.data[y * N..(y + 1) * N]);
    }
    let mut planes = vec![0f32; DIRS * NN];
    let (mut gx, mut gy) = ([0f32; N], [0f32; N]);
    for y in 0..N {
        let (r0, r1, r2) = (
            &pad[y * P..(y + 1) * P],
            &pad[(y + 1) * P..(y + 2) * P],
            &pad[(y + 2) * P..(y + 3) * P],
        );
        for x in 0..N {
            gx[x] = (r0[x + 2] + 2.0 * r1[x + 2] + r2[x + 2]) - (r0[x] + 2.0 * r1[x] + r2[x]);
            gy[x] = (r2[x] + 2.0 * r2[x + 1] + r2[x + 2]) - (r0[x] + 2.0 * r0[x + 1] + r0[x + 2]);
        }
        for x in 0..N {
            let (gxv, gyv) = (gx[x], gy[x]);
            let (ax, ay) = (gxv.abs(), gyv.abs());
            if ax + ay < 1e-3 {
                continue;
            }
            let axis = if ax >= ay {
                if gxv >= 0.0 {
                    0
                } else {
                    4
                }
            } else if gyv >= 0.0 {
                2
            } else {
                6
            };
            let diag = match (gxv >= 0.0, gyv >= 0.0) {
                (true, true) => 1,
                (false, true) => 3,
                (false, false) => 5,
                (true, false) => 7,
            };
            let p = y * N + x;
            planes[axis * NN + p] = ax.max(ay) - ax.min(ay);
            planes[diag * NN + p] = std::f32::consts::SQRT_2 * ax.min(ay);
        }
    }
    let mut f = vec![0.0f32; HIST];
    let mut offset = 0;
    let mut rows = vec![0f32; N * GB.max(GA)];
    for grid in GRIDS {
        let w = pooling_matrix(grid);
        for d in 0..DIRS {
            let plane = &planes[d * NN..(d + 1) * NN];
            // Pool along x: rows[y * grid + c].
            for y in 0..N {
                let row = &plane[y * N..(y + 1) * N];
                for c in 0..grid {
                    rows[y * grid + c] = super::model::dot(row, &w[c * N..(c + 1) * N]);
                }
            }
            // Then along y.
            for cy in 0..grid {
                let wy = &w[cy * N..(cy + 1) * N];
                for cx in 0..grid {
                    let mut s = 0.0;
                    for y in 0..N {
                        s += wy[y] * rows[y * grid + cx];
                    }
                    f[offset + (cy * grid + cx) * DIRS + d] = s;
                }
            }
        }
        offset += grid * grid * DIRS;
    }
    f
}
