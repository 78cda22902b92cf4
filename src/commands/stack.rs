//! A whole production stack started for a measurement: a fresh PostgreSQL
//! database, `formflow serve` and workers as child processes on RabbitMQ
//! (queues and exchange named after the run), an uploader's token. Shared
//! by `formflow bench --pipeline` and `formflow drill`.

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One run's stack: its names, folder, database and address.
pub(super) struct Stack {
    /// Names the database, the queues and the exchange.
    pub name: String,
    /// Logs and originals.
    pub tmp: PathBuf,
    /// The run's database.
    pub db_url: String,
    amqp_url: String,
    admin_url: String,
    port: u16,
    exe: PathBuf,
    token: String,
    env: Vec<(String, String)>,
}

/// Child processes killed (and reaped) when dropped.
pub(super) struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Stack {
    /// Makes the database `name` (afresh) on the server of `admin_url`,
    /// migrates it and makes an uploader's token. `env` is given to every
    /// process started.
    pub async fn new(
        admin_url: &str,
        amqp_url: &str,
        name: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Stack> {
        let (admin, db_url) = super::fresh_database(admin_url, name).await?;
        admin.close().await;
        let tmp = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut stack = Stack {
            name: name.to_string(),
            tmp,
            db_url,
            amqp_url: amqp_url.to_string(),
            admin_url: admin_url.to_string(),
            port,
            exe: std::env::current_exe()?,
            token: String::new(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let st = stack.spawn(&["migrate"], "migrate.log")?.wait()?;
        anyhow::ensure!(
            st.success(),
            "migrate failed: see {}",
            stack.tmp.join("migrate.log").display()
        );
        // An uploader's token, as a scanning desk would have (it may also
        // follow its batch).
        let out = Command::new(&stack.exe)
            .args(["token", "create", name, "--role", "uploader"])
            .env("DATABASE_URL", &stack.db_url)
            .stderr(Stdio::null())
            .output()?;
        anyhow::ensure!(out.status.success(), "a token could not be made");
        stack.token = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok(stack)
    }

    /// Starts `formflow ARGS` on this stack, its log in `log`.
    pub fn spawn(&self, args: &[&str], log: &str) -> anyhow::Result<Child> {
        let err = std::fs::File::create(self.tmp.join(log))?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(args)
            .env("DATABASE_URL", &self.db_url)
            .env("AMQP_URL", &self.amqp_url)
            .env("FORMFLOW_QUEUE", format!("{}.jobs", self.name))
            .env("FORMFLOW_EVENTS_EXCHANGE", self.events_exchange())
            .env("FORMFLOW_STORAGE", self.tmp.join("originals"))
            .env("FORMFLOW_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("FORMFLOW_THREADS", "1")
            .env("OMP_THREAD_LIMIT", "1")
            .env("FORMFLOW_LOG", "formflow_worker=info,warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Ok(cmd.stdout(Stdio::null()).stderr(err).spawn()?)
    }

    /// The events exchange of this run.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.name)
    }

    /// The service's address.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An HTTP client that sends the uploader's token.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut auth = reqwest::header::HeaderMap::new();
        auth.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.token).parse()?,
        );
        Ok(reqwest::Client::builder().default_headers(auth).build()?)
    }

    /// Waits until serve answers and each worker log in `workers` says it
    /// takes jobs.
    pub async fn wait_ready(
        &self,
        client: &reqwest::Client,
        workers: &[String],
    ) -> anyhow::Result<()> {
        let ready = Instant::now();
        loop {
            let serving = client
                .get(format!("{}/healthz", self.base()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let taking = workers.iter().all(|log| {
                std::fs::read_to_string(self.tmp.join(log)).is_ok_and(|l| l.contains("taking jobs"))
            });
            if serving && taking {
                return Ok(());
            }
            anyhow::ensure!(
                ready.elapsed() < Duration::from_secs(60),
                "the pipeline did not start: see the logs in {}",
                self.tmp.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops the database, the queues and exchange, and the folder.
    pub async fn remove(self) {
        if let Ok(admin) = sqlx::PgPool::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
        let Ok(conn) = lapin::Connection::connect(&self.amqp_url, Default::default()).await else {
            return;
        };
        if let Ok(ch) = conn.create_channel().await {
            for q in [
                format!("{}.jobs", self.name),
                format!("{}.jobs.dead", self.name),
                format!("{}.drill", self.name),
            ] {
                let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
            }
            let _ = ch
                .exchange_delete(self.events_exchange().as_str().into(), Default::default())
                .await;
            let _ = ch.close(200, "done".into()).await;
        }
        let _ = conn.close(200, "done".into()).await;
    }

    /// Connects to the run's database (for reading what happened).
    pub async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        sqlx::PgPool::connect(&self.db_url)
            .await
            .context("Failed to reach the run's database")
    }
}
