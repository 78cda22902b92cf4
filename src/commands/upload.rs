//! `formflow upload`: sends files to a running `formflow serve`, then waits
//! for every document's outcome and prints the summary table (or JSON).
//!
//! Owns the client's side of an upload that scripts can rely on:
//! - files are streamed from disk, never read whole into memory;
//! - a folder is split into batches under the server's limits (its size
//!   and file count; a batch the server still finds too large is halved);
//! - a `503` (the server busy: its `Retry-After` is honoured) or a lost
//!   connection is tried again with backoff;
//! - every batch the server accepted is written to a journal at once, so
//!   that the same command run again after a failure sends only what was
//!   not yet sent (a file counts as the same while its path, size and
//!   modification time are);
//! - the exit code says how it ended ([`super::Exit`]).

use super::summary::{print_summary, summary_json, Line};
use super::Exit;
use anyhow::Context as _;
use formflow_ingest::UploadLimits;
use formflow_service::db::Refusal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which service to send to, and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerOpts {
    /// The service's address.
    #[arg(long, env = "FORMFLOW_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token of an uploader (formflow token create NAME --role
    /// uploader), sent as Authorization: Bearer.
    #[arg(long, env = "FORMFLOW_TOKEN", hide_env_values = true, value_parser = super::secret)]
    pub token: Option<secrecy::SecretString>,
    /// Tries of one request when the server is busy (503) or cannot be
    /// reached, waiting longer each time (1 s, doubling, at most 60 s).
    #[arg(long, default_value_t = 8)]
    pub retries: u32,
}

/// Options of `formflow upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadOpts {
    /// The service.
    #[command(flatten)]
    pub to: ServerOpts,
    /// Return once the files are accepted, without waiting for results.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// Largest batch sent in one request, in megabytes: the server's
    /// FORMFLOW_MAX_UPLOAD_MB.
    #[arg(
        long,
        env = "FORMFLOW_MAX_UPLOAD_MB",
        default_value_t = UploadLimits::DEFAULT_MAX_REQUEST_MB
    )]
    pub max_upload_mb: usize,
    /// Most files sent in one request: the server's FORMFLOW_MAX_FILES.
    #[arg(long, env = "FORMFLOW_MAX_FILES", default_value_t = UploadLimits::DEFAULT_MAX_FILES)]
    pub max_files: usize,
    /// The journal of files already sent (one JSON line a file), read to
    /// skip them when the same upload is run again. Default:
    /// $XDG_STATE_HOME/formflow/sent.jsonl (~/.local/state/...).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Send every file, even those the journal says were sent.
    #[arg(long)]
    pub again: bool,
    /// Print the outcome as one JSON object (batches, each document, each
    /// refused file, files skipped as already sent, the totals).
    #[arg(long)]
    pub json: bool,
}

/// A client that sends the token with every call.
pub(super) fn client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", t.trim()))
            .context("FORMFLOW_TOKEN holds characters no token has")?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("Failed to start the HTTP client")
}

/// Why an answer was not what was asked for, in plain words.
async fn answer_error(res: reqwest::Response, what: &str) -> anyhow::Error {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    let detail = body["detail"].as_str().unwrap_or("no reason given");
    match status.as_u16() {
        401 => anyhow::anyhow!(
            "the service asks who is uploading: set FORMFLOW_TOKEN to an uploader's token \
             (formflow token create NAME --role uploader): {detail}"
        ),
        403 => anyhow::anyhow!("the token may not {what}: it needs the uploader role ({detail})"),
        _ => anyhow::anyhow!("the service refused to {what} ({status}): {detail}"),
    }
}

/// Bytes a file's multipart part takes beyond the file (its boundary and
/// headers), counted against the server's request limit.
const PART_OVERHEAD: u64 = 4096;

/// A file to send, as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct Sent {
    server: String,
    path: PathBuf,
    bytes: u64,
    modified_ns: u64,
}

impl Sent {
    pub(super) fn of(server: &str, path: &Path) -> anyhow::Result<Sent> {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(Sent {
            server: server.to_string(),
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            bytes: meta.len(),
            modified_ns,
        })
    }
}

