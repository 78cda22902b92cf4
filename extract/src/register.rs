//! Registration: where the template's boxes lie on a scan.
//!
//! Owns the geometry between template millimetres and scan pixels. It finds
//! the printed box lines (long thin runs of ink, so neither handwriting nor
//! filled heading bars count), tries the page orientations a scanner can
//! produce, measures the skew on the lines, then fits scale and offset on
//! each axis by matching the line profile against the template's boxes. The
//! result is a [`Pose`] that maps any template point onto the scan, and a
//! coverage score saying how much of the template's box lines are really
//! there. Which template a page is, is [`crate::identify`]'s decision.

use crate::prepare::Ink;
use formflow_schemas::{FieldType, Template};

/// Shortest horizontal run counted as a printed line, in millimetres.
const MIN_HRUN_MM: f64 = 5.0;
/// Shortest vertical run counted as a printed line, in millimetres: less
/// than a text box's 8 mm, more than most handwritten strokes.
const MIN_VRUN_MM: f64 = 5.5;
/// Thicker than this and it is a filled area, not a line.
const MAX_LINE_MM: f64 = 0.9;
/// Range of scale searched, around the resolution the file states.
const SCALE_RANGE: (f64, f64) = (0.90, 1.10);
/// Largest skew searched, in degrees.
const MAX_SKEW_DEG: f64 = 5.0;
/// The skew up to which a one-pixel line is still found as one run.
const SKEW_TOLERANCE_DEG: f64 = 3.5;

/// The printed lines of one template page, in millimetres.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Form key.
    pub form: String,
    /// Page of the form, from 1.
    pub page: u32,
    /// Page size in millimetres.
    pub size_mm: [f64; 2],
    /// Horizontal lines: (y, x from, x to).
    pub hlines: Vec<(f64, f64, f64)>,
    /// Vertical lines: (x, y from, y to).
    pub vlines: Vec<(f64, f64, f64)>,
}

impl Reference {
    /// The box lines of a template page: every text box, comb cell and
    /// signature box tall enough to be seen as a line (tick boxes are too
    /// small to tell from handwriting and are left out).
    pub fn of(t: &Template, page: u32) -> Reference {
        let mut rects = Vec::new();
        for f in t.fields_on(page) {
            if matches!(f.kind, FieldType::Checkbox | FieldType::Choice) {
                continue;
            }
            match &f.cells {
                Some(cells) => rects.extend(cells.iter().copied()),
                None => rects.push(f.box_mm),
            }
        }
        let mut hlines: Vec<(f64, f64, f64)> = Vec::new();
        let mut vlines: Vec<(f64, f64, f64)> = Vec::new();
        for r in rects {
            if r.w >= MIN_HRUN_MM {
                for y in [r.y, r.bottom()] {
                    hlines.push((y, r.x, r.right()));
                }
            }
            if r.h >= MIN_VRUN_MM {
                for x in [r.x, r.right()] {
                    vlines.push((x, r.y, r.bottom()));
                }
            }
        }
        Reference {
            form: t.form.clone(),
            page,
            size_mm: t.page_size_mm,
            hlines: merge(hlines),
            vlines: merge(vlines),
        }
    }
}

/// Joins collinear segments that touch (shared comb cell edges).
fn merge(mut v: Vec<(f64, f64, f64)>) -> Vec<(f64, f64, f64)> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out: Vec<(f64, f64, f64)> = Vec::new();
    for s in v {
        if let Some(last) = out.last_mut() {
            if (last.0 - s.0).abs() < 0.01 && s.1 <= last.2 + 0.01 {
                last.2 = last.2.max(s.2);
                continue;
            }
        }
        out.push(s);
    }
    out
}

/// A sampled piece of a printed line: centre and length in pixels.
#[derive(Debug, Clone, Copy)]
struct Piece {
    x: f32,
    y: f32,
    w: f32,
}

/// A coarse bitmap of where line pieces were found, for quick look-ups.
#[derive(Debug, Clone)]
struct Mask {
    cell: u32,
    w: u32,
    h: u32,
    data: Vec<u8>,
}

