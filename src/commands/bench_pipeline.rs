//! `formflow bench --pipeline`: the whole pipeline's throughput with one and
//! with two workers, and its overhead (HTTP, storage, queue, database)
//! against extraction alone on the same files, measured in one run.
//!
//! For each worker count it makes a fresh database on the PostgreSQL server
//! of `--admin-url`, starts `formflow serve` and that many `formflow worker`
//! processes (one extraction thread each) on RabbitMQ, waits until each
//! worker takes jobs, uploads every file as one batch and waits for every
//! outcome. Pages per second is pages over the wall time from upload to the
//! last outcome. CPU is read from `/proc` for serve, the workers, and the
//! PostgreSQL and RabbitMQ servers, before the upload and after the last
//! outcome, so start-up (the engine's ~0.3 s) is left out on both sides.

use super::bench::cpu_seconds;
use super::scan_files;
use super::stack::{Children, Stack};
use anyhow::Context as _;
use formflow_extract::decode::Source;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// Clock ticks a second in `/proc/*/stat`.
const TICKS: f64 = 100.0;

fn proc_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    if f.len() > 12 {
        (f[11] + f[12]) / TICKS
    } else {
        0.0
    }
}

/// CPU seconds of each process whose name starts with one of `names`, by pid.
fn named_cpu(names: &[&str]) -> std::collections::HashMap<u32, f64> {
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if names.iter().any(|n| comm.trim().starts_with(n)) {
            out.insert(pid, proc_cpu(pid));
        }
    }
    out
}

/// CPU used between two [`named_cpu`] readings: processes that started in
/// between count from zero; those that ended are not seen.
fn cpu_between(
    before: &std::collections::HashMap<u32, f64>,
    after: &std::collections::HashMap<u32, f64>,
) -> f64 {
    after
        .iter()
        .map(|(pid, t)| t - before.get(pid).copied().unwrap_or(0.0))
        .filter(|d| *d > 0.0)
        .sum()
}

struct Run {
    /// CPU seconds the workers' extraction threads used, as they recorded.
    extract_in_pipeline: f64,
    upload: f64,
    workers: usize,
    pages: usize,
    wall: f64,
    serve_cpu: f64,
    worker_cpu: f64,
    postgres_cpu: f64,
    rabbit_cpu: f64,
}

/// Runs the pipeline benchmark and prints its figures.
pub fn bench_pipeline(
    paths: &[PathBuf],
    admin_url: &str,
    amqp_url: &str,
    repeat: usize,
) -> anyhow::Result<()> {
    let default = [PathBuf::from("../shared/samples/public/documents")];
    let files = scan_files(if paths.is_empty() { &default } else { paths })?;
    anyhow::ensure!(!files.is_empty(), "no scan files to time");
    let pages: usize = files
        .iter()
        .map(|f| {
            std::fs::read(f)
                .ok()
                .and_then(|b| Source::open(b, &Default::default()).ok())
                .map_or(0, |s| s.page_count())
        })
        .sum();

    let engine = super::ExtractOpts::single_thread().engine()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "{} files, {pages} pages; {repeat} round(s) of: extract alone, pipeline with 1 worker, \
         with 2",
        files.len()
    );
    println!();
    println!(
        "round  extract CPU-s  workers  upload s  wall s  pages/s  serve CPU-s  worker \
         CPU-s  (extracting)  PostgreSQL CPU-s  RabbitMQ CPU-s  overhead  attributed"
    );
    let mut rounds = Vec::new();
    for round in 1..=repeat.max(1) {
        // Extraction alone, the same files, in this process: on one thread
        // (against one worker), then on two (against two workers, which
        // slow each other down just as two threads do).
        let mut extract_cpu = [0.0; 2];
        for (i, threads) in [1, 2].into_iter().enumerate() {
            let (c0, _) = cpu_seconds()?;
            super::extract_paths(&engine, &files, threads, &|_, _| {})?;
            let (c1, _) = cpu_seconds()?;
            extract_cpu[i] = c1 - c0;
        }
        let mut runs = Vec::new();
        for workers in [1, 2] {
            let r = rt.block_on(one_run(&files, pages, workers, admin_url, amqp_url))?;
            let extract_cpu = extract_cpu[workers - 1];
            println!(
                "{round:>5}  {extract_cpu:>13.2}  {:>7}  {:>8.2}  {:>6.2}  {:>7.2}  {:>11.2}  \
                 {:>12.2}  {:>12.2}  {:>16.2}  {:>14.2}  {:>7.1}%  {:>9.1}%",
                r.workers,
                r.upload,
                r.wall,
                r.pages as f64 / r.wall,
                r.serve_cpu,
                r.worker_cpu,
                r.extract_in_pipeline,
                r.postgres_cpu,
                r.rabbit_cpu,
                100.0 * r.overhead(extract_cpu),
                100.0 * r.attributed_overhead()
            );
            runs.push(r);
        }
        rounds.push((extract_cpu, runs));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate = |i: usize| {
        median(
            rounds
                .iter()
                .map(|(_, r)| r[i].pages as f64 / r[i].wall)
                .collect(),
        )
    };
    let overhead = |i: usize| median(rounds.iter().map(|(e, r)| r[i].overhead(e[i])).collect());
    let extract = median(rounds.iter().map(|(e, _)| e[0]).collect());
    let attributed = |i: usize| {
        median(
            rounds
                .iter()
                .map(|(_, r)| r[i].attributed_overhead())
                .collect(),
        )
    };
    println!();
    println!(
        "medians: extract {:.3} CPU-s a page",
        extract / pages.max(1) as f64
    );
    println!(
        "  1 worker:  {:.2} pages/s, overhead {:.1}% (attributed {:.1}%)",
        rate(0),
        100.0 * overhead(0),
        100.0 * attributed(0)
    );
    println!(
        "  2 workers: {:.2} pages/s, overhead {:.1}% (attributed {:.1}%)",
        rate(1),
        100.0 * overhead(1),
        100.0 * attributed(1)
    );
    println!(
        "  two workers / one: {:.2}x (median of rounds: {:.2}x)",
        rate(1) / rate(0),
        median(
            rounds
                .iter()
                .map(|(_, r)| (r[1].pages as f64 / r[1].wall) / (r[0].pages as f64 / r[0].wall))
                .collect()
        )
    );
    println!(
        "overhead = (serve + workers + PostgreSQL + RabbitMQ CPU) / CPU of extraction alone on \
         the same files in the same round"
    );
    println!("           (on as many threads as workers) - 1");
    println!(
        "attributed = the same, but against the CPU the workers' extraction threads used in the \
         run itself"
    );
    Ok(())
}

