//! The convolutional network that reads one hand-printed character, and the
//! one way a glyph image becomes its input.
//!
//! This module owns:
//! - [`glyph_input`]: a glyph image (dark ink on light paper, any size) to
//!   the network's 32×32 input: levelled against the image's own paper and
//!   ink, cropped to its ink, scaled (aspect kept) so its longer side is
//!   [`FIT`] pixels and centred. Training and reading both call it, so what
//!   the network learnt is what it is shown;
//! - [`Net`]: three convolution blocks (3×3, ReLU, 2×2 max pooling; 32, 64
//!   and 128 channels) and one linear layer over [`CLASSES`], with the
//!   softmax temperature fitted on writers left out of training;
//! - the committed weights (`extract/models/glyphs.safetensors`, made by
//!   `formflow train-glyphs`) built into the binary.
//!
//! Inference runs on the CPU through `candle`, a batch of glyphs at a time.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear};
use image::GrayImage;
use std::collections::HashMap;

/// The characters the network tells apart, in class order.
pub const CLASSES: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The input's side in pixels.
pub const SIDE: usize = 32;

/// The longer side of the glyph's ink in the input, in pixels.
pub const FIT: f32 = 26.0;

/// Channels of the three convolution blocks.
pub const CHANNELS: [usize; 3] = [16, 32, 64];

/// Features entering the linear layer (4×4 after three poolings).
pub const FEATURES: usize = CHANNELS[2] * (SIDE / 8) * (SIDE / 8);

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
    let sample = |sx: f32, sy: f32| -> f32 {
        let (fx, fy) = (sx - 0.5, sy - 0.5);
        let (ix, iy) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - ix, fy - iy);
        let get = |x: f32, y: f32| -> f32 {
            if x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
                0.0
            } else {
                ink[y as usize * w + x as usize]
            }
        };
        let (ix, iy) = (ix, iy);
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
                    acc += sample(cx + dx, cy + dy);
                }
            }
            out[oy * SIDE + ox] = acc / (sub * sub) as f32;
        }
    }
    Some(out)
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
    /// The first convolution, one input channel: `(CHANNELS[0], 9)`
    /// weights applied to each pixel's 3×3 neighbourhood by a matrix
    /// product (candle's convolution would, in training, spend most of its
    /// time on a single-threaded gradient for the input, which has none).
    first: (Tensor, Tensor),
    convs: [Conv2d; 2],
    fc: Linear,
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

    /// The network of named tensors (`c1.w`, `c1.b`, ... `fc.w`, `fc.b`,
    /// and optionally `temperature`), as [`Net::tensor_names`] lists them.
    pub fn from_tensors(t: &HashMap<String, Tensor>) -> Result<Net, NetError> {
        let get = |k: &str| {
            t.get(k)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("the weights lack {k}")))
        };
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let conv = |i: usize| -> Result<Conv2d, candle_core::Error> {
            Ok(Conv2d::new(
                get(&format!("c{i}.w"))?,
                Some(get(&format!("c{i}.b"))?),
                cfg,
            ))
        };
        let temperature = match t.get("temperature") {
            Some(x) => x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?[0],
            None => 1.0,
        };
        Ok(Net {
            first: (get("c1.w")?, get("c1.b")?),
            convs: [conv(2)?, conv(3)?],
            fc: Linear::new(get("fc.w")?, Some(get("fc.b")?)),
            temperature: if temperature.is_finite() && temperature > 0.0 {
                temperature
            } else {
                1.0
            },
        })
    }

    /// The tensors a network is made of, with their shapes.
    pub fn tensor_names() -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        let mut cin = 1;
        for (i, &c) in CHANNELS.iter().enumerate() {
            if i == 0 {
                out.push(("c1.w".into(), vec![c, 9]));
            } else {
                out.push((format!("c{}.w", i + 1), vec![c, cin, 3, 3]));
            }
            out.push((format!("c{}.b", i + 1), vec![c]));
            cin = c;
        }
        let k = CLASSES.chars().count();
        out.push(("fc.w".into(), vec![k, FEATURES]));
        out.push(("fc.b".into(), vec![k]));
        out
    }

    /// Logits for a batch `(n, 1, SIDE, SIDE)`; `keep` (shape `(n,
    /// FEATURES)`, 0 or 1/(1-p)) drops features while training.
    pub fn logits(&self, x: &Tensor, keep: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        // Each pixel's 3×3 neighbourhood (zero outside): (n * SIDE², 9).
        let p = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
        let mut shifted = Vec::with_capacity(9);
        for dy in 0..3 {
            for dx in 0..3 {
                shifted.push(p.narrow(2, dy, SIDE)?.narrow(3, dx, SIDE)?);
            }
        }
        let patches = Tensor::cat(&shifted, 1)?
            .permute((0, 2, 3, 1))?
            .reshape((n * SIDE * SIDE, 9))?;
        let (w1, b1) = &self.first;
        let mut x = patches
            .matmul(&w1.t()?)?
            .broadcast_add(b1)?
            .reshape((n, SIDE, SIDE, CHANNELS[0]))?
            .permute((0, 3, 1, 2))?
            .contiguous()?
            .relu()?
            .max_pool2d(2)?;
        for c in &self.convs {
            x = c.forward(&x)?.relu()?.max_pool2d(2)?;
        }
        let mut x = x.flatten_from(1)?;
        if let Some(k) = keep {
            x = (x * k)?;
        }
        self.fc.forward(&x)
    }

    /// Class probabilities for each input of [`glyph_input`], temperature
    /// applied: one row per input, in [`CLASSES`] order.
    pub fn probabilities(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NetError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (inputs.len(), 1, SIDE, SIDE), &Device::Cpu)?;
        let z = (self.logits(&x, None)? / f64::from(self.temperature))?;
        let p = candle_nn::ops::softmax_last_dim(&z)?;
        Ok(p.to_vec2::<f32>()?)
    }

    /// The softmax temperature in use.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }
}