impl Mask {
    fn new(w: u32, h: u32, cell: u32) -> Mask {
        let (mw, mh) = (w.div_ceil(cell), h.div_ceil(cell));
        Mask {
            cell,
            w: mw,
            h: mh,
            data: vec![0; (mw as usize) * (mh as usize)],
        }
    }
    fn set(&mut self, x: u32, y: u32) {
        let (mx, my) = (x / self.cell, y / self.cell);
        if mx < self.w && my < self.h {
            self.data[(my * self.w + mx) as usize] = 1;
        }
    }
    fn near(&self, x: f64, y: f64, r: f64) -> bool {
        let c = self.cell as f64;
        let (x0, x1) = (((x - r) / c).floor() as i64, ((x + r) / c).floor() as i64);
        let (y0, y1) = (((y - r) / c).floor() as i64, ((y + r) / c).floor() as i64);
        for my in y0.max(0)..=y1.min(self.h as i64 - 1) {
            for mx in x0.max(0)..=x1.min(self.w as i64 - 1) {
                if self.data[(my as usize) * (self.w as usize) + mx as usize] != 0 {
                    return true;
                }
            }
        }
        false
    }
}

/// The printed lines found on a scan, in scan pixels.
#[derive(Debug, Clone)]
pub struct Lines {
    w: u32,
    h: u32,
    ppmm: f64,
    horizontal: Vec<Piece>,
    vertical: Vec<Piece>,
    hmask: Mask,
    vmask: Mask,
}

impl Lines {
    /// Finds the long thin runs of ink on a page scanned at `ppmm` pixels a
    /// millimetre.
    pub fn find(ink: &Ink, ppmm: f64) -> Lines {
        let (w, h) = (ink.w, ink.h);
        let min_h = (MIN_HRUN_MM * ppmm) as usize;
        let min_v = (MIN_VRUN_MM * ppmm) as usize;
        let thick = (MAX_LINE_MM * ppmm).ceil() as i64 + 1;
        let chunk = (ppmm.round() as usize).max(2);
        let cell = ((ppmm / 2.0).round() as u32).max(1);
        let mut hmask = Mask::new(w, h, cell);
        let mut vmask = Mask::new(w, h, cell);
        let mut horizontal = Vec::new();
        let mut vertical = Vec::new();
        // A piece of a run at (x, y) is kept where the line's own ink is,
        // and not inside a filled area (ink a line's thickness away on both
        // sides, across the line: `(dx, dy)`).
        let keep = |pieces: &mut Vec<Piece>,
                    mask: &mut Mask,
                    x: usize,
                    y: usize,
                    len: usize,
                    (dx, dy): (i64, i64)| {
            let (xi, yi) = (x as i64, y as i64);
            let filled = ink.get(xi - dx * thick, yi - dy * thick)
                && ink.get(xi + dx * thick, yi + dy * thick);
            if ink.get(xi, yi) && !filled {
                pieces.push(Piece {
                    x: x as f32,
                    y: y as f32,
                    w: len as f32,
                });
                mask.set(x as u32, y as u32);
            }
        };
        // A thin line on a skewed page steps a pixel every 1/tan(skew)
        // pixels, so its runs are looked for in a band of rows (and of
        // columns) around each one: a run unbroken in the band is a line,
        // and a piece is kept where the line's own ink is.
        let band = ((SKEW_TOLERANCE_DEG.to_radians().tan() * min_h.max(min_v) as f64 / 2.0).ceil()
            as usize)
            .max(1);
        // The two dilated maps are made a row at a time, as the scan below
        // reaches each row: a page's worth of each would be two more page
        // buffers to allocate and fault in for every page.
        let (wu, hu) = (w as usize, h as usize);
        let row_of = |y: usize| &ink.data[y * wu..(y + 1) * wu];
        // Ink in rows y - band ..= y + band, per column.
        let mut count = vec![0u32; wu];
        let add = |count: &mut [u32], y: usize, sign: bool| {
            for (c, &v) in count.iter_mut().zip(row_of(y)) {
                if sign {
                    *c += u32::from(v != 0);
                } else {
                    *c -= u32::from(v != 0);
                }
            }
        };
        (0..band.min(hu)).for_each(|y| add(&mut count, y, true));
        let mut row = vec![0u8; wu];
        let mut across = vec![0u8; wu];
        // Columns are walked a row at a time, keeping each column's current run.
        let mut run_start = vec![usize::MAX; wu];
        // 1 where a column's run is open: what `across` was on the row before.
        let mut active = vec![0u8; wu];
        for y in 0..=hu {
            if y < hu {
                if y + band < hu {
                    add(&mut count, y + band, true);
                }
                row.iter_mut()
                    .zip(&count)
                    .for_each(|(o, &c)| *o = u8::from(c > 0));
                if y >= band {
                    add(&mut count, y - band, false);
                }
                dilate_row(row_of(y), band, &mut across);
                // Rows.
                let mut x = 0;
                while x < wu {
                    if row[x] == 0 {
                        x = skip(&row, x, 0);
                        continue;
                    }
                    let start = x;
                    x = skip(&row, x, 1);
                    if x - start >= min_h {
                        for (cx, len) in chunks(start, x, chunk) {
                            keep(&mut horizontal, &mut hmask, cx, y, len, (0, 1));
                        }
                    }
                }
            }
            // Columns: only where a run starts or ends, found eight
            // columns at a time.
            if y == hu {
                across.fill(0);
            }
            let mut x = 0;
            while x < wu {
                if x + 8 <= wu && word(&across, x) == word(&active, x) {
                    x += 8;
                    continue;
                }
                let end = (x + 8).min(wu);
                for x in x..end {
                    if across[x] == active[x] {
                        continue;
                    }
                    active[x] = across[x];
                    if across[x] != 0 {
                        run_start[x] = y;
                        continue;
                    }
                    let s = run_start[x];
                    if y - s >= min_v {
                        for (cy, len) in chunks(s, y, chunk) {
                            keep(&mut vertical, &mut vmask, x, cy, len, (1, 0));
                        }
                    }
                    run_start[x] = usize::MAX;
                }
                x = end;
            }
        }
        Lines {
            w,
            h,
            ppmm,
            horizontal,
            vertical,
            hmask,
            vmask,
        }
    }
}