/// A journal line: the file, and the batch that took it.
#[derive(Debug, Serialize, Deserialize)]
struct JournalLine {
    #[serde(flatten)]
    file: Sent,
    batch_id: Option<String>,
    /// Why the server refused it (the hot folder's files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
}

/// The journal of files sent: read at the start, appended to (and synced)
/// after each batch the server answers.
pub(super) struct Journal {
    path: PathBuf,
    sent: HashMap<Sent, Option<String>>,
}

impl Journal {
    pub(super) fn open(path: PathBuf) -> anyhow::Result<Journal> {
        let mut sent = HashMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                // A line cut off by a crash is skipped: its file is sent
                // again, and the server knows it as a duplicate.
                for l in text.lines() {
                    if let Ok(j) = serde_json::from_str::<JournalLine>(l) {
                        sent.insert(j.file, j.refused);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("Failed to read the journal {}", path.display()))
            }
        }
        Ok(Journal { path, sent })
    }

    /// Whether this file was sent.
    pub(super) fn contains(&self, file: &Sent) -> bool {
        self.sent.contains_key(file)
    }

    /// How a file sent before ended.
    pub(super) fn outcome(&self, file: &Sent) -> super::watch::Outcome {
        match self.sent.get(file) {
            Some(Some(why)) => super::watch::Outcome::Refused(why.clone()),
            _ => super::watch::Outcome::Accepted,
        }
    }

    /// Records one file sent and how it ended.
    pub(super) fn record_outcome(
        &mut self,
        file: &Sent,
        outcome: &super::watch::Outcome,
    ) -> anyhow::Result<()> {
        let refused = match outcome {
            super::watch::Outcome::Refused(why) => Some(why.clone()),
            super::watch::Outcome::Accepted => None,
        };
        self.write(&[JournalLine {
            file: file.clone(),
            batch_id: None,
            refused,
        }])
    }

    fn record(&mut self, files: &[Sent], batch_id: Option<&str>) -> anyhow::Result<()> {
        let lines: Vec<JournalLine> = files
            .iter()
            .map(|s| JournalLine {
                file: s.clone(),
                batch_id: batch_id.map(str::to_string),
                refused: None,
            })
            .collect();
        self.write(&lines)
    }

    /// Drops the entries of files no longer where they were sent from
    /// (the hot folder moved them to done/ or refused/), rewriting the
    /// journal whole: a new file, synced, renamed over the old. An entry
    /// matters only while its file is still there, between the send and
    /// the move. Answers how many entries were dropped.
    pub(super) fn forget_gone(&mut self) -> anyhow::Result<usize> {
        let before = self.sent.len();
        self.sent.retain(|file, _| file.path.is_file());
        let gone = before - self.sent.len();
        if gone == 0 {
            return Ok(0);
        }
        let lines: Vec<JournalLine> = self
            .sent
            .iter()
            .map(|(file, refused)| JournalLine {
                file: file.clone(),
                batch_id: None,
                refused: refused.clone(),
            })
            .collect();
        let text = text_of(&lines)?;
        let fail = || format!("Failed to rewrite the journal {}", self.path.display());
        let tmp = self.path.with_extension("jsonl.new");
        let mut f = std::fs::File::create(&tmp).with_context(fail)?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(fail)?;
        std::fs::rename(&tmp, &self.path).with_context(fail)?;
        if let Some(dir) = self.path.parent() {
            // The rename is durable once the folder is synced.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(fail)?;
        }
        Ok(gone)
    }

    fn write(&mut self, lines: &[JournalLine]) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create {}", dir.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("Failed to open the journal {}", self.path.display()))?;
        let text = text_of(lines)?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_data())
            .with_context(|| format!("Failed to write the journal {}", self.path.display()))?;
        self.sent
            .extend(lines.iter().map(|l| (l.file.clone(), l.refused.clone())));
        Ok(())
    }
}

/// Journal lines as the file holds them, one JSON object a line.
fn text_of(lines: &[JournalLine]) -> anyhow::Result<String> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line)?);
        text.push('\n');
    }
    Ok(text)
}

fn default_journal() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("formflow").join("sent.jsonl")
}

