//! What the engine reads off the scans copied into `samples/`: typed,
//! monospaced ("typewriter"), hand-printed, Group 4 TIFF, greyscale TIFF
//! with its pages reversed, JPEG at 150 dpi, a PDF, and a batch PDF.

use crate::util::{
    assert_no_silent_errors, engine, extract, extract_bytes, repo, sample_records, value,
};
use formflow_schemas::{Flag, Status};
use serde_json::json;

fn score() -> formflow::eval::Report {
    let truth = formflow::eval::load_truth(&repo("samples")).expect("samples hold ground truth");
    formflow::eval::score(&truth, sample_records(), engine().templates())
}

#[test]
fn every_sample_document_is_classified_and_split_right() {
    let r = score();
    assert_eq!(r.documents, 12);
    assert_eq!(r.classified, 1.0);
    assert_eq!(r.split_right, 1.0);
}

#[test]
fn no_wrong_field_goes_out_without_a_flag() {
    assert_no_silent_errors(&score());
}

#[test]
fn accuracy_holds_by_tier() {
    // Regression guards at the levels measured when they were written.
    let r = score();
    assert!(r.by_tier["typed"] >= 0.97, "typed {}", r.by_tier["typed"]);
    assert!(
        r.by_tier["handwriting"] >= 0.55,
        "handwriting {}",
        r.by_tier["handwriting"]
    );
    assert_eq!(
        r.counts.invalid_fields, 2,
        "the samples hold two fields that break a rule"
    );
    assert_eq!(r.invalid_caught, 1.0);
}

#[test]
fn a_typed_png_is_read_exactly() {
    let rs = extract("samples/documents/voter-registration-035.png");
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    assert_eq!(r.form.as_deref(), Some("voter-registration"));
    assert_eq!(r.pages, vec![1]);
    for (field, want) in [
        ("surname", json!("THOMPSON")),
        ("first_names", json!("BETHAN")),
        ("date_of_birth", json!("1974-09-07")),
        ("ni_number", json!("GN433832A")),
        ("postcode", json!("LL34 5ZD")),
        ("nationality", json!("british")),
        ("moved_recently", json!("no")),
        ("no_ni_number", json!(false)),
        ("signature", json!(true)),
        ("address_line_1", json!("45 ROY CROSSING")),
        ("town", json!("WEST JENNAFORT")),
        ("phone", json!("07680 644142")),
        ("signed_on", json!("2025-01-01")),
        ("address_line_2", json!(null)),
    ] {
        assert_eq!(value(r, field), want, "{field}");
    }
    assert_eq!(r.fields.len(), 20, "every field of the form is present");
}

#[test]
fn a_group4_tiff_of_two_pages_gives_one_record_with_both_pages() {
    let rs = extract("samples/documents/legal-aid-cw1-018.tif");
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    assert_eq!(r.form.as_deref(), Some("legal-aid-cw1"));
    assert_eq!(r.pages, vec![1, 2]);
    assert_eq!(r.fields.len(), 26);
    assert_eq!(value(r, "surname"), json!("SMITH"));
    assert_eq!(value(r, "category"), json!("other"));
    assert_eq!(value(r, "gross_monthly_income"), json!("2545.18"));
}

#[test]
fn pages_scanned_in_reverse_come_back_in_form_order() {
    let rs = extract("samples/documents/legal-aid-cw1-028.tif");
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].form.as_deref(), Some("legal-aid-cw1"));
    assert_eq!(
        rs[0].pages,
        vec![2, 1],
        "page 2 of the file is page 1 of the form"
    );
}

#[test]
fn a_batch_pdf_gives_one_record_a_document() {
    let rs = extract("samples/batches/batch-mini.pdf");
    let got: Vec<(Option<&str>, Vec<u32>)> = rs
        .iter()
        .map(|r| (r.form.as_deref(), r.pages.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("legal-aid-cw1"), vec![2, 1]),
            (Some("voter-registration"), vec![3])
        ]
    );
    assert_eq!(value(&rs[1], "surname"), json!("POTTER"));
}

