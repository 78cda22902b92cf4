//! Tests of the glyph recogniser. They need the handwriting fonts that
//! `scripts/setup.sh` installs, and say which package is missing if not.

use super::*;
use image::{GrayImage, Luma};
use std::sync::OnceLock;

const DIGITS: &str = "0123456789";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The installed fonts of one known family, or a panic naming the package.
fn family(package: &str) -> Vec<PathBuf> {
    let all = installed_fonts();
    let fonts: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| known_family(p) == Some(package))
        .collect();
    assert!(!fonts.is_empty(), "no font of the Debian package {package} under /usr/share/fonts: run scripts/setup.sh (apt-get install {package})");
    fonts
}

/// The known handwriting fonts under /usr/share/fonts (ignoring
/// FORMFLOW_GLYPH_FONTS, so tests see the same fonts everywhere).
fn installed_fonts() -> Vec<PathBuf> {
    let mut all = Vec::new();
    font_files(Path::new(SYSTEM_FONTS), &mut all, 0);
    let mut out: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| known_family(p).is_some())
        .collect();
    out.sort();
    for pkg in FONT_PACKAGES {
        assert!(
            out.iter().any(|p| known_family(p) == Some(pkg)),
            "no font of the Debian package {pkg} under /usr/share/fonts: run scripts/setup.sh (apt-get install {})",
            FONT_PACKAGES.join(" ")
        );
    }
    out
}

/// A model that never saw Humor Sans, built once for all tests.
fn model_without_humor() -> &'static GlyphModel {
    static MODEL: OnceLock<GlyphModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let fonts: Vec<PathBuf> = installed_fonts()
            .into_iter()
            .filter(|p| known_family(p) != Some("fonts-humor-sans"))
            .collect();
        GlyphModel::from_fonts(&fonts).expect("model from the installed fonts")
    })
}

fn top1(model: &GlyphModel, samples: &[(char, GrayImage)], allowed: &str) -> f64 {
    let hits = samples
        .iter()
        .filter(|(c, img)| model.classify(img, allowed).first().map(|x| x.0) == Some(*c))
        .count();
    hits as f64 / samples.len().max(1) as f64
}

#[test]
fn model_is_shareable_between_threads() {
    fn check<T: Send + Sync>() {}
    check::<GlyphModel>();
}

#[test]
fn reads_a_font_it_never_saw() {
    // Measured (leave-one-family-out, glyph_eval): Humor Sans digits 100 %,
    // letters 94 %, all characters 87 %. Thresholds leave some margin.
    let model = model_without_humor();
    assert_eq!(
        model.fonts(),
        installed_fonts().len() - family("fonts-humor-sans").len()
    );
    let font = &family("fonts-humor-sans")[0];
    let digits = render_glyphs(font, DIGITS, 3, 11).expect("digits render");
    let letters = render_glyphs(font, LETTERS, 3, 12).expect("letters render");
    let everything = render_glyphs(font, CHARSET, 2, 13).expect("charset renders");
    let (d, l, a) = (
        top1(model, &digits, DIGITS),
        top1(model, &letters, LETTERS),
        top1(model, &everything, ""),
    );
    eprintln!("unseen Humor Sans: digits {d:.3}, letters {l:.3}, all {a:.3}");
    assert!(d >= 0.9, "digits of an unseen font: top-1 {d:.3}");
    assert!(l >= 0.85, "letters of an unseen font: top-1 {l:.3}");
    assert!(a >= 0.75, "all characters of an unseen font: top-1 {a:.3}");
}

