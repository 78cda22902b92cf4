//! Admins' pages: people (`/admin/users`: add, disable, enable), API tokens
//! (`/admin/tokens`: create, shown once; revoke) and the audit log
//! (`/admin/audit`). Every change is audited; passwords and tokens are
//! kept only as hashes ([`formflow_service::access`]).

use super::filters;
use super::queue::when;
use super::{render_status, see_other, Layout};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::audit::filter;
use crate::App;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use formflow_schemas::Role;
use formflow_service::access::{
    hash_password, new_token, secret_hash, token_role_allowed, AccessError,
};
use formflow_service::db::{AuditEntry, AuditEvent};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/admin/users", get(users).post(add_user))
        .route("/admin/users/{name}/disable", post(disable))
        .route("/admin/users/{name}/enable", post(enable))
        .route("/admin/tokens", get(tokens).post(create_token))
        .route("/admin/tokens/{name}/revoke", post(revoke))
        .route("/admin/audit", get(audit))
}

/// A form page's status: 422 when it shows errors.
fn form_status(errors: &[(String, String)]) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// A person's or token's name and role as a form sent them: the name
/// trimmed, the role if it is one `allowed`, and what is wrong (by the id
/// of the input to fix) for the error summary.
fn name_and_role(
    name: &str,
    role: &str,
    allowed: fn(Role) -> bool,
    role_input: &str,
    role_error: &str,
) -> (String, Option<Role>, Vec<(String, String)>) {
    let name = name.trim().to_string();
    let mut errors = Vec::new();
    if let Err(e) = check_name(&name) {
        errors.push(("name".to_string(), e));
    }
    let role = Role::parse(role).filter(|r| allowed(*r));
    if role.is_none() {
        errors.push((role_input.to_string(), role_error.to_string()));
    }
    (name, role, errors)
}

/// A name people and tokens may have: letters, digits, `.`, `-`, `_`, `@`,
/// 1 to 64 of them.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err("a name is 1 to 64 letters, digits, dots, dashes, underscores or @".into())
    }
}

struct UserRow {
    name: String,
    role: String,
    disabled: bool,
    since: String,
    me: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    roles: Vec<String>,
    name: String,
    role: String,
    errors: Vec<(String, String)>,
    banner: Option<String>,
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
    name: Option<String>,
}

async fn users_page(
    app: &App,
    caller: &Caller,
    name: &str,
    role: &str,
    errors: Vec<(String, String)>,
    banner: Option<String>,
) -> ApiResult<Response> {
    let list = app.db.users().await.map_err(ApiError::internal)?;
    let status = form_status(&errors);
    let p = UsersPage {
        layout: Layout::new("People", Some(caller), "/admin/users"),
        users: list
            .into_iter()
            .map(|u| UserRow {
                me: u.name == caller.actor.name,
                name: u.name,
                role: u.role.to_string(),
                disabled: u.disabled,
                since: when(u.created_at),
            })
            .collect(),
        roles: Role::ALL.iter().map(|r| r.as_str().to_string()).collect(),
        name: name.to_string(),
        role: role.to_string(),
        errors,
        banner,
    };
    render_status(status, &p)
}

async fn users(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(d): Query<Done>,
) -> ApiResult<Response> {
    let who = d.name.unwrap_or_default();
    let banner = match d.done.as_deref() {
        Some("added") => Some(format!("{who} can now sign in.")),
        Some("disabled") => Some(format!(
            "{who} can no longer sign in, and their sessions have ended."
        )),
        Some("enabled") => Some(format!("{who} can sign in again.")),
        _ => None,
    };
    users_page(&app, &caller, "", "caseworker", Vec::new(), banner).await
}

