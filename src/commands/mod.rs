//! The subcommands' logic, kept out of `main.rs` so that it can be tested.
//!
//! Owns how files are found and spread over threads; extraction itself is
//! `formflow_extract`'s, scoring is [`crate::eval`]'s, training the
//! handwriting network `formflow_train`'s.

mod bench;
mod bench_pages;
mod bench_pipeline;
mod drill;
mod extract;
mod people;
mod service;
mod stack;
mod summary;
mod upload;
pub mod watch;

pub use bench::{bench, peak_rss_mib};
pub use bench_pages::bench_pages;
pub use bench_pipeline::bench_pipeline;
pub use drill::{drill, DrillOpts};
pub use extract::{eval, extract, extract_paths, scan_files};
pub use formflow_train::{train_glyphs, TrainOpts};
pub use people::{token, user, PeopleOpts, TokenCommand, UserCommand};
pub use service::{
    migrate, openapi, purge, run, serve, worker, BrokerOpts, HttpOpts, PurgeOpts, RunOpts,
    StoreOpts, WorkerOpts,
};
pub use upload::{upload, ServerOpts, UploadOpts};
pub use watch::{watch, WatchMetrics, WatchOpts};

use anyhow::Context as _;
use formflow_extract::pipeline::Config;
use formflow_extract::Engine;
use formflow_schemas::TemplateSet;
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::Arc;

/// How a command ended, for scripts: its process exit code.
///
/// | code | meaning |
/// |---|---|
/// | 0 | every file was read (extracted, needs review or unclassified) |
/// | 1 | a usage or configuration error, or anything else that stopped it |
/// | 2 | some files failed or were refused (the others were read) |
/// | 3 | the service could not be reached |
#[derive(Debug)]
pub enum Exit {
    /// Some files failed or were refused: what happened, in words.
    SomeFailed(String),
    /// The service could not be reached: why, in words.
    Unreachable(String),
}

impl Exit {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Exit::SomeFailed(_) => 2,
            Exit::Unreachable(_) => 3,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::SomeFailed(s) | Exit::Unreachable(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Exit {}

/// The exit code of a command's result: 0, or the [`Exit`] code of its
/// error (1 for any other).
pub fn exit_code(result: &anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => e.downcast_ref::<Exit>().map_or(1, Exit::code),
    }
}

/// Parses a setting that holds a secret (a URL with a password, a token)
/// into a [`SecretString`]: its `Debug` prints `[REDACTED]`, so options
/// printed whole never show it; `expose_secret()` where it is used.
pub fn secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_string()))
}

/// Options every extracting command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ExtractOpts {
    /// Threads extracting at once (each with its own OCR engine). Default:
    /// the number of cores.
    #[arg(long, env = "FORMFLOW_THREADS")]
    pub threads: Option<usize>,
    /// A folder of form templates to use instead of the built-in ones.
    #[arg(long, env = "FORMFLOW_TEMPLATES")]
    pub templates: Option<PathBuf>,
    /// Fields believed less than this are flagged `low_confidence` (0..1).
    #[arg(long, env = "FORMFLOW_REVIEW_THRESHOLD")]
    pub review_threshold: Option<f64>,
    /// The date rules are checked against, as YYYY-MM-DD (default: today).
    #[arg(long, env = "FORMFLOW_TODAY")]
    pub today: Option<chrono::NaiveDate>,
    /// Largest file accepted, in megabytes (default 100).
    #[arg(long, env = "FORMFLOW_MAX_FILE_MB")]
    pub max_file_mb: Option<u64>,
    /// Most pages a file may have (default 200).
    #[arg(long, env = "FORMFLOW_MAX_PAGES")]
    pub max_pages: Option<usize>,
    /// Most pixels a page may decode to, in millions (default 40: A4 at
    /// 300 dpi is 8.7).
    #[arg(long, env = "FORMFLOW_MAX_PAGE_MEGAPIXELS")]
    pub max_page_megapixels: Option<u64>,
}

impl ExtractOpts {
    /// One thread, built-in templates, default limits: what the benchmarks
    /// measure.
    pub fn single_thread() -> ExtractOpts {
        ExtractOpts {
            threads: Some(1),
            templates: None,
            review_threshold: None,
            today: None,
            max_file_mb: None,
            max_pages: None,
            max_page_megapixels: None,
        }
    }

    /// The engine these options describe.
    pub fn engine(&self) -> anyhow::Result<Arc<Engine>> {
        let templates = match &self.templates {
            Some(dir) => TemplateSet::load_dir(dir)
                .with_context(|| format!("Failed to load the templates in {}", dir.display()))?,
            None => TemplateSet::builtin(),
        };
        let mut config = Config::default();
        if let Some(t) = self.review_threshold {
            anyhow::ensure!(
                (0.0..=1.0).contains(&t),
                "the review threshold must be between 0 and 1, not {t}"
            );
            config.review_threshold = t;
        }
        config.today = self.today;
        if let Some(mb) = self.max_file_mb {
            config.limits.max_file_bytes = mb.saturating_mul(1_000_000);
        }
        if let Some(n) = self.max_pages {
            anyhow::ensure!(n > 0, "the page limit must be at least 1");
            config.limits.max_pages = n;
        }
        if let Some(mp) = self.max_page_megapixels {
            config.limits.max_page_pixels = mp.saturating_mul(1_000_000);
        }
        Ok(Arc::new(Engine::new(templates, config)))
    }

    /// How many threads to extract on.
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
            .max(1)
    }
}

/// The host and port of a database URL, for messages: the URL may hold a
/// password.
pub fn server_of(url: &str) -> &str {
    url.rsplit_once('@')
        .map_or(url, |(_, host)| host)
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
}

/// A fresh PostgreSQL database called `name` on the server of
/// `admin_url` (dropped first if it is left from an earlier run): the
/// server's connection and the new database's URL.
pub async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<(sqlx::PgPool, String)> {
    let server = server_of(admin_url);
    let admin = sqlx::PgPool::connect(admin_url)
        .await
        .with_context(|| format!("Failed to reach PostgreSQL at {server}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    // The same server and settings (sslmode=...), another database.
    let (path, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let base_url = path.rsplit_once('/').map_or(path, |(b, _)| b);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Ok((admin, format!("{base_url}/{name}{query}")))
}