/// `src` dilated by `r` pixels along the row into `out`: each pixel is ink
/// when any pixel within `r` of it is.
fn dilate_row(src: &[u8], r: usize, out: &mut [u8]) {
    let w = src.len();
    // Ink in the window x - r ..= x + r.
    let mut c: u32 = src[..r.min(w)].iter().map(|&v| u32::from(v != 0)).sum();
    for x in 0..w {
        if x + r < w {
            c += u32::from(src[x + r] != 0);
        }
        out[x] = u8::from(c > 0);
        if x >= r {
            c -= u32::from(src[x - r] != 0);
        }
    }
}

/// The first index from `i` on where `v` is not `value` (0 or 1), or its
/// length; eight bytes at a time while they all match.
fn skip(v: &[u8], mut i: usize, value: u8) -> usize {
    let all = u64::from_ne_bytes([value; 8]);
    while i + 8 <= v.len() && word(v, i) == all {
        i += 8;
    }
    while i < v.len() && v[i] == value {
        i += 1;
    }
    i
}

/// The eight bytes of `v` from `i`, as one word.
#[inline]
fn word(v: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&v[i..i + 8]);
    u64::from_ne_bytes(b)
}

/// A run from `start` to `end` cut into pieces of at most `chunk`: each
/// piece's middle and length.
fn chunks(start: usize, end: usize, chunk: usize) -> impl Iterator<Item = (usize, usize)> {
    (start..end).step_by(chunk.max(1)).map(move |c| {
        let e = (c + chunk).min(end);
        ((c + e) / 2, e - c)
    })
}

/// How a scan lies relative to the upright page.
///
/// It serialises (as a JSON object of its fields) so that a page's pose can
/// be stored and crops cut later without registering the page again.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pose {
    /// Clockwise quarter turns the page was scanned with: 0, 90, 180 or 270.
    pub orientation: u16,
    /// Skew in radians, measured in the upright frame.
    pub angle: f64,
    /// Pixels a millimetre across.
    pub sx: f64,
    /// Pixels a millimetre down.
    pub sy: f64,
    /// Offset across, in upright deskewed pixels.
    pub tx: f64,
    /// Offset down, in upright deskewed pixels.
    pub ty: f64,
    /// Scan width in pixels.
    pub scan_w: u32,
    /// Scan height in pixels.
    pub scan_h: u32,
}

impl Pose {
    /// Where the template point (x, y) in millimetres lies on the scan.
    pub fn to_scan(&self, x_mm: f64, y_mm: f64) -> (f64, f64) {
        let xr = self.sx * x_mm + self.tx;
        let yr = self.sy * y_mm + self.ty;
        let (s, c) = self.angle.sin_cos();
        let xu = xr * c - yr * s;
        let yu = xr * s + yr * c;
        from_upright(self.orientation, self.scan_w, self.scan_h, xu, yu)
    }

