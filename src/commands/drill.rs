//! `formflow drill`: the chaos drill. Proves that nothing an upload was
//! told was accepted is lost, done twice or left stuck while workers are
//! killed and the broker and the database restart under load.
//!
//! It starts `formflow serve` and workers on a fresh PostgreSQL database
//! and RabbitMQ (queues named after the run), and a durable queue of its
//! own bound to the events exchange, as a downstream service would have.
//! It uploads N documents made from the scans given (each with distinct
//! bytes, so none is a duplicate of another), ten a request, keeping a
//! few dozen in hand as a scanning desk would; meanwhile it SIGKILLs a
//! random worker (first when 15% are uploaded, then every `--kill-every`)
//! and starts another, restarts
//! RabbitMQ once (when 30% are uploaded) and PostgreSQL once (at 65%),
//! and restarts any process that exits by itself, as systemd would. Then
//! it waits for every outcome and reports: documents accepted, outcomes,
//! lost, duplicated, stuck, events, and the time taken. It fails when
//! anything was lost, duplicated or stuck.

use super::stack::{Children, Stack};
use anyhow::Context as _;
use futures_util::StreamExt as _;
use secrecy::ExposeSecret as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Options of `formflow drill`.
#[derive(Debug, Clone, clap::Args)]
pub struct DrillOpts {
    /// Documents to upload.
    #[arg(long, default_value_t = 1000)]
    pub documents: usize,
    /// Workers running at once (one extraction thread each).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// How often a random worker is killed (SIGKILL) and another started.
    #[arg(long, default_value = "10s", value_parser = super::service::parse_duration)]
    pub kill_every: Duration,
    /// A PostgreSQL database to connect to for making the drill's own.
    #[arg(
        long,
        env = "FORMFLOW_BENCH_ADMIN_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/test",
        value_parser = super::secret
    )]
    pub admin_url: secrecy::SecretString,
    /// RabbitMQ (the drill's queues and exchange are its own).
    #[arg(
        long,
        env = "AMQP_URL",
        hide_env_values = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        value_parser = super::secret
    )]
    pub amqp_url: secrecy::SecretString,
    /// The shell command that restarts PostgreSQL (run once, mid-drill).
    #[arg(long, default_value = RESTART_POSTGRES)]
    pub restart_database: String,
    /// The shell command that restarts RabbitMQ (run once, mid-drill).
    #[arg(long, default_value = RESTART_RABBITMQ)]
    pub restart_broker: String,
    /// Give up waiting for outcomes after this long (minutes, or with a
    /// unit); what is unfinished then is reported stuck.
    #[arg(long, default_value = "30m", value_parser = super::service::parse_duration)]
    pub timeout: Duration,
}

/// Restarts the machine's PostgreSQL cluster (Debian's tools; sudo when
/// not root), and waits for it to answer.
const RESTART_POSTGRES: &str = "s=; [ \"$(id -u)\" -eq 0 ] || s=sudo; \
     v=$(ls /etc/postgresql | head -1); \
     $s pg_ctlcluster --skip-systemctl-redirect \"$v\" main restart -m fast && \
     for i in $(seq 1 60); do pg_isready -q -h 127.0.0.1 && exit 0; sleep 0.5; done; exit 1";

/// Restarts the machine's RabbitMQ node (by systemd where it runs it),
/// and waits for it to start.
const RESTART_RABBITMQ: &str = "s=; [ \"$(id -u)\" -eq 0 ] || s=sudo; \
     if systemctl is-active --quiet rabbitmq-server 2>/dev/null; then \
     $s systemctl restart rabbitmq-server; \
     else $s rabbitmqctl stop >/dev/null && $s rabbitmq-server -detached; fi; \
     for i in $(seq 1 120); do $s rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1 && \
     exit 0; sleep 1; done; exit 1";

/// Documents a request carries.
const PER_REQUEST: usize = 10;
/// Documents accepted but without an outcome that the uploader lets be
/// in hand before it sends more.
const IN_HAND: usize = 40;
/// The statuses a worker leaves a document in.
const OUTCOMES: [&str; 4] = ["extracted", "needs_review", "unclassified", "failed"];

