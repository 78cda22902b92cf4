//! The convolutional network that reads one hand-printed character, and the
//! one way a glyph image becomes its input.
//!
//! This module owns:
//! - [`glyph_input`]: a glyph image (dark ink on light paper, any size) to
//!   the network's 32×32 input: levelled against the image's own paper and
//!   ink, cropped to its ink, scaled (aspect kept) so its longer side is
//!   [`FIT`] pixels and centred. Training and reading both call it, so what
//!   the network learnt is what it is shown;
//! - [`Net`]: three convolution blocks (3×3, ReLU, 2×2 max pooling), a
//!   hidden layer and a linear layer over [`CLASSES`], with the softmax
//!   temperature fitted on writers left out of training. The layers' sizes
//!   come from the weights; [`CHANNELS`] and [`HIDDEN`] are what
//!   `formflow train-glyphs` makes;
//! - the committed weights (`extract/models/glyphs.safetensors`, made by
//!   `formflow train-glyphs`) built into the binary.
//!
//! Inference runs on the CPU through `candle`, a batch of glyphs at a time.
//! Images are kept as (glyphs, rows, columns, channels) and each
//! convolution is one matrix product over every pixel's 3×3 neighbourhood
//! ([`super::ops`]), so training's gradients are matrix products too
//! (candle's own convolution has slow single-threaded gradients on the
//! CPU).

use super::ops::{patches, pool2};
use candle_core::{DType, Device, Tensor};
use image::GrayImage;
use std::collections::HashMap;

/// The characters the network tells apart, in class order.
pub const CLASSES: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The input's side in pixels.
pub const SIDE: usize = 32;

/// The longer side of the glyph's ink in the input, in pixels.
pub const FIT: f32 = 26.0;

/// Channels of the three convolution blocks.
pub const CHANNELS: [usize; 3] = [16, 48, 96];

/// Units of the hidden layer.
pub const HIDDEN: usize = 160;

/// The weights the binary ships with.
pub static WEIGHTS: &[u8] = include_bytes!("../../models/glyphs.safetensors");

/// The smallest ink contrast (paper minus ink, 0-255) a glyph must have.
const MIN_CONTRAST: f32 = 40.0;

/// A glyph image as the network's input: `SIDE * SIDE` ink values in 0..1,
/// row by row (1 = full ink). `None` when the image holds no ink.
pub fn glyph_input(img: &GrayImage) -> Option<Vec<f32>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return None;
    }
    let px = img.as_raw();
    // The paper is the bright end and the ink the dark end of the image's
    // own histogram (2% tails ignored: a noisy pixel is not the paper).
    let [q01, q50, q98] = crate::prepare::grey_quantiles(img, [0.01, 0.5, 0.98]);
    let (dark, paper) = (f32::from(q01.min(q50)), f32::from(q98));
    if paper - dark < MIN_CONTRAST {
        return None;
    }
    let ink: Vec<f32> = px
        .iter()
        .map(|&v| ((paper - v as f32) / (paper - dark)).clamp(0.0, 1.0))
        .collect();
    // The ink's box: where the ink's mass starts and ends along each axis
    // (its outer 1% left out), so that a speck or a sliver of a box line
    // does not shrink the glyph.
    let (mut cols, mut rows) = (vec![0f32; w], vec![0f32; h]);
    for y in 0..h {
        for x in 0..w {
            let v = ink[y * w + x];
            cols[x] += v;
            rows[y] += v;
        }
    }
    let (Some((x0, x1)), Some((y0, y1))) = (extent(&cols), extent(&rows)) else {
        return None;
    };
    let (bw, bh) = ((x1 - x0) as f32, (y1 - y0) as f32);
    let scale = FIT / bw.max(bh);
    let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
    // Each output pixel averages a few samples across its footprint, so a
    // large glyph shrinks without aliasing.
    let step = 1.0 / scale;
    let sub = (step.ceil() as usize).clamp(1, 4);
    Some(resample(&ink, w, h, (cx, cy), step, sub))
}

