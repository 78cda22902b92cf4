//! Measures the hand-printed glyph recogniser honestly.
//!
//! 1. Leave-one-family-out on rendered glyphs: for each handwriting font
//!    family, a model learnt from the other families classifies varied
//!    renders of the left-out one.
//! 2. Real comb cells cut by the engine from scans written in DkgHand
//!    (`/tmp/hw/<document>/<field>-<i>.png` with `truth.json`, or the folder
//!    given as the first argument), with the `dkg*` fonts left out of
//!    training (the number that predicts unseen hands) and with them in.
//! 3. Line segmentation on the real line crops, and on synthetic lines.
//! 4. Calibration (top-1 probability against accuracy) and timing.
//!
//! `cargo run --release --example glyph_eval [DIR]`

use formflow_extract::glyph::{
    known_family, render_glyphs, render_line, segment_line, GlyphModel, CHARSET,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const DIGITS: &str = "0123456789";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Hits at rank 1 and within rank 3, out of a total.
#[derive(Default, Clone, Copy)]
struct Score {
    n: usize,
    top1: usize,
    top3: usize,
}

impl Score {
    fn add(&mut self, truth: char, cands: &[(char, f32)]) {
        self.n += 1;
        if cands.first().map(|c| c.0) == Some(truth) {
            self.top1 += 1;
        }
        if cands.iter().take(3).any(|c| c.0 == truth) {
            self.top3 += 1;
        }
    }
    fn show(&self) -> String {
        if self.n == 0 {
            return "n=0".into();
        }
        format!(
            "top1 {:5.1}%  top3 {:5.1}%  (n={})",
            pct(self.top1, self.n),
            pct(self.top3, self.n),
            self.n
        )
    }
}

fn pct(a: usize, n: usize) -> f64 {
    100.0 * a as f64 / n.max(1) as f64
}

/// Reliability of the top candidate's probability.
#[derive(Default)]
struct Calib {
    bins: [(usize, usize, f64); 10],
    nll: f64,
    n: usize,
}

impl Calib {
    fn add(&mut self, truth: char, cands: &[(char, f32)]) {
        let (top, p) = cands.first().copied().unwrap_or(('\0', 0.0));
        let b = ((p * 10.0) as usize).min(9);
        self.bins[b].0 += 1;
        self.bins[b].1 += usize::from(top == truth);
        self.bins[b].2 += p as f64;
        let pt = cands
            .iter()
            .find(|c| c.0 == truth)
            .map_or(0.002, |c| c.1.max(0.002));
        self.nll -= (pt as f64).ln();
        self.n += 1;
    }
    fn show(&self) -> String {
        let mut s = format!(
            "    NLL/glyph {:.3}; top-1 p bin: mean p -> accuracy (n)\n",
            self.nll / self.n.max(1) as f64
        );
        let mut ece = 0.0;
        for (i, (n, ok, sp)) in self.bins.iter().enumerate() {
            if *n > 0 {
                let acc = *ok as f64 / *n as f64;
                let mp = sp / *n as f64;
                ece += (acc - mp).abs() * *n as f64;
                s += &format!(
                    "      {:.1}-{:.1}: {:.2} -> {:.2} ({})\n",
                    i as f64 / 10.0,
                    (i + 1) as f64 / 10.0,
                    mp,
                    acc,
                    n
                );
            }
        }
        s += &format!(
            "    expected calibration error {:.3}",
            ece / self.n.max(1) as f64
        );
        s
    }
}

/// CPU time of this process so far, in seconds (Linux), else 0.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn family(p: &Path) -> String {
    known_family(p).map(str::to_string).unwrap_or_else(|| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/hw"));
    let fonts = GlyphModel::default_fonts();
    if fonts.is_empty() {
        eprintln!("no handwriting fonts found: run scripts/setup.sh or set FORMFLOW_GLYPH_FONTS");
        std::process::exit(1);
    }
    let mut families: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in &fonts {
        families.entry(family(f)).or_default().push(f.clone());
    }
    println!("{} fonts in {} families", fonts.len(), families.len());
    if let Some(img) = std::env::args().skip_while(|a| a != "--read").nth(1) {
        let m = GlyphModel::from_fonts(&fonts).expect("model");
        let img = image::open(&img).expect("image").to_luma8();
        for g in m.read_line(&img, 128, "") {
            println!(
                "{}-{} {} {:?}",
                g.segment.x0,
                g.segment.x1,
                g.segment.space_before,
                &g.candidates[..g.candidates.len().min(3)]
            );
        }
        return;
    }
    if let Some(out) = std::env::args().skip_while(|a| a != "--dump").nth(1) {
        dump(&fonts, Path::new(&out));
        return;
    }
    if std::env::args().any(|a| a == "--build-only") {
        let t0 = Instant::now();
        let m = GlyphModel::from_fonts(&fonts).expect("model");
        println!(
            "build: {} prototypes in {:.0} ms",
            m.prototypes(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        return;
    }

    // Timing of a full build (first build of this font set in the process).
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let full = GlyphModel::from_fonts(&fonts).expect("model");
    println!(
        "build: {} fonts, {} prototypes, {:.0} ms wall, {:.2} s CPU",
        full.fonts(),
        full.prototypes(),
        t0.elapsed().as_secs_f64() * 1e3,
        cpu_seconds() - c0
    );

    leave_one_family_out(&families);
    let without_dkg: Vec<PathBuf> = fonts
        .iter()
        .filter(|f| family(f) != "fonts-dkg-handwriting")
        .cloned()
        .collect();
    let excl = GlyphModel::from_fonts(&without_dkg).expect("model without dkg");
    if dir.is_dir() {
        println!("\n== real DkgHand comb cells ({}) ==", dir.display());
        println!(
            "-- dkg fonts EXCLUDED from training ({} fonts) --",
            excl.fonts()
        );
        real_cells(&dir, &excl);
        println!("-- dkg fonts included ({} fonts) --", full.fonts());
        real_cells(&dir, &full);
        println!("\n== real line crops: segmentation ==");
        println!("-- dkg fonts EXCLUDED --");
        real_lines(&dir, &excl);
        println!("-- dkg fonts included --");
        real_lines(&dir, &full);
    } else {
        println!("\n(no real crops at {}: skipped)", dir.display());
    }
    synthetic_lines(&families, &full);
    timing(&full, &dir);
}

fn leave_one_family_out(families: &BTreeMap<String, Vec<PathBuf>>) {
    println!("\n== leave-one-family-out on rendered glyphs (4 variations per char) ==");
    let (mut all, mut dig, mut let_) = (Score::default(), Score::default(), Score::default());
    let mut calib = Calib::default();
    let mut confusions: BTreeMap<(char, char), usize> = BTreeMap::new();
    let mut dists: Vec<(char, Vec<(char, f32)>)> = Vec::new();
    for (fam, held) in families {
        let train: Vec<PathBuf> = families
            .iter()
            .filter(|(f, _)| *f != fam)
            .flat_map(|(_, v)| v.clone())
            .collect();
        let Ok(model) = GlyphModel::from_fonts(&train) else {
            continue;
        };
        let (mut fa, mut fd, mut fl) = (Score::default(), Score::default(), Score::default());
        for (i, font) in held.iter().enumerate() {
            let Ok(samples) = render_glyphs(font, CHARSET, 4, 1000 + i as u64) else {
                continue;
            };
            for (c, img) in &samples {
                let cands = model.classify(img, "");
                fa.add(*c, &cands);
                dists.push((*c, model.distances(img, "")));
                calib.add(*c, &cands);
                let restricted = if c.is_ascii_digit() {
                    model.classify(img, DIGITS)
                } else if c.is_ascii_uppercase() {
                    model.classify(img, LETTERS)
                } else {
                    continue;
                };
                if c.is_ascii_digit() {
                    fd.add(*c, &restricted);
                } else {
                    fl.add(*c, &restricted);
                }
                if let Some(top) = restricted.first() {
                    if top.0 != *c {
                        *confusions.entry((*c, top.0)).or_default() += 1;
                    }
                }
            }
        }
        println!(
            "  {fam:24} all: {}\n  {:24} digits: {}  letters: {}",
            fa.show(),
            "",
            fd.show(),
            fl.show()
        );
        for (s, f) in [(&mut all, fa), (&mut dig, fd), (&mut let_, fl)] {
            s.n += f.n;
            s.top1 += f.top1;
            s.top3 += f.top3;
        }
    }
    println!("  OVERALL all chars:            {}", all.show());
    println!("  OVERALL digits (allowed 0-9): {}", dig.show());
    println!("  OVERALL letters (allowed A-Z): {}", let_.show());
    let mut conf: Vec<_> = confusions.into_iter().collect();
    conf.sort_by_key(|b| std::cmp::Reverse(b.1));
    let top: Vec<String> = conf
        .iter()
        .take(25)
        .map(|((t, p), n)| format!("{t}->{p} x{n}"))
        .collect();
    println!("  commonest confusions (restricted): {}", top.join(", "));
    println!("  calibration (all chars):\n{}", calib.show());
    fit_calibration(&dists);
    if std::env::args().any(|a| a == "--lofo-only") {
        std::process::exit(0);
    }
}

/// The characters written in a comb field's cells, from its truth value.
fn cell_truth(v: &serde_json::Value, cells: usize) -> Option<Vec<char>> {
    let s = match v {
        serde_json::Value::String(s) => {
            let b = s.as_bytes();
            if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
                format!("{}{}{}", &s[8..10], &s[5..7], &s[0..4])
            } else {
                s.clone()
            }
        }
        serde_json::Value::Number(n) => format!("{:0>width$}", n, width = cells),
        _ => return None,
    };
    let chars: Vec<char> = s.chars().collect();
    (chars.len() == cells).then_some(chars)
}

/// Documents in the real-crop folder with their truth fields.
fn documents(dir: &Path) -> Vec<(PathBuf, serde_json::Map<String, serde_json::Value>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    paths.sort();
    for p in paths {
        let Ok(text) = std::fs::read_to_string(p.join("truth.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if let Some(fields) = v.get("fields").and_then(|f| f.as_object()) {
            out.push((p, fields.clone()));
        }
    }
    out
}

/// How many cell images `<field>-<i>.png` a document has for a field.
fn cell_count(doc: &Path, field: &str) -> usize {
    (0..64)
        .take_while(|i| doc.join(format!("{field}-{i}.png")).exists())
        .count()
}

fn real_cells(dir: &Path, model: &GlyphModel) {
    let (mut dig, mut let_, mut mixed) = (Score::default(), Score::default(), Score::default());
    let (mut calib_d, mut calib_l) = (Calib::default(), Calib::default());
    let mut confusions: BTreeMap<(char, char), usize> = BTreeMap::new();
    for (doc, fields) in documents(dir) {
        for (field, value) in &fields {
            let n = cell_count(&doc, field);
            if n == 0 {
                continue;
            }
            let Some(truth) = cell_truth(value, n) else {
                continue;
            };
            for (i, &c) in truth.iter().enumerate() {
                let Ok(img) = image::open(doc.join(format!("{field}-{i}.png"))) else {
                    continue;
                };
                let img = img.to_luma8();
                let (allowed, score, calib) = if c.is_ascii_digit() {
                    (DIGITS, &mut dig, &mut calib_d)
                } else if c.is_ascii_uppercase() {
                    (LETTERS, &mut let_, &mut calib_l)
                } else {
                    continue;
                };
                let cands = model.classify(&img, allowed);
                score.add(c, &cands);
                calib.add(c, &cands);
                let m = model.classify(&img, ALNUM);
                mixed.add(c, &m);
                if let Some(top) = cands.first() {
                    if top.0 != c {
                        *confusions.entry((c, top.0)).or_default() += 1;
                    }
                }
            }
        }
    }
    println!("  digit cells  (allowed 0-9):   {}", dig.show());
    println!("  letter cells (allowed A-Z):   {}", let_.show());
    println!("  all cells    (allowed A-Z0-9): {}", mixed.show());
    let mut conf: Vec<_> = confusions.into_iter().collect();
    conf.sort_by_key(|b| std::cmp::Reverse(b.1));
    let top: Vec<String> = conf
        .iter()
        .take(12)
        .map(|((t, p), n)| format!("{t}->{p} x{n}"))
        .collect();
    println!("  commonest confusions: {}", top.join(", "));
    println!("  calibration, digit cells:\n{}", calib_d.show());
    println!("  calibration, letter cells:\n{}", calib_l.show());
}

/// The characters a line field may hold, or `None` to skip it.
fn line_allowed(field: &str) -> Option<&'static str> {
    if field.contains("email") {
        None
    } else if field.contains("postcode")
        || field.contains("ni_number")
        || field.contains("provider_account")
    {
        Some(ALNUM)
    } else if field.contains("phone")
        || field.contains("date")
        || field.contains("signed_on")
        || field.contains("dependants")
        || field.contains("children")
    {
        Some("0123456789")
    } else if field.contains("income") || field.contains("costs") || field.contains("capital") {
        Some("0123456789.,")
    } else if field.contains("file_number") {
        Some("0123456789/")
    } else if field.contains("address") {
        Some("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'-,./&")
    } else {
        Some("ABCDEFGHIJKLMNOPQRSTUVWXYZ'-")
    }
}

fn real_lines(dir: &Path, model: &GlyphModel) {
    let (mut n, mut count_ok, mut exact, mut exact_comb, mut n_comb, mut spaces_ok, mut n_spaced) =
        (0, 0, 0, 0, 0, 0, 0);
    let (mut rl_count, mut rl_exact, mut rl_text) = (0, 0, 0);
    let mut errors: Vec<String> = Vec::new();
    for (doc, fields) in documents(dir) {
        for (field, value) in &fields {
            let path = doc.join(format!("{field}.png"));
            if !path.exists() {
                continue;
            }
            let Some(allowed) = line_allowed(field) else {
                continue;
            };
            let cells = cell_count(&doc, field);
            let truth: String = if cells > 0 {
                match cell_truth(value, cells) {
                    Some(c) => c.into_iter().filter(|c| *c != ' ').collect(),
                    None => continue,
                }
            } else {
                match value.as_str() {
                    Some(s) if !s.is_empty() => s.to_string(),
                    _ => continue,
                }
            };
            let Ok(img) = image::open(&path) else {
                continue;
            };
            let segs = segment_line(&img.to_luma8(), 128);
            n += 1;
            let want = truth.chars().filter(|c| *c != ' ').count();
            count_ok += usize::from(segs.len() == want);
            if std::env::var("GLYPH_SEG_DEBUG").is_ok() && segs.len() != want {
                let spans: Vec<String> = segs
                    .iter()
                    .map(|s| {
                        format!(
                            "{}{}-{}x{}",
                            if s.space_before { "_" } else { "" },
                            s.x0,
                            s.x1,
                            s.image.height()
                        )
                    })
                    .collect();
                println!(
                    "    SEG {}/{field} {truth:?} want {want} got {}: {}",
                    doc.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    segs.len(),
                    spans.join(" ")
                );
            }
            let mut read = String::new();
            for s in &segs {
                if s.space_before && cells == 0 {
                    read.push(' ');
                }
                read.push(
                    model
                        .classify(&s.image, allowed)
                        .first()
                        .map_or('?', |c| c.0),
                );
            }
            let rl = model.read_line(&img.to_luma8(), 128, allowed);
            let mut read2 = String::new();
            for g in &rl {
                if g.segment.space_before && cells == 0 {
                    read2.push(' ');
                }
                read2.push(g.candidates.first().map_or('?', |c| c.0));
            }
            rl_count += usize::from(rl.len() == want);
            rl_exact += usize::from(read2 == truth);
            rl_text += usize::from(read2 == truth && cells == 0);
            if cells > 0 {
                n_comb += 1;
                exact_comb += usize::from(read == truth);
            } else {
                n_spaced += 1;
                let got_sp: Vec<bool> = segs.iter().map(|s| s.space_before).collect();
                let mut want_sp = Vec::new();
                let mut sp = false;
                for c in truth.chars() {
                    if c == ' ' {
                        sp = true;
                    } else {
                        want_sp.push(sp);
                        sp = false;
                    }
                }
                spaces_ok += usize::from(got_sp == want_sp);
            }
            exact += usize::from(read == truth);
            if read != truth && errors.len() < 14 {
                errors.push(format!(
                    "{}/{field}: {truth:?} -> {read:?} ({} segs)",
                    doc.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    segs.len()
                ));
            }
        }
    }
    println!("  line crops: {n}; segment count right {:.1}%; word gaps exactly right on {:.1}% of {n_spaced} text lines", pct(count_ok, n), pct(spaces_ok, n_spaced));
    println!(
        "  exact line read {:.1}% (comb composites {:.1}% of {n_comb}, text lines {:.1}%)",
        pct(exact, n),
        pct(exact_comb, n_comb),
        pct(exact - exact_comb, n - n_comb)
    );
    println!(
        "  with GlyphModel::read_line (model-assisted splits): segment count right {:.1}%; exact line read {:.1}% (text lines {:.1}%)",
        pct(rl_count, n),
        pct(rl_exact, n),
        pct(rl_text, n - n_comb)
    );
    if std::env::var("GLYPH_LINE_ERRORS").is_ok() {
        for e in errors {
            println!("    {e}");
        }
    }
}

fn synthetic_lines(families: &BTreeMap<String, Vec<PathBuf>>, model: &GlyphModel) {
    println!("\n== synthetic lines (each font, its own spacing) ==");
    let mut rl_ok = 0;
    let texts = [
        "STUDIO 57B WHITE PARKWAY",
        "HS5 9GJ",
        "505.82",
        "WEST CAROLYNHAVEN",
        "07892 848796",
        "O'NEILL-SMITH",
        "051025/030",
        "LAKE MICHAEL",
    ];
    let (mut n, mut ok, mut sp_ok) = (0, 0, 0);
    for (fam, fonts) in families {
        let (mut fn_, mut fok) = (0, 0);
        for f in fonts {
            for t in texts {
                let Ok(img) = render_line(f, t, 64.0) else {
                    continue;
                };
                let segs = segment_line(&img, 128);
                let want = t.chars().filter(|c| *c != ' ').count();
                rl_ok += usize::from(model.read_line(&img, 128, "").len() == want);
                n += 1;
                fn_ += 1;
                if segs.len() == want {
                    ok += 1;
                    fok += 1;
                    let got: Vec<bool> = segs.iter().map(|s| s.space_before).collect();
                    let mut want_sp = Vec::new();
                    let mut sp = false;
                    for c in t.chars() {
                        if c == ' ' {
                            sp = true;
                        } else {
                            want_sp.push(sp);
                            sp = false;
                        }
                    }
                    sp_ok += usize::from(got == want_sp);
                }
            }
        }
        println!(
            "  {fam:24} segment count right {:.0}% of {fn_}",
            pct(fok, fn_)
        );
    }
    println!(
        "  OVERALL segment count right {:.1}% of {n}; word gaps right {:.1}% of those",
        pct(ok, n),
        pct(sp_ok, ok)
    );
    println!(
        "  with GlyphModel::read_line: segment count right {:.1}%",
        pct(rl_ok, n)
    );
}

fn timing(model: &GlyphModel, dir: &Path) {
    let mut imgs: Vec<image::GrayImage> = Vec::new();
    for (doc, _) in documents(dir) {
        for f in ["ni_number", "date_of_birth", "signed_on"] {
            for i in 0..9 {
                if let Ok(img) = image::open(doc.join(format!("{f}-{i}.png"))) {
                    imgs.push(img.to_luma8());
                }
            }
        }
    }
    if imgs.is_empty() {
        if let Some(font) = GlyphModel::default_fonts().first() {
            imgs = render_glyphs(font, CHARSET, 2, 5)
                .map(|v| v.into_iter().map(|x| x.1).collect())
                .unwrap_or_default();
        }
    }
    let t = Instant::now();
    let mut k = 0usize;
    for _ in 0..3 {
        for img in &imgs {
            k += model.classify(img, "").len();
        }
    }
    let per = t.elapsed().as_secs_f64() * 1e3 / (3 * imgs.len()).max(1) as f64;
    println!(
        "\nclassify: {per:.3} ms per glyph over {} glyphs ({k} candidates)",
        3 * imgs.len()
    );
}

/// Writes a montage of varied renders of "A-Z0-9" from every font (one row per font) to `out`.
fn dump(fonts: &[PathBuf], out: &Path) {
    let cell = 64u32;
    let text = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut img = image::GrayImage::from_pixel(
        cell * text.len() as u32,
        cell * fonts.len() as u32,
        image::Luma([128]),
    );
    for (row, f) in fonts.iter().enumerate() {
        let Ok(samples) = render_glyphs(f, text, 2, 77) else {
            continue;
        };
        for (i, (_, g)) in samples.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
            let col = (i / 2) as u32;
            let g = image::imageops::resize(
                g,
                (g.width().min(cell - 2)).max(1),
                (g.height().min(cell - 2)).max(1),
                image::imageops::FilterType::Triangle,
            );
            image::imageops::replace(
                &mut img,
                &g,
                (col * cell) as i64,
                (row as u32 * cell) as i64,
            );
        }
    }
    if let Err(e) = img.save(out) {
        eprintln!("cannot write {}: {e}", out.display());
    }
}

/// Probabilities from class distances as the model computes them.
fn probs(d: &[(char, f32)], t: f32, r: f32) -> Vec<(char, f32)> {
    let dmin = d.iter().map(|x| x.1).fold(r, f32::min);
    let mut z = ((dmin - r) / t).exp();
    let e: Vec<(char, f32)> = d
        .iter()
        .map(|&(c, x)| (c, ((dmin - x) / t).exp()))
        .collect();
    z += e.iter().map(|x| x.1).sum::<f32>();
    e.into_iter().map(|(c, x)| (c, x / z)).collect()
}

/// Grid search of the temperature and reject distance minimising the
/// negative log-likelihood on held-out fonts (all chars, and restricted to
/// digits or letters).
fn fit_calibration(dists: &[(char, Vec<(char, f32)>)]) {
    let restrict = |d: &[(char, f32)], set: &str| -> Vec<(char, f32)> {
        d.iter().copied().filter(|x| set.contains(x.0)).collect()
    };
    let mut sets: Vec<(char, Vec<(char, f32)>)> = Vec::new();
    for (c, d) in dists {
        sets.push((*c, d.clone()));
        if c.is_ascii_digit() {
            sets.push((*c, restrict(d, DIGITS)));
        } else if c.is_ascii_uppercase() {
            sets.push((*c, restrict(d, LETTERS)));
        }
    }
    let mut best = (f64::MAX, 0.0, 0.0);
    let med: f32 = {
        let mut m: Vec<f32> = dists
            .iter()
            .filter_map(|(_, d)| d.first().map(|x| x.1))
            .collect();
        m.sort_by(f32::total_cmp);
        m.get(m.len() / 2).copied().unwrap_or(1.0)
    };
    for ti in 0..40 {
        let t = med * 0.02 * 1.15f32.powi(ti);
        for ri in 0..25 {
            let r = med * 1.2f32.powi(ri);
            let mut nll = 0.0;
            for (c, d) in &sets {
                let p = probs(d, t, r)
                    .iter()
                    .find(|x| x.0 == *c)
                    .map_or(1e-4, |x| x.1.max(1e-4));
                nll -= (p as f64).ln();
            }
            if nll < best.0 {
                best = (nll, t, r);
            }
        }
    }
    println!("  calibration fit: median nearest d2 {med:.3}; best temperature {:.4}, reject d2 {:.3}, NLL/glyph {:.3}", best.1, best.2, best.0 / sets.len().max(1) as f64);
}
