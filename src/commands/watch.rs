//! The hot folder, for scanners that can only "scan to a folder":
//! `formflow watch DIR` (to a running service, over HTTP) and
//! `formflow run --serve --watch DIR` (in process).
//!
//! Owns a file's way from the folder to the pipeline:
//! - the folder is looked at every `--interval`; a file is sent once its
//!   size and modification time have not changed for `--settle` (a scanner
//!   still writing it is left alone), hidden files (`.name`) never;
//! - each file is sent alone; accepted (or a duplicate of one sent before),
//!   it is moved to `DIR/done/`; refused, to `DIR/refused/` beside
//!   `NAME.txt` saying why, in plain words;
//! - what was sent is written to the journal `DIR/.formflow-sent.jsonl`
//!   before the file is moved, so that a watcher stopped between the two
//!   moves the file on its next start without sending it again; the
//!   entries of files moved away are dropped from it when the watcher
//!   starts and after every `COMPACT_AFTER` files it moves;
//! - while the service is busy or cannot be reached, the file stays and is
//!   tried again at the next look;
//! - files sent, refused and waiting are counted for `/metrics`.

use super::upload::{file_outcome, Journal, Sent};
use super::Exit;
use anyhow::Context as _;
use formflow_service::db::Actor;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Files moved between two compactions of the journal while watching.
const COMPACT_AFTER: usize = 1000;

/// How the folder is watched.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchOpts {
    /// How often the hot folder is looked at (minutes, or with a unit:
    /// 2s, 1m).
    #[arg(
        long = "watch-interval",
        env = "FORMFLOW_WATCH_INTERVAL",
        default_value = "2s",
        value_parser = super::service::parse_duration
    )]
    pub interval: Duration,
    /// How long a file's size must stay the same before it is sent.
    #[arg(
        long = "watch-settle",
        env = "FORMFLOW_WATCH_SETTLE",
        default_value = "5s",
        value_parser = super::service::parse_duration
    )]
    pub settle: Duration,
}

/// Where a file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Taken (as a new document, or as a duplicate of one sent before).
    Accepted,
    /// Refused, with why in plain words.
    Refused(String),
}

/// What the hot folder counts.
#[derive(Debug)]
pub struct WatchMetrics {
    registry: Registry,
    files: Family<Vec<(&'static str, String)>, Counter>,
    waiting: Gauge,
    failures: Counter,
}

impl Default for WatchMetrics {
    fn default() -> WatchMetrics {
        let mut registry = Registry::default();
        let files = Family::default();
        registry.register(
            "formflow_hot_folder_files",
            "Files the hot folder sent, by outcome (accepted, refused)",
            files.clone(),
        );
        let waiting = Gauge::default();
        registry.register(
            "formflow_hot_folder_waiting_files",
            "Files in the hot folder not yet sent (still being written, or the service \
             unreachable)",
            waiting.clone(),
        );
        let failures = Counter::default();
        registry.register(
            "formflow_hot_folder_send_failures",
            "Times a file could not be sent (the service busy or unreachable) and stayed for the \
             next look",
            failures.clone(),
        );
        WatchMetrics {
            registry,
            files,
            waiting,
            failures,
        }
    }
}

impl WatchMetrics {
    /// The metrics in the text format, without `# EOF`.
    pub fn encode_into(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }
}

/// Where files go.
pub enum Target {
    /// A running `formflow serve`, over HTTP.
    Http {
        /// A client sending the uploader's token.
        client: reqwest::Client,
        /// The service's address.
        base: String,
    },
    /// The service in this process (`formflow run --serve`).
    Local(Arc<formflow_ingest::App>),
}

impl Target {
    /// The journal's name for where files went.
    fn name(&self) -> &str {
        match self {
            Target::Http { base, .. } => base,
            Target::Local(_) => "embedded",
        }
    }

    /// Sends one file. `Err` is a failure that may pass (the file stays).
    async fn send(&self, path: &Path) -> anyhow::Result<Outcome> {
        match self {
            Target::Http { client, base } => file_outcome(client, base, path).await,
            Target::Local(app) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let file = tokio::fs::File::open(path)
                    .await
                    .with_context(|| format!("Failed to read {}", path.display()))?;
                let received = formflow_ingest::Receiving::start(app, &name)
                    .context("Failed to make a file in the data folder")?
                    .read_from(app, file)
                    .await
                    .with_context(|| format!("Failed to read {}", path.display()))?;
                let answer = formflow_ingest::accept(
                    app,
                    vec![received],
                    &Actor::system("formflow hot folder"),
                )
                .await?;
                Ok(match answer.refused.into_iter().next() {
                    Some(r) if answer.documents.is_empty() => Outcome::Refused(r.error),
                    _ => Outcome::Accepted,
                })
            }
        }
    }
}

