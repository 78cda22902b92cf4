//! The `formflow` command: thin glue over the crates. Each subcommand's
//! logic lives in `formflow::commands`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Turns scanned paper forms into checked, structured records.
#[derive(Parser)]
#[command(name = "formflow", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reads scans directly (no services) and writes one JSON record per
    /// document found to stdout, one a line. Folders are searched for scans.
    Extract {
        /// Scan files (PDF, TIFF, PNG, JPEG) or folders holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        opts: formflow::commands::ExtractOpts,
    },
    /// Runs extraction over a set laid out like shared/samples/public and
    /// prints accuracy metrics overall and by tier, type, form and field.
    Eval {
        /// The set's folder (documents/*.json + scans, batches/*.json + PDFs).
        set_dir: PathBuf,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Score this JSON Lines file of records instead of extracting.
        #[arg(long)]
        predictions: Option<PathBuf>,
        /// Also write the records extracted to this file.
        #[arg(long)]
        save: Option<PathBuf>,
        /// How many wrong fields to list.
        #[arg(long, default_value_t = 25)]
        wrong: usize,
        #[command(flatten)]
        opts: formflow::commands::ExtractOpts,
    },
    /// Times extraction against full-page tesseract on the same pages and
    /// reports pages per CPU-second and peak memory.
    Bench {
        /// Scan files or folders (default: ../shared/samples/public/documents).
        paths: Vec<PathBuf>,
        /// Skip the full-page tesseract comparison.
        #[arg(long)]
        no_tesseract: bool,
    },
}

fn main() -> ExitCode {
    // Tesseract's OpenMP reads OMP_THREAD_LIMIT once, at load: it must be in
    // the environment before the process starts, so start again with it.
    if std::env::var_os("OMP_THREAD_LIMIT").is_none() {
        if let Ok(exe) = std::env::current_exe() {
            use std::os::unix::process::CommandExt as _;
            let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env("OMP_THREAD_LIMIT", "1").exec();
            eprintln!("formflow: could not restart with OMP_THREAD_LIMIT=1: {err}");
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FORMFLOW_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Extract { paths, opts } => formflow::commands::extract(&paths, &opts),
        Command::Eval { set_dir, json, predictions, save, wrong, opts } => {
            formflow::commands::eval(&set_dir, json, predictions.as_deref(), save.as_deref(), wrong, &opts)
        }
        Command::Bench { paths, no_tesseract } => formflow::commands::bench(&paths, !no_tesseract),
    };
    if std::env::var_os("FORMFLOW_REPORT_PEAK").is_some() {
        if let Some(p) = formflow::commands::peak_rss_mib() {
            eprintln!("peak memory {p:.0} MiB");
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("formflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}
