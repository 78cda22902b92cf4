//! A pipeline for one test: its own PostgreSQL database, RabbitMQ queue and
//! exchange names, originals folder and port, and the `formflow` processes
//! started on them. Dropping it stops the processes and removes the
//! database and queues.

use crate::util::repo;
use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use serde_json::Value;
use sqlx::postgres::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server every test's database is made on.
pub const PG: &str = "postgres://postgres@127.0.0.1:5432";
/// RabbitMQ.
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub struct Stack {
    pub name: String,
    pub db_url: String,
    pub queue: String,
    pub events: String,
    pub storage: tempfile::TempDir,
    pub port: u16,
    pub children: Vec<(String, Child)>,
    pub pool: PgPool,
    pub logs: PathBuf,
    /// API tokens by role (uploader, consumer, caseworker), made with
    /// `formflow token create` once the database is migrated.
    pub tokens: std::collections::HashMap<&'static str, String>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}

impl Stack {
    /// A fresh database (migrated when `migrate`) and names.
    pub async fn new(test: &str, migrate: bool) -> Stack {
        let name = format!(
            "ff_{}_{}",
            test,
            uuid::Uuid::now_v7()
                .simple()
                .to_string()
                .get(20..)
                .unwrap_or("x")
        );
        let admin = PgPool::connect(&format!("{PG}/test"))
            .await
            .expect("PostgreSQL is running on 127.0.0.1:5432 (see .ci/run)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("a test database can be created");
        admin.close().await;
        let db_url = format!("{PG}/{name}");
        let storage = tempfile::tempdir().expect("a temp folder");
        let logs = storage.path().join("logs");
        std::fs::create_dir_all(&logs).expect("a logs folder");
        let s = Stack {
            queue: format!("{name}.jobs"),
            events: format!("{name}.events"),
            pool: PgPool::connect(&db_url)
                .await
                .expect("the test database opens"),
            name,
            db_url,
            storage,
            port: free_port(),
            children: Vec::new(),
            logs,
            tokens: Default::default(),
        };
        let mut s = s;
        if migrate {
            let out = s.command(&["migrate"]).output().expect("formflow runs");
            assert!(
                out.status.success(),
                "migrate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for role in ["uploader", "consumer", "caseworker"] {
                let token = s.make_token(&format!("test-{role}"), role);
                s.tokens.insert(role, token);
            }
        }
        s
    }

    /// `formflow token create NAME --role ROLE`: the token it prints last.
    pub fn make_token(&self, name: &str, role: &str) -> String {
        let out = self
            .command(&["token", "create", name, "--role", role])
            .output()
            .expect("formflow runs");
        assert!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("UTF-8");
        let token = stdout
            .lines()
            .last()
            .expect("a token line")
            .trim()
            .to_string();
        assert!(token.starts_with("ff_") && token.len() == 67, "{stdout}");
        token
    }

    /// A client that sends the token of `role`.
    pub fn client(&self, role: &str) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        let token = self
            .tokens
            .get(role)
            .unwrap_or_else(|| panic!("no {role} token"));
        h.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("a header value"),
        );
        reqwest::Client::builder()
            .default_headers(h)
            .build()
            .expect("a client")
    }

    /// GET as a caseworker (who may read everything the tests read).
    pub async fn raw(&self, path: &str) -> reqwest::Response {
        self.client("caseworker")
            .get(format!("{}{path}", self.base()))
            .send()
            .await
            .expect("GET sent")
    }

    /// `formflow ARGS` with this stack's settings in its environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_formflow"));
        c.args(args)
            .env("DATABASE_URL", &self.db_url)
            .env("AMQP_URL", AMQP)
            .env("FORMFLOW_QUEUE", &self.queue)
            .env("FORMFLOW_EVENTS_EXCHANGE", &self.events)
            .env("FORMFLOW_STORAGE", self.storage.path().join("originals"))
            .env("FORMFLOW_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("FORMFLOW_TODAY", "2026-11-22")
            .env("FORMFLOW_THREADS", "1")
            .env("FORMFLOW_LOG", "info")
            .env_remove("FORMFLOW_CONFIG")
            .current_dir(self.storage.path());
        c
    }

    /// Starts `formflow ARGS` in the background, logging to a file.
    pub fn start(&mut self, label: &str, args: &[&str], env: &[(&str, &str)]) -> &mut Child {
        let log =
            std::fs::File::create(self.logs.join(format!("{label}.log"))).expect("a log file");
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("formflow starts");
        self.children.push((label.to_string(), child));
        &mut self.children.last_mut().expect("just pushed").1
    }

    /// What a process wrote to stderr.
    pub fn log(&self, label: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{label}.log"))).unwrap_or_default()
    }

    /// The process started as `label`.
    pub fn child(&mut self, label: &str) -> &mut Child {
        &mut self
            .children
            .iter_mut()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("no process {label}"))
            .1
    }

    /// Sends a signal to the process started as `label`.
    pub fn signal(&mut self, label: &str, sig: &str) {
        let pid = self.child(label).id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{sig} {label}");
    }

    /// Waits for the process `label` to exit; its status.
    pub fn wait_exit(&mut self, label: &str, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child(label).try_wait().expect("try_wait") {
                return s;
            }
            assert!(
                start.elapsed() < within,
                "{label} did not exit within {within:?}:\n{}",
                self.log(label)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits for `serve` to answer `/healthz`.
    pub async fn wait_serving(&self) {
        let start = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base())).await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "serve did not start:\n{}",
                self.log("serve")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Uploads files (paths relative to the repository, or absolute) as
    /// one batch; the status and JSON answer.
    pub async fn upload(&self, files: &[&Path]) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new();
        for f in files {
            let p = if f.is_absolute() {
                f.to_path_buf()
            } else {
                repo(&f.to_string_lossy())
            };
            let bytes =
                std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            let name = p
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        }
        let r = self
            .client("uploader")
            .post(format!("{}/api/v1/batches", self.base()))
            .multipart(form)
            .send()
            .await
            .expect("upload sent");
        let status = r.status().as_u16();
        (status, r.json().await.expect("a JSON answer"))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.raw(path).await;
        let status = r.status().as_u16();
        let body = r.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Waits until every document of the batch has its outcome; the batch.
    pub async fn wait_batch(&self, batch: &str, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (status, v) = self.get(&format!("/api/v1/batches/{batch}")).await;
            assert_eq!(status, 200, "{v}");
            if v["done"] == Value::Bool(true) {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "batch not done within {within:?}: {v}\nworker log:\n{}\nserve log:\n{}",
                self.log("worker"),
                self.log("serve")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One number from the test database.
    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        n
    }

    /// Waits until the relay has published everything in the outbox (the
    /// workers' events wait there for it).
    pub async fn wait_outbox_empty(&self) {
        let start = Instant::now();
        while self.count("SELECT COUNT(*) FROM outbox").await > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the outbox was never emptied:\n{}",
                self.log("serve")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Binds a fresh queue to every event of this stack's exchange (declaring
    /// the exchange as formflow does).
    pub async fn listen_events(&self) -> (lapin::Connection, String) {
        self.listen("document.#", "test-events").await
    }

    /// Binds a fresh queue (`<name>.<label>`) to the events matching
    /// `pattern` on this stack's exchange.
    pub async fn listen(&self, pattern: &str, label: &str) -> (lapin::Connection, String) {
        let conn = lapin::Connection::connect(AMQP, Default::default())
            .await
            .expect("RabbitMQ is running on 127.0.0.1:5672 (see .ci/run)");
        let ch = conn.create_channel().await.expect("a channel");
        ch.exchange_declare(
            self.events.as_str().into(),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("exchange");
        let q = format!("{}.{label}", self.name);
        ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue");
        ch.queue_bind(
            q.as_str().into(),
            self.events.as_str().into(),
            pattern.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
        (conn, q)
    }

    /// Every message now in `queue`, with its headers.
    pub async fn drain(&self, queue: &str) -> Vec<(String, Value, FieldTable)> {
        let conn = lapin::Connection::connect(AMQP, Default::default())
            .await
            .expect("RabbitMQ");
        let ch = conn.create_channel().await.expect("a channel");
        let mut out = Vec::new();
        while let Some(m) = ch
            .basic_get(
                queue.into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic_get")
        {
            let headers = m.delivery.properties.headers().clone().unwrap_or_default();
            let body = serde_json::from_slice(&m.delivery.data).unwrap_or(Value::Null);
            out.push((m.delivery.routing_key.to_string(), body, headers));
        }
        let _ = conn.close(200, "done".into()).await;
        out
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let name = self.name.clone();
        let queues = [
            self.queue.clone(),
            format!("{}.dead", self.queue),
            format!("{}.test-events", self.name),
            format!("{}.record-events", self.name),
        ];
        let events = self.events.clone();
        // Clean up on a runtime of its own: Drop may run inside or outside one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                if let Ok(admin) = PgPool::connect(&format!("{PG}/test")).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                }
                if let Ok(conn) = lapin::Connection::connect(AMQP, Default::default()).await {
                    if let Ok(ch) = conn.create_channel().await {
                        for q in &queues {
                            let _ = ch
                                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                                .await;
                        }
                        let _ = ch
                            .exchange_delete(events.as_str().into(), Default::default())
                            .await;
                    }
                }
            })
        })
        .join();
    }
}