/// The batches `files` (with their sizes) are sent in: at most
/// `max_files` files and `max_bytes` bytes of files each (a file larger
/// than that alone goes alone, for the server to refuse in words).
fn batches(files: &[(PathBuf, u64)], max_files: usize, max_bytes: u64) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut size = 0u64;
    for (i, (_, len)) in files.iter().enumerate() {
        let full = out
            .last()
            .is_none_or(|b| b.len() >= max_files.max(1) || size + len > max_bytes);
        if full {
            out.push(Vec::new());
            size = 0;
        }
        if let Some(b) = out.last_mut() {
            b.push(i);
        }
        size += len;
    }
    out
}

/// What sending one batch came to.
enum Sending {
    /// The server answered this (202, or 422 when it refused every file).
    Answered(Value),
    /// The server says the request is too large (413).
    TooLarge(String),
}

/// A file's body, read from disk in pieces as the request goes.
async fn file_part(path: &Path) -> anyhow::Result<reqwest::multipart::Part> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("Failed to read {}", path.display()))?;
    let len = file
        .metadata()
        .await
        .with_context(|| format!("Failed to read {}", path.display()))?
        .len();
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
            .file_name(name),
    )
}

/// Waits between tries of one request: from 1 s, doubling up to 60 s, or
/// what the service's `Retry-After` asks; at most `retries` waits.
struct Backoff {
    wait: Duration,
    tries: u32,
    retries: u32,
}

impl Backoff {
    fn new(retries: u32) -> Backoff {
        Backoff {
            wait: Duration::from_secs(1),
            tries: 0,
            retries,
        }
    }

    /// Counts a try.
    fn try_once(&mut self) {
        self.tries += 1;
    }

    /// The next wait is what the service asked in `res`'s `Retry-After`
    /// (within 1 to 60 s), if it asked.
    fn heed(&mut self, res: &reqwest::Response) {
        if let Some(after) = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            self.wait = Duration::from_secs(after.clamp(1, 60));
        }
    }

    /// Waits before trying again, saying why; false, without waiting, once
    /// the retries are spent.
    async fn again(&mut self, why: &str) -> bool {
        if self.tries > self.retries {
            return false;
        }
        tracing::warn!("{why}; trying again in {} s", self.wait.as_secs());
        tokio::time::sleep(self.wait).await;
        self.wait = (self.wait * 2).min(Duration::from_secs(60));
        true
    }
}

/// Sends one batch, trying again with backoff while the server is busy or
/// cannot be reached.
async fn send_batch(
    client: &reqwest::Client,
    base: &str,
    paths: &[&Path],
    retries: u32,
) -> anyhow::Result<Sending> {
    let mut backoff = Backoff::new(retries);
    loop {
        backoff.try_once();
        let mut form = reqwest::multipart::Form::new();
        for p in paths {
            form = form.part("file", file_part(p).await?);
        }
        let why = match client
            .post(format!("{base}/api/v1/batches"))
            .multipart(form)
            .send()
            .await
        {
            Ok(res) => match res.status().as_u16() {
                200..=299 | 422 => {
                    return Ok(Sending::Answered(
                        res.json()
                            .await
                            .context("The service's answer was not JSON")?,
                    ))
                }
                413 => {
                    let body: Value = res.json().await.unwrap_or_default();
                    return Ok(Sending::TooLarge(
                        body["detail"].as_str().unwrap_or("too large").to_string(),
                    ));
                }
                503 => {
                    backoff.heed(&res);
                    "the service is busy (503)".to_string()
                }
                _ => return Err(answer_error(res, "upload").await),
            },
            Err(e) => format!("the service could not be reached: {e}"),
        };
        if !backoff.again(&why).await {
            return Err(Exit::Unreachable(format!(
                "gave up after {} tries: {why}; run the same command again to send what was \
                 not sent",
                backoff.tries
            ))
            .into());
        }
    }
}

