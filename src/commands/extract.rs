//! `formflow extract` and `formflow eval`: files in, JSON Lines out.

use super::ExtractOpts;
use anyhow::Context as _;
use formflow_extract::Engine;
use formflow_schemas::Record;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The scan files named by `paths`: files as given, folders searched (not
/// following links) for anything that is not a JSON or Markdown note.
pub fn scan_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).with_context(|| format!("Failed to read {}", p.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).with_context(|| format!("Failed to list {}", p.display()))?;
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        let p = e.path();
        if t.is_dir() {
            walk(&p, out)?;
        } else if t.is_file() {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !matches!(ext.as_str(), "json" | "md" | "txt" | "toml") {
                out.push(p);
            }
        }
    }
    Ok(())
}

/// Extracts every file on `threads` threads, calling `each` with a file's
/// index and records as soon as they are ready (in any order).
pub fn extract_paths(
    engine: &Arc<Engine>,
    files: &[PathBuf],
    threads: usize,
    each: &(dyn Fn(usize, Vec<Record>) + Sync),
) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let threads = threads.min(files.len()).max(1);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for _ in 0..threads {
            handles.push(s.spawn(|| -> anyhow::Result<()> {
                let mut worker = engine
                    .worker()
                    .context("Failed to start an extraction worker")?;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(path) = files.get(i) else {
                        return Ok(());
                    };
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let records = match read_limited(path, engine.config().limits.max_file_bytes) {
                        Ok(bytes) => worker.extract(&name, bytes),
                        Err(e) => vec![Record::failed(&name, e)],
                    };
                    each(i, records);
                }
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("an extraction thread panicked"))??;
        }
        Ok(())
    })
}

/// Reads a file, refusing one larger than the limit before reading it.
fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("the file could not be read: {e}"))?
        .len();
    if size > max {
        let too_large = formflow_extract::decode::DecodeError::FileTooLarge {
            bytes: size,
            limit: max,
        };
        return Err(too_large.to_string());
    }
    std::fs::read(path).map_err(|e| format!("the file could not be read: {e}"))
}

/// `formflow extract`: JSON Lines on stdout, in the order files were given.
pub fn extract(paths: &[PathBuf], opts: &ExtractOpts) -> anyhow::Result<()> {
    let files = scan_files(paths)?;
    let engine = opts.engine()?;
    // Print in input order as soon as each file's turn comes.
    let state = Mutex::new((
        0usize,
        std::collections::BTreeMap::<usize, Vec<Record>>::new(),
    ));
    let failed = AtomicUsize::new(0);
    let print = |i: usize, records: Vec<Record>| {
        if records
            .iter()
            .any(|r| r.status == formflow_schemas::Status::Failed)
        {
            failed.fetch_add(1, Ordering::SeqCst);
        }
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.1.insert(i, records);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        loop {
            let next = st.0;
            let Some(rs) = st.1.remove(&next) else { break };
            for r in rs {
                if let Ok(line) = serde_json::to_string(&r) {
                    let _ = writeln!(out, "{line}");
                }
            }
            st.0 += 1;
        }
        let _ = out.flush();
    };
    extract_paths(&engine, &files, opts.threads(), &print)?;
    match failed.into_inner() {
        0 => Ok(()),
        n => Err(super::Exit::SomeFailed(format!(
            "{n} of {} file(s) could not be read (their failed records say why)",
            files.len()
        ))
        .into()),
    }
}

/// `formflow eval`: extracts a ground-truth set (or reads predictions) and
/// prints the contract's metrics.
pub fn eval(
    set_dir: &Path,
    json: bool,
    predictions: Option<&Path>,
    save: Option<&Path>,
    wrong: usize,
    opts: &ExtractOpts,
) -> anyhow::Result<()> {
    let truth = crate::eval::load_truth(set_dir)?;
    let engine = opts.engine()?;
    let records: Vec<Record> = match predictions {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("Failed to read {}", p.display()))?;
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
                .map(|(i, l)| {
                    serde_json::from_str(l).with_context(|| {
                        format!("line {} of {} is not a record", i + 1, p.display())
                    })
                })
                .collect::<anyhow::Result<_>>()?
        }
        None => {
            let files = crate::eval::set_files(set_dir)?;
            let slots: Mutex<Vec<Option<Vec<Record>>>> = Mutex::new(vec![None; files.len()]);
            let started = std::time::Instant::now();
            extract_paths(&engine, &files, opts.threads(), &|i, rs| {
                slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(rs);
            })?;
            eprintln!(
                "extracted {} files in {:.1} s",
                files.len(),
                started.elapsed().as_secs_f64()
            );
            slots
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .into_iter()
                .flatten()
                .flatten()
                .collect()
        }
    };
    if let Some(path) = save {
        let mut f = std::fs::File::create(path)
            .with_context(|| format!("Failed to create {}", path.display()))?;
        for r in &records {
            writeln!(f, "{}", serde_json::to_string(r)?)
                .with_context(|| format!("Failed to write {}", path.display()))?;
        }
    }
    let report = crate::eval::score(&truth, &records, engine.templates());
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render_text(wrong));
    }
    Ok(())
}
