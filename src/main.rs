//! The `formflow` command: thin glue over the crates. Each subcommand's
//! logic lives in `formflow::commands`.

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Turns scanned paper forms into checked, structured records.
///
/// Settings come from the environment (each option names its variable) and
/// may also be given in a file of NAME=value lines (--config or
/// FORMFLOW_CONFIG); the environment wins over the file.
#[derive(Parser)]
#[command(name = "formflow", version, about)]
struct Cli {
    /// A file of NAME=value lines (DATABASE_URL=..., AMQP_URL=...) read
    /// before the environment.
    #[arg(long, env = "FORMFLOW_CONFIG", global = true)]
    config: Option<PathBuf>,
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
    /// Trains the handwriting network on real hand-printed characters
    /// (../shared/handwriting) and writes its weights and the run's figures.
    TrainGlyphs(formflow::commands::TrainOpts),
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
    /// reports pages per CPU-second and peak memory; with --pipeline, times
    /// serve and one then two workers on PostgreSQL and RabbitMQ instead.
    Bench {
        /// Scan files or folders (default: ../shared/samples/public/documents).
        paths: Vec<PathBuf>,
        /// Skip the full-page tesseract comparison.
        #[arg(long)]
        no_tesseract: bool,
        /// Benchmark the whole pipeline (serve, workers, PostgreSQL,
        /// RabbitMQ): pages per second with one and two workers, and its
        /// CPU overhead over extraction alone.
        #[arg(long)]
        pipeline: bool,
        /// Benchmark the pages and the API instead: how fast each answers
        /// with --records records in a fresh PostgreSQL database.
        #[arg(long)]
        pages: bool,
        /// Records in the database for --pages.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// A PostgreSQL database to connect to for making the pipeline
        /// benchmark's own databases.
        #[arg(
            long,
            env = "FORMFLOW_BENCH_ADMIN_URL",
            hide_env_values = true,
            default_value = "postgres://postgres@127.0.0.1:5432/test",
            value_parser = formflow::commands::secret
        )]
        admin_url: secrecy::SecretString,
        /// Rounds of the pipeline benchmark (medians are reported); with
        /// --pages, each page is called ten times as often.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// RabbitMQ, for the pipeline benchmark.
        #[arg(
            long,
            env = "AMQP_URL",
            hide_env_values = true,
            default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
            value_parser = formflow::commands::secret
        )]
        amqp_url: secrecy::SecretString,
    },
    /// The embedded default: ingest, queue, workers and store in one
    /// process (a SQLite file, an in-process queue and a local folder, no
    /// servers). Processes the scans given (default: samples/) and prints
    /// each file's outcome.
    Run {
        /// Scan files or folders (default: samples/).
        paths: Vec<PathBuf>,
        #[command(flatten)]
        run: formflow::commands::RunOpts,
        #[command(flatten)]
        store: formflow::commands::StoreOpts,
        #[command(flatten)]
        http: formflow::commands::HttpOpts,
        #[command(flatten)]
        worker: formflow::commands::WorkerOpts,
        #[command(flatten)]
        opts: formflow::commands::ExtractOpts,
    },
    /// The HTTP service: upload API, documents and records API, health and
    /// metrics. Publishes jobs to RabbitMQ through the database's outbox.
    Serve {
        #[command(flatten)]
        store: formflow::commands::StoreOpts,
        #[command(flatten)]
        broker: formflow::commands::BrokerOpts,
        #[command(flatten)]
        http: formflow::commands::HttpOpts,
        #[command(flatten)]
        opts: formflow::commands::ExtractOpts,
    },
    /// Takes jobs from RabbitMQ, extracts them and writes the results to
    /// the database. Run as many as there are machines and cores.
    Worker {
        #[command(flatten)]
        store: formflow::commands::StoreOpts,
        #[command(flatten)]
        broker: formflow::commands::BrokerOpts,
        #[command(flatten)]
        worker: formflow::commands::WorkerOpts,
        #[command(flatten)]
        opts: formflow::commands::ExtractOpts,
    },
    /// Sends scans to a running `formflow serve` as one batch and waits for
    /// their outcome.
    Upload {
        /// Scan files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        upload: formflow::commands::UploadOpts,
    },
    /// A hot folder: sends each new scan in DIR to a running `formflow
    /// serve` once it is complete (its size stopped changing), then moves
    /// it to DIR/done/, or to DIR/refused/ beside a .txt saying why.
    /// Restarted, it sends nothing twice.
    Watch {
        /// The folder the scanner writes to.
        dir: PathBuf,
        #[command(flatten)]
        to: formflow::commands::ServerOpts,
        #[command(flatten)]
        watch: formflow::commands::WatchOpts,
        /// Serve the hot folder's metrics at http://ADDRESS/metrics.
        #[arg(long, env = "FORMFLOW_METRICS_LISTEN")]
        metrics_listen: Option<std::net::SocketAddr>,
    },
    /// Manages the people who sign in to the pages (uploaders, caseworkers,
    /// consumers, admins).
    User {
        #[command(subcommand)]
        command: formflow::commands::UserCommand,
        #[command(flatten)]
        opts: formflow::commands::PeopleOpts,
    },
    /// Manages the API tokens of services (consumers, uploaders,
    /// caseworkers).
    Token {
        #[command(subcommand)]
        command: formflow::commands::TokenCommand,
        #[command(flatten)]
        opts: formflow::commands::PeopleOpts,
    },
    /// The chaos drill: serve and workers on PostgreSQL and RabbitMQ take
    /// N uploaded documents while workers are killed and the broker and
    /// the database restart; reports what was accepted, lost, duplicated
    /// or stuck. Restarts the machine's PostgreSQL and RabbitMQ: for a
    /// test machine, never production.
    Drill {
        /// Scan files or folders to make the documents from (default:
        /// samples/documents, samples/stress and samples/batches).
        paths: Vec<PathBuf>,
        #[command(flatten)]
        opts: formflow::commands::DrillOpts,
    },
    /// Erases documents for good: their records, values, history, pages
    /// and originals (when no other document shares them), leaving an
    /// audit entry and a `document.purged` event for each. Set
    /// FORMFLOW_RETENTION_DAYS on serve to erase by age without asking.
    Purge {
        #[command(flatten)]
        opts: formflow::commands::PurgeOpts,
        #[command(flatten)]
        store: formflow::commands::StoreOpts,
    },
    /// Applies the database migrations (serve and worker refuse a database
    /// without them).
    Migrate {
        #[command(flatten)]
        store: formflow::commands::StoreOpts,
    },
    /// Prints the API's OpenAPI document (the one `serve` gives at
    /// /api/v1/openapi.json), to make clients from without a service.
    Openapi,
}

