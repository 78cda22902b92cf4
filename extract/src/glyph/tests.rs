//! Tests of the handwriting recogniser: it loads the committed weights and
//! reads characters these tests draw themselves (`strokes.rs`), and its
//! line cutter finds glyphs and word gaps.

use super::strokes::draw_line;
use super::*;
use image::{GrayImage, Luma};

const DIGITS: &str = "0123456789";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn model() -> GlyphModel {
    GlyphModel::shipped().expect("the committed weights load")
}

fn top(model: &GlyphModel, img: &GrayImage, allowed: &str) -> char {
    model.classify(img, allowed).first().map_or('?', |c| c.0)
}

#[test]
fn model_is_shareable_between_threads() {
    fn check<T: Send + Sync>() {}
    check::<GlyphModel>();
}

#[test]
fn reads_drawn_digits_and_capitals_exactly() {
    let model = model();
    for (set, allowed) in [("0123456789", DIGITS), ("AEFHKLMNPRTUVWXYCO", LETTERS)] {
        for (height, pen, slant) in [(60.0, 5.0, 0.0), (34.0, 3.0, 0.15), (80.0, 9.0, -0.1)] {
            let mut read = String::new();
            for c in set.chars() {
                let img = draw_line(&c.to_string(), height, pen, slant);
                read.push(top(&model, &img, allowed));
            }
            assert_eq!(read, set, "height {height}, pen {pen}, slant {slant}");
        }
    }
}

#[test]
fn probabilities_are_ordered_and_sum_to_at_most_one() {
    let model = model();
    let img = draw_line("7", 50.0, 4.0, 0.0);
    let c = model.classify(&img, "");
    assert!(!c.is_empty());
    assert!(c.windows(2).all(|w| w[0].1 >= w[1].1));
    let sum: f32 = c.iter().map(|x| x.1).sum();
    assert!(sum <= 1.0 + 1e-4 && sum > 0.9, "sum {sum}");
    assert!(c.iter().all(|x| x.1 > 0.0 && x.1 <= 1.0));
}

#[test]
fn allowed_restricts_the_candidates() {
    let model = model();
    // An O among digits is a zero; a 0 among letters an O.
    let o = draw_line("O", 50.0, 4.0, 0.0);
    let c = model.classify(&o, DIGITS);
    assert!(c.iter().all(|x| DIGITS.contains(x.0)));
    assert_eq!(c[0].0, '0');
    let z = draw_line("0", 50.0, 4.0, 0.0);
    assert_eq!(top(&model, &z, LETTERS), 'O');
    // Characters the model does not know give nothing.
    assert!(model.classify(&o, "/-.").is_empty());
    assert_eq!(model.charset(), CLASSES);
}

#[test]
fn many_at_once_match_one_at_a_time() {
    let model = model();
    let imgs: Vec<GrayImage> = "4H7"
        .chars()
        .map(|c| draw_line(&c.to_string(), 40.0, 4.0, 0.0))
        .collect();
    let refs: Vec<&GrayImage> = imgs.iter().collect();
    let many = model.classify_many(&refs, "");
    for (img, m) in imgs.iter().zip(&many) {
        let one = model.classify(img, "");
        assert_eq!(one[0].0, m[0].0);
        assert!((one[0].1 - m[0].1).abs() < 1e-4);
    }
    let blank = GrayImage::from_pixel(20, 20, Luma([255]));
    let with_blank = model.classify_many(&[&blank, &imgs[0]], "");
    assert!(with_blank[0].is_empty());
    assert_eq!(with_blank[1][0].0, '4');
}

