//! People's sessions: the cookie, its lifetime, signing in and out.
//!
//! The cookie holds 32 random bytes; the database keeps only their SHA-256
//! with the person and a CSRF token for the session's forms. A session ends
//! after [`AuthSettings::idle`] without use, or [`AuthSettings::max`] after
//! sign-in whatever happens, or at sign-out. Signing in always makes a new
//! session (the old cookie's session is ended), so an id planted before
//! sign-in is worth nothing after it. The cookie is `HttpOnly`,
//! `SameSite=Strict`, and `Secure` unless the service listens on loopback
//! only (a browser will not send a `Secure` cookie over plain HTTP).

use super::{Caller, SessionRef};
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::http::{header, HeaderMap, HeaderValue};
use chrono::{DateTime, TimeDelta, Utc};
use cookie::{Cookie, SameSite};
use formflow_service::access::{random_hex, secret_hash, verify_password};
use formflow_service::db::{Actor, AuditEntry, User};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How sessions behave.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Cookies are `Secure` (and the session cookie `__Host-` prefixed).
    /// Off only when listening on loopback, where browsers allow plain HTTP.
    pub secure_cookies: bool,
    /// A session unused this long ends. Shorter is safer on shared desks;
    /// longer interrupts caseworkers less.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub max: Duration,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            secure_cookies: true,
            idle: AuthSettings::DEFAULT_IDLE,
            max: AuthSettings::DEFAULT_MAX,
        }
    }
}

impl AuthSettings {
    /// A session unused this long ends, unless set otherwise.
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 60);
    /// A session ends this long after sign-in, unless set otherwise.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(12 * 3600);

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-formflow-session"
        } else {
            "formflow-session"
        }
    }
}

/// The cookie that carries the sign-in form's CSRF token before anyone is
/// signed in.
pub const SIGN_IN_COOKIE: &str = "formflow-sign-in";

/// Failed sign-ins for one name within [`THROTTLE_WINDOW`] after which more
/// are refused until the window has passed.
const THROTTLE_FAILURES: u32 = 10;
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed sign-ins by name, to slow guessing.
#[derive(Debug, Default)]
pub struct Throttle(Mutex<HashMap<String, (u32, Instant)>>);

impl Throttle {
    fn blocked(&self, name: &str) -> bool {
        let Ok(mut m) = self.0.lock() else {
            return false;
        };
        m.retain(|_, (_, since)| since.elapsed() < THROTTLE_WINDOW);
        m.get(name).is_some_and(|(n, _)| *n >= THROTTLE_FAILURES)
    }

    fn failed(&self, name: &str) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() > 100_000 {
                m.clear();
            }
            let e = m.entry(name.to_string()).or_insert((0, Instant::now()));
            e.0 += 1;
        }
    }

    fn succeeded(&self, name: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(name);
        }
    }
}

/// The value of cookie `name` in a request's headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// A `Set-Cookie` value.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<Duration>,
    secure: bool,
) -> HeaderValue {
    let mut c = Cookie::build((name.to_string(), value.to_string()))
        .path(path.to_string())
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure);
    if let Some(age) = max_age {
        c = c.max_age(cookie::time::Duration::seconds(age.as_secs() as i64));
    }
    HeaderValue::from_str(&c.build().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear_cookie(name: &str, path: &str, secure: bool) -> HeaderValue {
    set_cookie(name, "", path, Some(Duration::ZERO), secure)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::hours(1))
}

/// The person a request's session cookie names, if it is live. Notes the
/// use (at most once a minute) and moves the idle end forward.
pub async fn caller(app: &App, headers: &HeaderMap) -> ApiResult<Option<Caller>> {
    let Some(id) = cookie_value(headers, app.auth.cookie_name()) else {
        return Ok(None);
    };
    let hash = secret_hash(&id);
    let Some(s) = app.db.session(&hash).await.map_err(ApiError::internal)? else {
        return Ok(None);
    };
    let now = formflow_service::now();
    let hard_end = s.created_at + delta(app.auth.max);
    if now >= hard_end {
        app.db
            .end_session(&hash)
            .await
            .map_err(ApiError::internal)?;
        return Ok(None);
    }
    if now - s.last_seen_at > TimeDelta::minutes(1) {
        let expires = (now + delta(app.auth.idle)).min(hard_end);
        app.db
            .touch_session(&hash, expires)
            .await
            .map_err(ApiError::internal)?;
    }
    let actor = Actor::person(s.user.id, &s.user.name, s.user.role);
    Ok(Some(Caller {
        actor,
        session: Some(SessionRef {
            id_hash: hash,
            csrf: s.csrf,
        }),
    }))
}

/// What a sign-in attempt came to.
pub enum SignIn {
    /// A new session: set this cookie.
    Started {
        /// Who.
        user: User,
        /// The `Set-Cookie` value.
        cookie: HeaderValue,
    },
    /// Refused, with why in plain words (the same words whether the name or
    /// the password was wrong).
    Refused(String),
}