/// Asks whether this token may upload at all, so that a refusal is said
/// in words before any file is sent; tries again while the service is
/// busy or cannot be reached.
pub(super) async fn may_upload(
    client: &reqwest::Client,
    base: &str,
    retries: u32,
) -> anyhow::Result<()> {
    let mut backoff = Backoff::new(retries);
    let may = loop {
        backoff.try_once();
        match client
            .get(format!("{base}/api/v1/batches?limit=1"))
            .send()
            .await
        {
            Ok(res) if res.status() != 503 => break res,
            Ok(res) => {
                backoff.heed(&res);
                if !backoff.again("the service is busy (503)").await {
                    break res;
                }
            }
            Err(e) => {
                let why = format!("the service could not be reached: {e}");
                if !backoff.again(&why).await {
                    return Err(Exit::Unreachable(format!(
                        "formflow at {base} could not be reached after {} tries: is `formflow \
                         serve` running? ({e})",
                        backoff.tries
                    ))
                    .into());
                }
            }
        }
    };
    if !may.status().is_success() {
        return Err(answer_error(may, "upload").await);
    }
    Ok(())
}

/// Sends one file alone, once (no retry): how it ended, or `Err` when the
/// service is busy or cannot be reached (for the hot folder to try again).
pub(super) async fn file_outcome(
    client: &reqwest::Client,
    base: &str,
    path: &Path,
) -> anyhow::Result<super::watch::Outcome> {
    use super::watch::Outcome;
    Ok(match send_batch(client, base, &[path], 0).await? {
        Sending::TooLarge(why) => Outcome::Refused(why),
        Sending::Answered(v) => {
            if v["documents"].as_array().is_some_and(|d| !d.is_empty()) {
                Outcome::Accepted
            } else {
                Outcome::Refused(
                    v["refused"][0]["error"]
                        .as_str()
                        .unwrap_or("refused without a reason")
                        .to_string(),
                )
            }
        }
    })
}

/// Sends `paths` (files, or folders searched for scans) and reports.
pub fn upload(paths: &[PathBuf], opts: &UploadOpts) -> anyhow::Result<()> {
    let files = super::scan_files(paths)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = client(
            opts.to
                .token
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
        )?;
        let base = opts.to.server.trim_end_matches('/');
        may_upload(&client, base, opts.to.retries).await?;

        let mut journal = Journal::open(opts.journal.clone().unwrap_or_else(default_journal))?;
        let mut todo = Vec::new();
        let mut skipped = Vec::new();
        for f in &files {
            let s = Sent::of(base, f)?;
            if !opts.again && journal.contains(&s) {
                skipped.push(f.display().to_string());
            } else {
                todo.push((f.clone(), s));
            }
        }
        if !skipped.is_empty() && !opts.json {
            eprintln!(
                "formflow: {} file(s) were sent before (journal {}); sending the other {}",
                skipped.len(),
                journal.path.display(),
                todo.len()
            );
        }
        let sizes: Vec<(PathBuf, u64)> = todo.iter().map(|(p, s)| (p.clone(), s.bytes)).collect();
        let total: u64 = sizes.iter().map(|(_, n)| n).sum();
        let bar = if opts.json {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(total)
        };
        if let Ok(s) = indicatif::ProgressStyle::with_template(
            "uploading [{bar:30}] {bytes}/{total_bytes} {elapsed}",
        ) {
            bar.set_style(s.progress_chars("=> "));
        }
        // Each file's multipart part costs some bytes beyond the file.
        let weighed: Vec<(PathBuf, u64)> = sizes
            .iter()
            .map(|(p, n)| (p.clone(), n + PART_OVERHEAD))
            .collect();
        let max_bytes = (opts.max_upload_mb as u64).saturating_mul(1_000_000);
        let mut queue: std::collections::VecDeque<Vec<usize>> =
            batches(&weighed, opts.max_files, max_bytes).into();
        let mut batch_ids = Vec::new();
        let mut refused: Vec<Refusal> = Vec::new();
        while let Some(batch) = queue.pop_front() {
            let paths: Vec<&Path> = batch.iter().map(|&i| todo[i].0.as_path()).collect();
            let answer = match send_batch(&client, base, &paths, opts.to.retries).await? {
                Sending::Answered(v) => v,
                Sending::TooLarge(why) if batch.len() > 1 => {
                    // The server's limits are lower than ours: halve it.
                    tracing::warn!(
                        "the service found a batch of {} files too large ({why}); sending it in \
                         halves",
                        batch.len()
                    );
                    let (a, b) = batch.split_at(batch.len() / 2);
                    queue.push_front(b.to_vec());
                    queue.push_front(a.to_vec());
                    continue;
                }
                Sending::TooLarge(why) => {
                    refused.push(Refusal {
                        file: paths[0].display().to_string(),
                        error: why,
                    });
                    continue;
                }
            };
            bar.inc(batch.iter().map(|&i| sizes[i].1).sum());
            let batch_id = answer["batch_id"].as_str().map(str::to_string);
            let sent: Vec<Sent> = batch.iter().map(|&i| todo[i].1.clone()).collect();
            journal.record(&sent, batch_id.as_deref())?;
            refused.extend(
                serde_json::from_value::<Vec<Refusal>>(answer["refused"].clone())
                    .unwrap_or_default(),
            );
            batch_ids.extend(batch_id);
        }
        bar.finish_and_clear();
        if opts.no_wait {
            if opts.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "batches": batch_ids,
                        "refused": refused,
                        "skipped": skipped
                    })
                );
            } else {
                for b in &batch_ids {
                    println!("{b}");
                }
            }
            return super::summary::outcome(&[], &refused);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(opts.timeout);
        let mut lines = Vec::new();
        for batch in &batch_ids {
            let view = wait_batch(&client, base, batch, deadline, opts).await?;
            // The batch says what was found in each file, without values.
            for d in view["documents"].as_array().into_iter().flatten() {
                let records = d["records"].as_array().cloned().unwrap_or_default();
                lines.push(Line {
                    file: d["source"].as_str().unwrap_or_default().to_string(),
                    status: d["status"].as_str().unwrap_or_default().to_string(),
                    forms: records
                        .iter()
                        .map(|r| r["form"].as_str().unwrap_or("-").to_string())
                        .collect(),
                    flagged: records
                        .iter()
                        .filter_map(|r| r["flagged"].as_u64())
                        .sum::<u64>() as usize,
                    error: d["error"].as_str().map(str::to_string),
                    document_id: d["id"].as_str().map(str::to_string),
                });
            }
        }
        if opts.json {
            let mut out = summary_json(&lines, &refused);
            out["batches"] = serde_json::json!(batch_ids);
            out["skipped"] = serde_json::json!(skipped);
            println!("{out}");
        } else {
            print_summary(&lines, &refused);
        }
        super::summary::outcome(&lines, &refused)
    })
}

