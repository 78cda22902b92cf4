//! `formflow bench`: extraction's speed against full-page Tesseract on the
//! same pages, and peak memory, measured in one run.
//!
//! CPU time is read from `/proc/self/stat` (this process for extraction, its
//! waited-for children for Tesseract), so the figures are CPU-seconds, not
//! wall time, and both sides run with `OMP_THREAD_LIMIT=1`.

use super::{scan_files, ExtractOpts};
use anyhow::Context as _;
use formflow_extract::decode::Source;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Clock ticks a second of `/proc/self/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// (own CPU seconds, waited-for children's CPU seconds) so far.
pub(super) fn cpu_seconds() -> anyhow::Result<(f64, f64)> {
    let stat =
        std::fs::read_to_string("/proc/self/stat").context("Failed to read /proc/self/stat")?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17, i.e. 11-14 after the name.
    anyhow::ensure!(f.len() > 14, "unexpected /proc/self/stat");
    Ok(((f[11] + f[12]) / TICKS, (f[13] + f[14]) / TICKS))
}

/// This process's peak resident memory in MiB, from `/proc/self/status`.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the benchmark and prints its figures.
pub fn bench(paths: &[PathBuf], with_tesseract: bool) -> anyhow::Result<()> {
    let default = [PathBuf::from("../shared/samples/public/documents")];
    let files = scan_files(if paths.is_empty() { &default } else { paths })?;
    anyhow::ensure!(!files.is_empty(), "no scan files to time");
    if std::env::var("OMP_THREAD_LIMIT").as_deref() != Ok("1") {
        eprintln!("warning: OMP_THREAD_LIMIT is not 1; figures will not be comparable");
    }
    let engine = ExtractOpts::single_thread().engine()?;
    let mut worker = engine.worker()?;

    // Extraction, one thread, whole files.
    let (c0, _) = cpu_seconds()?;
    let wall = Instant::now();
    let mut pages = 0usize;
    for f in &files {
        let bytes = std::fs::read(f).with_context(|| format!("Failed to read {}", f.display()))?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        pages += worker
            .extract(&name, bytes)
            .iter()
            .map(|r| r.pages.len().max(1))
            .sum::<usize>();
    }
    let (c1, _) = cpu_seconds()?;
    let ext_cpu = c1 - c0;
    println!(
        "formflow extract: {} files, {} pages, {:.2} CPU-s ({:.3} CPU-s a page), {:.1} s wall",
        files.len(),
        pages,
        ext_cpu,
        ext_cpu / pages.max(1) as f64,
        wall.elapsed().as_secs_f64()
    );
    println!(
        "  pages per CPU-second: {:.2}",
        pages as f64 / ext_cpu.max(1e-9)
    );

    if with_tesseract {
        let dir = std::env::temp_dir().join(format!("formflow-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
        let images = render_pages(&files, &dir)?;
        let (_, k0) = cpu_seconds()?;
        for img in &images {
            let st = Command::new("tesseract")
                .arg(img)
                .arg("-")
                .env("OMP_THREAD_LIMIT", "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .context("Failed to run tesseract (is tesseract-ocr installed?)")?;
            anyhow::ensure!(st.success(), "tesseract failed on {}", img.display());
        }
        let (_, k1) = cpu_seconds()?;
        let tess_cpu = k1 - k0;
        let _ = std::fs::remove_dir_all(&dir);
        println!(
            "tesseract full page: {} pages, {:.2} CPU-s ({:.3} CPU-s a page)",
            images.len(),
            tess_cpu,
            tess_cpu / images.len().max(1) as f64
        );
        println!(
            "  pages per CPU-second: {:.2}",
            images.len() as f64 / tess_cpu.max(1e-9)
        );
        let ratio = (pages as f64 / ext_cpu.max(1e-9)) / (images.len() as f64 / tess_cpu.max(1e-9));
        println!("ratio (formflow / tesseract pages per CPU-second): {ratio:.2}x");
    }
    if let Some(p) = peak_rss_mib() {
        println!("peak memory of this run: {p:.0} MiB");
    }
    if let Some(f) = largest_two_page(&files) {
        let out = Command::new(std::env::current_exe()?)
            .args(["extract", "--threads", "1"])
            .arg(&f)
            .env("FORMFLOW_REPORT_PEAK", "1")
            .output()
            .context("Failed to run formflow extract for the memory figure")?;
        let err = String::from_utf8_lossy(&out.stderr);
        if let Some(line) = err.lines().find(|l| l.starts_with("peak memory")) {
            println!(
                "two-page form {}: {}",
                f.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                line
            );
        }
    }
    Ok(())
}

/// Renders every page to PNG for the Tesseract run, as the decoder sees it.
fn render_pages(files: &[PathBuf], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f)?;
        let Ok(mut src) = Source::open(bytes, &Default::default()) else {
            continue;
        };
        for p in 0..src.page_count() {
            let Ok(page) = src.page(p) else { continue };
            let path = dir.join(format!("{i:04}-{p:03}.png"));
            page.image
                .save(&path)
                .with_context(|| format!("Failed to write {}", path.display()))?;
            out.push(path);
        }
    }
    Ok(out)
}

/// The largest two-page file, for the peak-memory figure.
fn largest_two_page(files: &[PathBuf]) -> Option<PathBuf> {
    files
        .iter()
        .filter(|f| {
            let pages = std::fs::read(f)
                .ok()
                .and_then(|b| Source::open(b, &Default::default()).ok())
                .map(|s| s.page_count());
            pages == Some(2)
        })
        .max_by_key(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .cloned()
}