/// Loads the config file named by --config or FORMFLOW_CONFIG into the
/// environment (never over a variable already set), before options are read.
fn load_config() -> Result<(), String> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut path = std::env::var_os("FORMFLOW_CONFIG").map(PathBuf::from);
    for (i, a) in args.iter().enumerate() {
        let a = a.to_string_lossy();
        if let Some(p) = a.strip_prefix("--config=") {
            path = Some(PathBuf::from(p));
        } else if a == "--config" {
            path = args.get(i + 1).map(PathBuf::from);
        }
    }
    match path {
        Some(p) => dotenvy::from_path(&p)
            .map_err(|e| format!("the config file {} could not be read: {e}", p.display())),
        None => Ok(()),
    }
}

/// Sends log lines to standard error at `FORMFLOW_LOG`'s levels (else
/// `default`): text, or one JSON object a line with
/// `FORMFLOW_LOG_FORMAT=json` (the event's fields flattened beside
/// `timestamp`, `level`, `target` and `message`, the enclosing span's
/// fields under `span`).
fn init_logs(default: &str) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("FORMFLOW_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(&v)
            .map_err(|e| format!("FORMFLOW_LOG={v:?} is not a list of log levels: {e}"))?,
        _ => EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("FORMFLOW_LOG_FORMAT").as_deref() {
        Ok("json") => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Ok("text") | Ok("") | Err(_) => builder.init(),
        Ok(other) => {
            return Err(format!(
                "FORMFLOW_LOG_FORMAT={other:?} is not a log format: use json or text"
            ))
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Tesseract's OpenMP reads OMP_THREAD_LIMIT once, at load: it must be in
    // the environment before the process starts, so start again with it.
    if std::env::var_os("OMP_THREAD_LIMIT").is_none() {
        if let Ok(exe) = std::env::current_exe() {
            use std::os::unix::process::CommandExt as _;
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env("OMP_THREAD_LIMIT", "1")
                .exec();
            eprintln!("formflow: could not restart with OMP_THREAD_LIMIT=1: {err}");
        }
    }
    if let Err(e) = load_config() {
        eprintln!("formflow: {e}");
        return ExitCode::FAILURE;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version end well; a usage error is exit code 1.
            let _ = e.print();
            return ExitCode::from(u8::from(e.use_stderr()));
        }
    };
    let _ = &cli.config;
    // The long-running processes say what they do; the rest only warn.
    let quiet = !matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Worker { .. }
            | Command::Migrate { .. }
            | Command::Watch { .. }
    );
    if let Err(e) = init_logs(if quiet { "warn" } else { "info" }) {
        eprintln!("formflow: {e}");
        return ExitCode::FAILURE;
    }
    // The handwriting network's matrix products are small, and pages are
    // already read in parallel, one per thread: spreading each product over
    // rayon's threads only spins them (a tenth of extraction's CPU went to
    // yielding). Training, whose products are large, keeps every core.
    // Set here, while this is the only thread.
    if !matches!(cli.command, Command::TrainGlyphs(_))
        && std::env::var_os("RAYON_NUM_THREADS").is_none()
    {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let result = match cli.command {
        Command::Extract { paths, opts } => formflow::commands::extract(&paths, &opts),
        Command::Eval {
            set_dir,
            json,
            predictions,
            save,
            wrong,
            opts,
        } => formflow::commands::eval(
            &set_dir,
            json,
            predictions.as_deref(),
            save.as_deref(),
            wrong,
            &opts,
        ),
        Command::Bench {
            pages: true,
            admin_url,
            records,
            repeat,
            ..
        } => formflow::commands::bench_pages(admin_url.expose_secret(), records, repeat * 10),
        Command::Bench {
            paths,
            pipeline: true,
            admin_url,
            amqp_url,
            repeat,
            ..
        } => formflow::commands::bench_pipeline(
            &paths,
            admin_url.expose_secret(),
            amqp_url.expose_secret(),
            repeat,
        ),
        Command::Bench {
            paths,
            no_tesseract,
            ..
        } => formflow::commands::bench(&paths, !no_tesseract),
        Command::TrainGlyphs(o) => formflow::commands::train_glyphs(&o),
        Command::Run {
            paths,
            run,
            store,
            http,
            worker,
            opts,
        } => {
            let paths = if paths.is_empty() {
                vec![PathBuf::from("samples")]
            } else {
                paths
            };
            formflow::commands::run(&paths, &run, &store, &http, &worker, &opts)
        }
        Command::Serve {
            store,
            broker,
            http,
            opts,
        } => formflow::commands::serve(&store, &broker, &http, &opts),
        Command::Worker {
            store,
            broker,
            worker,
            opts,
        } => formflow::commands::worker(&store, &broker, &worker, &opts),
        Command::Upload { paths, upload } => formflow::commands::upload(&paths, &upload),
        Command::Watch {
            dir,
            to,
            watch,
            metrics_listen,
        } => formflow::commands::watch(&dir, &to, &watch, metrics_listen),
        Command::Migrate { store } => formflow::commands::migrate(&store),
        Command::Openapi => formflow::commands::openapi(),
        Command::Drill { paths, opts } => formflow::commands::drill(&paths, &opts),
        Command::Purge { opts, store } => formflow::commands::purge(&store, &opts),
        Command::User { command, opts } => formflow::commands::user(&command, &opts),
        Command::Token { command, opts } => formflow::commands::token(&command, &opts),
    };
    if std::env::var_os("FORMFLOW_REPORT_PEAK").is_some() {
        if let Some(p) = formflow::commands::peak_rss_mib() {
            eprintln!("peak memory {p:.0} MiB");
        }
    }
    let code = formflow::commands::exit_code(&result);
    if let Err(e) = &result {
        eprintln!("formflow: {}", plain_chain(e));
    }
    ExitCode::from(code)
}

/// An error and its causes in one line, leaving out a cause whose words
/// the message already carries (most errors here quote their cause).
fn plain_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