/// What the uploader learnt.
#[derive(Default)]
struct Uploaded {
    /// Each document an answer said was accepted.
    accepted: Vec<Uuid>,
    /// Files refused at upload, by why.
    refused: BTreeMap<String, usize>,
    /// Requests that had to be sent again (503, connection refused, ...).
    retries: usize,
    /// Files sent, accepted or not.
    sent: usize,
}

/// What the chaos did.
#[derive(Default, Debug)]
struct Chaos {
    kills: usize,
    exits: usize,
    serve_exits: usize,
    broker_restart: Option<(f64, bool)>,
    database_restart: Option<(f64, bool)>,
}

/// Runs the drill and prints its report; fails when anything was lost,
/// duplicated or stuck.
pub fn drill(paths: &[PathBuf], opts: &DrillOpts) -> anyhow::Result<()> {
    let default = [
        PathBuf::from("samples/documents"),
        PathBuf::from("samples/stress"),
        PathBuf::from("samples/batches"),
    ];
    let files = super::scan_files(if paths.is_empty() { &default } else { paths })?;
    anyhow::ensure!(!files.is_empty(), "no scan files to upload");
    let scans: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            std::fs::read(f)
                .map(|b| (name, b))
                .with_context(|| format!("Failed to read {}", f.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(scans, opts))
}

async fn run(scans: Vec<(String, Vec<u8>)>, opts: &DrillOpts) -> anyhow::Result<()> {
    let name = format!("formflow_drill_{}", std::process::id());
    // Silent workers are swept back sooner than in production, so that
    // the drill does not wait five minutes for one.
    let stack = Stack::new(
        opts.admin_url.expose_secret(),
        opts.amqp_url.expose_secret(),
        &name,
        &[
            ("FORMFLOW_STALE_AFTER", "60s"),
            (
                "FORMFLOW_LOG",
                "formflow=info,formflow_worker=info,formflow_service=info,warn",
            ),
        ],
    )
    .await?;
    println!(
        "drill: {} documents from {} scan(s), {} workers, a kill every {}s; logs in {}",
        opts.documents,
        scans.len(),
        opts.workers,
        opts.kill_every.as_secs(),
        stack.tmp.display()
    );
    let events = EventTap::bind(opts.amqp_url.expose_secret(), &stack).await?;
    let started = Instant::now();
    let mut procs = Procs {
        serve: stack.spawn(&["serve"], "serve.log")?,
        workers: Children(Vec::new()),
        logs: 0,
    };
    let mut first_logs = Vec::new();
    for _ in 0..opts.workers.max(1) {
        first_logs.push(procs.start_worker(&stack)?);
    }
    let client = stack.client()?;
    stack.wait_ready(&client, &first_logs).await?;

    let uploaded = Arc::new(Mutex::new(Uploaded::default()));
    let finished = Arc::new(AtomicUsize::new(0));
    let upload_done = Arc::new(AtomicBool::new(false));
    let uploader = tokio::spawn(upload_all(
        client.clone(),
        stack.base(),
        scans,
        opts.documents,
        Arc::clone(&uploaded),
        Arc::clone(&finished),
        Arc::clone(&upload_done),
    ));
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&stack.db_url)
        .await?;

    let mut chaos = Chaos::default();
    let mut restarts: Vec<tokio::task::JoinHandle<(bool, f64, bool)>> = Vec::new();
    let mut last_kill = Instant::now();
    let mut outbox_left = -1;
    let waited_from = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let sent = uploaded.lock().map(|u| u.sent).unwrap_or(0);
        let accepted = uploaded.lock().map(|u| u.accepted.len()).unwrap_or(0);
        // Outcomes so far (nothing while the database restarts).
        if let Ok(n) = sqlx::query_as::<_, (i64,)>(
            "SELECT COUNT(*) FROM documents WHERE status NOT IN ('queued', 'processing')",
        )
        .fetch_one(&pool)
        .await
        {
            finished.store(n.0 as usize, Ordering::Relaxed);
        }
        if let Ok(n) = sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM outbox")
            .fetch_one(&pool)
            .await
        {
            outbox_left = n.0;
        }
        // The chaos, while there is work in hand.
        let busy =
            !upload_done.load(Ordering::Relaxed) || finished.load(Ordering::Relaxed) < accepted;
        // The first kill once work is under way, then one every period.
        let due = if chaos.kills == 0 {
            sent * 100 >= opts.documents * 15 && accepted > finished.load(Ordering::Relaxed)
        } else {
            last_kill.elapsed() >= opts.kill_every
        };
        if busy && due {
            procs.kill_one()?;
            procs.start_worker(&stack)?;
            chaos.kills += 1;
            last_kill = Instant::now();
        }
        if chaos.broker_restart.is_none() && sent * 10 >= opts.documents * 3 {
            chaos.broker_restart = Some((0.0, false));
            restarts.push(restart(true, opts.restart_broker.clone()));
        }
        // After the broker is back, so that the two outages are apart.
        if chaos.database_restart.is_none()
            && matches!(chaos.broker_restart, Some((s, _)) if s > 0.0)
            && sent * 100 >= opts.documents * 65
        {
            chaos.database_restart = Some((0.0, false));
            restarts.push(restart(false, opts.restart_database.clone()));
        }
        for h in std::mem::take(&mut restarts) {
            if h.is_finished() {
                let (broker, secs, ok) = h.await?;
                let slot = if broker {
                    &mut chaos.broker_restart
                } else {
                    &mut chaos.database_restart
                };
                *slot = Some((secs, ok));
            } else {
                restarts.push(h);
            }
        }
        // Whatever exits by itself is started again, as systemd would.
        chaos.exits += procs.restart_exited(&stack)?;
        if procs.serve.try_wait()?.is_some() {
            chaos.serve_exits += 1;
            procs.serve = stack.spawn(&["serve"], &format!("serve-{}.log", chaos.serve_exits))?;
        }
        let all_in = upload_done.load(Ordering::Relaxed)
            && restarts.is_empty()
            && chaos.database_restart.is_some()
            && finished.load(Ordering::Relaxed) >= accepted
            && outbox_left == 0;
        if all_in || waited_from.elapsed() > opts.timeout {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    uploader.await??;
    // A moment for the last events to reach the tap.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (heard, dead) = events.drain().await?;
    let up = std::mem::take(&mut *uploaded.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let report = Report::read(&pool, &up, &heard, dead, outbox_left).await?;
    pool.close().await;
    drop(procs);
    report.print(&up, &chaos, wall);
    let ok = report.passed(&chaos);
    if ok {
        stack.remove().await;
    }
    anyhow::ensure!(
        ok,
        "the drill found documents lost, duplicated or stuck, or a restart failed (logs kept \
         in {})",
        std::env::temp_dir().join(&name).display()
    );
    Ok(())
}

/// Runs a restart command off the async threads: (broker?, seconds, ok).
fn restart(broker: bool, command: String) -> tokio::task::JoinHandle<(bool, f64, bool)> {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let what = if broker { "RabbitMQ" } else { "PostgreSQL" };
        println!("drill: restarting {what}");
        let ok = std::process::Command::new("sh")
            .args(["-c", &command])
            .status()
            .is_ok_and(|s| s.success());
        let secs = t.elapsed().as_secs_f64();
        println!(
            "drill: {what} {} after {secs:.1}s",
            if ok { "is back" } else { "did not restart" }
        );
        (broker, secs, ok)
    })
}