/// The `SIDE` × `SIDE` input around `centre` of a `w` × `h` ink map, one
/// output pixel every `step` source pixels, each the mean of `sub` × `sub`
/// bilinear samples across its footprint (the paper beyond the map is 0).
///
/// Bilinear sampling is separable, and so is the mean of a square of
/// samples: each output column is a weighted sum of a few source columns,
/// each output row of a few source rows. Resampling across and then down
/// is a fraction of the work of sampling every point (which was 5% of
/// extraction).
fn resample(
    ink: &[f32],
    w: usize,
    h: usize,
    (cx, cy): (f32, f32),
    step: f32,
    sub: usize,
) -> Vec<f32> {
    let half = SIDE as f32 / 2.0;
    let taps = |o: usize, centre: f32, n: usize| -> Vec<(usize, f32)> {
        let mut v: Vec<(usize, f32)> = Vec::with_capacity(2 * sub);
        for i in 0..sub {
            let f = centre + (o as f32 + (i as f32 + 0.5) / sub as f32 - half) * step - 0.5;
            let k = f.floor();
            let a = f - k;
            // Pixels off the image are paper.
            for (k, weight) in [(k, 1.0 - a), (k + 1.0, a)] {
                if k < 0.0 || k >= n as f32 {
                    continue;
                }
                let k = k as usize;
                match v.iter_mut().find(|t| t.0 == k) {
                    Some(t) => t.1 += weight,
                    None => v.push((k, weight)),
                }
            }
        }
        v
    };
    let xs: Vec<Vec<(usize, f32)>> = (0..SIDE).map(|o| taps(o, cx, w)).collect();
    let ys: Vec<Vec<(usize, f32)>> = (0..SIDE).map(|o| taps(o, cy, h)).collect();
    let mut across = vec![0f32; h * SIDE];
    let mut needed = vec![false; h];
    ys.iter().flatten().for_each(|&(y, _)| needed[y] = true);
    for y in (0..h).filter(|&y| needed[y]) {
        let row = &ink[y * w..(y + 1) * w];
        for (ox, taps) in xs.iter().enumerate() {
            across[y * SIDE + ox] = taps.iter().map(|&(x, k)| k * row[x]).sum();
        }
    }
    let norm = 1.0 / (sub * sub) as f32;
    let mut out = vec![0f32; SIDE * SIDE];
    for (oy, taps) in ys.iter().enumerate() {
        for ox in 0..SIDE {
            let v: f32 = taps.iter().map(|&(y, k)| k * across[y * SIDE + ox]).sum();
            out[oy * SIDE + ox] = v * norm;
        }
    }
    out
}

/// Where a profile's mass lies, its outer 1% at each end left out:
/// `(first, one past last)`; `None` when it has none.
fn extent(profile: &[f32]) -> Option<(usize, usize)> {
    let total: f32 = profile.iter().sum();
    if total < 1.0 {
        return None;
    }
    let cut = 0.01 * total;
    let mut acc = 0.0;
    let mut first = 0;
    for (i, &v) in profile.iter().enumerate() {
        acc += v;
        if acc > cut {
            first = i;
            break;
        }
    }
    acc = 0.0;
    let mut last = profile.len();
    for (i, &v) in profile.iter().enumerate().rev() {
        acc += v;
        if acc > cut {
            last = i + 1;
            break;
        }
    }
    (last > first).then_some((first, last))
}

/// The network's layers.
#[derive(Debug)]
pub struct Net {
    /// Each convolution's weights `(out, 9 * in)`, the 3×3 neighbourhood
    /// ordered row, column, channel; and its biases `(out)`.
    convs: Vec<(Tensor, Tensor)>,
    /// The hidden layer `(HIDDEN, features)` and the output layer
    /// `(classes, HIDDEN)`, with their biases.
    hidden: (Tensor, Tensor),
    out: (Tensor, Tensor),
    /// Logits are divided by this before the softmax.
    temperature: f32,
}