#[derive(Deserialize)]
struct NewUser {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn add_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Form(f): Form<NewUser>,
) -> ApiResult<Response> {
    let (name, role, mut errors) = name_and_role(
        &f.name,
        &f.role,
        |_| true,
        "role-uploader",
        "choose what they will do",
    );
    let pw = f.password.clone();
    let hashed = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(ApiError::internal)?;
    let hash = match hashed {
        Ok(h) => Some(h),
        Err(AccessError::ShortPassword) => {
            errors.push((
                "password".to_string(),
                AccessError::ShortPassword.to_string(),
            ));
            None
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let (Some(role), Some(hash), true) = (role, hash, errors.is_empty()) else {
        return users_page(&app, &caller, &name, &f.role, errors, None).await;
    };
    match app
        .db
        .add_user(&name, role, &hash)
        .await
        .map_err(ApiError::internal)?
    {
        Ok(u) => {
            let e = AuditEntry::new(&caller.actor, "user.add")
                .on("user", &u.name)
                .detail(json!({ "role": role }));
            app.db.audit(&e).await.map_err(ApiError::internal)?;
            Ok(see_other(&format!(
                "/admin/users?done=added&name={}",
                super::encode(&u.name)
            )))
        }
        Err(taken) => {
            users_page(
                &app,
                &caller,
                &name,
                &f.role,
                vec![("name".into(), taken.to_string())],
                None,
            )
            .await
        }
    }
}

async fn set_disabled(
    app: &App,
    caller: &Caller,
    name: &str,
    disabled: bool,
) -> ApiResult<Response> {
    if disabled && name == caller.actor.name {
        return Err(ApiError::unprocessable(
            "you cannot disable yourself: ask another admin",
        ));
    }
    if !app
        .db
        .set_user_disabled(name, disabled)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::not_found(format!(
            "there is nobody called {name:?}"
        )));
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    app.db
        .audit(&AuditEntry::new(&caller.actor, action).on("user", name))
        .await
        .map_err(ApiError::internal)?;
    let done = if disabled { "disabled" } else { "enabled" };
    Ok(see_other(&format!(
        "/admin/users?done={done}&name={}",
        super::encode(name)
    )))
}

async fn disable(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    set_disabled(&app, &caller, &name, true).await
}

async fn enable(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    set_disabled(&app, &caller, &name, false).await
}

struct TokenRow {
    name: String,
    role: String,
    since: String,
    used: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenRow>,
    roles: Vec<String>,
    name: String,
    role: String,
    errors: Vec<(String, String)>,
    made: Option<(String, String)>,
    banner: Option<String>,
}

async fn tokens_page(
    app: &App,
    caller: &Caller,
    name: &str,
    role: &str,
    errors: Vec<(String, String)>,
    made: Option<(String, String)>,
    banner: Option<String>,
) -> ApiResult<Response> {
    let list = app.db.tokens().await.map_err(ApiError::internal)?;
    let status = form_status(&errors);
    let p = TokensPage {
        layout: Layout::new("API tokens", Some(caller), "/admin/tokens"),
        tokens: list
            .into_iter()
            .map(|t| TokenRow {
                name: t.name,
                role: t.role.to_string(),
                since: when(t.created_at),
                used: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                revoked: t.revoked_at.map(when),
            })
            .collect(),
        roles: Role::ALL
            .iter()
            .filter(|r| token_role_allowed(**r))
            .map(|r| r.as_str().to_string())
            .collect(),
        name: name.to_string(),
        role: role.to_string(),
        errors,
        made,
        banner,
    };
    render_status(status, &p)
}

async fn tokens(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(d): Query<Done>,
) -> ApiResult<Response> {
    let banner = match d.done.as_deref() {
        Some("revoked") => Some(format!(
            "The token {} no longer works.",
            d.name.unwrap_or_default()
        )),
        _ => None,
    };
    tokens_page(&app, &caller, "", "consumer", Vec::new(), None, banner).await
}

#[derive(Deserialize)]
struct NewToken {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

async fn create_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    Form(f): Form<NewToken>,
) -> ApiResult<Response> {
    let (name, role, errors) = name_and_role(
        &f.name,
        &f.role,
        token_role_allowed,
        "role-consumer",
        "choose what the service will do",
    );
    let (Some(role), true) = (role, errors.is_empty()) else {
        return tokens_page(&app, &caller, &name, &f.role, errors, None, None).await;
    };
    let token = new_token().map_err(ApiError::internal)?;
    match app
        .db
        .add_token(&name, role, &secret_hash(&token))
        .await
        .map_err(ApiError::internal)?
    {
        Ok(t) => {
            let e = AuditEntry::new(&caller.actor, "token.create")
                .on("token", &t.name)
                .detail(json!({ "role": role }));
            app.db.audit(&e).await.map_err(ApiError::internal)?;
            tokens_page(
                &app,
                &caller,
                "",
                "consumer",
                Vec::new(),
                Some((t.name, token)),
                None,
            )
            .await
        }
        Err(taken) => {
            tokens_page(
                &app,
                &caller,
                &name,
                &f.role,
                vec![("name".into(), taken.to_string())],
                None,
                None,
            )
            .await
        }
    }
}

async fn revoke(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    if !app
        .db
        .revoke_token(&name)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::not_found(format!(
            "there is no live token called {name:?}"
        )));
    }
    app.db
        .audit(&AuditEntry::new(&caller.actor, "token.revoke").on("token", &name))
        .await
        .map_err(ApiError::internal)?;
    Ok(see_other(&format!(
        "/admin/tokens?done=revoked&name={}",
        super::encode(&name)
    )))
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<(String, AuditEvent, String)>,
    actor: String,
    action: String,
    older: Option<String>,
}

async fn audit(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(mut q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    q.entry("order".into()).or_insert_with(|| "newest".into());
    let f = filter(&q)?;
    let entries = app.db.audit_log(&f).await.map_err(ApiError::internal)?;
    let older = (entries.len() == f.limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            format!(
                "/admin/audit?after={id}&actor={}&action={}",
                super::encode(f.actor.as_deref().unwrap_or("")),
                super::encode(f.action.as_deref().unwrap_or(""))
            )
        });
    let p = AuditPage {
        layout: Layout::new("Audit log", Some(&caller), "/admin/audit"),
        entries: entries
            .into_iter()
            .map(|e| {
                let detail = match &e.detail {
                    serde_json::Value::Object(m) if m.is_empty() => String::new(),
                    d => d.to_string(),
                };
                (when(e.at), e, detail)
            })
            .collect(),
        actor: f.actor.unwrap_or_default(),
        action: f.action.unwrap_or_default(),
        older,
    };
    render_status(StatusCode::OK, &p)
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_are_plain() {
        assert!(check_name("ann.smith@council").is_ok());
        assert!(check_name("scanner-3").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("<script>").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
    }
}
