//! `formflow train-glyphs`, the whole of this crate: trains the
//! handwriting network of `formflow_extract::glyph` on real hand-printed
//! characters (`../shared/handwriting/unipen-capitals-digits.npz`) with
//! augmentation that imitates paper and scanners, and writes its weights.
//! Its loops over pixels are why it is a crate of its own: it is built
//! optimised, the binary's own crate is not (the workspace's Cargo.toml).
//!
//! Writers are split, not characters: a tenth of the recordings (chosen by
//! a hash of their name) are never trained on, and the accuracy reported is
//! on them, plain and through the augmentation. The softmax temperature is
//! fitted on them too. Everything random is seeded, so the same command on
//! the same data gives the same weights.

mod augment;
mod data;

use anyhow::Context as _;
use augment::Rng;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use formflow_extract::glyph::net::{glyph_input, Net, CLASSES, HIDDEN, SIDE};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// What `formflow train-glyphs` is asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainOpts {
    /// The handwriting set.
    #[arg(
        long,
        default_value = "../shared/handwriting/unipen-capitals-digits.npz"
    )]
    pub data: std::path::PathBuf,
    /// Where to write the weights (safetensors); a `.json` of the run's
    /// figures is written beside it.
    #[arg(long, default_value = "extract/models/glyphs.safetensors")]
    pub out: std::path::PathBuf,
    /// Passes over the training characters.
    #[arg(long, default_value_t = 18)]
    pub epochs: usize,
    /// Characters a step.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// The seed of every random choice.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Train on at most this many characters (for a quick trial).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Train on the characters as drawn, without imitating paper (for
    /// comparison).
    #[arg(long)]
    pub plain: bool,
    /// Also write 64 augmented characters and the network's view of them
    /// as PNG files into this folder, to look at.
    #[arg(long)]
    pub dump: Option<std::path::PathBuf>,
}

/// Share of hidden units dropped while training.
const DROPOUT: f32 = 0.3;
/// Batch normalisation's variance floor and its running averages' step.
const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;
/// Learning rate at the start and the end (cosine between).
const LR: (f64, f64) = (2e-3, 4e-5);