    /// The same pose moved by (dx, dy) millimetres on the page.
    pub fn shifted(&self, dx_mm: f64, dy_mm: f64) -> Pose {
        Pose {
            tx: self.tx + dx_mm * self.sx,
            ty: self.ty + dy_mm * self.sy,
            ..*self
        }
    }

    /// Pixels a millimetre, the mean of both axes.
    pub fn ppmm(&self) -> f64 {
        (self.sx + self.sy) / 2.0
    }
}

fn to_upright(o: u16, w: u32, h: u32, x: f64, y: f64) -> (f64, f64) {
    let (w, h) = (w as f64 - 1.0, h as f64 - 1.0);
    match o {
        90 => (y, w - x),
        180 => (w - x, h - y),
        270 => (h - y, x),
        _ => (x, y),
    }
}

fn from_upright(o: u16, w: u32, h: u32, ux: f64, uy: f64) -> (f64, f64) {
    let (w, h) = (w as f64 - 1.0, h as f64 - 1.0);
    match o {
        90 => (w - uy, ux),
        180 => (w - ux, h - uy),
        270 => (uy, h - ux),
        _ => (ux, uy),
    }
}

/// A template page placed on a scan, with how well its lines match.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Where the page lies.
    pub pose: Pose,
    /// Share (0..1) of the template's box lines found where the pose puts them.
    pub coverage: f64,
}

/// Orientations worth trying for a scan of this shape.
pub fn orientations(lines: &Lines, reference: &Reference) -> Vec<u16> {
    let portrait_ref = reference.size_mm[1] >= reference.size_mm[0];
    let portrait_scan = lines.h >= lines.w;
    if portrait_ref == portrait_scan {
        vec![0, 180]
    } else {
        vec![90, 270]
    }
}

/// A scan's printed lines turned upright for one orientation and
/// deskewed: what every template is fitted against. Computed once per
/// orientation, shared by all templates.
#[derive(Debug, Clone)]
pub struct Upright {
    orientation: u16,
    angle: f64,
    /// Line profile down the page (horizontal lines), one bin a pixel.
    rows: Vec<f64>,
    /// Line profile across the page (vertical lines), one bin a pixel.
    cols: Vec<f64>,
}

impl Upright {
    /// The orientation it was turned for.
    pub fn orientation(&self) -> u16 {
        self.orientation
    }

    /// Turns and deskews the lines for orientation `o`; `None` when there
    /// are too few lines to place anything.
    pub fn new(lines: &Lines, o: u16) -> Option<Upright> {
        let quarter = o == 90 || o == 270;
        let (hs, vs) = if quarter {
            (&lines.vertical, &lines.horizontal)
        } else {
            (&lines.horizontal, &lines.vertical)
        };
        let up = |p: &Piece| to_upright(o, lines.w, lines.h, p.x as f64, p.y as f64);
        let hpts: Vec<(f64, f64, f64)> = hs
            .iter()
            .map(|p| {
                let (x, y) = up(p);
                (x, y, p.w as f64)
            })
            .collect();
        if hpts.len() < 8 || vs.is_empty() {
            return None;
        }
        let (uw, uh) = if quarter {
            (lines.h, lines.w)
        } else {
            (lines.w, lines.h)
        };
        let angle = skew(&hpts, uh as f64, uw as f64);
        let (s, c) = angle.sin_cos();
        let sigma = (0.25 * lines.ppmm).max(1.0);
        let mut rows = vec![0f64; uh as usize + 1];
        for &(x, y, w) in &hpts {
            let yr = -x * s + y * c;
            if yr >= 0.0 && (yr as usize) < rows.len() {
                rows[yr as usize] += w;
            }
        }
        let mut cols = vec![0f64; uw as usize + 1];
        for p in vs {
            let (x, y) = up(p);
            let xr = x * c + y * s;
            if xr >= 0.0 && (xr as usize) < cols.len() {
                cols[xr as usize] += p.w as f64;
            }
        }
        Some(Upright {
            orientation: o,
            angle,
            rows: smooth(&rows, sigma),
            cols: smooth(&cols, sigma),
        })
    }
}

