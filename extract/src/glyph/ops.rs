//! The two image operations of the handwriting network that candle has no
//! fast CPU form of, for images kept as (glyphs, rows, columns, channels):
//!
//! - [`patches`]: every pixel's 3×3 neighbourhood as one row (zero outside
//!   the image), so a convolution is one matrix product;
//! - [`pool2`]: 2×2 max pooling.
//!
//! Each is a candle custom operation with its own gradient, written as
//! plain loops over contiguous memory: built from candle's general tensor
//! operations, the same work spent most of training's time copying strided
//! tensors one value at a time.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// Each pixel's 3×3 neighbourhood of `x` `(n, h, w, c)`: `(n * h * w, 9 * c)`,
/// ordered row offset, column offset, channel.
pub fn patches(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Patches)
}

/// 2×2 max pooling of `x` `(n, h, w, c)` (`h` and `w` even): `(n, h/2, w/2, c)`.
pub fn pool2(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Pool2)
}

/// The f32 values of a contiguous tensor's storage.
fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = storage else {
        candle_core::bail!("the handwriting network works in f32")
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("the handwriting network's images must be contiguous"),
    }
}

struct Patches;

/// Calls `f(source, target)` for every tap of every pixel's 3×3
/// neighbourhood inside an `(n, h, w, c)` image: the offset of the tapped
/// pixel's `c` values in the image and of their place in the patches.
fn each_tap(n: usize, h: usize, w: usize, c: usize, mut f: impl FnMut(usize, usize)) {
    let row = 9 * c;
    for img in 0..n {
        let base = img * h * w * c;
        for y in 0..h {
            for x in 0..w {
                let o = ((img * h + y) * w + x) * row;
                for dy in 0..3 {
                    let sy = y + dy;
                    if sy == 0 || sy > h {
                        continue;
                    }
                    for dx in 0..3 {
                        let sx = x + dx;
                        if sx == 0 || sx > w {
                            continue;
                        }
                        f(base + ((sy - 1) * w + sx - 1) * c, o + (dy * 3 + dx) * c);
                    }
                }
            }
        }
    }
}

impl CustomOp1 for Patches {
    fn name(&self) -> &'static str {
        "glyph-patches"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, h, w, c) = layout.shape().dims4()?;
        let src = values(storage, layout)?;
        let mut out = vec![0f32; n * h * w * 9 * c];
        each_tap(n, h, w, c, |s, d| {
            out[d..d + c].copy_from_slice(&src[s..s + c]);
        });
        Ok((CpuStorage::F32(out), Shape::from((n * h * w, 9 * c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, h, w, c) = arg.dims4()?;
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; n * h * w * c];
        each_tap(n, h, w, c, |s, d| {
            for (a, b) in out[s..s + c].iter_mut().zip(&g[d..d + c]) {
                *a += b;
            }
        });
        Ok(Some(Tensor::from_vec(out, (n, h, w, c), arg.device())?))
    }
}

struct Pool2;

/// For each pooled value, the index in the input of the largest of its four
/// (the first of equals), calling `f(output index, input index)`.
fn argmax2(src: &[f32], n: usize, h: usize, w: usize, c: usize, mut f: impl FnMut(usize, usize)) {
    let (oh, ow) = (h / 2, w / 2);
    for img in 0..n {
        for y in 0..oh {
            for x in 0..ow {
                let o = ((img * oh + y) * ow + x) * c;
                let i00 = ((img * h + 2 * y) * w + 2 * x) * c;
                let (i01, i10) = (i00 + c, i00 + w * c);
                let i11 = i10 + c;
                for k in 0..c {
                    let mut best = i00 + k;
                    for i in [i01 + k, i10 + k, i11 + k] {
                        if src[i] > src[best] {
                            best = i;
                        }
                    }
                    f(o + k, best);
                }
            }
        }
    }
}

