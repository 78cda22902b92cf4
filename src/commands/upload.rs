//! `formflow upload`: sends files to a running `formflow serve` as one
//! batch, with a progress bar, then waits for every document's outcome and
//! prints the summary table.

use super::summary::{print_summary, Line};
use anyhow::Context as _;
use formflow_service::db::Refusal;
use futures_util::StreamExt as _;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `formflow upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadOpts {
    /// The service's address.
    #[arg(long, env = "FORMFLOW_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Return once the files are accepted, without waiting for results.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// An API token of an uploader (formflow token create NAME --role
    /// uploader), sent as Authorization: Bearer.
    #[arg(long, env = "FORMFLOW_TOKEN", hide_env_values = true, value_parser = super::secret)]
    pub token: Option<secrecy::SecretString>,
}

/// A client that sends the token with every call.
fn client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", t.trim()))
            .context("FORMFLOW_TOKEN holds characters no token has")?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    reqwest::Client::builder()
        .default_headers(headers)
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
            "the service asks who is uploading: set FORMFLOW_TOKEN to an uploader's token (formflow token create NAME --role uploader): {detail}"
        ),
        403 => anyhow::anyhow!("the token may not {what}: it needs the uploader role ({detail})"),
        _ => anyhow::anyhow!("the service refused to {what} ({status}): {detail}"),
    }
}

/// Sends `paths` (files, or folders searched for scans) and reports.
pub fn upload(paths: &[PathBuf], opts: &UploadOpts) -> anyhow::Result<()> {
    let files = super::scan_files(paths)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = client(
            opts.token
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
        )?;
        let base = opts.server.trim_end_matches('/');
        // Ask first whether this token may upload at all, so that a refusal
        // is said in words before any file is sent.
        let may = client
            .get(format!("{base}/api/v1/batches?limit=1"))
            .send()
            .await
            .with_context(|| {
                format!("Failed to reach formflow at {base}: is `formflow serve` running?")
            })?;
        if !may.status().is_success() {
            return Err(answer_error(may, "upload").await);
        }
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(s) = indicatif::ProgressStyle::with_template(
            "uploading [{bar:30}] {bytes}/{total_bytes} {elapsed}",
        ) {
            bar.set_style(s.progress_chars("=> "));
        }
        let mut form = reqwest::multipart::Form::new();
        for f in &files {
            let bytes = tokio::fs::read(f)
                .await
                .with_context(|| format!("Failed to read {}", f.display()))?;
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let len = bytes.len() as u64;
            let b = bar.clone();
            // Counted as the request body is sent, in chunks.
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
            let stream = futures_util::stream::iter(chunks).map(move |c| {
                if let Ok(c) = &c {
                    b.inc(c.len() as u64);
                }
                c
            });
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::wrap_stream(stream),
                len,
            )
            .file_name(name);
            form = form.part("file", part);
        }
        let res = client
            .post(format!("{base}/api/v1/batches"))
            .multipart(form)
            .send()
            .await
            .with_context(|| {
                format!("Failed to reach formflow at {base}: is `formflow serve` running?")
            })?;
        bar.finish_and_clear();
        let status = res.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(answer_error(res, "upload").await);
        }
        let body: Value = res
            .json()
            .await
            .context("The service's answer was not JSON")?;
        let refused: Vec<Refusal> =
            serde_json::from_value(body["refused"].clone()).unwrap_or_default();
        if !status.is_success() {
            for r in &refused {
                eprintln!("refused: {}: {}", r.file, r.error);
            }
            anyhow::bail!(
                "the upload was refused ({status}): {}",
                body["detail"].as_str().unwrap_or("no reason given")
            );
        }
        let batch = body["batch_id"]
            .as_str()
            .context("The answer names no batch")?
            .to_string();
        eprintln!(
            "formflow: batch {batch}: {} accepted, {} refused",
            body["documents"].as_array().map_or(0, Vec::len),
            refused.len()
        );
        if opts.no_wait {
            println!("{batch}");
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(opts.timeout);
        let docs = body["documents"].as_array().map_or(0, Vec::len) as u64;
        let bar = indicatif::ProgressBar::new(docs);
        if let Ok(s) =
            indicatif::ProgressStyle::with_template("extracting [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(s.progress_chars("=> "));
        }
        let view = loop {
            let res = client
                .get(format!("{base}/api/v1/batches/{batch}"))
                .send()
                .await?;
            if !res.status().is_success() {
                return Err(answer_error(res, "show the batch").await);
            }
            let v: Value = res.json().await?;
            let finished = v["documents"].as_array().map_or(0, |d| {
                d.iter()
                    .filter(|d| !matches!(d["status"].as_str(), Some("queued" | "processing")))
                    .count()
            });
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
        // The batch says what was found in each file, without values.
        let mut lines = Vec::new();
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
            });
        }
        print_summary(&lines, &refused);
        Ok(())
    })
}