/// Places `reference` on the scan, upright as `u` says.
pub fn place(lines: &Lines, u: &Upright, reference: &Reference) -> Option<Placement> {
    if reference.hlines.is_empty() || reference.vlines.is_empty() {
        return None;
    }
    let ppmm = lines.ppmm;
    let href: Vec<(f64, f64)> = reference
        .hlines
        .iter()
        .map(|&(y, a, b)| (y, b - a))
        .collect();
    let vref: Vec<(f64, f64)> = reference
        .vlines
        .iter()
        .map(|&(x, a, b)| (x, b - a))
        .collect();
    let (sy, ty) = fit_axis(&u.rows, &href, ppmm)?;
    let (sx, tx) = fit_axis(&u.cols, &vref, ppmm)?;
    let pose = Pose {
        orientation: u.orientation,
        angle: u.angle,
        sx,
        sy,
        tx,
        ty,
        scan_w: lines.w,
        scan_h: lines.h,
    };
    let coverage = coverage(lines, reference, &pose);
    Some(Placement { pose, coverage })
}

/// Places `reference` on the scan in each orientation worth trying
/// ([`orientations`]) and keeps the placement with the best coverage; `None`
/// when there are too few lines to place it at all.
pub fn place_best(lines: &Lines, reference: &Reference) -> Option<Placement> {
    orientations(lines, reference)
        .into_iter()
        .filter_map(|o| Upright::new(lines, o).and_then(|u| place(lines, &u, reference)))
        .max_by(|a, b| a.coverage.total_cmp(&b.coverage))
}

/// The skew that makes the horizontal lines sharpest, in radians.
fn skew(pts: &[(f64, f64, f64)], extent: f64, width: f64) -> f64 {
    let max = MAX_SKEW_DEG.to_radians();
    let pad = (width * max.sin()).ceil() + 2.0;
    let n = (extent + 2.0 * pad) as usize + 2;
    let mut hist = vec![0f64; n];
    let mut score = |a: f64| {
        let (s, c) = a.sin_cos();
        hist.iter_mut().for_each(|v| *v = 0.0);
        for &(x, y, w) in pts {
            let yr = -x * s + y * c + pad;
            if yr >= 0.0 && (yr as usize) < n {
                hist[yr as usize] += w;
            }
        }
        hist.iter().map(|v| v * v).sum::<f64>()
    };
    let mut best = (f64::MIN, 0.0);
    let step = 0.1f64.to_radians();
    let mut a = -max;
    while a <= max + 1e-9 {
        let sc = score(a);
        if sc > best.0 {
            best = (sc, a);
        }
        a += step;
    }
    let centre = best.1;
    let fine = 0.01f64.to_radians();
    for i in -10..=10 {
        let a = centre + i as f64 * fine;
        let sc = score(a);
        if sc > best.0 {
            best = (sc, a);
        }
    }
    best.1
}

/// Fits `pixel = s * mm + t` on one axis: the scale and offset that put the
/// template's lines on the strongest parts of the scan's (smoothed) line
/// profile. A coarse search on a profile binned four pixels to one, then a
/// fine one around the best coarse answers.
fn fit_axis(prof: &[f64], lines: &[(f64, f64)], ppmm: f64) -> Option<(f64, f64)> {
    const BIN: usize = 4;
    let n = prof.len();
    if n < 2 * BIN {
        return None;
    }
    let coarse: Vec<f64> = prof.chunks(BIN).map(|c| c.iter().sum::<f64>()).collect();
    let sample = |p: &[f64], x: f64| -> f64 {
        if x < 0.0 || x >= (p.len() - 1) as f64 {
            return 0.0;
        }
        let i = x as usize;
        let f = x - i as f64;
        p[i] * (1.0 - f) + p[i + 1] * f
    };
    let eval_coarse = |s: f64, t: f64| {
        lines
            .iter()
            .map(|&(pos, len)| len * sample(&coarse, (s * pos + t) / BIN as f64))
            .sum::<f64>()
    };
    let eval_fine = |s: f64, t: f64| {
        lines
            .iter()
            .map(|&(pos, len)| len * sample(prof, s * pos + t))
            .sum::<f64>()
    };
    let span = 0.12 * n as f64;
    let mut tops: Vec<(f64, f64, f64)> = Vec::new();
    let mut k = SCALE_RANGE.0;
    while k <= SCALE_RANGE.1 + 1e-9 {
        let s = k * ppmm;
        let mut t = -span;
        while t <= span {
            let v = eval_coarse(s, t);
            if v > 0.0 {
                tops.push((v, s, t));
            }
            t += BIN as f64;
        }
        k += 0.008;
    }
    if tops.is_empty() {
        return None;
    }
    tops.sort_by(|a, b| b.0.total_cmp(&a.0));
    tops.truncate(4);
    // Around the best coarse answers, then around the best of those, finer.
    let mut best = (f64::MIN, 0.0, 0.0);
    for &(_, s0, t0) in &tops {
        best = refine(best, s0, t0, (9, 0.0005 * ppmm), (12, 0.5), &eval_fine);
    }
    best = refine(
        best,
        best.1,
        best.2,
        (5, 0.0001 * ppmm),
        (4, 0.125),
        &eval_fine,
    );
    Some((best.1, best.2))
}

