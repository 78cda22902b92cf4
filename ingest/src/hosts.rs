//! Which names a request may address the service by (its `Host`).
//!
//! A page on another site can make a browser resolve that site's name to
//! this service's address (DNS rebinding) and read what it answers as if
//! from that site. The browser then still sends the other site's name in
//! `Host`, so the service answers only to its own names: the host of
//! `FORMFLOW_PUBLIC_URL` when it is set; on loopback, `localhost` and the
//! loopback addresses; otherwise any. Health, readiness and metrics answer
//! to any name, as probes address a service by its IP address.

use crate::error::ApiError;
use crate::App;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use std::sync::Arc;

/// The names the service answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// Any (listening beyond loopback with no public URL set).
    Any,
    /// `localhost` and the loopback addresses.
    Loopback,
    /// One name (the public URL's host), with the URL to point to.
    Only {
        /// The host name, lower case.
        name: String,
        /// The public URL.
        url: String,
    },
}

impl Hosts {
    /// The names for a public URL (if any) and a listening address.
    pub fn new(public_url: Option<&str>, loopback: bool) -> Result<Hosts, String> {
        let Some(url) = public_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(if loopback {
                Hosts::Loopback
            } else {
                Hosts::Any
            });
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| format!("the public URL {url:?} must start with https:// or http://"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let name = name_of(authority);
        if name.is_empty() || authority.contains('@') {
            return Err(format!("the public URL {url:?} names no host"));
        }
        Ok(Hosts::Only {
            name,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// Whether a request whose `Host` is `host` is for this service.
    pub fn allows(&self, host: Option<&str>) -> bool {
        match self {
            Hosts::Any => true,
            Hosts::Loopback => host.is_some_and(|h| {
                matches!(name_of(h).as_str(), "localhost" | "127.0.0.1" | "[::1]")
            }),
            Hosts::Only { name, .. } => host.is_some_and(|h| name_of(h) == *name),
        }
    }
}

/// A `Host` or authority without its port, lower case.
fn name_of(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if a.starts_with('[') {
        return a
            .split_inclusive(']')
            .next()
            .unwrap_or_default()
            .to_string();
    }
    match a.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => a,
    }
}

/// Refuses, with 421, a request addressed to a name that is not the
/// service's.
pub async fn check(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let probe = ["/healthz", "/readyz", "/metrics"].contains(&path);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if probe || app.hosts.allows(host) {
        return next.run(req).await;
    }
    let detail = match &app.hosts {
        Hosts::Only { url, .. } => format!("this service answers at {url} only"),
        _ => "this service answers at its own address only (localhost or 127.0.0.1)".to_string(),
    };
    ApiError::new(StatusCode::MISDIRECTED_REQUEST, detail).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_answers_to_its_own_names_only() {
        let public = Hosts::new(Some("https://Forms.Example.gov.uk/"), false).unwrap();
        assert!(public.allows(Some("forms.example.gov.uk")));
        assert!(public.allows(Some("FORMS.example.gov.uk:443")));
        assert!(!public.allows(Some("evil.example")));
        assert!(!public.allows(Some("forms.example.gov.uk.evil.example")));
        assert!(!public.allows(None));
        let local = Hosts::new(None, true).unwrap();
        for ok in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost",
        ] {
            assert!(local.allows(Some(ok)), "{ok}");
        }
        assert!(!local.allows(Some("rebound.evil.example:8080")));
        assert_eq!(Hosts::new(None, false).unwrap(), Hosts::Any);
        assert!(Hosts::new(Some("forms.example"), false).is_err());
        assert!(Hosts::new(Some("https://user@forms.example"), false).is_err());
    }
}
