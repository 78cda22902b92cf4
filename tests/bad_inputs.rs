//! Every file of `samples/bad-inputs` (a copy of the shared set) gets the
//! outcome `expectations.json` names, with a plain sentence, and harms
//! nothing else.

use crate::util::{extract, repo};
use formflow_schemas::Status;

fn expectations() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("samples/bad-inputs/expectations.json"))
        .expect("expectations.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["file"].as_str().expect("file").to_string(),
                c["expect"].as_str().expect("expect").to_string(),
            )
        })
        .collect()
}

/// The sentence each refused file gets.
fn sentence(file: &str) -> &'static str {
    match file {
        "empty.pdf" => "the file is empty",
        "text-named.pdf" => "the file is not a PDF, TIFF, PNG or JPEG (it looks like plain text)",
        "html-named.png" => "the file is not a PDF, TIFF, PNG or JPEG (it looks like an HTML page)",
        "random.bin" => "the file is not a PDF, TIFF, PNG or JPEG",
        "encrypted.pdf" => "the PDF is protected by a password; send it without one",
        "thousand-pages.pdf" => "the PDF has 1000 pages; the limit is 200",
        "giant-page.pdf" => "page 1 is 4939 x 4939 mm; the largest page accepted is 600 mm a side",
        "pixel-bomb.png" => {
            "the image would be 60000 x 60000 pixels (3.6 gigapixels); the limit is 40 \
             megapixels a page"
        }
        "truncated.jpg" => "the JPEG is cut short (truncated): scan it again",
        "truncated-scan.pdf" => "the PDF is cut short (truncated): scan it again",
        _ => "",
    }
}

#[test]
fn every_bad_input_gets_its_expected_outcome() {
    let cases = expectations();
    assert_eq!(cases.len(), 12);
    for (file, expect) in cases {
        let rs = extract(&format!("samples/bad-inputs/{file}"));
        match expect.as_str() {
            "rejected" | "rejected_or_failed" => {
                assert_eq!(rs.len(), 1, "{file}");
                assert_eq!(rs[0].status, Status::Failed, "{file}");
                assert_eq!(rs[0].error.as_deref(), Some(sentence(&file)), "{file}");
                assert!(rs[0].fields.is_empty() && rs[0].form.is_none(), "{file}");
            }
            "unclassified" => {
                assert_eq!(rs.len(), 1, "{file}");
                assert_eq!(rs[0].status, Status::Unclassified, "{file}");
                assert_eq!(rs[0].form, None, "{file}");
                assert_eq!(rs[0].pages, vec![1], "{file}");
            }
            other => panic!("unknown expectation {other} for {file}"),
        }
    }
}

#[test]
fn a_bad_file_in_a_run_leaves_the_others_done() {
    let files = vec![
        repo("samples/bad-inputs/random.bin"),
        repo("samples/documents/voter-registration-035.png"),
        repo("samples/bad-inputs/truncated.jpg"),
    ];
    let out = std::sync::Mutex::new(vec![Vec::new(); 3]);
    formflow::commands::extract_paths(&crate::util::engine(), &files, 2, &|i, rs| {
        out.lock().expect("lock")[i] = rs
    })
    .expect("runs");
    let out = out.into_inner().expect("lock");
    assert_eq!(out[0][0].status, Status::Failed);
    assert_eq!(out[1][0].form.as_deref(), Some("voter-registration"));
    assert_eq!(out[2][0].status, Status::Failed);
}
