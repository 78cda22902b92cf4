//! The OpenAPI document served at `/api/v1/openapi.json`, generated from
//! the code so that it cannot drift from it: each path, method, parameter
//! and answer comes from the `#[utoipa::path]` on its handler, registered
//! with the router by `utoipa_axum::routes!` (a handler the router serves
//! is in the document, and the other way round); each schema is derived
//! from the type the handler sends (doc comments become descriptions); each
//! operation's security, roles and 401/403 answers come from the role table
//! ([`crate::auth::RULES`]), which is also what the service enforces.

use crate::auth::{Access, RULES};
use crate::error::Problem;
use crate::routes::records::{NotChanged, Problems};
use serde_json::{json, Value};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

/// What every operation has in common: the description of the API, its
/// tags, the error answers operations refer to, and how callers prove who
/// they are.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "formflow",
        version = "1",
        description = include_str!("openapi.md"),
    ),
    tags(
        (name = "batches", description = "Uploading files and following a batch."),
        (name = "documents", description = "One uploaded file: its state, original and pages."),
        (name = "records", description = "The forms found, in the record format of CONTRACT.md."),
        (
            name = "review",
            description = "Correcting, approving and rejecting records: the same code path as \
                           the review pages."
        ),
        (name = "operations", description = "Health, readiness, metrics and this description."),
    ),
    components(
        schemas(Problem, Problems),
        responses(
            NotFound,
            Gone,
            Invalid,
            Unavailable,
            Unauthorized,
            Forbidden,
            Conflict,
            NotChanged
        ),
    ),
    modifiers(&Credentials),
)]
struct Base;

/// The two ways to prove who is calling.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `formflow token create NAME --role \
                         consumer|uploader|caseworker`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-formflow-session",
                "The cookie set by `POST /sign-in` (named `formflow-session` when the service \
                 listens on loopback only). Changes must carry the session CSRF token in the \
                 `X-CSRF-Token` header.",
            ))),
        );
    }
}

/// There is nothing with that id (or the id is not one this service
/// gives).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(#[allow(dead_code)] Problem);

/// The document is known but its original is missing from storage.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Gone(#[allow(dead_code)] Problem);

/// The request is understood but not valid: an unknown parameter, a
/// value out of range; `detail` says which and what to send.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Invalid(#[allow(dead_code)] Problem);

/// The service cannot answer just now (its database, broker or storage):
/// try again after `Retry-After` seconds. The answer's `request_id`
/// finds the cause in the service's log.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unavailable(#[allow(dead_code)] Problem);

/// No credentials, or ones this service does not know (a revoked token,
/// an expired session).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(#[allow(dead_code)] Problem);

/// The caller's role may not do this; `detail` names the roles that may.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(#[allow(dead_code)] Problem);

/// Somebody else got there first: the version given is not the record's
/// current one (`current_version` says which is), another caseworker holds
/// the document, or the record is already approved or rejected.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(#[allow(dead_code)] Problem);

/// A file's bytes, as an answer's body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Bytes(#[allow(dead_code)] Vec<u8>);

/// The generated document, before access is filled in.
pub fn generated() -> utoipa::openapi::OpenApi {
    let (_, doc) = utoipa_axum::router::OpenApiRouter::<std::sync::Arc<crate::App>>::with_openapi(
        Base::openapi(),
    )
    .merge(crate::routes::router())
    .split_for_parts();
    doc
}

/// The document, with each operation's security, roles and 401/403
/// answers from the role table.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(generated()).unwrap_or_else(|_| json!({}));
        doc["info"]["summary"] = json!("Turns scanned paper forms into structured records.");
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
                fill_access(op, rule.access);
            }
        }
        doc
    })
}

/// Who may call an operation, as the document says it.
fn fill_access(op: &mut Value, access: Access) {
    let (security, roles) = match access {
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
    if access != Access::Public {
        op["responses"]["401"] = json!({ "$ref": "#/components/responses/Unauthorized" });
        if matches!(access, Access::Roles(_)) {
            op["responses"]["403"] = json!({ "$ref": "#/components/responses/Forbidden" });
        }
    }
}