#[test]
fn blank_and_odd_images_give_no_candidates_and_no_panic() {
    let model = model();
    assert!(model.classify(&GrayImage::new(0, 0), "").is_empty());
    for v in [255u8, 0, 200] {
        assert!(model
            .classify(&GrayImage::from_pixel(30, 40, Luma([v])), "")
            .is_empty());
    }
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

/// The word gaps `text` has before each of its characters.
fn gaps(text: &str) -> Vec<bool> {
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
    want
}

#[test]
fn segments_a_drawn_line_with_its_word_gap() {
    for text in ["AE5 K2L", "HX5 9T", "WENT 27"] {
        let line = draw_line(text, 50.0, 4.0, 0.1);
        let segs = segment_line(&line, 128);
        let got: Vec<bool> = segs.iter().map(|s| s.space_before).collect();
        assert_eq!(
            got,
            gaps(text),
            "{text:?}: segments {:?}",
            segs.iter().map(|s| (s.x0, s.x1)).collect::<Vec<_>>()
        );
        assert!(segs
            .windows(2)
            .all(|w| w[0].x1 <= w[1].x0 + 4 && w[0].x0 < w[1].x0));
    }
}

/// The line as [`GlyphModel::read_line`] reads it, best candidates, `?`
/// where there are none.
fn read_as(model: &GlyphModel, line: &GrayImage, allowed: &str) -> String {
    model
        .read_line(line, 128, allowed)
        .iter()
        .map(|g| {
            format!(
                "{}{}",
                if g.segment.space_before { " " } else { "" },
                g.candidates.first().map_or('?', |c| c.0)
            )
        })
        .collect()
}

#[test]
fn marks_among_digits_are_read_by_their_place_and_shape() {
    let model = model();
    for (text, allowed) in [
        ("1274.50", "0123456789.,"),
        ("5,340.25", "0123456789.,"),
        ("010725/534", "0123456789/"),
        ("0701-2345", "0123456789-"),
    ] {
        let line = draw_line(text, 48.0, 4.0, 0.05);
        assert_eq!(read_as(&model, &line, allowed), text);
    }
    // Where letters may stand, a small mark is left to Tesseract (no
    // candidates), and a slash is only offered where one is allowed.
    let line = draw_line("27.5", 48.0, 4.0, 0.05);
    assert_eq!(read_as(&model, &line, "ABC0123456789."), "27?5");
    let line = draw_line("27/5", 48.0, 4.0, 0.05);
    assert!(!read_as(&model, &line, DIGITS).contains('/'));
}

#[test]
fn an_address_keeps_its_points_and_a_filled_ring_may_be_its_at_sign() {
    let model = model();
    let email = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-+";
    let line = draw_line("HE.CO", 48.0, 4.0, 0.05);
    assert_eq!(read_as(&model, &line, email), "HE.CO");
    // A ring, then the same ring with ink in its middle.
    let ring = |filled: bool| {
        GrayImage::from_fn(40, 40, |x, y| {
            let r = ((x as f32 - 19.5).powi(2) + (y as f32 - 19.5).powi(2)).sqrt();
            let ink = (14.0..18.0).contains(&r) || (filled && r < 7.0);
            Luma([if ink { 0 } else { 255 }])
        })
    };
    let mut plain = vec![('O', 0.9), ('0', 0.1)];
    super::line::with_at(&mut plain, &ring(false));
    assert!(plain.iter().all(|c| c.0 != '@'), "{plain:?}");
    let mut at = vec![('O', 0.9), ('0', 0.1)];
    super::line::with_at(&mut at, &ring(true));
    let p = at.iter().find(|c| c.0 == '@').map(|c| c.1);
    assert!(p.is_some_and(|p| p > 0.1 && p < 0.9), "{at:?}");
    assert_eq!(at[0].0, 'O', "offered, never read outright");
    let mut letter = vec![('E', 0.9)];
    super::line::with_at(&mut letter, &ring(true));
    assert_eq!(letter, vec![('E', 0.9)], "only round glyphs");
}

#[test]
fn read_line_reads_a_drawn_line() {
    let model = model();
    for (text, allowed) in [("27 40", DIGITS), ("HAVEN", LETTERS), ("WENT 27", "")] {
        let line = draw_line(text, 48.0, 4.0, 0.05);
        assert_eq!(read_as(&model, &line, allowed), text);
    }
    assert!(model
        .read_line(&GrayImage::from_pixel(100, 30, Luma([255])), 128, "")
        .is_empty());
}

#[test]
fn joined_pieces_keep_their_ink_where_it_lay_on_the_line() {
    // Two blocks on one line, the right one lower: two segments.
    let mut line = GrayImage::from_pixel(60, 40, Luma([255]));
    for (x0, x1, y0, y1) in [(5, 15, 5, 30), (20, 28, 12, 35)] {
        for y in y0..y1 {
            for x in x0..x1 {
                line.put_pixel(x, y, Luma([0]));
            }
        }
    }
    let segs = segment_line(&line, 128);
    assert_eq!(segs.len(), 2);
    let j = super::segment::join(&segs[0], &segs[1]);
    assert_eq!((j.x0, j.x1, j.y0, j.y1), (5, 28, 5, 35));
    // A 3-pixel margin on every side, as the cutter leaves one.
    assert_eq!(j.image.dimensions(), (23 + 6, 30 + 6));
    let ink = |x: u32, y: u32| j.image.get_pixel(x + 3 - 5, y + 3 - 5).0[0] < 128;
    assert!(ink(5, 5) && ink(14, 29), "the left block");
    assert!(ink(20, 12) && ink(27, 34), "the right block");
    assert!(
        !ink(17, 20) && !ink(25, 8) && !ink(8, 33),
        "paper between and around"
    );
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
            let mut s = seed | 1;
            let img = GrayImage::from_fn(w, h, |_, _| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                Luma([if s % 10 < 3 { dark } else { 255 }])
            });
            let c = model().classify(&img, "");
            prop_assert!(c.iter().map(|x| x.1).sum::<f32>() <= 1.0 + 1e-4);
            for seg in segment_line(&img, 128) {
                prop_assert!(seg.x0 < seg.x1 && seg.x1 <= w);
            }
        }
    }
}