fn rotated(rel: &str, turn: fn(&image::GrayImage) -> image::GrayImage) -> Vec<u8> {
    let img = image::open(repo(rel))
        .expect("the sample decodes")
        .to_luma8();
    let mut out = std::io::Cursor::new(Vec::new());
    turn(&img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG encodes");
    out.into_inner()
}

#[test]
fn an_upside_down_scan_reads_as_the_upright_one() {
    let upright = extract("samples/documents/voter-registration-035.png");
    let flipped = extract_bytes(
        "flipped.png",
        rotated(
            "samples/documents/voter-registration-035.png",
            image::imageops::rotate180,
        ),
    );
    assert_eq!(flipped.len(), 1);
    assert_eq!(flipped[0].form.as_deref(), Some("voter-registration"));
    for (name, f) in &upright[0].fields {
        assert_eq!(&value(&flipped[0], name), &f.value, "{name}");
    }
}

/// The sample as a worn scanner might give it: a dark shadow along the
/// left edge, two punch holes in it, grey paper, pale ink and dust specks.
fn worn(img: &image::GrayImage) -> image::GrayImage {
    let (w, h) = img.dimensions();
    let mut s: u64 = 0x5eed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = image::GrayImage::from_fn(w, h, |x, y| {
        let v = f32::from(img.get_pixel(x, y)[0]);
        // Grey paper (215) and pale ink (90 at its darkest).
        let mut v = 90.0 + (v / 255.0) * 125.0;
        // The shadow: black at the edge, fading over 4% of the width.
        let edge = w as f32 * 0.04;
        if (x as f32) < edge {
            v *= x as f32 / edge;
        }
        image::Luma([v as u8])
    });
    for cy in [h / 4, 3 * h / 4] {
        let (cx, r) = (w as i64 / 25, (w / 60) as i64);
        for y in -r..=r {
            for x in -r..=r {
                if x * x + y * y <= r * r {
                    out.put_pixel((cx + x) as u32, (cy as i64 + y) as u32, image::Luma([10]));
                }
            }
        }
    }
    for _ in 0..4000 {
        let (x, y) = (
            (next() % u64::from(w)) as u32,
            (next() % u64::from(h)) as u32,
        );
        out.put_pixel(x, y, image::Luma([40]));
    }
    out
}

#[test]
fn a_worn_scan_with_a_shadowed_punched_edge_reads_as_the_clean_one() {
    let clean = extract("samples/documents/voter-registration-035.png");
    let worn = extract_bytes(
        "worn.png",
        rotated("samples/documents/voter-registration-035.png", worn),
    );
    assert_eq!(worn.len(), 1);
    assert_eq!(worn[0].form.as_deref(), Some("voter-registration"));
    for (name, f) in &clean[0].fields {
        assert_eq!(&value(&worn[0], name), &f.value, "{name}");
    }
}

#[test]
fn a_scan_turned_a_quarter_reads_as_the_upright_one() {
    let upright = extract("samples/documents/voter-registration-035.png");
    let turned = extract_bytes(
        "turned.png",
        rotated(
            "samples/documents/voter-registration-035.png",
            image::imageops::rotate90,
        ),
    );
    assert_eq!(turned[0].form.as_deref(), Some("voter-registration"));
    for name in [
        "surname",
        "date_of_birth",
        "ni_number",
        "nationality",
        "postcode",
    ] {
        assert_eq!(value(&turned[0], name), value(&upright[0], name), "{name}");
    }
}

#[test]
fn a_broken_rule_is_returned_as_read_and_flagged() {
    // The truth of this sample breaks no rule; make one: a future date of
    // birth, through the engine's date.
    let cfg = formflow_extract::pipeline::Config {
        today: chrono::NaiveDate::from_ymd_opt(1980, 1, 1),
        ..Default::default()
    };
    let e = std::sync::Arc::new(formflow_extract::Engine::new(
        formflow_schemas::TemplateSet::builtin(),
        cfg,
    ));
    let bytes =
        std::fs::read(repo("samples/documents/voter-registration-035.png")).expect("sample");
    let r = e.worker().expect("OCR").extract("x.png", bytes).remove(0);
    let dob = r.field("date_of_birth").expect("field");
    assert_eq!(
        dob.value,
        json!("1974-09-07"),
        "the value is what the paper says"
    );
    assert!(dob.flags.contains(&Flag::Invalid), "{:?}", dob.flags);
    assert_eq!(r.status, Status::NeedsReview);
}