/// Why a network could not be built or run.
#[derive(Debug, thiserror::Error)]
#[error("the handwriting network failed: {0}")]
pub struct NetError(#[from] pub candle_core::Error);

impl Net {
    /// The network of the weights the binary ships with.
    pub fn shipped() -> Result<Net, NetError> {
        let t = candle_core::safetensors::load_buffer(WEIGHTS, &Device::Cpu)?;
        Net::from_tensors(&t)
    }

    /// The network of named tensors (`c1.w`, `c1.b`, ... `h.w`, `h.b`,
    /// `fc.w`, `fc.b`, and optionally `temperature`), as
    /// [`Net::tensor_names`] lists them.
    pub fn from_tensors(t: &HashMap<String, Tensor>) -> Result<Net, NetError> {
        let get = |k: &str| {
            t.get(k)
                .map(|x| x.to_dtype(DType::F32))
                .transpose()?
                .ok_or_else(|| candle_core::Error::Msg(format!("the weights lack {k}")))
        };
        let mut convs = Vec::new();
        let mut cin = 1;
        for i in 1..=CHANNELS.len() {
            let w = get(&format!("c{i}.w"))?;
            let (cout, k) = w.dims2()?;
            if k != 9 * cin {
                return Err(candle_core::Error::Msg(format!(
                    "convolution {i} takes {k} inputs, not {}",
                    9 * cin
                ))
                .into());
            }
            convs.push((w, get(&format!("c{i}.b"))?));
            cin = cout;
        }
        let temperature = match t.get("temperature") {
            Some(x) => x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?[0],
            None => 1.0,
        };
        Ok(Net {
            convs,
            hidden: (get("h.w")?, get("h.b")?),
            out: (get("fc.w")?, get("fc.b")?),
            temperature: if temperature.is_finite() && temperature > 0.0 {
                temperature
            } else {
                1.0
            },
        })
    }

    /// The tensors a network of [`CHANNELS`] and [`HIDDEN`] is made of,
    /// with their shapes.
    pub fn tensor_names() -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        let mut cin = 1;
        for (i, &c) in CHANNELS.iter().enumerate() {
            out.push((format!("c{}.w", i + 1), vec![c, 9 * cin]));
            out.push((format!("c{}.b", i + 1), vec![c]));
            cin = c;
        }
        let side = SIDE >> CHANNELS.len();
        out.push(("h.w".into(), vec![HIDDEN, cin * side * side]));
        out.push(("h.b".into(), vec![HIDDEN]));
        let k = CLASSES.chars().count();
        out.push(("fc.w".into(), vec![k, HIDDEN]));
        out.push(("fc.b".into(), vec![k]));
        out
    }

    /// Logits for a batch `(n, SIDE * SIDE)` of [`glyph_input`]s.
    pub fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.logits_with(x, None, &mut |_, z| Ok(z))
    }

    /// [`Net::logits`] for training: `norm(layer, z)` is applied to each
    /// layer's output before its activation (`z` is `(positions,
    /// channels)`; the convolutions are layers 0.., the hidden layer
    /// last), and `keep` `(n, HIDDEN)` (0 or 1/(1-p)) drops hidden units.
    pub fn logits_with(
        &self,
        x: &Tensor,
        keep: Option<&Tensor>,
        norm: &mut dyn FnMut(usize, Tensor) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let mut x = x.reshape((n, SIDE, SIDE, 1))?;
        let mut side = SIDE;
        for (i, (w, b)) in self.convs.iter().enumerate() {
            // Pooling comes before bias, normalisation and activation, in
            // training and reading alike, so they run on a quarter of the
            // values.
            let c = w.dim(0)?;
            side /= 2;
            let z = pool2(
                &patches(&x)?
                    .matmul(&w.t()?)?
                    .reshape((n, 2 * side, 2 * side, c))?,
            )?
            .reshape((n * side * side, c))?
            .broadcast_add(b)?;
            x = norm(i, z)?.relu()?.reshape((n, side, side, c))?;
        }
        let features = x.elem_count() / n;
        let z = x
            .reshape((n, features))?
            .matmul(&self.hidden.0.t()?)?
            .broadcast_add(&self.hidden.1)?;
        let mut h = norm(self.convs.len(), z)?.relu()?;
        if let Some(k) = keep {
            h = (h * k)?;
        }
        h.matmul(&self.out.0.t()?)?.broadcast_add(&self.out.1)
    }

    /// Class probabilities for each input of [`glyph_input`], temperature
    /// applied: one row per input, in [`CLASSES`] order.
    pub fn probabilities(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NetError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (inputs.len(), SIDE * SIDE), &Device::Cpu)?;
        let z = (self.logits(&x)? / f64::from(self.temperature))?;
        let p = candle_nn::ops::softmax_last_dim(&z)?;
        Ok(p.to_vec2::<f32>()?)
    }

    /// The softmax temperature in use.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resampling as first written: every sample point on its own.
    fn by_points(
        ink: &[f32],
        w: usize,
        h: usize,
        c: (f32, f32),
        step: f32,
        sub: usize,
    ) -> Vec<f32> {
        let get = |x: f32, y: f32| -> f32 {
            if x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
                0.0
            } else {
                ink[y as usize * w + x as usize]
            }
        };
        let sample = |sx: f32, sy: f32| -> f32 {
            let (fx, fy) = (sx - 0.5, sy - 0.5);
            let (ix, iy) = (fx.floor(), fy.floor());
            let (ax, ay) = (fx - ix, fy - iy);
            get(ix, iy) * (1.0 - ax) * (1.0 - ay)
                + get(ix + 1.0, iy) * ax * (1.0 - ay)
                + get(ix, iy + 1.0) * (1.0 - ax) * ay
                + get(ix + 1.0, iy + 1.0) * ax * ay
        };
        let half = SIDE as f32 / 2.0;
        let mut out = vec![0f32; SIDE * SIDE];
        for oy in 0..SIDE {
            for ox in 0..SIDE {
                let mut acc = 0.0;
                for j in 0..sub {
                    for i in 0..sub {
                        let dx = (ox as f32 + (i as f32 + 0.5) / sub as f32 - half) * step;
                        let dy = (oy as f32 + (j as f32 + 0.5) / sub as f32 - half) * step;
                        acc += sample(c.0 + dx, c.1 + dy);
                    }
                }
                out[oy * SIDE + ox] = acc / (sub * sub) as f32;
            }
        }
        out
    }

    #[test]
    fn separable_resampling_equals_sampling_every_point() {
        let (w, h) = (57, 83);
        let ink: Vec<f32> = (0..w * h)
            .map(|i| ((i * 7919) % 101) as f32 / 100.0)
            .collect();
        for (centre, step, sub) in [
            ((28.0, 41.0), 2.6, 3),
            ((30.5, 40.0), 3.9, 4),
            ((10.0, 70.0), 1.0, 1),
            ((28.0, 41.0), 0.7, 1),
            ((0.0, 0.0), 5.5, 4),
        ] {
            let a = resample(&ink, w, h, centre, step, sub);
            let b = by_points(&ink, w, h, centre, step, sub);
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-4, "{centre:?} {step} {sub}: off by {worst}");
            assert!(b.iter().any(|&v| v > 0.1), "the test samples ink");
        }
    }
}