/// Checks a name and password and, when they are right, starts a session
/// (ending the one `old_cookie` named, if any). Every attempt is audited.
pub async fn sign_in(
    app: &App,
    name: &str,
    password: &str,
    old_cookie: Option<&str>,
    client: &str,
) -> ApiResult<SignIn> {
    let name = name.trim();
    if app.throttle.blocked(name) {
        audit_failure(app, name, "throttled", client).await?;
        return Ok(SignIn::Refused(
            "there have been too many failed sign-ins for this name: wait 15 minutes, \
             or ask an admin to reset the password"
                .into(),
        ));
    }
    let found = app
        .db
        .user_for_sign_in(name)
        .await
        .map_err(ApiError::internal)?;
    let (user, hash) = match &found {
        Some((u, h)) => (Some(u.clone()), h.clone()),
        None => (None, formflow_service::access::decoy_hash().to_string()),
    };
    let pw = password.to_string();
    // Argon2 is deliberately slow: off the async threads.
    let matches = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        Some(u) if matches && !u.disabled => u,
        other => {
            app.throttle.failed(name);
            let why = match other {
                None => "unknown name",
                Some(u) if u.disabled => "disabled",
                Some(_) => "wrong password",
            };
            audit_failure(
                app,
                if found.is_some() { name } else { "unknown" },
                why,
                client,
            )
            .await?;
            return Ok(SignIn::Refused(
                "the name or password is not right: check them and try again".into(),
            ));
        }
    };
    app.throttle.succeeded(name);
    if let Some(old) = old_cookie {
        app.db
            .end_session(&secret_hash(old))
            .await
            .map_err(ApiError::internal)?;
    }
    let id = random_hex(32).map_err(ApiError::internal)?;
    let csrf = random_hex(32).map_err(ApiError::internal)?;
    let expires: DateTime<Utc> = formflow_service::now() + delta(app.auth.idle.min(app.auth.max));
    app.db
        .start_session(&secret_hash(&id), user.id, &csrf, expires)
        .await
        .map_err(ApiError::internal)?;
    let actor = Actor::person(user.id, &user.name, user.role);
    let entry = AuditEntry::new(&actor, "sign_in")
        .on("user", &user.name)
        .detail(json!({ "client": client }));
    app.db.audit(&entry).await.map_err(ApiError::internal)?;
    let cookie = set_cookie(
        app.auth.cookie_name(),
        &id,
        "/",
        None,
        app.auth.secure_cookies,
    );
    Ok(SignIn::Started { user, cookie })
}

async fn audit_failure(app: &App, name: &str, why: &str, client: &str) -> ApiResult<()> {
    let entry = AuditEntry {
        actor_kind: "person",
        actor: name.to_string(),
        action: "sign_in.failed",
        subject_kind: None,
        subject_id: None,
        detail: json!({ "why": why, "client": client }),
    };
    app.db.audit(&entry).await.map_err(ApiError::internal)
}

/// Ends the caller's session; gives the `Set-Cookie` value that clears it.
pub async fn sign_out(app: &App, caller: &Caller) -> ApiResult<HeaderValue> {
    if let Some(s) = &caller.session {
        app.db
            .end_session(&s.id_hash)
            .await
            .map_err(ApiError::internal)?;
        let entry = AuditEntry::new(&caller.actor, "sign_out").on("user", &caller.actor.name);
        app.db.audit(&entry).await.map_err(ApiError::internal)?;
    }
    Ok(clear_cookie(
        app.auth.cookie_name(),
        "/",
        app.auth.secure_cookies,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_and_written_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; formflow-session=abc; b=2"),
        );
        assert_eq!(cookie_value(&h, "formflow-session").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "missing"), None);
        let c = set_cookie("__Host-formflow-session", "xyz", "/", None, true)
            .to_str()
            .unwrap()
            .to_string();
        for part in [
            "__Host-formflow-session=xyz",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        let c = set_cookie("formflow-session", "xyz", "/", None, false)
            .to_str()
            .unwrap()
            .to_string();
        assert!(!c.contains("Secure"), "{c}");
        let c = clear_cookie("formflow-session", "/", false)
            .to_str()
            .unwrap()
            .to_string();
        assert!(c.contains("Max-Age=0"), "{c}");
    }

    #[test]
    fn the_throttle_blocks_a_name_after_repeated_failures() {
        let t = Throttle::default();
        for _ in 0..THROTTLE_FAILURES {
            assert!(!t.blocked("ann"));
            t.failed("ann");
        }
        assert!(t.blocked("ann"));
        assert!(!t.blocked("bob"));
        t.succeeded("ann");
        assert!(!t.blocked("ann"));
    }
}