/// Trains and writes the weights; prints progress and the figures.
pub fn train_glyphs(o: &TrainOpts) -> anyhow::Result<()> {
    let started = Instant::now();
    let all = Arc::new(data::load(&o.data, CLASSES)?);
    let (mut train, mut held): (Vec<usize>, Vec<usize>) =
        (0..all.len()).partition(|&i| writer_bucket(&all[i].writer) != 0);
    if let Some(n) = o.limit {
        train.truncate(n);
        held.truncate(n / 5 + 1);
    }
    eprintln!(
        "{} characters: {} to train on, {} from writers left out",
        all.len(),
        train.len(),
        held.len()
    );
    let mut rng = Rng::new(o.seed);
    if let Some(dir) = &o.dump {
        dump(&all, &train, dir)?;
    }
    let vars = init(&mut rng)?;
    let layers = CHANNELS_AND_HIDDEN.len();
    // Each layer is batch-normalised while training (a scale and shift
    // learnt, the batch's mean and variance, their running averages kept);
    // the normalisation is folded into the weights that are written.
    let norms: Vec<(Var, Var)> = CHANNELS_AND_HIDDEN
        .iter()
        .map(|&c| {
            Ok((
                Var::from_tensor(&Tensor::ones(c, DType::F32, &Device::Cpu)?)?,
                Var::from_tensor(&Tensor::zeros(c, DType::F32, &Device::Cpu)?)?,
            ))
        })
        .collect::<candle_core::Result<_>>()?;
    let mut running: Vec<(Tensor, Tensor)> = CHANNELS_AND_HIDDEN
        .iter()
        .map(|&c| {
            Ok((
                Tensor::zeros((1, c), DType::F32, &Device::Cpu)?,
                Tensor::ones((1, c), DType::F32, &Device::Cpu)?,
            ))
        })
        .collect::<candle_core::Result<_>>()?;
    let tensors: HashMap<String, Tensor> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let net = Net::from_tensors(&tensors)?;
    let mut params: Vec<Var> = vars.values().cloned().collect();
    params.extend(norms.iter().flat_map(|(g, b)| [g.clone(), b.clone()]));
    let mut opt = AdamW::new(
        params,
        ParamsAdamW {
            lr: LR.0,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    // The held-out writers' characters, plain and once through the paper.
    let mut eval_rng = Rng::new(o.seed ^ 0xe7a1);
    let held_plain: Vec<(Vec<f32>, usize)> = held
        .iter()
        .filter_map(|&i| plain_input(&all[i]).map(|x| (x, all[i].class)))
        .collect();
    let held_paper: Vec<(Vec<f32>, usize)> = held
        .iter()
        .filter_map(|&i| {
            let other = &all[held[eval_rng.below(held.len())]];
            glyph_input(&augment::paper(&all[i], other, &mut eval_rng)).map(|x| (x, all[i].class))
        })
        .collect();
    let steps_per_epoch = train.len().div_ceil(o.batch);
    let total = (steps_per_epoch * o.epochs).max(1);
    let mut step = 0usize;
    for epoch in 0..o.epochs {
        shuffle(&mut train, &mut rng);
        let t0 = Instant::now();
        let (mut loss_sum, mut n) = (0f64, 0usize);
        // Batches are made on a second thread while the first trains.
        let mut batches = make_batches(&all, &train, o.batch, rng.next(), o.plain);
        let mut waited = 0f64;
        loop {
            let tw = Instant::now();
            let Some((x, y)) = batches.next() else { break };
            waited += tw.elapsed().as_secs_f64();
            let b = y.len();
            let lr = LR.1
                + 0.5
                    * (LR.0 - LR.1)
                    * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos());
            opt.set_learning_rate(lr);
            let x = Tensor::from_vec(x, (b, SIDE * SIDE), &Device::Cpu)?;
            let y = Tensor::from_vec(y, b, &Device::Cpu)?;
            let keep: Vec<f32> = (0..b * HIDDEN)
                .map(|_| {
                    if rng.chance(DROPOUT) {
                        0.0
                    } else {
                        1.0 / (1.0 - DROPOUT)
                    }
                })
                .collect();
            let keep = Tensor::from_vec(keep, (b, HIDDEN), &Device::Cpu)?;
            let mut batch_stats = Vec::with_capacity(layers);
            let logits = net.logits_with(&x, Some(&keep), &mut |i, z| {
                let mean = z.mean_keepdim(0)?;
                let d = z.broadcast_sub(&mean)?;
                let var = d.sqr()?.mean_keepdim(0)?;
                batch_stats.push((mean.detach(), var.detach()));
                let (g, beta) = &norms[i];
                d.broadcast_div(&(var + BN_EPS)?.sqrt()?)?
                    .broadcast_mul(g.as_tensor())?
                    .broadcast_add(beta.as_tensor())
            })?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            for ((rm, rv), (m, v)) in running.iter_mut().zip(batch_stats) {
                *rm = ((&*rm * (1.0 - BN_MOMENTUM))? + (m * BN_MOMENTUM)?)?;
                *rv = ((&*rv * (1.0 - BN_MOMENTUM))? + (v * BN_MOMENTUM)?)?;
            }
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * b as f64;
            n += b;
            step += 1;
        }
        let folded = Net::from_tensors(&fold(&tensors, &norms, &running)?)?;
        let (acc_plain, _) = accuracy(&folded, &held_plain, 1.0)?;
        let (acc_paper, _) = accuracy(&folded, &held_paper, 1.0)?;
        eprintln!(
            "epoch {:>2}: loss {:.4}, left-out writers {:.2}% plain, {:.2}% through \
             paper ({:.0} s, {:.0} s waiting for batches)",
            epoch + 1,
            loss_sum / n.max(1) as f64,
            100.0 * acc_plain,
            100.0 * acc_paper,
            t0.elapsed().as_secs_f64(),
            waited
        );
    }
    let mut out = fold(&tensors, &norms, &running)?;
    let net = Net::from_tensors(&out)?;
    // The temperature that makes the left-out writers' probabilities honest.
    let paper_logits = all_logits(&net, &held_paper)?;
    let mut best = (f64::MAX, 1.0f32);
    for k in 0..40 {
        let t = 0.5 + 0.075 * k as f32;
        let (_, nll) = scores(&paper_logits, &held_paper, t);
        if nll < best.0 {
            best = (nll, t);
        }
    }
    let temperature = best.1;
    let (acc_plain, _) = accuracy(&net, &held_plain, 1.0)?;
    let (acc_paper, nll) = scores(&paper_logits, &held_paper, temperature);
    let digits = class_accuracy(&paper_logits, &held_paper, |c| c >= 26);
    let letters = class_accuracy(&paper_logits, &held_paper, |c| c < 26);
    out.insert(
        "temperature".into(),
        Tensor::from_vec(vec![temperature], 1, &Device::Cpu)?,
    );
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    candle_core::safetensors::save(&out, &o.out)
        .with_context(|| format!("could not write {}", o.out.display()))?;
    let figures = serde_json::json!({
        "command": format!(
            "formflow train-glyphs --data {} --epochs {} --batch {} --seed {}{}",
            o.data.display(), o.epochs, o.batch, o.seed,
            o.limit.map(|n| format!(" --limit {n}")).unwrap_or_default()
        ),
        "characters": all.len(),
        "trained_on": train.len(),
        "left_out_writers_characters": held.len(),
        "left_out_accuracy_plain": round4(acc_plain),
        "left_out_accuracy_through_paper": round4(acc_paper),
        "left_out_accuracy_digits_among_digits": round4(digits),
        "left_out_accuracy_letters_among_letters": round4(letters),
        "temperature": temperature,
        "left_out_nll": round4(nll),
        "seconds": started.elapsed().as_secs(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    let json_path = o.out.with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&figures)? + "\n")
        .with_context(|| format!("could not write {}", json_path.display()))?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(())
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// 0 for the tenth of writers left out of training.
fn writer_bucket(writer: &str) -> u64 {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in writer.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % 10
}

/// The glyph as drawn, on white, through the same input preparation.
fn plain_input(g: &data::Glyph) -> Option<Vec<f32>> {
    let img = image::GrayImage::from_raw(g.w as u32, g.h as u32, g.px.clone())?;
    glyph_input(&img)
}

/// Output channels of each normalised layer: the convolutions, then the
/// hidden layer.
const CHANNELS_AND_HIDDEN: [usize; 4] = [
    formflow_extract::glyph::net::CHANNELS[0],
    formflow_extract::glyph::net::CHANNELS[1],
    formflow_extract::glyph::net::CHANNELS[2],
    HIDDEN,
];

/// The layers' names, in the order [`Net::logits_with`] numbers them.
const LAYER_NAMES: [&str; 4] = ["c1", "c2", "c3", "h"];

/// The network's weights with each layer's batch normalisation (scale
/// `g`, shift `beta`, running mean and variance) folded in: `w * s`,
/// `(b - mean) * s + beta` with `s = g / sqrt(var + eps)`.
fn fold(
    tensors: &HashMap<String, Tensor>,
    norms: &[(Var, Var)],
    running: &[(Tensor, Tensor)],
) -> candle_core::Result<HashMap<String, Tensor>> {
    let mut out = tensors.clone();
    for (i, name) in LAYER_NAMES.iter().enumerate() {
        let (g, beta) = &norms[i];
        let (mean, var) = &running[i];
        let s = g
            .as_tensor()
            .broadcast_div(&(var.flatten_all()? + BN_EPS)?.sqrt()?)?;
        let w = &tensors[&format!("{name}.w")];
        let b = &tensors[&format!("{name}.b")];
        let w2 = w.broadcast_mul(&s.unsqueeze(1)?)?.detach();
        let b2 = ((b - mean.flatten_all()?)? * &s)?
            .add(beta.as_tensor())?
            .detach();
        out.insert(format!("{name}.w"), w2.copy()?);
        out.insert(format!("{name}.b"), b2.copy()?);
    }
    Ok(out)
}

/// Seeded He-uniform weights and zero biases, as variables.
fn init(rng: &mut Rng) -> anyhow::Result<HashMap<String, Var>> {
    let mut out = HashMap::new();
    for (name, shape) in Net::tensor_names() {
        let n: usize = shape.iter().product();
        // (out, in, ...): everything after the first dimension feeds one output.
        let fan_in = shape.iter().skip(1).product::<usize>().max(1);
        let bound = (6.0 / fan_in as f32).sqrt();
        let v: Vec<f32> = if name.ends_with(".b") {
            vec![0.0; n]
        } else {
            (0..n).map(|_| rng.range(-bound, bound)).collect()
        };
        let t = Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(DType::F32)?;
        out.insert(name, Var::from_tensor(&t)?);
    }
    Ok(out)
}

fn shuffle(v: &mut [usize], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

/// The epoch's batches (inputs, classes), augmented on their own thread
/// while the caller trains on the ones before.
fn make_batches(
    all: &Arc<Vec<data::Glyph>>,
    order: &[usize],
    batch: usize,
    seed: u64,
    plain: bool,
) -> impl Iterator<Item = (Vec<f32>, Vec<u32>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<f32>, Vec<u32>)>(8);
    let order = order.to_vec();
    let all = Arc::clone(all);
    std::thread::spawn(move || {
        let mut rng = Rng::new(seed);
        for chunk in order.chunks(batch) {
            let mut x = Vec::with_capacity(chunk.len() * SIDE * SIDE);
            let mut y = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let other = &all[order[rng.below(order.len())]];
                let inp = if plain {
                    plain_input(&all[i])
                } else {
                    glyph_input(&augment::paper(&all[i], other, &mut rng))
                };
                if let Some(inp) = inp {
                    x.extend(inp);
                    y.push(all[i].class as u32);
                }
            }
            if !y.is_empty() && tx.send((x, y)).is_err() {
                break;
            }
        }
    });
    rx.into_iter()
}

/// Logits of every input, in chunks.
fn all_logits(net: &Net, set: &[(Vec<f32>, usize)]) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(set.len());
    for chunk in set.chunks(512) {
        let flat: Vec<f32> = chunk.iter().flat_map(|(x, _)| x.iter().copied()).collect();
        let x = Tensor::from_vec(flat, (chunk.len(), SIDE * SIDE), &Device::Cpu)?;
        out.extend(net.logits(&x)?.to_vec2::<f32>()?);
    }
    Ok(out)
}

/// Share read right (over all classes) and mean negative log-likelihood at
/// softmax temperature `t`.
fn accuracy(net: &Net, set: &[(Vec<f32>, usize)], t: f32) -> anyhow::Result<(f64, f64)> {
    Ok(scores(&all_logits(net, set)?, set, t))
}

/// [`accuracy`] from logits already computed.
fn scores(logits: &[Vec<f32>], set: &[(Vec<f32>, usize)], t: f32) -> (f64, f64) {
    let (mut right, mut nll) = (0usize, 0f64);
    for (z, (_, y)) in logits.iter().zip(set) {
        let m = z.iter().fold(f32::MIN, |a, &b| a.max(b));
        let sum: f64 = z.iter().map(|&v| f64::from(((v - m) / t).exp())).sum();
        nll += sum.ln() - f64::from((z[*y] - m) / t);
        let best = (0..z.len())
            .max_by(|&a, &b| z[a].total_cmp(&z[b]))
            .unwrap_or(0);
        right += usize::from(best == *y);
    }
    let n = set.len().max(1) as f64;
    (right as f64 / n, nll / n)
}

/// Share read right among the inputs whose class `keep` holds, choosing
/// only among those classes (as a field's type restricts them), from
/// logits already computed.
fn class_accuracy(
    logits: &[Vec<f32>],
    set: &[(Vec<f32>, usize)],
    keep: impl Fn(usize) -> bool,
) -> f64 {
    let (mut right, mut n) = (0usize, 0usize);
    for (z, (_, y)) in logits.iter().zip(set).filter(|(_, (_, y))| keep(*y)) {
        n += 1;
        let best = (0..z.len())
            .filter(|&c| keep(c))
            .max_by(|&a, &b| z[a].total_cmp(&z[b]));
        right += usize::from(best == Some(*y));
    }
    right as f64 / n.max(1) as f64
}

/// Writes augmented characters and their network inputs as PNG files.
fn dump(all: &[data::Glyph], order: &[usize], dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(99);
    for k in 0..64 {
        let g = &all[order[rng.below(order.len())]];
        let other = &all[order[rng.below(order.len())]];
        let img = augment::paper(g, other, &mut rng);
        let c = CLASSES.chars().nth(g.class).unwrap_or('?');
        img.save(dir.join(format!("{k:02}-{c}-paper.png")))?;
        if let Some(x) = glyph_input(&img) {
            let v: Vec<u8> = x.iter().map(|&i| (255.0 * (1.0 - i)) as u8).collect();
            if let Some(i) = image::GrayImage::from_raw(SIDE as u32, SIDE as u32, v) {
                i.save(dir.join(format!("{k:02}-{c}-input.png")))?;
            }
        }
    }
    Ok(())
}