impl Run {
    /// Everything but extraction, over extraction, both measured inside
    /// this run: free of the drift between separate runs.
    fn attributed_overhead(&self) -> f64 {
        (self.serve_cpu + self.worker_cpu + self.postgres_cpu + self.rabbit_cpu
            - self.extract_in_pipeline)
            / self.extract_in_pipeline.max(1e-9)
    }

    /// The pipeline's CPU over extraction's, less one.
    fn overhead(&self, extract_cpu: f64) -> f64 {
        (self.serve_cpu + self.worker_cpu + self.postgres_cpu + self.rabbit_cpu - extract_cpu)
            / extract_cpu.max(1e-9)
    }
}

async fn one_run(
    files: &[PathBuf],
    pages: usize,
    workers: usize,
    admin_url: &str,
    amqp_url: &str,
) -> anyhow::Result<Run> {
    let name = format!("formflow_bench_{}_{workers}", std::process::id());
    let stack = Stack::new(admin_url, amqp_url, &name, &[]).await?;
    let mut kids = Children(vec![stack.spawn(&["serve"], "serve.log")?]);
    let logs: Vec<String> = (0..workers).map(|i| format!("worker-{i}.log")).collect();
    for log in &logs {
        kids.0.push(stack.spawn(&["worker"], log)?);
    }
    let base = stack.base();
    let client = stack.client()?;
    stack.wait_ready(&client, &logs).await?;
    let mut form = reqwest::multipart::Form::new();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(f)?).file_name(name),
        );
    }
    let pids: Vec<u32> = kids.0.iter().map(Child::id).collect();
    let cpu = |pids: &[u32]| {
        (
            proc_cpu(pids[0]),
            pids[1..].iter().map(|p| proc_cpu(*p)).sum::<f64>(),
            named_cpu(&["postgres"]),
            named_cpu(&["beam.smp", "erl_child_setup", "inet_gethost"]),
        )
    };
    let before = cpu(&pids);
    let start = Instant::now();
    let answer: serde_json::Value = client
        .post(format!("{base}/api/v1/batches"))
        .multipart(form)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let batch = answer["batch_id"]
        .as_str()
        .context("no batch id")?
        .to_string();
    let upload = start.elapsed().as_secs_f64();
    loop {
        let v: serde_json::Value = client
            .get(format!("{base}/api/v1/batches/{batch}"))
            .send()
            .await?
            .json()
            .await?;
        if v["done"] == serde_json::Value::Bool(true) {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(1800),
            "the batch did not finish"
        );
        // Often enough for the wall time, seldom enough to cost the
        // service little of the CPU being measured.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = start.elapsed().as_secs_f64();
    let after = cpu(&pids);
    let pool = stack.pool().await?;
    let (in_pipeline,): (Option<i64>,) =
        sqlx::query_as("SELECT CAST(SUM(extract_cpu_ms) AS BIGINT) FROM documents")
            .fetch_one(&pool)
            .await?;
    pool.close().await;
    drop(kids);
    stack.remove().await;
    Ok(Run {
        upload,
        workers,
        pages,
        wall,
        extract_in_pipeline: in_pipeline.unwrap_or(0) as f64 / 1000.0,
        serve_cpu: after.0 - before.0,
        worker_cpu: after.1 - before.1,
        postgres_cpu: cpu_between(&before.2, &after.2),
        rabbit_cpu: cpu_between(&before.3, &after.3),
    })
}
