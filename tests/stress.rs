//! Scans from worn scanners, copied from the shared `stress` set into
//! `samples/stress`: pages skewed about 2 degrees with one-pixel box lines
//! (a badly thresholded bilevel TIFF), 200 dpi bilevel PNGs, a two-page
//! TIFF. Each must be identified and its typed fields read exactly.

use crate::util::{assert_no_silent_errors, engine, repo, stress_records, value};
use formflow_schemas::Record;
use serde_json::json;

fn record<'a>(source: &str) -> &'a Record {
    stress_records()
        .iter()
        .find(|r| r.source.ends_with(source))
        .unwrap_or_else(|| panic!("no record for {source}"))
}

#[test]
fn every_worn_scan_is_identified_and_nothing_wrong_goes_out_unflagged() {
    let truth = formflow::eval::load_truth(&repo("samples/stress")).expect("ground truth");
    let r = formflow::eval::score(&truth, stress_records(), engine().templates());
    assert_eq!(r.documents, 4);
    assert_eq!(r.classified, 1.0);
    assert_eq!(r.split_right, 1.0);
    assert_no_silent_errors(&r);
}

#[test]
fn a_page_skewed_two_degrees_with_thin_lines_is_read_exactly() {
    let r = record("voter-registration-010.tif");
    assert_eq!(r.form.as_deref(), Some("voter-registration"));
    for (field, want) in [
        ("first_names", json!("DOROTHY")),
        ("date_of_birth", json!("1947-05-20")),
        ("ni_number", json!("TC915690D")),
        ("address_line_1", json!("STUDIO 09Z LOUISE FIELD")),
        ("postcode", json!("L6 8QE")),
        ("signed_on", json!("2025-06-02")),
        ("postal_vote", json!(true)),
        ("signature", json!(true)),
    ] {
        assert_eq!(value(r, field), want, "{field}");
    }
    // The surname's thin, broken letters are not read right: the engine
    // must say so rather than pass them on.
    let surname = r.field("surname").expect("surname");
    assert!(
        value(r, "surname") == json!("JACKSON") || !surname.flags.is_empty(),
        "surname {:?} unflagged",
        surname.value
    );
}