/// Watches `dir` until `stop` turns true, sending each complete file to
/// `target`.
pub async fn watch_folder(
    dir: &Path,
    target: &Target,
    opts: &WatchOpts,
    metrics: &WatchMetrics,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    for sub in ["done", "refused"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("Failed to create {}", dir.join(sub).display()))?;
    }
    let mut journal = Journal::open(dir.join(".formflow-sent.jsonl"))?;
    journal.forget_gone()?;
    let mut moved = 0usize;
    // What each file looked like at the last look, and since when.
    let mut seen: HashMap<PathBuf, ((u64, SystemTime), std::time::Instant)> = HashMap::new();
    tracing::info!(folder = %dir.display(), "watching the hot folder");
    while !*stop.borrow() {
        let mut waiting = 0i64;
        let mut present = Vec::new();
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("Failed to list {}", dir.display()))?
            .flatten()
        {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let Ok(meta) = entry.metadata() else { continue };
            if hidden || !meta.is_file() {
                continue;
            }
            present.push(path.clone());
            let look = (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            let now = std::time::Instant::now();
            let since = match seen.get(&path) {
                Some((before, since)) if *before == look => *since,
                _ => {
                    seen.insert(path.clone(), (look, now));
                    now
                }
            };
            if now.duration_since(since) < opts.settle {
                waiting += 1;
                continue;
            }
            let sent = Sent::of(target.name(), &path)?;
            let journalled = journal.contains(&sent);
            let outcome = if journalled {
                // Sent before a restart, not yet moved.
                Ok(journal.outcome(&sent))
            } else {
                target.send(&path).await
            };
            match outcome {
                Ok(outcome) => {
                    if !journalled {
                        journal.record_outcome(&sent, &outcome)?;
                    }
                    settle_file(dir, &path, &outcome)?;
                    seen.remove(&path);
                    moved += 1;
                    if moved.is_multiple_of(COMPACT_AFTER) {
                        journal.forget_gone()?;
                    }
                    let label = match &outcome {
                        Outcome::Accepted => "accepted",
                        Outcome::Refused(_) => "refused",
                    };
                    metrics
                        .files
                        .get_or_create(&vec![("outcome", label.into())])
                        .inc();
                    tracing::info!(outcome = label, "hot folder: a file was sent");
                }
                Err(e) => {
                    waiting += 1;
                    metrics.failures.inc();
                    tracing::warn!(
                        error = %e,
                        "hot folder: a file could not be sent; it stays for the next look"
                    );
                }
            }
        }
        seen.retain(|p, _| present.contains(p));
        metrics.waiting.set(waiting);
        tokio::select! {
            _ = tokio::time::sleep(opts.interval) => {}
            _ = stop.changed() => {}
        }
    }
    Ok(())
}

/// Moves a sent file to `done/`, or to `refused/` beside a `.txt` saying
/// why; a name already there gets a number.
fn settle_file(dir: &Path, path: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    let sub = match outcome {
        Outcome::Accepted => "done",
        Outcome::Refused(_) => "refused",
    };
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let mut to = dir.join(sub).join(&name);
    let mut n = 1;
    while to.exists() {
        n += 1;
        let stem = name
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = name
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        to = dir.join(sub).join(format!("{stem} ({n}){ext}"));
    }
    if let Outcome::Refused(why) = outcome {
        let mut note = to.clone().into_os_string();
        note.push(".txt");
        std::fs::write(&note, format!("{why}\n"))
            .with_context(|| format!("Failed to write {}", PathBuf::from(&note).display()))?;
    }
    std::fs::rename(path, &to)
        .with_context(|| format!("Failed to move {} to {}", path.display(), to.display()))
}

/// `formflow watch DIR`: the hot folder, to a running service.
pub fn watch(
    dir: &Path,
    upload: &super::ServerOpts,
    opts: &WatchOpts,
    metrics_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = super::upload::client(
            upload
                .token
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
        )?;
        let base = upload.server.trim_end_matches('/').to_string();
        // The token must be an uploader's, said before anything is sent.
        super::upload::may_upload(&client, &base, upload.retries)
            .await
            .map_err(|e| match e.downcast::<Exit>() {
                Ok(exit) => exit.into(),
                Err(e) => e,
            })?;
        let stop = super::service::stop_on_signals();
        let metrics = Arc::new(WatchMetrics::default());
        let server = match metrics_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("Failed to listen for metrics on {addr}"))?;
                let m = Arc::clone(&metrics);
                let stop = stop.clone();
                Some(tokio::spawn(async move {
                    let scrape = Arc::new(move |out: &mut String| m.encode_into(out));
                    let _ = formflow_ingest::metrics::serve_metrics(
                        listener,
                        scrape,
                        super::service::wait_for(stop),
                    )
                    .await;
                }))
            }
            None => None,
        };
        let target = Target::Http { client, base };
        let watched = watch_folder(dir, &target, opts, &metrics, stop).await;
        if let Some(s) = server {
            let _ = s.await;
        }
        watched
    })
}
