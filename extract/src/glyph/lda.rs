//! Linear discriminant projection: the directions in feature space along
//! which characters differ most relative to how one character varies across
//! fonts and renders. Nearest-prototype search in that space weighs what
//! tells characters apart and discounts what only tells fonts apart.

use super::linalg;

/// Projection directions, row by row (`rows x dim`), so that the projected
/// coordinate k of `x` is `rows[k] . x`.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    /// Directions, `dim` values each.
    pub rows: Vec<f32>,
    /// How many directions.
    pub k: usize,
    /// Length of the vectors projected.
    pub dim: usize,
}

impl Projection {
    /// Projects one vector into `out` (length at least `k`).
    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
        for (o, row) in out.iter_mut().zip(self.rows.chunks_exact(self.dim)) {
            *o = super::model::dot(row, &x[..self.dim]);
        }
    }
}

/// Fits the projection on `n` samples (`data`, `stride` values each, of
/// which the first `dim` are used) with class labels in `0..classes`.
/// `shrink` (0..1) blends the within-class scatter towards a multiple of
/// the identity, which keeps the projection stable with few fonts. `None`
/// when there are fewer than two classes or the algebra fails.
pub(crate) fn fit(
    data: &[f32],
    stride: usize,
    dim: usize,
    labels: &[u16],
    classes: usize,
    shrink: f64,
) -> Option<Projection> {
    let n = labels.len();
    if n == 0 || dim == 0 || data.len() < n * stride {
        return None;
    }
    // Class means and counts.
    let mut means = vec![0f64; classes * dim];
    let mut counts = vec![0usize; classes];
    for (x, &l) in data.chunks_exact(stride).zip(labels) {
        let l = l as usize;
        counts[l] += 1;
        for (m, v) in means[l * dim..(l + 1) * dim].iter_mut().zip(x) {
            *m += *v as f64;
        }
    }
    let present: Vec<usize> = (0..classes).filter(|&c| counts[c] > 0).collect();
    if present.len() < 2 {
        return None;
    }
    for &c in &present {
        means[c * dim..(c + 1) * dim]
            .iter_mut()
            .for_each(|m| *m /= counts[c] as f64);
    }
    // Within-class scatter (upper triangle, accumulated in f32 rows).
    let mut sw = vec![0f32; dim * dim];
    let mut r = vec![0f32; dim];
    for (x, &l) in data.chunks_exact(stride).zip(labels) {
        let l = l as usize;
        for ((ri, xi), mi) in r.iter_mut().zip(x).zip(&means[l * dim..(l + 1) * dim]) {
            *ri = xi - *mi as f32;
        }
        for i in 0..dim {
            let a = r[i];
            if a == 0.0 {
                continue;
            }
            for (s, rj) in sw[i * dim + i..(i + 1) * dim].iter_mut().zip(&r[i..]) {
                *s += a * rj;
            }
        }
    }
    let mut s = vec![0f64; dim * dim];
    for i in 0..dim {
        for j in i..dim {
            let v = sw[i * dim + j] as f64 / n as f64;
            s[i * dim + j] = v;
            s[j * dim + i] = v;
        }
    }
    let mean_diag = (0..dim).map(|i| s[i * dim + i]).sum::<f64>() / dim as f64;
    let ridge = shrink.clamp(1e-4, 1.0) * mean_diag.max(1e-12);
    for (i, v) in s.iter_mut().enumerate() {
        *v *= 1.0 - shrink.clamp(0.0, 0.9999);
        if i % (dim + 1) == 0 {
            *v += ridge;
        }
    }
    let l = linalg::cholesky(&s, dim)?;
    // Between-class scatter as M M^T with M's columns the weighted,
    // centred class means; whitened: B = L^-1 M.
    let total: f64 = counts.iter().sum::<usize>() as f64;
    let mut grand = vec![0f64; dim];
    for &c in &present {
        for (g, m) in grand.iter_mut().zip(&means[c * dim..(c + 1) * dim]) {
            *g += m * counts[c] as f64 / total;
        }
    }
    let cs = present.len();
    let mut b = vec![0f64; dim * cs]; // column j at b[j*dim..]
    for (j, &c) in present.iter().enumerate() {
        let w = (counts[c] as f64 / total).sqrt();
        let col = &mut b[j * dim..(j + 1) * dim];
        for ((v, m), g) in col
            .iter_mut()
            .zip(&means[c * dim..(c + 1) * dim])
            .zip(&grand)
        {
            *v = w * (m - g);
        }
        linalg::solve_lower(&l, dim, col);
    }
    // Eigen-decomposition of the small Gram matrix B^T B.
    let mut g = vec![0f64; cs * cs];
    for i in 0..cs {
        for j in i..cs {
            let v: f64 = b[i * dim..(i + 1) * dim]
                .iter()
                .zip(&b[j * dim..(j + 1) * dim])
                .map(|(x, y)| x * y)
                .sum();
            g[i * cs + j] = v;
            g[j * cs + i] = v;
        }
    }
    let (vals, vecs) = linalg::symmetric_eigen(&g, cs);
    let top = vals.first().copied().unwrap_or(0.0);
    let k = vals
        .iter()
        .take(cs - 1)
        .filter(|&&v| v > 1e-9 * top && v > 0.0)
        .count();
    if k == 0 {
        return None;
    }
    let mut rows = vec![0f32; k * dim];
    for (kk, row) in rows.chunks_exact_mut(dim).enumerate() {
        // u = B q / sigma, then the direction is L^-T u.
        let sigma = vals[kk].sqrt();
        let mut u = vec![0f64; dim];
        for j in 0..cs {
            let q = vecs[j * cs + kk] / sigma;
            for (ui, bj) in u.iter_mut().zip(&b[j * dim..(j + 1) * dim]) {
                *ui += q * bj;
            }
        }
        linalg::solve_lower_transposed(&l, dim, &mut u);
        for (r, v) in row.iter_mut().zip(&u) {
            *r = *v as f32;
        }
    }
    Some(Projection { rows, k, dim })
}