/// The best of `best` and every (scale, offset) on a grid of `±n` steps
/// of `step` around (`s0`, `t0`).
fn refine(
    mut best: (f64, f64, f64),
    s0: f64,
    t0: f64,
    (ns, ds): (i32, f64),
    (nt, dt): (i32, f64),
    eval: &dyn Fn(f64, f64) -> f64,
) -> (f64, f64, f64) {
    for i in -ns..=ns {
        let s = s0 + i as f64 * ds;
        for j in -nt..=nt {
            let t = t0 + j as f64 * dt;
            let v = eval(s, t);
            if v > best.0 {
                best = (v, s, t);
            }
        }
    }
    best
}

fn smooth(v: &[f64], sigma: f64) -> Vec<f64> {
    let r = (3.0 * sigma).ceil() as i64;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let n = v.len() as i64;
    (0..n)
        .map(|i| {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let x = i + j as i64 - r;
                if x >= 0 && x < n {
                    acc += v[x as usize] * kv;
                }
            }
            acc
        })
        .collect()
}

/// Share of the template's line length found on the scan where `pose` puts it.
pub fn coverage(lines: &Lines, reference: &Reference, pose: &Pose) -> f64 {
    let quarter = pose.orientation == 90 || pose.orientation == 270;
    let (hm, vm) = if quarter {
        (&lines.vmask, &lines.hmask)
    } else {
        (&lines.hmask, &lines.vmask)
    };
    let r = (0.6 * pose.ppmm()).max(2.0);
    let (mut hit, mut all) = (0usize, 0usize);
    let mut walk = |mask: &Mask, pts: &mut dyn Iterator<Item = (f64, f64)>| {
        for (x, y) in pts {
            let (px, py) = pose.to_scan(x, y);
            all += 1;
            if mask.near(px, py, r) {
                hit += 1;
            }
        }
    };
    for &(y, a, b) in &reference.hlines {
        let n = ((b - a) / 1.5).ceil().max(1.0) as usize;
        walk(
            hm,
            &mut (0..=n).map(|i| (a + (b - a) * i as f64 / n as f64, y)),
        );
    }
    for &(x, a, b) in &reference.vlines {
        let n = ((b - a) / 1.5).ceil().max(1.0) as usize;
        walk(
            vm,
            &mut (0..=n).map(|i| (x, a + (b - a) * i as f64 / n as f64)),
        );
    }
    hit as f64 / all.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use formflow_schemas::TemplateSet;

    /// Draws a reference's lines onto an ink map through a pose.
    fn draw(reference: &Reference, pose: &Pose) -> Ink {
        draw_with(reference, pose, 1)
    }

    /// The template's lines drawn through `pose` with a square pen of
    /// `2 * r + 1` pixels (r = 0: one-pixel lines).
    fn draw_with(reference: &Reference, pose: &Pose, r: i64) -> Ink {
        let (w, h) = (pose.scan_w, pose.scan_h);
        let mut ink = Ink {
            w,
            h,
            data: vec![0; (w * h) as usize],
        };
        let mut dot = |x: f64, y: f64| {
            for dy in -r..=r {
                for dx in -r..=r {
                    let (xi, yi) = (x.round() as i64 + dx, y.round() as i64 + dy);
                    if xi >= 0 && yi >= 0 && xi < w as i64 && yi < h as i64 {
                        ink.data[(yi as usize) * (w as usize) + xi as usize] = 1;
                    }
                }
            }
        };
        for &(y, a, b) in &reference.hlines {
            let mut x = a;
            while x <= b {
                let (px, py) = pose.to_scan(x, y);
                dot(px, py);
                x += 0.05;
            }
        }
        for &(x, a, b) in &reference.vlines {
            let mut y = a;
            while y <= b {
                let (px, py) = pose.to_scan(x, y);
                dot(px, py);
                y += 0.05;
            }
        }
        ink
    }

    #[test]
    fn one_pixel_lines_on_a_page_skewed_two_and_a_half_degrees_are_placed() {
        // A bilevel scan thresholded thin: each line steps a row every 23
        // pixels, far shorter than a box line's 5 mm.
        let set = TemplateSet::builtin();
        let reference = Reference::of(set.get("voter-registration").unwrap(), 1);
        for (dpi, angle) in [(300.0, 2.5f64), (200.0, -2.4)] {
            let ppmm = dpi / 25.4;
            let (w, h) = ((210.0 * ppmm) as u32, (297.0 * ppmm) as u32);
            let truth = Pose {
                orientation: 0,
                angle: angle.to_radians(),
                sx: ppmm,
                sy: ppmm,
                tx: 12.0,
                ty: 9.0,
                scan_w: w,
                scan_h: h,
            };
            let ink = draw_with(&reference, &truth, 0);
            let lines = Lines::find(&ink, ppmm);
            let best = place_best(&lines, &reference).expect("placed");
            assert!(best.coverage > 0.9, "{dpi} dpi: coverage {}", best.coverage);
            let (a, b) = (truth.to_scan(195.0, 280.0), best.pose.to_scan(195.0, 280.0));
            assert!(
                (a.0 - b.0).abs() < 2.0 && (a.1 - b.1).abs() < 2.0,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn a_skewed_scaled_shifted_upside_down_page_is_placed() {
        let set = TemplateSet::builtin();
        let reference = Reference::of(set.get("voter-registration").unwrap(), 1);
        let ppmm = 150.0 / 25.4;
        let (w, h) = ((210.0 * ppmm) as u32, (297.0 * ppmm) as u32);
        let truth = Pose {
            orientation: 180,
            angle: 1.1f64.to_radians(),
            sx: ppmm * 1.02,
            sy: ppmm * 1.02,
            tx: 20.0,
            ty: -15.0,
            scan_w: w,
            scan_h: h,
        };
        let ink = draw(&reference, &truth);
        let lines = Lines::find(&ink, ppmm);
        let best = place_best(&lines, &reference).unwrap();
        assert_eq!(best.pose.orientation, 180);
        assert!(best.coverage > 0.95, "coverage {}", best.coverage);
        for (x, y) in [(52.0, 45.0), (195.0, 280.0), (17.0, 148.0)] {
            let (a, b) = (truth.to_scan(x, y), best.pose.to_scan(x, y));
            assert!(
                (a.0 - b.0).abs() < 2.0 && (a.1 - b.1).abs() < 2.0,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn the_wrong_template_covers_less() {
        let set = TemplateSet::builtin();
        let voter = Reference::of(set.get("voter-registration").unwrap(), 1);
        let la2 = Reference::of(set.get("legal-aid-cw1").unwrap(), 2);
        let ppmm = 100.0 / 25.4;
        let (w, h) = ((210.0 * ppmm) as u32, (297.0 * ppmm) as u32);
        let pose = Pose {
            orientation: 0,
            angle: 0.0,
            sx: ppmm,
            sy: ppmm,
            tx: 0.0,
            ty: 0.0,
            scan_w: w,
            scan_h: h,
        };
        let lines = Lines::find(&draw(&voter, &pose), ppmm);
        let u = Upright::new(&lines, 0).unwrap();
        let wrong = place(&lines, &u, &la2).map(|p| p.coverage).unwrap_or(0.0);
        let right = place(&lines, &u, &voter).unwrap().coverage;
        assert!(right > 0.95 && wrong < 0.7, "right {right} wrong {wrong}");
    }

    #[test]
    fn a_pose_round_trips_through_json() {
        let pose = Pose {
            orientation: 270,
            angle: -0.0125,
            sx: 11.8,
            sy: 11.75,
            tx: 20.5,
            ty: -15.25,
            scan_w: 2480,
            scan_h: 3508,
        };
        let json = serde_json::to_string(&pose).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"orientation":270,"angle":-0.0125,"sx":11.8,"sy":11.75,"#,
                r#""tx":20.5,"ty":-15.25,"scan_w":2480,"scan_h":3508}"#
            )
        );
        assert_eq!(serde_json::from_str::<Pose>(&json).unwrap(), pose);
    }
}