/// serve and the workers.
struct Procs {
    serve: Child,
    workers: Children,
    logs: usize,
}

impl Procs {
    fn start_worker(&mut self, stack: &Stack) -> anyhow::Result<String> {
        let log = format!("worker-{}.log", self.logs);
        self.logs += 1;
        self.workers.0.push(stack.spawn(&["worker"], &log)?);
        Ok(log)
    }

    /// SIGKILLs one worker, chosen at random.
    fn kill_one(&mut self) -> anyhow::Result<()> {
        if self.workers.0.is_empty() {
            return Ok(());
        }
        // Random enough to pick among a few workers.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let i = (nanos / 1000) as usize % self.workers.0.len();
        let mut w = self.workers.0.swap_remove(i);
        let killed = w.kill();
        w.wait()?;
        Ok(killed?)
    }

    /// Starts a worker for each that exited; returns how many.
    fn restart_exited(&mut self, stack: &Stack) -> anyhow::Result<usize> {
        let mut n = 0;
        let mut i = 0;
        while i < self.workers.0.len() {
            if self.workers.0[i].try_wait()?.is_some() {
                // Reaped by try_wait.
                let _ = self.workers.0.swap_remove(i).wait();
                n += 1;
            } else {
                i += 1;
            }
        }
        for _ in 0..n {
            self.start_worker(stack)?;
        }
        Ok(n)
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

/// Uploads `n` documents, ten a request, each scan's bytes with a distinct
/// tail; sends a request again until it is answered (through restarts).
async fn upload_all(
    client: reqwest::Client,
    base: String,
    scans: Vec<(String, Vec<u8>)>,
    n: usize,
    uploaded: Arc<Mutex<Uploaded>>,
    finished: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut i = 0;
    while i < n {
        // A desk does not pile up more than it can see being done.
        loop {
            let accepted = uploaded.lock().map(|u| u.accepted.len()).unwrap_or(0);
            if accepted < finished.load(Ordering::Relaxed) + IN_HAND {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let take = PER_REQUEST.min(n - i);
        let parts: Vec<(String, Vec<u8>)> = (i..i + take)
            .map(|k| {
                let (name, bytes) = &scans[k % scans.len()];
                let mut b = bytes.clone();
                // Trailing bytes every decoder here ignores; distinct, so
                // that no document is a duplicate of another.
                b.extend_from_slice(format!("\n%formflow-drill {k}\n").as_bytes());
                (format!("{k:05}-{name}"), b)
            })
            .collect();
        let mut wait = Duration::from_millis(250);
        let answer = loop {
            let mut form = reqwest::multipart::Form::new();
            for (name, b) in &parts {
                form = form.part(
                    "file",
                    reqwest::multipart::Part::bytes(b.clone()).file_name(name.clone()),
                );
            }
            let sent = client
                .post(format!("{base}/api/v1/batches"))
                .timeout(Duration::from_secs(120))
                .multipart(form)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() || r.status().as_u16() == 422 => {
                    break r.json::<serde_json::Value>().await?;
                }
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 408 => {}
                Ok(r) => anyhow::bail!(
                    "an upload was refused: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                ),
                Err(_) => {}
            }
            if let Ok(mut u) = uploaded.lock() {
                u.retries += 1;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        };
        let mut u = uploaded.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        u.sent += take;
        for d in answer["documents"].as_array().into_iter().flatten() {
            if let Some(id) = d["document_id"].as_str().and_then(|s| s.parse().ok()) {
                u.accepted.push(id);
            }
        }
        for r in answer["refused"].as_array().into_iter().flatten() {
            let why = r["error"].as_str().unwrap_or("?");
            // The kind of refusal, without the file's own details.
            let key: String = why
                .split([':', '('])
                .next()
                .unwrap_or(why)
                .trim()
                .to_string();
            *u.refused.entry(key).or_default() += 1;
        }
        drop(u);
        i += take;
    }
    done.store(true, Ordering::Relaxed);
    Ok(())
}

/// The drill's own durable queue on the events exchange: what a
/// downstream service would have heard.
struct EventTap {
    amqp_url: String,
    queue: String,
    dead: String,
}

impl EventTap {
    async fn bind(amqp_url: &str, stack: &Stack) -> anyhow::Result<EventTap> {
        use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let conn = lapin::Connection::connect(amqp_url, Default::default())
            .await
            .context("Failed to reach RabbitMQ")?;
        let channel = conn.create_channel().await?;
        let exchange = stack.events_exchange();
        channel
            .exchange_declare(
                exchange.as_str().into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let queue = format!("{}.drill", stack.name);
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "document.*".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let _ = conn.close(200, "bound".into()).await;
        Ok(EventTap {
            amqp_url: amqp_url.to_string(),
            queue,
            dead: format!("{}.jobs.dead", stack.name),
        })
    }

    /// Every event in the queue: how many times each document's outcome
    /// was heard; and how many jobs were dead-lettered.
    async fn drain(&self) -> anyhow::Result<(HashMap<Uuid, usize>, u32)> {
        let conn = lapin::Connection::connect(&self.amqp_url, Default::default())
            .await
            .context("Failed to reach RabbitMQ")?;
        let probe = conn.create_channel().await?;
        let dead = probe
            .queue_declare(
                self.dead.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .map(|q| q.message_count())
            .unwrap_or(0);
        // A passive declare of a missing queue closes its channel itself.
        let _ = probe.close(200, "counted".into()).await;
        let ch = conn.create_channel().await?;
        let mut consumer = ch
            .basic_consume(
                self.queue.as_str().into(),
                "drill".into(),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await?;
        let mut heard = HashMap::new();
        while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await
        {
            let d = d?;
            let v: serde_json::Value = serde_json::from_slice(&d.data).unwrap_or_default();
            if let Some(id) = v["document_id"].as_str().and_then(|s| s.parse().ok()) {
                *heard.entry(id).or_default() += 1;
            }
        }
        let _ = ch.basic_cancel("drill".into(), Default::default()).await;
        drop(consumer);
        // Channels are closed before the connection: one left open is
        // reported by lapin as an error.
        let _ = ch.close(200, "drained".into()).await;
        let _ = conn.close(200, "drained".into()).await;
        Ok((heard, dead))
    }
}

/// What the database says became of the uploads.
struct Report {
    accepted: usize,
    outcomes: BTreeMap<String, usize>,
    failed_reasons: BTreeMap<String, usize>,
    attempts: BTreeMap<i32, usize>,
    lost: usize,
    unannounced: usize,
    stuck: usize,
    twice: usize,
    no_records: usize,
    events_missing: usize,
    events_repeated: usize,
    dead_letters: u32,
    outbox_left: i64,
    pages: i64,
    /// Stacks split into page jobs.
    split: i64,
    /// Pages the sweeper sent again.
    pages_swept: i64,
    /// Page readings left behind after every outcome.
    page_tasks_left: i64,
}

impl Report {
    async fn read(
        pool: &sqlx::PgPool,
        up: &Uploaded,
        heard: &HashMap<Uuid, usize>,
        dead_letters: u32,
        outbox_left: i64,
    ) -> anyhow::Result<Report> {
        let rows: Vec<(Uuid, String, Option<String>, i32, i32)> =
            sqlx::query_as("SELECT id, status, reason, attempts, page_count FROM documents")
                .fetch_all(pool)
                .await
                .context("Failed to read the outcomes")?;
        let accepted: HashSet<Uuid> = up.accepted.iter().copied().collect();
        let (twice,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT document_id FROM document_events \
             WHERE status IN ('extracted', 'needs_review', 'unclassified', 'failed') \
             GROUP BY document_id HAVING COUNT(*) > 1) t",
        )
        .fetch_one(pool)
        .await?;
        let (no_records,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM documents d \
             WHERE d.status IN ('extracted', 'needs_review', 'unclassified') \
             AND NOT EXISTS (SELECT 1 FROM records r WHERE r.document_id = d.id)",
        )
        .fetch_one(pool)
        .await?;
        let count = |sql: &'static str| async move {
            sqlx::query_as::<_, (i64,)>(sql)
                .fetch_one(pool)
                .await
                .map(|(n,)| n)
        };
        let split =
            count("SELECT COUNT(*) FROM document_events WHERE detail LIKE 'read as % page jobs'")
                .await?;
        let pages_swept = count(
            "SELECT COUNT(*) FROM document_events WHERE detail LIKE 'page % back in the queue%'",
        )
        .await?;
        let page_tasks_left = count("SELECT COUNT(*) FROM page_tasks").await?;
        let mut r = Report {
            accepted: accepted.len(),
            outcomes: BTreeMap::new(),
            failed_reasons: BTreeMap::new(),
            attempts: BTreeMap::new(),
            lost: 0,
            unannounced: 0,
            stuck: 0,
            twice: twice as usize,
            no_records: no_records as usize,
            events_missing: 0,
            events_repeated: 0,
            dead_letters,
            outbox_left,
            pages: 0,
            split,
            pages_swept,
            page_tasks_left,
        };
        let mut seen = HashSet::new();
        for (id, status, reason, attempts, pages) in rows {
            seen.insert(id);
            if !accepted.contains(&id) {
                r.unannounced += 1;
                continue;
            }
            r.pages += i64::from(pages);
            *r.outcomes.entry(status.clone()).or_default() += 1;
            *r.attempts.entry(attempts).or_default() += 1;
            if status == "failed" {
                *r.failed_reasons
                    .entry(reason.unwrap_or_else(|| "?".into()))
                    .or_default() += 1;
            }
            if status == "queued" || status == "processing" {
                r.stuck += 1;
            }
            if OUTCOMES.contains(&status.as_str()) {
                match heard.get(&id).copied().unwrap_or(0) {
                    0 => r.events_missing += 1,
                    1 => {}
                    _ => r.events_repeated += 1,
                }
            }
        }
        r.lost = accepted.difference(&seen).count();
        Ok(r)
    }

    fn print(&self, up: &Uploaded, chaos: &Chaos, wall: f64) {
        let restart = |r: Option<(f64, bool)>| match r {
            Some((s, true)) => format!("restarted once, back after {s:.1}s"),
            Some((_, false)) => "the restart command FAILED".to_string(),
            None => "not restarted".to_string(),
        };
        println!();
        println!("formflow drill report");
        println!("  files sent            {}", up.sent);
        println!("  accepted              {}", self.accepted);
        let refused: usize = up.refused.values().sum();
        println!("  refused at upload     {refused}");
        for (why, n) in &up.refused {
            println!("    {n:>5}  {why}");
        }
        println!(
            "  requests sent again   {} (503, timeouts, refused connections)",
            up.retries
        );
        println!("  outcomes");
        for (status, n) in &self.outcomes {
            println!("    {n:>5}  {status}");
        }
        for (why, n) in &self.failed_reasons {
            println!("           failed: {n} {why}");
        }
        let attempts: Vec<String> = self
            .attempts
            .iter()
            .map(|(a, n)| format!("{n} took {a}"))
            .collect();
        println!("  attempts              {}", attempts.join(", "));
        println!(
            "  stacks split          {} into page jobs; pages swept back {}",
            self.split, self.pages_swept
        );
        println!("  lost                  {}", self.lost);
        println!("  not told to uploader  {}", self.unannounced);
        println!("  stuck                 {}", self.stuck);
        println!("  outcome given twice   {}", self.twice);
        println!("  records missing       {}", self.no_records);
        println!("  events missing        {}", self.events_missing);
        println!(
            "  events heard twice    {} (at-least-once: consumers keep the first)",
            self.events_repeated
        );
        println!("  dead letters          {}", self.dead_letters);
        println!("  outbox left           {}", self.outbox_left);
        println!("  page readings left    {}", self.page_tasks_left);
        println!("  workers killed        {}", chaos.kills);
        println!(
            "  processes that exited {} workers, {} serve",
            chaos.exits, chaos.serve_exits
        );
        println!("  RabbitMQ              {}", restart(chaos.broker_restart));
        println!(
            "  PostgreSQL            {}",
            restart(chaos.database_restart)
        );
        println!(
            "  time                  {wall:.0}s ({:.2} pages/s through it all)",
            self.pages as f64 / wall.max(1e-9)
        );
    }

    fn passed(&self, chaos: &Chaos) -> bool {
        let restarted = |r: Option<(f64, bool)>| matches!(r, Some((_, true)));
        self.lost == 0
            && self.unannounced == 0
            && self.stuck == 0
            && self.twice == 0
            && self.no_records == 0
            && self.events_missing == 0
            && self.outbox_left == 0
            && self.page_tasks_left == 0
            && restarted(chaos.broker_restart)
            && restarted(chaos.database_restart)
    }
}
