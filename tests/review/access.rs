//! Who may call what: every operation of the OpenAPI document called with
//! no credentials and as each role, against the roles the document gives
//! it; the pages likewise; revoked tokens, disabled people and forged
//! forms refused; an open service refused on a public address.

use super::web::{Person, PASSWORD};
use crate::pipeline::stack::Stack;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a caller calls.
enum Cred<'a> {
    None,
    Token(&'a str),
    Session(&'a Person),
}

async fn call(s: &Stack, cred: &Cred<'_>, method: &Method, path: &str) -> u16 {
    let url = format!("{}{path}", s.base());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = match cred {
        Cred::Session(p) => p.request(method.clone(), path),
        _ => client.request(method.clone(), &url),
    };
    if let Cred::Token(t) = cred {
        req = req.bearer_auth(t);
    }
    req = match (method.as_str(), path) {
        ("POST", "/api/v1/batches") => {
            req.multipart(reqwest::multipart::Form::new().text("note", "no file"))
        }
        ("POST", p) if p.ends_with("/reject") => {
            req.json(&serde_json::json!({"version": 1, "reason": "x"}))
        }
        ("POST" | "PATCH", _) => req.json(&serde_json::json!({"version": 1})),
        _ => req,
    };
    req.send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
        .status()
        .as_u16()
}

/// The path with its parameters filled in: unknown ids, page 1, a CSV.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0193a1b2-0000-7000-8000-000000000000")
        .replace("{n}", "1")
        .replace("{file}", "voter-registration.csv")
        .replace("{record}", "0193a1b2-0000-7000-8000-000000000001")
        .replace("{name}", "nobody")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_the_role_table_says() {
    let mut s = Stack::new("roles", true).await;
    s.add_person("ada", "admin");
    s.start("serve", &["serve"], &[]);
    s.wait_serving().await;
    let admin = s.sign_in("ada").await;

    let (st, doc) = s.get("/api/v1/openapi.json").await;
    assert_eq!(st, 200);
    let mut table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let roles: Vec<&str> = op["x-formflow-roles"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} names no roles"))
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            let m: Method = method.to_uppercase().parse().unwrap();
            let p = concrete(path);
            let public = roles.is_empty();
            let none = call(&s, &Cred::None, &m, &p).await;
            if public {
                assert_ne!(none, 401, "{method} {path} is public");
            } else {
                assert_eq!(none, 401, "{method} {path} without credentials");
            }
            let mut allowed = Vec::new();
            for role in ["uploader", "consumer", "caseworker", "admin"] {
                let status = match role {
                    "admin" => call(&s, &Cred::Session(&admin), &m, &p).await,
                    r => call(&s, &Cred::Token(&s.tokens[r]), &m, &p).await,
                };
                let may = public || roles.contains(&role);
                if may {
                    assert!(
                        status != 401 && status != 403,
                        "{method} {path} as {role}: {status}"
                    );
                    allowed.push(role.to_string());
                } else {
                    assert_eq!(status, 403, "{method} {path} as {role}");
                }
                checked += 1;
            }
            table.insert(format!("{} {path}", method.to_uppercase()), allowed);
        }
    }
    assert!(checked >= 4 * 16, "{checked} calls");
    // The table as tested, for the record.
    for (route, roles) in &table {
        eprintln!("role table: {route:<45} {}", roles.join(", "));
    }
    // Every route of the role table but the public ones, pages and forms
    // included, refuses a caller without credentials.
    for rule in formflow_ingest::auth::RULES {
        let p = concrete(rule.path);
        let status = call(&s, &Cred::None, &rule.method, &p).await;
        if rule.access == formflow_ingest::auth::Access::Public {
            assert_ne!(status, 401, "{} {} is public", rule.method, rule.path);
        } else {
            assert_eq!(
                status, 401,
                "{} {} without credentials",
                rule.method, rule.path
            );
        }
    }
    let pages = [
        ("/review", vec!["caseworker", "admin"]),
        ("/upload", vec!["uploader", "admin"]),
        ("/admin/users", vec!["admin"]),
        ("/admin/tokens", vec!["admin"]),
        ("/admin/audit", vec!["admin"]),
        ("/", vec!["uploader", "consumer", "caseworker", "admin"]),
    ];
    for (page, roles) in pages {
        assert_eq!(
            call(&s, &Cred::None, &Method::GET, page).await,
            401,
            "{page}"
        );
        for role in ["uploader", "consumer", "caseworker"] {
            let st = call(&s, &Cred::Token(&s.tokens[role]), &Method::GET, page).await;
            assert_eq!(st == 200, roles.contains(&role), "{page} as {role}: {st}");
        }
        assert_eq!(
            call(&s, &Cred::Session(&admin), &Method::GET, page).await,
            200,
            "{page} as admin"
        );
    }
    // Errors are problem details in plain words.
    let r = reqwest::get(format!("{}/api/v1/records", s.base()))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], 401);
    assert!(
        v["detail"].as_str().unwrap().starts_with("sign in first"),
        "{v}"
    );
    let r = s
        .client("uploader")
        .get(format!("{}/api/v1/records", s.base()))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["detail"],
        "your role (uploader) cannot do this: it is for caseworkers, consumers and admins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_disabled_people_and_forged_forms_are_refused() {
    let mut s = Stack::new("refusals", true).await;
    s.add_person("ada", "admin");
    s.add_person("cas", "caseworker");
    s.start("serve", &["serve"], &[]);
    s.wait_serving().await;
    let records = format!("{}/api/v1/records", s.base());

    // A revoked token, and a wrong one.
    let token = s.make_token("short-lived", "consumer");
    assert_eq!(
        reqwest::Client::new()
            .get(&records)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let out = s
        .command(&["token", "revoke", "short-lived"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = reqwest::Client::new()
        .get(&records)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["detail"],
        "this API token is not known, or has been revoked"
    );
    assert_eq!(
        reqwest::Client::new()
            .get(&records)
            .bearer_auth("ff_guess")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // A wrong password, then a disabled person: no session, and theirs ended.
    assert!(Person::sign_in(&s.base(), "cas", "not the password")
        .await
        .is_err());
    let cas = s.sign_in("cas").await;
    assert_eq!(cas.get("/review").await.0, 200);
    let out = s.command(&["user", "disable", "cas"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cas.get("/review").await.0, 401, "the session ended");
    assert!(Person::sign_in(&s.base(), "cas", PASSWORD).await.is_err());

    // Forms without the session's CSRF token, or from another site.
    let ada = s.sign_in("ada").await;
    let forged = ada
        .client
        .post(format!("{}/admin/tokens", s.base()))
        .header("Cookie", format!("formflow-session={}", ada.cookie))
        .form(&[("name", "evil"), ("role", "consumer")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let wrong = ada
        .client
        .post(format!("{}/admin/tokens", s.base()))
        .header("Cookie", format!("formflow-session={}", ada.cookie))
        .form(&[("csrf", "0000"), ("name", "evil"), ("role", "consumer")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let elsewhere = ada
        .request(Method::POST, "/admin/tokens")
        .header("Origin", "https://evil.example")
        .form(&[("name", "evil"), ("role", "consumer")])
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 403);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM tokens WHERE name = 'evil'")
            .await,
        0
    );
    let made = ada
        .post("/admin/tokens", &[("name", "good"), ("role", "consumer")])
        .await;
    assert_eq!(made.status(), 200);
    assert!(
        made.text().await.unwrap().contains("ff_"),
        "the new token is shown once"
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM tokens WHERE name = 'good'")
            .await,
        1
    );

    // Signing out ends the session.
    assert_eq!(ada.post("/sign-out", &[]).await.status(), 303);
    assert_eq!(ada.get("/admin/users").await.0, 401);

    // The audit log has the failures and the changes, by whom.
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, action FROM audit ORDER BY id")
            .fetch_all(&s.pool)
            .await
            .unwrap();
    for want in [
        ("cas", "sign_in.failed"),
        ("cas", "sign_in"),
        ("ada", "token.create"),
        ("ada", "sign_out"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, b)| (a.as_str(), b.as_str()) == want),
            "{want:?} not in {actions:?}"
        );
    }
    assert!(
        actions.iter().any(|(_, b)| b == "token.revoke")
            && actions.iter().any(|(_, b)| b == "user.disable")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_will_not_listen_openly_while_nobody_can_sign_in() {
    let mut s = Stack::new("open", true).await;
    // The stack made tokens: revoke them, so that nobody can sign in.
    for role in ["uploader", "consumer", "caseworker"] {
        assert!(s
            .command(&["token", "revoke", &format!("test-{role}")])
            .output()
            .unwrap()
            .status
            .success());
    }
    let port = s.port;
    s.start(
        "serve",
        &["serve"],
        &[("FORMFLOW_LISTEN", &format!("0.0.0.0:{port}"))],
    );
    let status = s.wait_exit("serve", Duration::from_secs(30));
    assert!(!status.success());
    let log = s.log("serve");
    assert!(log.contains("while nobody can sign in"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_new_at_each_sign_in_strict_and_ends_when_idle() {
    let mut s = Stack::new("sessions", true).await;
    s.add_person("cas", "caseworker");
    s.start("serve", &["serve"], &[("FORMFLOW_SESSION_IDLE", "2s")]);
    s.wait_serving().await;
    let first = s.sign_in("cas").await;
    assert_eq!(first.get("/review").await.0, 200);

    // Signing in again with the old cookie: a new id, and the old one ends.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/sign-in", s.base()))
        .send()
        .await
        .unwrap();
    let form_cookie = super::web::set_cookie(&page, "formflow-sign-in").unwrap();
    let token = super::web::hidden(&page.text().await.unwrap(), "csrf").unwrap();
    let res = client
        .post(format!("{}/sign-in", s.base()))
        .header(
            "Cookie",
            format!(
                "formflow-sign-in={form_cookie}; formflow-session={}",
                first.cookie
            ),
        )
        .form(&[
            ("username", "cas"),
            ("password", PASSWORD),
            ("csrf", &token),
            ("next", "/review"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/review");
    let set: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("formflow-session="))
        .expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(part), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain HTTP on loopback: {session}"
    );
    let second = super::web::set_cookie(&res, "formflow-session").unwrap();
    assert_ne!(second, first.cookie);
    assert_eq!(first.get("/review").await.0, 401, "the old session ended");
    let again = Person {
        base: s.base(),
        cookie: second,
        csrf: String::new(),
        client,
    };
    assert_eq!(again.get("/review").await.0, 200);
    // Unused for longer than FORMFLOW_SESSION_IDLE: signed out.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (st, html) = again.get("/review").await;
    assert_eq!(st, 401);
    assert!(
        html.contains("Sign in to formflow"),
        "the sign-in page, for a browser"
    );
}

/// `formflow run --serve` in `dir` on one scan; the process and its stdout
/// up to the line saying it serves.
fn run_serving(dir: &std::path::Path, port: u16) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_formflow"))
        .args([
            "run",
            "--serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
        ])
        .arg(dir)
        .arg(crate::util::repo(
            "samples/documents/voter-registration-025.jpg",
        ))
        .env("FORMFLOW_TODAY", "2026-11-22")
        .env_remove("DATABASE_URL")
        .env_remove("FORMFLOW_STORAGE")
        .env_remove("FORMFLOW_LISTEN")
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("formflow runs");
    let stdout = child.stdout.take().unwrap();
    let mut out = String::new();
    // The summary table, then (the first time) the sign-in; the HTTP
    // server is up once /healthz answers.
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            out.push_str(&line);
            out.push('\n');
        }
        out
    });
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "formflow run --serve did not serve"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    out.push_str(&reader.join().unwrap());
    (child, out)
}

#[test]
fn formflow_run_serve_makes_a_local_admin_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, first) = run_serving(dir.path(), port);
    let line = first
        .lines()
        .find(|l| l.starts_with("Sign in at"))
        .unwrap_or_else(|| panic!("no sign-in line:\n{first}"));
    assert!(
        line.starts_with(&format!(
            "Sign in at http://127.0.0.1:{port}/sign-in as admin with the password "
        )),
        "{line}"
    );
    let password = line.rsplit(' ').next().unwrap().to_string();
    assert!(password.len() >= 20, "{line}");
    // The second time the admin exists: no password is printed.
    let (mut child, second) = {
        let port2 = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        run_serving(dir.path(), port2)
    };
    let _ = child.kill();
    assert!(!second.contains("with the password"), "{second}");
    // The password printed signs in (checked on the embedded database).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("formflow.db").display());
        let db = formflow_service::Db::connect(&url, 1, Duration::from_secs(5))
            .await
            .unwrap();
        let (user, hash) = db
            .user_for_sign_in("admin")
            .await
            .unwrap()
            .expect("the local admin");
        assert_eq!(user.role, formflow_schemas::Role::Admin);
        assert!(formflow_service::access::verify_password(&password, &hash));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_uploads_through_its_page_and_admins_add_people() {
    let mut s = Stack::new("desk", true).await;
    s.add_person("ada", "admin");
    s.add_person("una", "uploader");
    s.start("serve", &["serve"], &[]);
    s.start("worker", &["worker"], &[]);
    s.wait_serving().await;
    let una = s.sign_in("una").await;
    let scan = std::fs::read(crate::util::repo(
        "samples/documents/voter-registration-035.png",
    ))
    .unwrap();
    let form = |csrf: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf.to_string())
            .part(
                "files",
                reqwest::multipart::Part::bytes(scan.clone()).file_name("desk-scan.png"),
            )
            .part(
                "files",
                reqwest::multipart::Part::bytes(b"not a scan".to_vec()).file_name("notes.txt"),
            )
    };
    let post = |f: reqwest::multipart::Form| {
        una.client
            .post(format!("{}/upload", s.base()))
            .header("Cookie", format!("formflow-session={}", una.cookie))
            .multipart(f)
            .send()
    };
    assert_eq!(
        post(form("forged")).await.unwrap().status(),
        403,
        "the form's CSRF token is checked"
    );
    let r = post(form(&una.csrf)).await.unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/upload/batches/"), "{to}");
    let batch = to.trim_start_matches("/upload/batches/").to_string();
    s.wait_batch(&batch, Duration::from_secs(120)).await;
    let (st, html) = una.get(&to).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("desk-scan.png") && html.contains("Register to vote"),
        "{html}"
    );
    assert!(
        html.contains("notes.txt") && html.contains("Refused (1)"),
        "refusals are listed with why"
    );
    assert!(
        !html.contains("THOMPSON"),
        "no value on the uploader's pages"
    );
    assert_eq!(una.get("/review").await.0, 403);
    let (uploaded_by,): (Option<String>,) = sqlx::query_as("SELECT uploaded_by FROM batches")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(uploaded_by.as_deref(), Some("una"));

    // An admin adds a person through the page; a short password is refused.
    let ada = s.sign_in("ada").await;
    let r = ada
        .post(
            "/admin/users",
            &[
                ("name", "carl"),
                ("role", "caseworker"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 10 characters"));
    let r = ada
        .post(
            "/admin/users",
            &[
                ("name", "carl"),
                ("role", "caseworker"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(s.sign_in("carl").await.get("/review").await.0, 200);
    let out = s.command(&["user", "list"]).output().unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("carl ") && l.contains("caseworker") && l.contains("active")),
        "{list}"
    );
}