impl CustomOp1 for Pool2 {
    fn name(&self) -> &'static str {
        "glyph-pool2"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, h, w, c) = layout.shape().dims4()?;
        if h % 2 != 0 || w % 2 != 0 {
            candle_core::bail!("pooling needs an even size, not {h}×{w}")
        }
        let src = values(storage, layout)?;
        // The maxima only (the gradient needs to know where they were, the
        // forward pass does not): whole channel runs at a time, which the
        // compiler turns into vector instructions.
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; n * oh * ow * c];
        for (o, dst) in out.chunks_exact_mut(c).enumerate() {
            let (img, y, x) = (o / (oh * ow), (o / ow) % oh, o % ow);
            let i00 = ((img * h + 2 * y) * w + 2 * x) * c;
            let i10 = i00 + w * c;
            let (a, b) = (&src[i00..i00 + 2 * c], &src[i10..i10 + 2 * c]);
            let (a0, a1) = a.split_at(c);
            let (b0, b1) = b.split_at(c);
            for k in 0..c {
                dst[k] = a0[k].max(a1[k]).max(b0[k].max(b1[k]));
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, h, w, c) = arg.dims4()?;
        let src = arg.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; n * h * w * c];
        argmax2(&src, n, h, w, c, |o, i| out[i] += g[o]);
        Ok(Some(Tensor::from_vec(out, (n, h, w, c), arg.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The patches' matrix product is the convolution candle computes, and
    /// their gradient is the one candle's own operations give.
    #[test]
    fn patches_are_a_convolution_and_carry_its_gradient() {
        let dev = Device::Cpu;
        let (n, h, w, c, k) = (2, 5, 4, 3, 2);
        let xs: Vec<f32> = (0..n * h * w * c)
            .map(|i| ((i * 37) % 11) as f32 - 5.0)
            .collect();
        let ws: Vec<f32> = (0..k * 9 * c)
            .map(|i| ((i * 13) % 7) as f32 - 3.0)
            .collect();
        let x = Var::from_vec(xs, (n, h, w, c), &dev).unwrap();
        let wt = Tensor::from_vec(ws, (k, 9 * c), &dev).unwrap();
        let ours = patches(x.as_tensor())
            .unwrap()
            .matmul(&wt.t().unwrap())
            .unwrap();
        // candle's convolution wants (n, c, h, w) and (k, c, 3, 3).
        let kernel = wt
            .reshape((k, 3, 3, c))
            .unwrap()
            .permute((0, 3, 1, 2))
            .unwrap()
            .contiguous()
            .unwrap();
        let theirs = x
            .as_tensor()
            .permute((0, 3, 1, 2))
            .unwrap()
            .conv2d(&kernel, 1, 1, 1, 1)
            .unwrap()
            .permute((0, 2, 3, 1))
            .unwrap()
            .reshape((n * h * w, k))
            .unwrap();
        let a = ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = theirs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b);
        let weights: Vec<f32> = (0..n * h * w * k).map(|i| (i % 5) as f32).collect();
        let weights = Tensor::from_vec(weights, (n * h * w, k), &dev).unwrap();
        let g1 = (&ours * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (&theirs * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let d1 = g1.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let d2 = g2.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        assert_eq!(d1.to_vec1::<f32>().unwrap(), d2.to_vec1::<f32>().unwrap());
    }

    #[test]
    fn pooling_keeps_each_square_s_largest_and_sends_its_gradient_there() {
        let dev = Device::Cpu;
        // One image 2×4, one channel: squares [1 5; 2 0] and [3 3; 9 -1].
        let x = Var::from_vec(vec![1f32, 5., 3., 3., 2., 0., 9., -1.], (1, 2, 4, 1), &dev).unwrap();
        let p = pool2(x.as_tensor()).unwrap();
        assert_eq!(p.dims(), &[1, 1, 2, 1]);
        assert_eq!(p.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [5., 9.]);
        let scale = Tensor::from_vec(vec![10f32, 100.], (1, 1, 2, 1), &dev).unwrap();
        let g = (&p * &scale)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let d = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        assert_eq!(
            d.to_vec1::<f32>().unwrap(),
            [0., 10., 0., 0., 0., 0., 100., 0.]
        );
    }
}
