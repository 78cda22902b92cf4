//! Forms are data: the engine knows what its template folder holds, and
//! nothing else.

use crate::util::{repo, today};
use formflow_extract::pipeline::Config;
use formflow_extract::Engine;
use formflow_schemas::{Status, TemplateSet};
use std::sync::Arc;

#[test]
fn a_form_without_a_template_is_unclassified_and_one_with_is_read() {
    let dir = std::env::temp_dir().join(format!("formflow-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::copy(
        repo("schemas/forms/voter-registration.json"),
        dir.join("voter-registration.json"),
    )
    .expect("copy");
    let set = TemplateSet::load_dir(&dir).expect("loads");
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Arc::new(Engine::new(
        set,
        Config {
            today: Some(today()),
            ..Config::default()
        },
    ));
    let mut w = engine.worker().expect("OCR");
    let voter = w.extract(
        "v.png",
        std::fs::read(repo("samples/documents/voter-registration-035.png")).expect("sample"),
    );
    assert_eq!(voter[0].form.as_deref(), Some("voter-registration"));
    let legal = w.extract(
        "l.tif",
        std::fs::read(repo("samples/documents/legal-aid-cw1-018.tif")).expect("sample"),
    );
    assert_eq!(legal.len(), 2, "each page on its own");
    assert!(legal
        .iter()
        .all(|r| r.status == Status::Unclassified && r.form.is_none()));
}