/// Waits for every document of `batch` to have its outcome.
async fn wait_batch(
    client: &reqwest::Client,
    base: &str,
    batch: &str,
    deadline: tokio::time::Instant,
    opts: &UploadOpts,
) -> anyhow::Result<Value> {
    let bar = if opts.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    if let Ok(s) =
        indicatif::ProgressStyle::with_template("extracting [{bar:30}] {pos}/{len} {elapsed}")
    {
        bar.set_style(s.progress_chars("=> "));
    }
    let unreachable = |e: reqwest::Error| {
        anyhow::Error::from(Exit::Unreachable(format!(
            "formflow at {base} stopped answering while the batch was read ({e}); it goes on: \
             {base}/api/v1/batches/{batch}"
        )))
    };
    let view = loop {
        let res = client
            .get(format!("{base}/api/v1/batches/{batch}"))
            .send()
            .await
            .map_err(unreachable)?;
        if !res.status().is_success() {
            return Err(answer_error(res, "show the batch").await);
        }
        let v: Value = res.json().await.map_err(unreachable)?;
        let docs = v["documents"].as_array().map_or(0, Vec::len);
        let finished = v["documents"].as_array().map_or(0, |d| {
            d.iter()
                .filter(|d| !matches!(d["status"].as_str(), Some("queued" | "processing")))
                .count()
        });
        bar.set_length(docs as u64);
        bar.set_position(finished as u64);
        if v["done"].as_bool() == Some(true) {
            break v;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting after {} s; the batch goes on: {base}/api/v1/batches/{batch}",
            opts.timeout
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_split_under_both_limits_and_a_huge_file_goes_alone() {
        let f = |n: u64| (PathBuf::from("x"), n);
        let files = [f(40), f(40), f(40), f(200), f(10), f(10), f(10)];
        assert_eq!(
            batches(&files, 3, 100),
            vec![vec![0, 1], vec![2], vec![3], vec![4, 5, 6]]
        );
        assert_eq!(
            batches(&files, 2, 1000),
            vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6]]
        );
        assert!(batches(&[], 2, 100).is_empty());
    }
}
