//! A person signed in to the pages, driven over plain HTTP: the sign-in
//! form (with its cookie token), the session cookie, the CSRF token of the
//! session's forms. Redirects are not followed, so that tests see them.

use crate::pipeline::stack::Stack;
use std::process::Stdio;

/// The password every test person has.
pub const PASSWORD: &str = "correct horse battery staple";

impl Stack {
    /// `formflow user add NAME --role ROLE`, the password on stdin.
    pub fn add_person(&self, name: &str, role: &str) {
        use std::io::Write as _;
        let mut child = self
            .command(&["user", "add", name, "--role", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("formflow runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("the password is written");
        let out = child.wait_with_output().expect("formflow ends");
        assert!(
            out.status.success(),
            "user add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A person signed in through the sign-in page.
    pub async fn sign_in(&self, name: &str) -> Person {
        Person::sign_in(&self.base(), name, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{name} cannot sign in: {e}"))
    }
}

/// The value of `name="KEY" value="..."` in a page.
pub fn hidden(html: &str, key: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{key}\" value=\""))?;
    let rest = &html[at + key.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The value of cookie `name` in an answer's Set-Cookie headers.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

/// A signed-in person.
pub struct Person {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
    pub client: reqwest::Client,
}

impl Person {
    /// Signs in as `name`; an error says what the sign-in page answered.
    pub async fn sign_in(base: &str, name: &str, password: &str) -> Result<Person, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let page = client
            .get(format!("{base}/sign-in"))
            .send()
            .await
            .expect("sign-in page");
        let form_cookie =
            set_cookie(&page, "formflow-sign-in").expect("the sign-in form sets its cookie");
        let html = page.text().await.expect("a page");
        let token = hidden(&html, "csrf").expect("the sign-in form carries its token");
        let res = client
            .post(format!("{base}/sign-in"))
            .header("Cookie", format!("formflow-sign-in={form_cookie}"))
            .form(&[
                ("username", name),
                ("password", password),
                ("csrf", &token),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("sign-in sent");
        if res.status() != 303 {
            return Err(format!(
                "{}: {}",
                res.status(),
                res.text().await.unwrap_or_default()
            ));
        }
        let cookie = set_cookie(&res, "formflow-session").ok_or("no session cookie")?;
        let mut p = Person {
            base: base.to_string(),
            cookie,
            csrf: String::new(),
            client,
        };
        let (_, home) = p.get("/").await;
        p.csrf = hidden(&home, "csrf").ok_or("the start page has no CSRF token")?;
        Ok(p)
    }

    /// GET with the session; the status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", format!("formflow-session={}", self.cookie))
            .header("Accept", "text/html")
            .send()
            .await
            .expect("GET sent");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// POSTs a form (the CSRF token added); the answer.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        fields.extend_from_slice(form);
        self.client
            .post(format!("{}{path}", self.base))
            .header("Cookie", format!("formflow-session={}", self.cookie))
            .header("Accept", "text/html")
            .form(&fields)
            .send()
            .await
            .expect("POST sent")
    }

    /// A request with the session, and the CSRF header for changes.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("Cookie", format!("formflow-session={}", self.cookie))
            .header("X-CSRF-Token", &self.csrf)
    }
}
