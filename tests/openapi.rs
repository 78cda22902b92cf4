//! The OpenAPI document `formflow openapi` prints and the service serves,
//! against the code it is generated from: every API route of the role table
//! is in it with its roles and nothing else is, every reference resolves,
//! and the record's schema is the record's own. (`deploy` runs a validator
//! on it.) Here rather than in `ingest`'s unit tests: building the whole
//! router there would compile every handler a second time.

use formflow_ingest::auth::RULES;
use formflow_ingest::openapi::document;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut BTreeSet<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.insert(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_api_route_is_described_with_its_roles_and_nothing_else_is() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let api = |p: &str| p.starts_with("/api/") || ["/healthz", "/readyz", "/metrics"].contains(&p);
    let mut described = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            described.insert((method.to_uppercase(), path.clone()));
            assert!(
                op["x-formflow-roles"].is_array(),
                "{method} {path} has no roles"
            );
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
    let ruled: BTreeSet<(String, String)> = RULES
        .iter()
        .filter(|r| api(r.path))
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(described, ruled, "the document and the role table differ");
    assert_eq!(
        paths["/api/v1/records/{id}"]["patch"]["x-formflow-roles"],
        json!(["caseworker", "admin"])
    );
    assert_eq!(paths["/healthz"]["get"]["security"], json!([]));
    assert_eq!(
        paths["/api/v1/audit"]["get"]["responses"]["403"]["$ref"],
        "#/components/responses/Forbidden"
    );
}

#[test]
fn every_reference_resolves_and_every_operation_id_is_unique() {
    let doc = document();
    let mut all = BTreeSet::new();
    refs(doc, &mut all);
    assert!(all.len() > 10, "{all:?}");
    for r in all {
        let ptr = r.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(ptr).is_some(), "{r} does not resolve");
    }
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id), "{id} twice");
        }
    }
}

#[test]
fn the_record_schema_is_the_records_own() {
    let doc = document();
    let s = &doc["components"]["schemas"];
    let status = s["RecordStatus"]["enum"].as_array().expect("RecordStatus");
    assert_eq!(
        status,
        &[
            "extracted",
            "needs_review",
            "unclassified",
            "failed",
            "approved",
            "rejected"
        ]
        .map(Value::from)
    );
    assert!(s["Field"]["properties"]["confidence"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
}
