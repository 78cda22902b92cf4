//! The OpenAPI document served at `/api/v1/openapi.json`: the hand-written
//! description in `ingest/openapi.json`, with each operation's security and
//! roles filled in from the role table ([`crate::auth::RULES`]), so that
//! what the document says about access cannot drift from what is enforced.

use crate::auth::{Access, RULES};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The description as written.
pub const BASE: &str = include_str!("../openapi.json");

/// The document, with security and roles from the role table.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc: Value = serde_json::from_str(BASE).unwrap_or_else(|_| json!({}));
        let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
            return doc;
        };
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let Some(rule) = RULES
                    .iter()
                    .find(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method))
                else {
                    continue;
                };
                let (security, roles) = match rule.access {
                    Access::Public => (json!([]), json!([])),
                    Access::Signed => (
                        json!([{ "bearer": [] }, { "session": [] }]),
                        json!(["uploader", "caseworker", "consumer", "admin"]),
                    ),
                    Access::Roles(rs) => (
                        json!([{ "bearer": [] }, { "session": [] }]),
                        json!(rs.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
                    ),
                };
                op["security"] = security;
                op["x-formflow-roles"] = roles;
                if rule.access != Access::Public {
                    op["responses"]["401"] =
                        json!({ "$ref": "#/components/responses/Unauthorized" });
                    if matches!(rule.access, Access::Roles(_)) {
                        op["responses"]["403"] =
                            json!({ "$ref": "#/components/responses/Forbidden" });
                    }
                }
            }
        }
        doc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_described_and_every_description_has_a_rule() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        for r in RULES {
            let api = r.path.starts_with("/api/")
                || ["/healthz", "/readyz", "/metrics"].contains(&r.path);
            if api {
                let op = &paths
                    .get(r.path)
                    .unwrap_or_else(|| panic!("{} is not in openapi.json", r.path))
                    [r.method.as_str().to_lowercase()];
                assert!(
                    op.is_object(),
                    "{} {} is not in openapi.json",
                    r.method,
                    r.path
                );
                assert!(op["x-formflow-roles"].is_array(), "{} {}", r.method, r.path);
            }
        }
        for (path, item) in paths {
            for method in item
                .as_object()
                .unwrap()
                .keys()
                .filter(|m| !m.starts_with("x-") && *m != "parameters")
            {
                assert!(
                    RULES
                        .iter()
                        .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                    "{method} {path} is described but has no rule"
                );
            }
        }
        assert_eq!(
            paths["/api/v1/records/{id}"]["patch"]["x-formflow-roles"],
            json!(["caseworker", "admin"])
        );
        assert_eq!(paths["/healthz"]["get"]["security"], json!([]));
    }
}