#[test]
fn probabilities_are_ordered_and_sum_to_at_most_one() {
    let model = model_without_humor();
    let font = &family("fonts-humor-sans")[0];
    for (_, img) in render_glyphs(font, "AB80/&", 2, 5).expect("renders") {
        let cands = model.classify(&img, "");
        assert!(!cands.is_empty());
        let sum: f32 = cands.iter().map(|c| c.1).sum();
        assert!(sum <= 1.0 + 1e-4, "sum {sum}");
        assert!(cands.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(cands.iter().all(|c| (0.0..=1.0).contains(&c.1)));
    }
}

#[test]
fn allowed_restricts_the_candidates() {
    let model = model_without_humor();
    let font = &family("fonts-humor-sans")[0];
    let samples = render_glyphs(font, "5S", 1, 3).expect("renders");
    for (_, img) in &samples {
        assert!(model
            .classify(img, DIGITS)
            .iter()
            .all(|c| c.0.is_ascii_digit()));
        assert!(model
            .classify(img, LETTERS)
            .iter()
            .all(|c| c.0.is_ascii_uppercase()));
        let only = model.classify(img, "S");
        assert!(only.iter().all(|c| c.0 == 'S'));
        assert!(
            model.classify(img, "#").is_empty(),
            "no known character allowed: no candidates"
        );
    }
    // A large picture of the same glyph reads the same.
    let (w, h) = samples[0].1.dimensions();
    let big = image::imageops::resize(
        &samples[0].1,
        w * 8,
        h * 8,
        image::imageops::FilterType::Triangle,
    );
    assert_eq!(model.classify(&big, DIGITS).first().map(|c| c.0), Some('5'));
    // Restricted to digits, the S-like 5 is read as 5.
    assert_eq!(
        model.classify(&samples[0].1, DIGITS).first().map(|c| c.0),
        Some('5')
    );
}

#[test]
fn blank_and_odd_images_give_no_candidates_and_no_panic() {
    let model = model_without_humor();
    assert!(model.classify(&GrayImage::new(0, 0), "").is_empty());
    assert!(model
        .classify(&GrayImage::from_pixel(30, 40, Luma([255])), "")
        .is_empty());
    assert!(model
        .classify(&GrayImage::from_pixel(30, 40, Luma([0])), "")
        .is_empty());
    assert!(model
        .classify(&GrayImage::from_pixel(30, 40, Luma([200])), "")
        .is_empty());
    assert!(model
        .classify(&GrayImage::from_pixel(1, 1, Luma([0])), "")
        .is_empty());
    // Faint paper texture only.
    let mut paper = GrayImage::from_pixel(40, 40, Luma([220]));
    paper.put_pixel(3, 3, Luma([205]));
    assert!(model.classify(&paper, "").is_empty());
    // A single dark dot or a huge bar: some answer or none, but valid.
    let mut dot = GrayImage::from_pixel(40, 40, Luma([255]));
    dot.put_pixel(20, 20, Luma([0]));
    let bar = GrayImage::from_fn(3000, 4, |x, _| Luma([if x % 7 == 0 { 0 } else { 255 }]));
    for img in [&dot, &bar] {
        let c = model.classify(img, "");
        assert!(c.iter().map(|x| x.1).sum::<f32>() <= 1.0 + 1e-4);
    }
}

#[test]
fn unreadable_fonts_are_skipped_and_none_is_an_error() {
    let missing = PathBuf::from("/nonexistent/font.ttf");
    let err = GlyphModel::from_fonts(std::slice::from_ref(&missing)).expect_err("no font loads");
    assert!(
        err.to_string().contains("fonts-humor-sans"),
        "names the packages: {err}"
    );
    assert!(GlyphModel::from_fonts(&[]).is_err());
    let one = family("fonts-humor-sans");
    let model = GlyphModel::from_fonts(&[missing, one[0].clone()]).expect("one font loads");
    assert_eq!(model.fonts(), 1);
    assert!(render_glyphs(Path::new("/nonexistent/font.ttf"), "A", 1, 1).is_err());
}

#[test]
fn default_fonts_are_the_known_handwriting_fonts() {
    let fonts = installed_fonts();
    assert!(fonts.len() >= FONT_PACKAGES.len());
    assert!(fonts.iter().all(|p| known_family(p).is_some()));
    assert_eq!(known_family(Path::new("/x/DejaVuSans.ttf")), None);
    assert_eq!(
        known_family(Path::new("/x/Humor-Sans.ttf")),
        Some("fonts-humor-sans")
    );
}

#[test]
fn segments_a_rendered_line_with_its_word_gap() {
    for (package, text) in [
        ("fonts-comic-neue", "AB5 K2L"),
        ("fonts-humor-sans", "HS5 9GJ"),
        ("fonts-rufscript", "WEST 27"),
    ] {
        let font = &family(package)[0];
        let line = render_line(font, text, 64.0).expect("line renders");
        let segs = segment_line(&line, 128);
        let mut want = Vec::new();
        let mut gap = false;
        for c in text.chars() {
            if c == ' ' {
                gap = true;
            } else {
                want.push(gap);
                gap = false;
            }
        }
        let got: Vec<bool> = segs.iter().map(|s| s.space_before).collect();
        assert_eq!(
            got,
            want,
            "{package} {text:?}: segments {:?}",
            segs.iter().map(|s| (s.x0, s.x1)).collect::<Vec<_>>()
        );
        assert!(segs
            .windows(2)
            .all(|w| w[0].x1 <= w[1].x0 + 4 && w[0].x0 < w[1].x0));
        assert!(segs
            .iter()
            .all(|s| s.image.width() > 0 && s.image.height() > 0));
    }
}

#[test]
fn segments_are_read_back() {
    let model = model_without_humor();
    let font = &family("fonts-humor-sans")[0];
    let line = render_line(font, "27 40", 64.0).expect("line renders");
    let read: String = segment_line(&line, 128)
        .iter()
        .map(|s| {
            let c = model
                .classify(&s.image, DIGITS)
                .first()
                .map_or('?', |c| c.0);
            if s.space_before {
                format!(" {c}")
            } else {
                c.to_string()
            }
        })
        .collect();
    assert_eq!(read, "27 40");
}

#[test]
fn read_line_reads_a_rendered_line() {
    let model = model_without_humor();
    let font = &family("fonts-humor-sans")[0];
    let line = render_line(font, "27 40", 64.0).expect("line renders");
    let glyphs = model.read_line(&line, 128, DIGITS);
    let read: String = glyphs
        .iter()
        .map(|g| {
            format!(
                "{}{}",
                if g.segment.space_before { " " } else { "" },
                g.candidates.first().map_or('?', |c| c.0)
            )
        })
        .collect();
    assert_eq!(read, "27 40");
    assert!(model
        .read_line(&GrayImage::from_pixel(100, 30, Luma([255])), 128, "")
        .is_empty());
}

#[test]
fn blank_lines_have_no_segments() {
    assert!(segment_line(&GrayImage::new(0, 0), 128).is_empty());
    assert!(segment_line(&GrayImage::from_pixel(200, 40, Luma([255])), 128).is_empty());
    // A solid block is cut like touching letters, within its bounds.
    assert!(
        segment_line(&GrayImage::from_pixel(200, 40, Luma([0])), 128)
            .iter()
            .all(|s| s.x1 <= 200 && s.x0 < s.x1)
    );
    // Absurdly large crops are refused rather than exhausting memory.
    assert!(segment_line(&GrayImage::from_pixel(8000, 2001, Luma([255])), 128).is_empty());
    // Specks alone are dropped.
    let mut specks = GrayImage::from_pixel(200, 40, Luma([255]));
    specks.put_pixel(10, 10, Luma([0]));
    specks.put_pixel(100, 30, Luma([0]));
    assert!(segment_line(&specks, 128).is_empty());
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics(w in 0u32..48, h in 0u32..48, seed in any::<u64>(), dark in 0u8..=255) {
            let mut rng = render::Rng::new(seed);
            let img = GrayImage::from_fn(w, h, |_, _| Luma([if rng.unit() < 0.3 { dark } else { 255 }]));
            let c = model_without_humor().classify(&img, "");
            prop_assert!(c.iter().map(|x| x.1).sum::<f32>() <= 1.0 + 1e-4);
            for s in segment_line(&img, 128) {
                prop_assert!(s.x0 < s.x1 && s.x1 <= w);
            }
        }
    }
}
